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
//! [`mine`] looks harder: more frames of every pet-free photo, each through the whole device
//! pipeline, keeping only the squares the model still takes for a pet.
//!
//! Only training photos are used (pets and backgrounds), so validation and test stay unseen.

use crate::data::{Scene, Split, NO_PET_LABEL};
use crate::images::Loaded;
use anyhow::{ensure, Result};
use petcam::classifier::Classifier;
use petcam::frame::{self, Frame, PixelFormat};
use petcam::locate::Locate;
use petcam::pipeline::{Pipeline, Preprocessor, StageTimes};
use petcam::preprocess;
use petcam::scene::{self, Rng, Shot};
use rayon::prelude::*;

/// Camera frame size the pictures are cut from (the kiosk's default).
const FRAME: (u32, u32) = petcam::frame::DEFAULT_SIZE;
/// Share of pet-free photos that fill the frame (the rest are placed in a scene, as pets are).
const WHOLE_SCENE: f32 = 0.5;

/// `per_photo` located pictures of every training photo in `items` (kept at `side` pixels square,
/// like the training cache), with `locator` building the device's locate stage for each worker.
/// A share `small` of the pets' frames show the pet under half the frame height ([`SMALL`]), the
/// pets the kiosk names least often; the rest are [`Shot::random`]'s 35-100%.
pub fn make(items: &[Loaded], per_photo: usize, side: u32, seed: u64, small: f32, locator: &(dyn Fn() -> Result<Box<dyn Locate>> + Sync)) -> Result<Vec<Loaded>> {
    let train: Vec<&Loaded> = items.iter().filter(|l| l.sample.split == Split::Train).collect();
    let backgrounds = backgrounds(&train)?;
    let jobs: Vec<(usize, &Loaded)> = train.iter().flat_map(|&l| std::iter::repeat_n(l, per_photo)).enumerate().collect();
    let pb = indicatif::ProgressBar::new(jobs.len() as u64).with_message("located pictures");
    let out: Vec<Result<Loaded>> = jobs
        .par_iter()
        .map_init(
            || locator().map(|l| Preprocessor::new(side).with_locator(l)),
            |pre, &(i, item)| {
                let pre = pre.as_mut().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                let f = camera_frame(item, &backgrounds, seed, i, small);
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

/// The training photos that serve as scenes: pet-free, and not other animals (an animal in the
/// background would teach "animal means no pet" to pets placed on it).
fn backgrounds<'a>(train: &[&'a Loaded]) -> Result<Vec<&'a Loaded>> {
    let b: Vec<&Loaded> = train.iter().copied().filter(|l| l.sample.label == NO_PET_LABEL && l.sample.scene != Some(Scene::Animal)).collect();
    ensure!(!b.is_empty(), "simulated camera frames of training photos (--located, --mine-negatives) need pet-free training photos (--no-pets) for backgrounds");
    Ok(b)
}

/// Heights of a "small" pet for [`make`]'s `small`: from the benchmark's smallest (35% of the frame
/// height) to half of it.
pub const SMALL: (f32, f32) = (0.35, 0.5);

/// Mixed into the seed of the draw that makes a pet's frame small, so that with `small = 0` the
/// frames are the same as before the option.
const SMALL_SALT: u64 = 0x736D_616C_6C21;

/// Simulated camera frame number `i` of `item` (640x480 MJPEG, [`Shot::random`] from `seed` and
/// `i`): a pet is placed in a scene from `backgrounds` (with probability `small` under half the
/// frame height); a pet-free photo is the whole scene half the time and placed in another the
/// other half.
fn camera_frame(item: &Loaded, backgrounds: &[&Loaded], seed: u64, i: usize, small: f32) -> Frame {
    let mix = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = Rng::new(seed ^ mix);
    let pet_free = item.sample.label == NO_PET_LABEL;
    let is_small = !pet_free && small > 0.0 && Rng::new(seed ^ SMALL_SALT ^ mix).range(0.0, 1.0) < small;
    let shot = if is_small { Shot::random_in(&mut rng, SMALL.0, SMALL.1) } else { Shot::random(&mut rng) };
    let pixels = if pet_free && rng.range(0.0, 1.0) < WHOLE_SCENE {
        // The pet-free photo is the whole scene: the locator looks for a pet in it.
        let scene = scene::background(Some(&item.image), FRAME.0, FRAME.1);
        scene::compose(&scene, None, &shot.look, &mut rng)
    } else {
        // Placed in another scene, pets and pet-free photos alike, so that "a photo pasted in a
        // scene" never tells a pet.
        let bg = backgrounds[(rng.next_u64() % backgrounds.len() as u64) as usize];
        shot.compose(&scene::background(Some(&bg.image), FRAME.0, FRAME.1), &item.image, &mut rng).0
    };
    Frame { format: PixelFormat::Mjpeg, width: FRAME.0, height: FRAME.1, data: frame::encode_jpeg(&pixels, shot.jpeg_quality), timestamp_ms: 0 }
}

