//! Training pictures made the way the device makes its pictures: each training photo is put in a
//! simulated camera frame ([`petcam::scene::Shot`]: placed anywhere at 35-100% of the frame height on
//! a pet-free training photo, colour cast, noise, blur, MJPEG), the frame goes through the device's
//! own convert and locate stages ([`Preprocessor`] with the locator the kiosk runs), and the square it
//! chose becomes a training picture with the photo's label.
//!
//! For pets this teaches the breed from the crops the device really classifies: the pet off-centre,
//! small or cut, with some scene around it. For pet-free photos it mines the hard negatives: the
//! locator zooms in on whatever part of the scene looks most like a pet, and that close-up is what
//! the classifier must call "no pet". Half the pet-free photos fill the frame; the other half are
//! placed in a scene exactly as the pets are (a first run that placed only pets taught the model
//! that a pasted photo means a pet: 18% of pet-free benchmark frames, which are pasted too, still
//! got a breed).
//!
//! Only training photos are used (pets and backgrounds), so validation and test stay unseen.

use crate::data::{Scene, Split, NO_PET_LABEL};
use crate::images::Loaded;
use anyhow::{ensure, Result};
use petcam::frame::{self, Frame, PixelFormat};
use petcam::locate::Locate;
use petcam::pipeline::{Preprocessor, StageTimes};
use petcam::scene::{self, Rng, Shot};
use rayon::prelude::*;

/// Camera frame size the pictures are cut from (the kiosk's default).
const FRAME: (u32, u32) = (640, 480);
/// Share of pet-free photos that fill the frame (the rest are placed in a scene, as pets are).
const WHOLE_SCENE: f32 = 0.5;

/// `per_photo` located pictures of every training photo in `items` (kept at `side` pixels square,
/// like the training cache), with `locator` building the device's locate stage for each worker.
pub fn make(items: &[Loaded], per_photo: usize, side: u32, seed: u64, locator: &(dyn Fn() -> Result<Box<dyn Locate>> + Sync)) -> Result<Vec<Loaded>> {
    let train: Vec<&Loaded> = items.iter().filter(|l| l.sample.split == Split::Train).collect();
    let backgrounds: Vec<&Loaded> = train.iter().copied().filter(|l| l.sample.label == NO_PET_LABEL && l.sample.scene != Some(Scene::Animal)).collect();
    ensure!(!backgrounds.is_empty(), "located training pictures need pet-free training photos (--no-pets) for backgrounds");
    let jobs: Vec<(usize, &Loaded)> = train.iter().flat_map(|&l| std::iter::repeat_n(l, per_photo)).enumerate().collect();
    let pb = indicatif::ProgressBar::new(jobs.len() as u64).with_message("located pictures");
    let out: Vec<Result<Loaded>> = jobs
        .par_iter()
        .map_init(
            || locator().map(|l| Preprocessor::new(side).with_locator(l)),
            |pre, &(i, item)| {
                let pre = pre.as_mut().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let shot = Shot::random(&mut rng);
                let pet_free = item.sample.label == NO_PET_LABEL;
                let pixels = if pet_free && rng.range(0.0, 1.0) < WHOLE_SCENE {
                    // The pet-free photo is the whole scene: the locator looks for a pet in it.
                    let scene = scene::background(Some(&item.image), FRAME.0, FRAME.1);
                    scene::compose(&scene, None, &shot.look, &mut rng)
                } else {
                    // Placed in another scene, pets and pet-free photos alike, so that "a photo
                    // pasted in a scene" never tells a pet.
                    let bg = backgrounds[(rng.next_u64() % backgrounds.len() as u64) as usize];
                    shot.compose(&scene::background(Some(&bg.image), FRAME.0, FRAME.1), &item.image, &mut rng).0
                };
                let f = Frame { format: PixelFormat::Mjpeg, width: FRAME.0, height: FRAME.1, data: frame::encode_jpeg(&pixels, shot.jpeg_quality), timestamp_ms: 0 };
                let times = &mut StageTimes::default();
                let rgb = pre.convert(&f, times).map_err(|e| anyhow::anyhow!("simulated frame of {}: {e}", item.sample.path.display()))?;
                pre.reset();
                let (region, image) = pre.crop(&rgb, times);
                pb.inc(1);
                Ok(Loaded { sample: item.sample.clone(), image, original: (region.width, region.height) })
            },
        )
        .collect();
    pb.finish_and_clear();
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Sample;
    use image::{Rgb, RgbImage};
    use petcam::preprocess::Rect;

    /// A locate stage that always answers the frame's left half: the crops must come from there.
    struct LeftHalf;
    impl Locate for LeftHalf {
        fn locate(&mut self, rgb: &RgbImage) -> Rect {
            Rect { x: 0, y: 0, width: rgb.height(), height: rgb.height() }
        }
        fn reset(&mut self) {}
        fn name(&self) -> &'static str {
            "left"
        }
    }

    fn item(label: usize, split: Split, scene: Option<Scene>, colour: [u8; 3]) -> Loaded {
        let sample = Sample { path: format!("/x/{label}-{colour:?}.jpg").into(), label, split, kind: "orig".into(), oxford: true, scene };
        Loaded { sample, image: RgbImage::from_pixel(60, 45, Rgb(colour)), original: (60, 45) }
    }

    #[test]
    fn every_training_photo_gives_located_pictures_with_its_label() {
        let items = vec![
            item(3, Split::Train, None, [250, 10, 10]),
            item(NO_PET_LABEL, Split::Train, Some(Scene::Other), [10, 10, 250]),
            item(NO_PET_LABEL, Split::Train, Some(Scene::Animal), [10, 250, 10]),
            item(5, Split::Val, None, [250, 250, 250]),
        ];
        let made = make(&items, 2, 24, 1, &|| Ok(Box::new(LeftHalf))).unwrap();
        assert_eq!(made.len(), 6, "two per training photo, none of the validation photo");
        assert!(made.iter().all(|l| l.image.dimensions() == (24, 24) && l.sample.split == Split::Train));
        assert_eq!(made.iter().filter(|l| l.sample.label == 3).count(), 2);
        // An animal photo is never a background: no picture of the blue scene holds green, and
        // the green animal is in every picture made of it.
        let green = |l: &Loaded| l.image.pixels().filter(|p| p[1] > 150 && p[0] < 100 && p[2] < 100).count();
        assert!(made.iter().filter(|l| l.sample.scene == Some(Scene::Other)).all(|l| green(l) == 0));
        assert!(made.iter().filter(|l| l.sample.scene == Some(Scene::Animal)).all(|l| green(l) > 0));
        // Without pet-free training photos there are no backgrounds.
        assert!(make(&items[..1], 1, 24, 1, &|| Ok(Box::new(LeftHalf))).is_err());
    }
}
