//! Study tool: for camera-benchmark frames of one split (made exactly as `petcam-trainer camera`
//! makes them), what the device's pipeline said and the backbone features behind it, for offline
//! study of pet scores (`scripts/pet-score-study.py`).
//!
//! ```sh
//! cargo run -p petcam-trainer --example camera_features -- \
//!   MODEL.onnx ../shared/datasets/pets ../shared/datasets/no-pets SPLIT LIMIT SEED OUT.f32
//! # val and test: LIMIT 100000 SEED 1 (the benchmark's frames); train: LIMIT 2000 SEED 7
//! ```
//! writes one row of little-endian f32 per frame: label, scene (0 animal, 1 people, 2 other, -1
//! pet), located (0/1), camera pet score, camera breed, then the located square's pooled features
//! (1,280: what the head reads), the wide view's mean- and max-pooled features (1,280 each), the
//! locator head's best cell log-odds, and the pet scores of two second looks: the located square
//! mirrored, and a square 1.25x as large around it. About 0.1 s a frame on 2 cores (dev profile).
use anyhow::{anyhow, bail, Context, Result};
use petcam::classifier::{Classifier, TractClassifier};
use petcam::locate::activation::{square_in_frame, ActivationConfig, ActivationLocator};
use petcam::pipeline::{Pipeline, StageTimes};
use petcam_trainer::data::{self, Scene, Split, NO_PET_LABEL};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;

fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [model, pets, no_pets, split, limit, seed, out] = a.as_slice() else {
        bail!("usage: camera_features MODEL PETS NO_PETS train|val|test LIMIT SEED OUT");
    };
    let model = PathBuf::from(model);
    let split = <Split as clap::ValueEnum>::from_str(split, true).map_err(|e| anyhow!("split: {e}"))?;
    let limit: usize = limit.parse()?;
    let seed: u64 = seed.parse()?;
    let mut samples = data::load(&[PathBuf::from(pets)], 0.2, 42)?;
    samples.extend(data::load(&[PathBuf::from(no_pets)], 0.2, 42)?);
    let mut pets: Vec<_> = samples.iter().filter(|x| x.split == split && x.label != NO_PET_LABEL && (x.oxford || split == Split::Train)).collect();
    let step = pets.len().div_ceil(limit.max(1)).max(1);
    pets = pets.into_iter().step_by(step).take(limit).collect();
    let no_pets: Vec<_> = samples.iter().filter(|x| x.split == split && x.label == NO_PET_LABEL).collect();
    let backgrounds: Vec<_> = no_pets.iter().copied().filter(|x| x.scene != Some(Scene::Animal)).collect();
    let subjects: Vec<(usize, _)> = pets.iter().copied().chain((0..pets.len()).map(|i| no_pets[i % no_pets.len()])).enumerate().collect();
    let no_pet = TractClassifier::load(&model)?.metadata().no_pet_index().ok_or_else(|| anyhow!("no no-pet output"))?;
    let pb = indicatif::ProgressBar::new(subjects.len() as u64);
    let rows: Vec<Result<Vec<f32>>> = subjects
        .par_iter()
        .map_init(
            || -> Result<_> {
                let p = Pipeline::new(TractClassifier::load(&model)?).with_locator(petcam::locate::by_name("activation", &model, Some(no_pet), None).map_err(|e| anyhow!(e))?);
                let wide = ActivationLocator::load(&model, no_pet, ActivationConfig::default())?;
                let crop = ActivationLocator::load(&model, no_pet, ActivationConfig { view_width: 96, ..Default::default() })?;
                Ok((p, wide, crop))
            },
            |state, &(i, sample)| -> Result<Vec<f32>> {
                let (p, wide, crop) = state.as_mut().map_err(|e| anyhow!("{e:#}"))?;
                let read = |p: &std::path::Path| image::open(p).with_context(|| p.display().to_string()).map(|i| i.to_rgb8());
                let photo = read(&sample.path)?;
                let (f, _) = petcam_trainer::camera::frame_of(&photo, &backgrounds, seed, i, &Default::default())?;
                p.reset();
                let a = p.analyse_frame(&f, &mut StageTimes::default()).map_err(|e| anyhow!("{}: camera frame {i}: {e}", sample.path.display()))?;
                let scene = match sample.scene {
                    Some(Scene::Animal) => 0.0,
                    Some(Scene::People) => 1.0,
                    Some(Scene::Other) => 2.0,
                    None => -1.0,
                };
                let breed = petcam_trainer::metrics::argmax(&a.scores.probs[..NO_PET_LABEL]);
                let mut row = vec![sample.label as f32, scene, (a.saw_pet != Some(false)) as u8 as f32, a.scores.pet_score, breed as f32];
                let picture = petcam::preprocess::crop_resize(&a.rgb, a.region, 96);
                let (_, _, ch, cells) = crop.features(&picture)?;
                row.extend(pool(&cells, ch, |v| v.sum::<f32>() / (cells.len() / ch) as f32));
                let (_, _, ch, cells) = wide.features(&a.rgb)?;
                row.extend(pool(&cells, ch, |v| v.sum::<f32>() / (cells.len() / ch) as f32));
                row.extend(pool(&cells, ch, |v| v.fold(f32::MIN, f32::max)));
                let (_, _, map) = wide.pet_map(&a.rgb)?;
                row.push(map.iter().cloned().fold(f32::MIN, f32::max));
                // Second looks at the same pet: the square mirrored, and a square 1.25x as large.
                let cls = p.classifier();
                let look = |pic: &image::RgbImage| -> Result<f32> {
                    let mut input = Vec::new();
                    petcam::preprocess::push_chw(pic, &mut input);
                    Ok(petcam::classifier::Scores::from_logits(&cls.logits(&input)?, cls.metadata().temperature, Some(no_pet)).pet_score)
                };
                row.push(look(&image::imageops::flip_horizontal(&picture))?);
                let r = a.region;
                let around = [r.x as f32 + r.width as f32 / 2.0, r.y as f32 + r.height as f32 / 2.0, 1.25 * r.width as f32];
                let wider = petcam::preprocess::crop_resize(&a.rgb, square_in_frame(around, a.rgb.width(), a.rgb.height()), 96);
                row.push(look(&wider)?);
                pb.inc(1);
                Ok(row)
            },
        )
        .collect();
    pb.finish_and_clear();
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut width = 0;
    for r in rows {
        let r = r?;
        width = r.len();
        for v in r {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    w.flush()?;
    eprintln!("row width {width}");
    Ok(())
}

/// One value per channel of `cells` (`channels` values per cell, cell after cell), from `f` over
/// that channel's values in every cell.
fn pool(cells: &[f32], channels: usize, f: impl Fn(&mut dyn Iterator<Item = f32>) -> f32) -> Vec<f32> {
    (0..channels).map(|k| f(&mut cells.iter().skip(k).step_by(channels).copied())).collect()
}