/// Mixed into the seed of [`mine`]'s frames, so they are not [`make`]'s frames again.
const MINE_SALT: u64 = 0x6D69_6E65_6421;

/// What [`mine`] found.
pub struct Mined {
    /// The kept squares, labelled "no pet" (with their photo's scene).
    pub pictures: Vec<Loaded>,
    /// Pet-free frames looked at, and how many of them showed other animals.
    pub frames: usize,
    pub animal_frames: usize,
}

/// Hard negatives mined from camera frames. Every pet-free training photo is put in
/// `frames_per_photo` simulated frames (made as [`make`] makes them, with other draws), and each
/// frame goes through the whole device pipeline built by `pipeline` (convert, locate, crop,
/// classify, the locate stage's veto). The squares that still get a pet score of at least
/// `keep_above` are the pet-free views the model takes for a pet: they become "no pet" training
/// pictures at `side` pixels square, like the training cache. The frames the model already gets
/// right add nothing, so only the hard ones are kept, as many per photo as it gets wrong.
pub fn mine<C: Classifier>(items: &[Loaded], frames_per_photo: usize, side: u32, seed: u64, keep_above: f32, pipeline: &(dyn Fn() -> Result<Pipeline<C>> + Sync)) -> Result<Mined> {
    let train: Vec<&Loaded> = items.iter().filter(|l| l.sample.split == Split::Train).collect();
    let backgrounds = backgrounds(&train)?;
    let jobs: Vec<(usize, &Loaded)> = train.iter().filter(|l| l.sample.label == NO_PET_LABEL).flat_map(|&l| std::iter::repeat_n(l, frames_per_photo)).enumerate().collect();
    let pb = indicatif::ProgressBar::new(jobs.len() as u64).with_message("mining hard negatives");
    let out: Vec<Result<Option<Loaded>>> = jobs
        .par_iter()
        .map_init(pipeline, |p, &(i, item)| {
            let p = p.as_mut().map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let f = camera_frame(item, &backgrounds, seed ^ MINE_SALT, i, 0.0);
            p.reset();
            let a = p.analyse_frame(&f, &mut StageTimes::default()).map_err(|e| anyhow::anyhow!("simulated frame of {}: {e}", item.sample.path.display()))?;
            pb.inc(1);
            Ok((a.scores.pet_score >= keep_above).then(|| Loaded { sample: item.sample.clone(), image: preprocess::crop_resize(&a.rgb, a.region, side), original: (a.region.width, a.region.height) }))
        })
        .collect();
    pb.finish_and_clear();
    let pictures: Vec<Loaded> = out.into_iter().filter_map(|r| r.transpose()).collect::<Result<_>>()?;
    let animal_frames = jobs.iter().filter(|(_, l)| l.sample.scene == Some(Scene::Animal)).count();
    Ok(Mined { pictures, frames: jobs.len(), animal_frames })
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

    /// A red pet, a blue scene and a green animal to train on, and `held_out`, a photo of another split.
    fn training_photos_and(held_out: Loaded) -> Vec<Loaded> {
        vec![
            item(3, Split::Train, None, [250, 10, 10]),
            item(NO_PET_LABEL, Split::Train, Some(Scene::Other), [10, 10, 250]),
            item(NO_PET_LABEL, Split::Train, Some(Scene::Animal), [10, 250, 10]),
            held_out,
        ]
    }

    /// Pixels of the green animal in a picture.
    fn green(l: &Loaded) -> usize {
        l.image.pixels().filter(|p| p[1] > 150 && p[0] < 100 && p[2] < 100).count()
    }

    #[test]
    fn every_training_photo_gives_located_pictures_with_its_label() {
        let items = training_photos_and(item(5, Split::Val, None, [250, 250, 250]));
        let made = make(&items, 2, 24, 1, 0.0, &|| Ok(Box::new(LeftHalf))).unwrap();
        assert_eq!(made.len(), 6, "two per training photo, none of the validation photo");
        assert!(made.iter().all(|l| l.image.dimensions() == (24, 24) && l.sample.split == Split::Train));
        assert_eq!(made.iter().filter(|l| l.sample.label == 3).count(), 2);
        // An animal photo is never a background: no picture of the blue scene holds green, and
        // the green animal is in every picture made of it.
        assert!(made.iter().filter(|l| l.sample.scene == Some(Scene::Other)).all(|l| green(l) == 0));
        assert!(made.iter().filter(|l| l.sample.scene == Some(Scene::Animal)).all(|l| green(l) > 0));
        // Without pet-free training photos there are no backgrounds.
        assert!(make(&items[..1], 1, 24, 1, 0.0, &|| Ok(Box::new(LeftHalf))).is_err());
    }

    #[test]
    fn small_pets_are_drawn_under_half_the_frame_height_and_only_when_asked() {
        let items = training_photos_and(item(5, Split::Val, None, [250, 250, 250]));
        let (pet, backgrounds) = (&items[0], backgrounds(&items.iter().collect::<Vec<_>>()).unwrap());
        // Rows of the frame holding the red pet.
        let red_rows = |f: &Frame| {
            let rgb = frame::to_rgb(f).unwrap();
            (0..rgb.height()).filter(|&y| (0..rgb.width()).filter(|&x| rgb.get_pixel(x, y)[0] > 150 && rgb.get_pixel(x, y)[2] < 100).count() > 4).count() as u32
        };
        let (mut tallest_small, mut tallest_any) = (0, 0);
        for i in 0..12 {
            tallest_small = tallest_small.max(red_rows(&camera_frame(pet, &backgrounds, 1, i, 1.0)));
            tallest_any = tallest_any.max(red_rows(&camera_frame(pet, &backgrounds, 1, i, 0.0)));
            // A pet-free photo's frame does not change with the option.
            assert_eq!(camera_frame(&items[1], &backgrounds, 1, i, 1.0).data, camera_frame(&items[1], &backgrounds, 1, i, 0.0).data);
        }
        assert!(tallest_small > 0 && tallest_small as f32 <= 0.5 * FRAME.1 as f32 + 2.0, "small pets: {tallest_small} rows of {}", FRAME.1);
        assert!(tallest_any as f32 > 0.5 * FRAME.1 as f32, "without the option some pets are taller than half the frame: {tallest_any}");
    }

    /// Scores a model input by how green it is: the share of its pixels whose green channel
    /// stands out is the pet score.
    struct GreenIsPet(petcam::metadata::ModelMetadata);
    impl Classifier for GreenIsPet {
        type Error = std::io::Error;
        fn metadata(&self) -> &petcam::metadata::ModelMetadata {
            &self.0
        }
        fn classify(&mut self, input: &[f32]) -> Result<petcam::classifier::Scores, Self::Error> {
            let n = input.len() / 3;
            let green = (0..n).filter(|&i| input[n + i] > 0.6 && input[i] < 0.4 && input[2 * n + i] < 0.4).count() as f32 / n as f32;
            let labels = self.0.labels.len();
            let mut probs = vec![green / (labels - 1) as f32; labels];
            probs[labels - 1] = 1.0 - green;
            Ok(petcam::classifier::Scores { probs, pet_score: green })
        }
    }

    #[test]
    fn mining_keeps_the_pet_free_squares_the_model_takes_for_a_pet() {
        let items = training_photos_and(item(NO_PET_LABEL, Split::Val, Some(Scene::Animal), [10, 250, 10]));
        let pipeline = || Ok(Pipeline::new(GreenIsPet(crate::export::onnx::test_metadata(16, 4))).with_locator(Box::new(LeftHalf)));
        // Keeping everything: one square per frame, only of the two pet-free training photos.
        let all = mine(&items, 6, 24, 1, 0.0, &pipeline).unwrap();
        assert_eq!((all.frames, all.animal_frames, all.pictures.len()), (12, 6, 12));
        assert!(all.pictures.iter().all(|l| l.sample.label == NO_PET_LABEL && l.sample.split == Split::Train && l.image.dimensions() == (24, 24)));
        // Keeping what scores at least 0.5: only squares of the green animal, mostly green; the
        // blue scene never scores.
        let hard = mine(&items, 6, 24, 1, 0.5, &pipeline).unwrap();
        assert!(!hard.pictures.is_empty() && hard.pictures.len() < all.pictures.len(), "{} of {}", hard.pictures.len(), all.pictures.len());
        assert!(hard.pictures.iter().all(|l| l.sample.scene == Some(Scene::Animal) && green(l) as f32 > 0.4 * (24 * 24) as f32));
        // The same seed draws the same frames again.
        assert_eq!(mine(&items, 6, 24, 1, 0.5, &pipeline).unwrap().pictures.len(), hard.pictures.len());
    }
}
