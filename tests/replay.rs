//! Recorded camera frames through the whole device pipeline (`petcam replay`, PNG display), from
//! recordings generated from ../shared at test time.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn recordings() -> Option<&'static Vec<recordings::Made>> {
    static MADE: OnceLock<Option<Vec<recordings::Made>>> = OnceLock::new();
    MADE.get_or_init(|| {
        let shared = shared_or_skip("replay tests")?;
        Some(recordings::make_all(&shared, &root().join("target/test-recordings")))
    })
    .as_ref()
}

/// Per-frame decisions of a replay with the default model: (state, label) with label for breeds only.
fn replay(dir: &Path, screens: &Path) -> Vec<(String, Option<String>)> {
    replay_with(&model(), dir, screens)
}

/// Per-frame decisions of a replay with `model`.
fn replay_with(model: &Path, dir: &Path, screens: &Path) -> Vec<(String, Option<String>)> {
    replay_as(&Run { model: model.to_path_buf(), as_pi5: false }, dir, screens)
}

/// A shipped model, and whether it runs as on a Raspberry Pi 5: the int8 file's 1x1 convolutions
/// in int8 on petcam's op (`--int8 all`; off the Pi, the op's portable tile gives the integers
/// `sdot` gives), in the classifier and the locate stage's wide pass.
struct Run {
    model: PathBuf,
    as_pi5: bool,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.model.display(), if self.as_pi5 { " (int8 op, as on a Pi 5)" } else { "" })
    }
}

/// Every shipped model as this machine runs it, and each int8 file (the Pi's default, and the
/// 128 px file's int8 twin) again as a Pi 5 runs it.
fn shipped_runs() -> Vec<Run> {
    let models = shipped_models();
    let int8: Vec<Run> = models.iter().filter(|m| m.to_string_lossy().ends_with("-int8.onnx")).map(|m| Run { model: m.clone(), as_pi5: true }).collect();
    assert!(int8.iter().any(|r| r.model.ends_with(petcam::config::INT8_MODEL_FILE)), "models/ ships no {}", petcam::config::INT8_MODEL_FILE);
    models.into_iter().map(|model| Run { model, as_pi5: false }).chain(int8).collect()
}

/// Per-frame decisions of a replay of `run`.
fn replay_as(run: &Run, dir: &Path, screens: &Path) -> Vec<(String, Option<String>)> {
    let model = &run.model;
    let mut args = vec!["replay", dir.to_str().unwrap(), "--json", "--model", model.to_str().unwrap()];
    let display = format!("png:{}", screens.display());
    args.extend(["--display", &display]);
    if run.as_pi5 {
        args.extend(["--int8", "all"]);
    }
    let o = petcam(&args);
    assert!(o.status.success(), "{}: {}", dir.display(), stderr(&o));
    let labels = petcam::classifier::TractClassifier::load(model).unwrap();
    let labels = &petcam::classifier::Classifier::metadata(&labels).labels.clone();
    stdout(&o)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let d = &v["decision"];
            let state = d["state"].as_str().unwrap_or("error").to_string();
            let label = d["label"].as_u64().map(|i| labels[i as usize].clone());
            (state, label)
        })
        .collect()
}

/// Known failure of every shipped model, tracked by the no-pet issue: an Angora rabbit filling the
/// frame is taken for a long-haired cat (a Ragdoll at first; a Persian by version 3.3 of the 96 px
/// f32 file and version 2 of the 128 px file, both trained on 662 other-animal photos; pet score
/// 0.999 at 96 px before them). It is measured and printed here, not asserted, until the no-pet training split
/// has more animals as hard negatives; every other no-pet recording must
/// stay "no pet" on every frame.
const KNOWN_FALSE_BREED: &str = "nopet-rabbit";

