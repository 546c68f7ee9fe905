//! Finding labelled photos on disk: the Oxford-IIIT Pet layout, folder-per-breed, and manifests.
//!
//! Layouts, detected per `--data` root:
//! - `manifest.csv` with `file,breed,...,split` columns (the shared `pets` set): its own split;
//!   `manifest.csv` with `file,split,...` and no `breed` (the shared `no-pets` set): label `no_pet`.
//! - Oxford-IIIT Pet: `images/<Breed>_<n>.jpg` + `annotations/list.txt`, `trainval.txt`, `test.txt`;
//!   validation is carved out of trainval, stratified by breed.
//! - Folder per breed (`<root>/<breed>/*.jpg`, Keras `image_dataset_from_directory`): train and
//!   validation, stratified by breed; no test split.

use anyhow::{bail, Context, Result};
use petcam::labels::{breed_index, BREEDS, NO_PET};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, clap::ValueEnum)]
pub enum Split {
    Train,
    Val,
    Test,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub path: PathBuf,
    /// Index into [`labels`]: a breed, or the last index for "no pet".
    pub label: usize,
    pub split: Split,
    /// The manifest's `kind` (`jpg-orig`, `png-299-squashed`, `orig`, `squashed`) or `unknown`.
    pub kind: String,
    /// True for photos from the Oxford-IIIT Pet set itself (the only ones evaluated on).
    pub oxford: bool,
    /// What a no-pet photo shows, from the no-pets manifest (None for pets and unknown layouts).
    pub scene: Option<Scene>,
}

/// What a no-pet photo shows, coarsely: the false-breed rate is reported per group because the
/// groups are not equally hard (other animals are) nor equally common in each split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scene {
    /// Animals other than cats and dogs (also in scenes with people).
    Animal,
    /// People, faces, hands, with no animal.
    People,
    /// Everything else: rooms, streets, nature, food, objects, clothing.
    Other,
}

impl Scene {
    pub const ALL: [Scene; 3] = [Scene::Animal, Scene::People, Scene::Other];

    pub fn name(self) -> &'static str {
        match self {
            Scene::Animal => "other animals",
            Scene::People => "people",
            Scene::Other => "scenes and objects",
        }
    }

    /// From the no-pets manifest's `category` (`source:labels`) and `why_pet_free` columns. ImageNet
    /// rows name their class's WordNet id there; ImageNet's animal classes (0-397) are exactly the
    /// ids sorting before `n02666196` (abacus, class 398).
    pub fn of(category: &str, why_pet_free: &str) -> Scene {
        const COCO_ANIMALS: [&str; 10] = ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"];
        const JETSON_ANIMALS: [&str; 6] = ["bird", "horse", "black_bear", "polar_bear", "jellyfish", "coral"];
        let (source, rest) = category.split_once(':').unwrap_or((category, ""));
        match source {
            "animal" => Scene::Animal,
            "imagenet" => {
                let wnid = why_pet_free.split(|c: char| !c.is_ascii_alphanumeric()).find(|w| w.len() == 9 && w.starts_with('n') && w[1..].bytes().all(|b| b.is_ascii_digit()));
                match wnid {
                    Some(id) if id < "n02666196" => Scene::Animal,
                    _ if ["ballplayer", "groom", "scuba_diver"].contains(&rest) => Scene::People,
                    _ => Scene::Other,
                }
            }
            "coco" => {
                let labels: Vec<&str> = rest.split(',').collect();
                if labels.iter().any(|l| COCO_ANIMALS.contains(l)) {
                    Scene::Animal
                } else if labels.contains(&"person") {
                    Scene::People
                } else {
                    Scene::Other
                }
            }
            "jetson" if JETSON_ANIMALS.contains(&rest) => Scene::Animal,
            "jetson" if ["humans", "peds"].contains(&rest) => Scene::People,
            s if s.starts_with("face") || s.starts_with("people") || s.starts_with("hands") || s == "clothing/people" => Scene::People,
            _ => Scene::Other,
        }
    }
}

/// The label list of every model the trainer makes: the 37 breeds, then `no_pet`.
pub fn labels() -> Vec<String> {
    BREEDS.iter().map(|s| s.to_string()).chain([NO_PET.to_string()]).collect()
}

pub const NO_PET_LABEL: usize = BREEDS.len();

/// Loads every root; roots without a split of their own are split with `val_fraction` and `seed`.
pub fn load(roots: &[PathBuf], val_fraction: f32, seed: u64) -> Result<Vec<Sample>> {
    if !(0.0..1.0).contains(&val_fraction) {
        bail!("--validation-split {val_fraction} must be in [0, 1)");
    }
    let mut all = vec![];
    for root in roots {
        if !root.is_dir() {
            bail!("{}: data root not found or not a directory", root.display());
        }
        let found = if root.join("manifest.csv").is_file() {
            from_manifest(root)?
        } else if root.join("annotations/list.txt").is_file() {
            from_oxford(root, val_fraction, seed)?
        } else {
            from_folders(root, val_fraction, seed)?
        };
        if found.is_empty() {
            bail!("{}: no images found", root.display());
        }
        all.extend(found);
    }
    Ok(all)
}

fn from_manifest(root: &Path) -> Result<Vec<Sample>> {
    let path = root.join("manifest.csv");
    let mut rd = csv::Reader::from_path(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let header = rd.headers().with_context(|| format!("{}: no header", path.display()))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(file), Some(split)) = (col("file"), col("split")) else {
        bail!("{}: needs `file` and `split` columns", path.display());
    };
    let breed = col("breed");
    // The pets manifest has `kind` (jpg-orig, squashed, ...); the no-pets one has `category`.
    let kind = col("kind").or(col("category"));
    let (category, why) = (col("category"), col("why_pet_free"));
    let mut out = vec![];
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", path.display(), i + 2))?;
        let label = match breed {
            Some(b) => breed_index(&rec[b]).with_context(|| format!("{}: line {}: unknown breed `{}`", path.display(), i + 2, &rec[b]))?,
            None => NO_PET_LABEL,
        };
        let split = match &rec[split] {
            "train" => Split::Train,
            "val" => Split::Val,
            "test" => Split::Test,
            s => bail!("{}: line {}: unknown split `{s}`", path.display(), i + 2),
        };
        let f = &rec[file];
        out.push(Sample {
            path: root.join(f),
            label,
            split,
            kind: kind.map(|k| rec[k].to_string()).unwrap_or_else(|| "unknown".into()),
            oxford: f.starts_with("oxford-iiit-pet/"),
            scene: match (breed, category) {
                (None, Some(c)) => Some(Scene::of(&rec[c], why.map(|w| &rec[w]).unwrap_or(""))),
                _ => None,
            },
        });
    }
    Ok(out)
}

fn from_oxford(root: &Path, val_fraction: f32, seed: u64) -> Result<Vec<Sample>> {
    let read_list = |name: &str| -> Result<Vec<(String, usize)>> {
        let p = root.join("annotations").join(name);
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read", p.display()))?;
        let mut v = vec![];
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut it = line.split_whitespace();
            let (Some(name), Some(id)) = (it.next(), it.next()) else { bail!("{}: line {}: malformed", p.display(), i + 1) };
            let id: usize = id.parse().ok().filter(|&id| (1..=BREEDS.len()).contains(&id)).with_context(|| format!("{}: line {}: bad class id `{id}`", p.display(), i + 1))?;
            v.push((name.to_string(), id - 1));
        }
        Ok(v)
    };
    let sample = |(name, label): (String, usize), split| Sample { path: root.join("images").join(format!("{name}.jpg")), label, split, kind: "unknown".into(), oxford: true, scene: None };
    let mut out: Vec<Sample> = if root.join("annotations/trainval.txt").is_file() {
        let tv = read_list("trainval.txt")?.into_iter().map(|e| sample(e, Split::Train)).collect();
        let test = read_list("test.txt").unwrap_or_default().into_iter().map(|e| sample(e, Split::Test));
        let mut tv: Vec<Sample> = tv;
        stratify(&mut tv, val_fraction, seed);
        tv.into_iter().chain(test).collect()
    } else {
        let mut all: Vec<Sample> = read_list("list.txt")?.into_iter().map(|e| sample(e, Split::Train)).collect();
        stratify(&mut all, val_fraction, seed);
        all
    };
    out.retain(|s| s.path.is_file());
    Ok(out)
}