#[test]
fn empty_scenes_people_and_other_animals_never_get_a_breed() {
    let Some(made) = recordings() else { return };
    let mut checked = 0;
    for m in made.iter().filter(|m| m.expected == "no_pet") {
        if m.dir.ends_with(KNOWN_FALSE_BREED) {
            let d = replay(&m.dir, &scratch("screens-known-false-breed"));
            eprintln!("known failure {}: {:?}", m.dir.display(), d.last());
            continue;
        }
        let d = replay(&m.dir, &scratch(&format!("screens-{}", m.dir.file_name().unwrap().to_string_lossy())));
        assert_eq!(d.len(), 8, "{}", m.dir.display());
        for (i, (state, label)) in d.iter().enumerate() {
            assert_eq!(state, "no_pet", "{} frame {}: shown {state} {label:?}", m.dir.display(), i + 1);
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} no-pet recordings");
}

/// The other models in models/ (the 128 px alternative to the default and its int8 twin, and the
/// int8 files as on a Pi 5): the same no-pet recordings must never show a breed. "Not sure" is allowed here; the
/// default model must say "no pet" (above). The hare was a known failure of the 128 px file's
/// version 1 (it named a Leonberger); version 2, trained on located squares and other animals,
/// says "no pet" on it, so it is asserted again.
#[test]
fn the_alternative_models_never_name_a_breed_on_the_no_pet_recordings() {
    let Some(made) = recordings() else { return };
    let others: Vec<Run> = shipped_runs().into_iter().filter(|r| r.model != model() || r.as_pi5).collect();
    assert!(!others.is_empty(), "models/ holds only the default");
    for run in &others {
        for m in made.iter().filter(|m| m.expected == "no_pet" && !m.dir.ends_with(KNOWN_FALSE_BREED)) {
            let d = replay_as(run, &m.dir, &scratch("screens-alternative-no-pet"));
            assert_eq!(d.len(), 8, "{}", m.dir.display());
            for (i, (state, label)) in d.iter().enumerate() {
                assert!(state == "no_pet" || state == "not_sure", "{run} on {} frame {}: shown {state} {label:?}", m.dir.display(), i + 1);
            }
        }
    }
}

/// How many of the 8 pet recordings each shipped model names right, at least (see below).
fn right_floor(run: &Run) -> usize {
    match run.model.file_name().unwrap().to_str().unwrap() {
        // Version 2 of the 128 px file and its int8 twin (either arithmetic) name 8 of 8, and so
        // does the 96 px f32 file (version 3.3).
        "petcam-effnet-lite0-128-f32.onnx" | "petcam-effnet-lite0-128-int8.onnx" | "petcam-effnet-lite0-96-f32.onnx" => 7,
        _ => 6,
    }
}

#[test]
fn pets_are_named_by_breed() {
    let Some(made) = recordings() else { return };
    for run in shipped_runs() {
        pets_are_named_by(&run, made);
    }
}

fn pets_are_named_by(run: &Run, made: &[recordings::Made]) {
    let mut right = 0;
    let mut missed = 0;
    let mut report = vec![];
    let pets: Vec<_> = made.iter().filter(|m| m.expected != "no_pet" && m.enters_at.is_none() && m.pet_track.is_empty()).collect();
    for m in &pets {
        let d = replay_as(run, &m.dir, &scratch(&format!("screens-{}", m.dir.file_name().unwrap().to_string_lossy())));
        let (state, label) = d.last().unwrap().clone();
        if d.iter().all(|(s, _)| s == "no_pet") {
            missed += 1;
        }
        if label.as_deref() == Some(m.expected.as_str()) {
            right += 1;
        }
        report.push(format!("{run} on {}: expected {}, final {state} {label:?}", m.dir.display(), m.expected));
    }
    eprintln!("{}", report.join("\n"));
    // Camera-like frames are harder than the photos the models were scored on. With the locate
    // stage the 96 px f32 file (version 3.3) names all 8 right (version 2 named 7, version 1 4);
    // its int8 file names 7 with its int8 weights in f32 arithmetic (Great Pyrenees: Samoyed) and
    // 8 as on a Pi 5; the 128 px files (version 2 and its int8 twin) name 8. These floors guard
    // against regressions, one photo below each network's weakest run today; raise them with the
    // model.
    assert!(right >= right_floor(run), "{right}/{} recordings named the right breed:\n{}", pets.len(), report.join("\n"));
    assert!(missed <= 1, "{missed} pet recordings never left \"no pet\":\n{}", report.join("\n"));
}

#[test]
fn a_pet_entering_is_named_within_a_second() {
    let Some(made) = recordings() else { return };
    for run in shipped_runs() {
        a_pet_entering_is_named_by(&run, made);
    }
}

fn a_pet_entering_is_named_by(run: &Run, made: &[recordings::Made]) {
    let m = made.iter().find(|m| m.enters_at.is_some() && m.dir.ends_with("pet-enters")).unwrap();
    let enters = m.enters_at.unwrap();
    let d = replay_as(run, &m.dir, &scratch("screens-pet-enters"));
    assert!(d[..enters].iter().all(|(s, _)| s == "no_pet"), "{run}: empty room before the pet: {d:?}");
    let first_breed = d.iter().position(|(s, l)| s == "breed" && l.as_deref() == Some(m.expected.as_str())).unwrap_or_else(|| panic!("{run} never named {}: {d:?}", m.expected));
    // 10 frames per second: within a second of the pet entering.
    assert!(first_breed - enters < 10, "{run}: named after {} frames: {d:?}", first_breed - enters);
    assert_eq!(d.last().unwrap().1.as_deref(), Some(m.expected.as_str()));
}

#[test]
fn replay_writes_screens() {
    let Some(made) = recordings() else { return };
    let screens = scratch("screens-written");
    let o = petcam(&["replay", made[0].dir.to_str().unwrap(), "--quiet", "--keep-screens", "--model", model().to_str().unwrap(), "--display", &format!("png:{}", screens.display())]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("8 frames (0 bad"), "{}", stdout(&o));
    assert!(screens.join("screen-000008.png").is_file() && screens.join("latest.png").is_file());
}

/// Every frame of a replay as JSON (decision, classified region), with extra flags.
fn replay_frames(model: &Path, dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["replay", dir.to_str().unwrap(), "--json", "--model", model.to_str().unwrap()];
    args.extend(extra);
    let o = petcam(&args);
    assert!(o.status.success(), "{}: {}", dir.display(), stderr(&o));
    stdout(&o).lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn label_of(v: &serde_json::Value, labels: &[String]) -> Option<String> {
    v["decision"]["label"].as_u64().map(|i| labels[i as usize].clone())
}

/// A small pet in a side third of the frame: the locator puts the classified square on it (the
/// centre square holds at most a sliver of it), and the breed is named far more often than with
/// the centre crop.
#[test]
fn small_off_centre_pets_are_found_and_named() {
    let Some(made) = recordings() else { return };
    let labels = petcam::classifier::Classifier::metadata(&petcam::classifier::TractClassifier::load(&model()).unwrap()).labels.clone();
    let small: Vec<_> = made.iter().filter(|m| !m.pet_track.is_empty() && m.enters_at.is_none()).collect();
    assert_eq!(small.len(), recordings::SMALL_BREEDS.len());
    let (mut found, mut named, mut named_centre) = (0, 0, 0);
    let mut report = vec![];
    for m in &small {
        let frames = replay_frames(&model(), &m.dir, &[]);
        let last = frames.last().unwrap();
        let r = &last["region"];
        let (x, y, w) = (r["x"].as_u64().unwrap() as u32, r["y"].as_u64().unwrap() as u32, r["width"].as_u64().unwrap() as u32);
        let (cx, cy) = m.pet_track.last().unwrap().unwrap();
        let on_pet = (x..x + w).contains(&cx) && (y..y + w).contains(&cy);
        found += on_pet as usize;
        // Within a second of frames (10 at 10 fps): the right breed is shown at some frame.
        let label = |f: &serde_json::Value| label_of(f, &labels);
        let right = frames.iter().take(10).any(|f| label(f).as_deref() == Some(m.expected.as_str()));
        named += right as usize;
        let centre = replay_frames(&model(), &m.dir, &["--locator", "centre"]);
        named_centre += centre.iter().take(10).any(|f| label(f).as_deref() == Some(m.expected.as_str())) as usize;
        report.push(format!(
            "{}: region {x},{y} side {w}, pet centre {cx},{cy} -> on pet {on_pet}; final {:?}; named {right}; centre crop final {:?}",
            m.dir.display(),
            label(last),
            label(centre.last().unwrap())
        ));
    }
    eprintln!("{}", report.join("\n"));
    // The locator head frames the pet tighter than the class-activation map did (a square the
    // size of the pet's shorter side, where the map's was the pet cells plus 15%), and for the two
    // pets at the right border, low in the frame (Ragdoll, Yorkshire terrier), it sits 50-130 px
    // left of the pet's centre: the head reads the view's last column as only 30% covered
    // (models/MODEL_CARD.md, "Known weakness"). The class-activation map found all 6.
    assert!(found >= 4, "the classified square missed {} small pets:\n{}", small.len() - found, report.join("\n"));
    // Version 2 of the default model named 3 of the 6 (version 1: 4): it says "no pet" more
    // readily on camera frames for a quarter of the false breeds on pet-free frames
    // (models/MODEL_CARD.md). Version 3.2, with the 256 px view, names 5 (the Persian is taken
    // for a Ragdoll), and its square is on the pet in 5 (not the Ragdoll's, at the right border,
    // which it names anyway); the floor is one below. The centre crop names none.
    assert!(named >= 4 && named > named_centre, "named {named} (centre crop {named_centre}) of {}:\n{}", small.len(), report.join("\n"));
}

/// A small pet walking in along the far side of the room is noticed within a second (a breed or
/// "not sure" instead of "no pet"), and from then on the classified square follows it. (Which
/// breed: the small still pets above; this beagle is taken for a Basset Hound.)
#[test]
fn a_small_pet_walking_in_is_found_within_a_second_and_followed() {
    let Some(made) = recordings() else { return };
    let m = made.iter().find(|m| m.dir.ends_with("small-enters")).unwrap();
    let enters = m.enters_at.unwrap();
    let labels = petcam::classifier::Classifier::metadata(&petcam::classifier::TractClassifier::load(&model()).unwrap()).labels.clone();
    let frames = replay_frames(&model(), &m.dir, &[]);
    let states: Vec<String> = frames.iter().map(|f| format!("{} {:?} {}", f["decision"]["state"].as_str().unwrap_or("error"), label_of(f, &labels), f["region"])).collect();
    assert!(frames[..enters].iter().all(|f| f["decision"]["state"] == "no_pet"), "empty room before the pet: {states:?}");
    let first = frames.iter().position(|f| f["decision"]["state"] != "no_pet").unwrap_or_else(|| panic!("the pet was never noticed: {states:?}"));
    assert!(first - enters < 10, "noticed after {} frames: {states:?}", first - enters);
    for (i, f) in frames.iter().enumerate().skip(first) {
        let (cx, cy) = m.pet_track[i].unwrap();
        let r = &f["region"];
        let (x, y, w) = (r["x"].as_u64().unwrap() as u32, r["y"].as_u64().unwrap() as u32, r["width"].as_u64().unwrap() as u32);
        assert!((x..x + w).contains(&cx) && (y..y + w).contains(&cy), "frame {}: square {x},{y} side {w} misses the pet at {cx},{cy}: {states:?}", i + 1);
    }
}