fn from_folders(root: &Path, val_fraction: f32, seed: u64) -> Result<Vec<Sample>> {
    let mut out = vec![];
    let mut dirs: Vec<_> = std::fs::read_dir(root).with_context(|| format!("{}: cannot list", root.display()))?.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).collect();
    dirs.sort_by_key(|e| e.file_name());
    if dirs.is_empty() {
        bail!("{}: no breed folders (expected <root>/<breed>/*.jpg, an Oxford-IIIT Pet layout or a manifest.csv)", root.display());
    }
    for d in dirs {
        let name = d.file_name().to_string_lossy().to_string();
        let label = if name == NO_PET {
            NO_PET_LABEL
        } else {
            breed_index(&name).with_context(|| format!("{}: unknown breed folder `{name}` (not one of the 37 Oxford-IIIT Pet breeds)", d.path().display()))?
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(d.path())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png" | "bmp" | "webp")))
            .collect();
        if files.is_empty() {
            bail!("{}: breed folder has no images", d.path().display());
        }
        files.sort();
        out.extend(files.into_iter().map(|path| Sample { path, label, split: Split::Train, kind: "unknown".into(), oxford: false, scene: None }));
    }
    stratify(&mut out, val_fraction, seed);
    Ok(out)
}

/// Moves `fraction` of each label's training samples to validation (seeded, stable).
pub fn stratify(samples: &mut [Sample], fraction: f32, seed: u64) {
    let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate().filter(|(_, s)| s.split == Split::Train) {
        by_label.entry(s.label).or_default().push(i);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for idx in by_label.values_mut() {
        idx.shuffle(&mut rng);
        let n_val = (idx.len() as f32 * fraction).round() as usize;
        for &i in idx.iter().take(n_val) {
            samples[i].split = Split::Val;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_pet_photos_are_grouped_by_what_they_show() {
        let img = |wnid: &str| format!("ImageNet class {wnid} is not a dog/wolf/fox (151-280) or cat/wild-cat (281-293) class");
        // ImageNet: animal classes sort before abacus (n02666196).
        assert_eq!(Scene::of("imagenet:macaque", &img("n02487347")), Scene::Animal);
        assert_eq!(Scene::of("imagenet:tench", &img("n01440764")), Scene::Animal);
        assert_eq!(Scene::of("imagenet:abacus", &img("n02666196")), Scene::Other);
        assert_eq!(Scene::of("imagenet:grocery_store", &img("n03461385")), Scene::Other);
        assert_eq!(Scene::of("imagenet:ballplayer", &img("n09835506")), Scene::People);
        // An ImageNet row without a class id is not guessed to be an animal.
        assert_eq!(Scene::of("imagenet:macaque", ""), Scene::Other);
        // COCO: an animal wins over a person in the same photo.
        assert_eq!(Scene::of("coco:person,sheep", "no class 15/16"), Scene::Animal);
        assert_eq!(Scene::of("coco:person,frisbee", ""), Scene::People);
        assert_eq!(Scene::of("coco:teddy bear,bed", ""), Scene::Other);
        assert_eq!(Scene::of("animal:zebra:zebra", ""), Scene::Animal);
        assert_eq!(Scene::of("jetson:black_bear", ""), Scene::Animal);
        assert_eq!(Scene::of("jetson:peds", ""), Scene::People);
        assert_eq!(Scene::of("face/people", ""), Scene::People);
        assert_eq!(Scene::of("hands:freihand", ""), Scene::People);
        assert_eq!(Scene::of("scene:BSDS500", ""), Scene::Other);
    }

    #[test]
    fn stratified_split_takes_the_fraction_of_each_breed() {
        let mut s: Vec<Sample> = (0..100).map(|i| Sample { path: format!("{i}").into(), label: i % 2, split: Split::Train, kind: String::new(), oxford: false, scene: None }).collect();
        stratify(&mut s, 0.2, 7);
        for label in 0..2 {
            let val = s.iter().filter(|x| x.label == label && x.split == Split::Val).count();
            assert_eq!(val, 10);
        }
    }

    #[test]
    fn unknown_breed_folder_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("petcam-data-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("unicorn")).unwrap();
        let err = load(std::slice::from_ref(&dir), 0.2, 1).unwrap_err().to_string();
        assert!(err.contains("unknown breed folder `unicorn`"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_root_is_a_clear_error() {
        let err = load(&["/nonexistent/pets".into()], 0.2, 1).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/pets: data root not found"), "{err}");
    }
}
