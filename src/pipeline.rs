//! The per-frame chain, written once: frame -> RGB -> locate -> preprocess -> classify.
//!
//! Every command goes through here: the kiosk (`run`, `replay`, `demo`), `classify`, `bench`, the
//! criterion benches, the fuzz entry points and the trainer's evaluation. [`Preprocessor`] is the
//! model-free half (convert, locate, crop and scale, CHW tensor), which the trainer and the fuzzers
//! use on their own; [`Pipeline`] adds the classifier and is loaded once per process. What the
//! answer means over time (smoothing, "no pet", hysteresis) is [`decision`](crate::decision)'s
//! job, per stream, and drawing it is [`ui`](crate::ui)'s.
//!
//! Time per stage is data: [`StageTimes`] holds one figure per [`Stage`].

use crate::classifier::{Classifier, Scores};
use crate::frame::{self, Frame, FrameError};
use crate::locate::{CentreCrop, Locate};
use crate::metadata::ModelMetadata;
use crate::preprocess::{self, Rect};
use image::RgbImage;
use std::time::Instant;

/// The stages of the device's data flow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the camera (or reading a recording).
    Source,
    /// MJPEG / YUYV / RGB24 to RGB.
    Convert,
    /// Choosing the region of the frame to classify.
    Locate,
    /// Crop, scale to the model input, CHW `[0, 1]`.
    Preprocess,
    /// The model.
    Classify,
    /// Smoothing and the decision.
    Decide,
    /// Drawing the screen.
    Render,
    /// Sending it to the display.
    Display,
}

impl Stage {
    pub const ALL: [Stage; 8] = [Stage::Source, Stage::Convert, Stage::Locate, Stage::Preprocess, Stage::Classify, Stage::Decide, Stage::Render, Stage::Display];

    /// Lower-case name, as in logs and JSON (`classify`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Convert => "convert",
            Stage::Locate => "locate",
            Stage::Preprocess => "preprocess",
            Stage::Classify => "classify",
            Stage::Decide => "decide",
            Stage::Render => "render",
            Stage::Display => "display",
        }
    }
}

/// Milliseconds spent in each [`Stage`] (for one frame, or a mean over many). Serialises as
/// `{"source_ms": .., "convert_ms": .., ...}`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes([f32; Stage::ALL.len()]);

impl StageTimes {
    pub fn get(&self, stage: Stage) -> f32 {
        self.0[stage as usize]
    }
    pub fn set(&mut self, stage: Stage, ms: f32) {
        self.0[stage as usize] = ms;
    }
    /// Runs `f`, recording its wall time as `stage`'s.
    pub fn time<T>(&mut self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.set(stage, t.elapsed().as_secs_f32() * 1000.0);
        out
    }
    pub fn add(&mut self, other: &StageTimes) {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a += b);
    }
    pub fn scaled(&self, k: f32) -> StageTimes {
        StageTimes(self.0.map(|v| v * k))
    }
    pub fn total_ms(&self) -> f32 {
        self.0.iter().sum()
    }
    /// `(stage, ms)` in pipeline order.
    pub fn iter(&self) -> impl Iterator<Item = (Stage, f32)> + '_ {
        Stage::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

impl serde::Serialize for StageTimes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(Stage::ALL.len()))?;
        for (stage, ms) in self.iter() {
            m.serialize_entry(&format!("{}_ms", stage.name()), &ms)?;
        }
        m.end()
    }
}

/// The model-free half of the chain: convert a frame, locate, crop and scale to the model input.
pub struct Preprocessor {
    locator: Box<dyn Locate>,
    size: u32,
    input: Vec<f32>,
}

impl Preprocessor {
    /// For a model with `size` x `size` input, with the [`CentreCrop`] locator.
    pub fn new(size: u32) -> Preprocessor {
        Preprocessor { locator: Box::new(CentreCrop), size, input: Vec::with_capacity(3 * (size * size) as usize) }
    }

    /// Replaces the locate stage.
    pub fn with_locator(mut self, locator: Box<dyn Locate>) -> Preprocessor {
        self.locator = locator;
        self
    }

    /// Forgets what earlier frames told the locator (a new stream, or after a fault).
    pub fn reset(&mut self) {
        self.locator.reset();
    }

    /// The locate stage's word on the last frame: [`Locate::saw_pet`].
    pub fn saw_pet(&self) -> Option<bool> {
        self.locator.saw_pet()
    }

    /// What the locate stage's last search saw: [`Locate::evidence`].
    pub fn evidence(&self) -> Option<crate::evidence::WideEvidence> {
        self.locator.evidence()
    }

    /// Frame bytes to RGB.
    pub fn convert(&self, frame: &Frame, times: &mut StageTimes) -> Result<RgbImage, FrameError> {
        times.time(Stage::Convert, || frame::to_rgb(frame))
    }

    /// Locate, then crop and scale: the picture the model sees (`size` x `size`) and where in
    /// `rgb` it came from.
    pub fn crop(&mut self, rgb: &RgbImage, times: &mut StageTimes) -> (Rect, RgbImage) {
        let region = times.time(Stage::Locate, || self.locator.locate(rgb));
        let picture = times.time(Stage::Preprocess, || preprocess::crop_resize(rgb, region, self.size));
        (region, picture)
    }

    /// The picture the model sees of `rgb` with the default locate stage ([`CentreCrop`]): what
    /// the trainer trains its evaluation on, as the device crops it.
    pub fn model_picture(rgb: &RgbImage, size: u32) -> RgbImage {
        Preprocessor::new(size).crop(rgb, &mut StageTimes::default()).1
    }

    /// Locate, crop, scale and lay out as the model input (`[3, size, size]` CHW in `[0, 1]`).
    pub fn prepare(&mut self, rgb: &RgbImage, times: &mut StageTimes) -> (Rect, &[f32]) {
        let (region, picture) = self.crop(rgb, times);
        self.lay_out(region, &picture, times)
    }

    /// Crop `region` of `rgb` (whatever the locate stage would say), scale and lay out as the
    /// model input: for studies that know where the pet is.
    pub fn prepare_region(&mut self, rgb: &RgbImage, region: Rect, times: &mut StageTimes) -> &[f32] {
        let picture = times.time(Stage::Preprocess, || preprocess::crop_resize(rgb, region, self.size));
        self.lay_out(region, &picture, times).1
    }

    fn lay_out(&mut self, region: Rect, picture: &RgbImage, times: &mut StageTimes) -> (Rect, &[f32]) {
        let t = Instant::now();
        self.input.clear();
        preprocess::push_chw(picture, &mut self.input);
        times.set(Stage::Preprocess, times.get(Stage::Preprocess) + t.elapsed().as_secs_f32() * 1000.0);
        (region, &self.input)
    }
}

/// What the pipeline made of one frame.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The whole frame in RGB (for the preview).
    pub rgb: RgbImage,
    /// The square region of `rgb` that was classified.
    pub region: Rect,
    pub scores: Scores,
    /// The locate stage found a pet in the frame (`Some(false)`: nothing pet-like, and the
    /// scores' pet score was set to 0); `None` when it cannot tell.
    pub saw_pet: Option<bool>,
    /// What the locate stage's last search of the whole frame saw ([`Locate::evidence`]).
    pub evidence: Option<crate::evidence::WideEvidence>,
}

/// Why a frame gave no scores. Both variants' messages say what went wrong; the frame's source is
/// named by the caller.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError<E: std::error::Error + 'static> {
    #[error("bad frame: {0}")]
    Frame(#[source] FrameError),
    #[error(transparent)]
    Classify(E),
}

/// The whole per-frame chain around one loaded model.
pub struct Pipeline<C> {
    pre: Preprocessor,
    classifier: C,
}

impl<C: Classifier> Pipeline<C> {
    /// A pipeline around `classifier`, cropping with [`CentreCrop`].
    pub fn new(classifier: C) -> Pipeline<C> {
        let size = classifier.metadata().input_size;
        Pipeline { pre: Preprocessor::new(size), classifier }
    }

    /// Replaces the locate stage.
    pub fn with_locator(mut self, locator: Box<dyn Locate>) -> Pipeline<C> {
        self.pre = self.pre.with_locator(locator);
        self
    }

    pub fn metadata(&self) -> &ModelMetadata {
        self.classifier.metadata()
    }

    pub fn classifier(&self) -> &C {
        &self.classifier
    }

    pub fn preprocessor(&mut self) -> &mut Preprocessor {
        &mut self.pre
    }

    /// Forgets per-stream state (the locator's); call between recordings and after a camera fault.
    pub fn reset(&mut self) {
        self.pre.reset();
    }

    /// Frame -> RGB -> locate -> preprocess -> classify.
    pub fn analyse_frame(&mut self, frame: &Frame, times: &mut StageTimes) -> Result<Analysis, PipelineError<C::Error>> {
        let rgb = self.pre.convert(frame, times).map_err(PipelineError::Frame)?;
        self.analyse(rgb, times).map_err(PipelineError::Classify)
    }

    /// An RGB picture (a still image, or a converted frame) -> locate -> preprocess -> classify.
    /// When the locate stage found nothing pet-like in the picture ([`Locate::saw_pet`]), the
    /// pet score is 0.
    pub fn analyse(&mut self, rgb: RgbImage, times: &mut StageTimes) -> Result<Analysis, C::Error> {
        let (region, input) = self.pre.prepare(&rgb, times);
        let classifier = &mut self.classifier;
        let mut scores = times.time(Stage::Classify, || classifier.classify(input))?;
        let evidence = self.pre.evidence();
        let meta = self.classifier.metadata();
        if let (Some(w), Some(_)) = (&meta.pet_evidence, meta.no_pet_index()) {
            // The crop's score with what the wide view saw of the whole frame ([`crate::evidence`]).
            scores.pet_score = w.pet_score(scores.pet_score, evidence.as_ref(), meta.pet_threshold);
        }
        let saw_pet = self.pre.saw_pet();
        if saw_pet == Some(false) {
            // Nothing in the frame looked like a pet to the locate stage: the classifier saw
            // only the fallback square, and a pet-like patch there is not a pet in view
            // (models/MODEL_CARD.md, "Version 3 on camera frames": fewer pet-free frames given
            // a breed, no fewer pets).
            scores.pet_score = 0.0;
        }
        Ok(Analysis { rgb, region, scores, saw_pet, evidence })
    }

    /// Classifies `region` of `rgb`, bypassing the locate stage (studies of the locator).
    pub fn analyse_region(&mut self, rgb: RgbImage, region: Rect, times: &mut StageTimes) -> Result<Analysis, C::Error> {
        let input = self.pre.prepare_region(&rgb, region, times);
        let classifier = &mut self.classifier;
        let scores = times.time(Stage::Classify, || classifier.classify(input))?;
        Ok(Analysis { rgb, region, scores, saw_pet: None, evidence: None })
    }
}

impl Pipeline<crate::classifier::TractClassifier> {
    /// Raw logits for a picture, through the same locate and preprocess stages as every frame (the
    /// trainer's evaluation of an exported model).
    pub fn logits(&mut self, rgb: &RgbImage) -> Result<Vec<f32>, crate::classifier::ModelError> {
        let (_, input) = self.pre.prepare(rgb, &mut StageTimes::default());
        self.classifier.logits(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_times_add_scale_and_serialise_per_stage() {
        let mut a = StageTimes::default();
        a.set(Stage::Classify, 4.0);
        a.set(Stage::Source, 1.0);
        let mut b = a;
        b.add(&a);
        assert_eq!(b.get(Stage::Classify), 8.0);
        assert_eq!(b.scaled(0.5), a);
        assert_eq!(a.total_ms(), 5.0);
        let json = serde_json::to_value(a).unwrap();
        assert_eq!(json["classify_ms"], 4.0);
        assert_eq!(json.as_object().unwrap().len(), Stage::ALL.len());
        assert!(Stage::ALL.iter().enumerate().all(|(i, s)| *s as usize == i), "ALL is in declaration order");
    }

    #[test]
    fn preprocessor_gives_the_model_input_and_its_region() {
        let img = RgbImage::from_fn(64, 48, |x, _| image::Rgb([if (8..56).contains(&x) { 0 } else { 255 }, 0, 0]));
        let mut p = Preprocessor::new(16);
        let mut t = StageTimes::default();
        let (region, input) = p.prepare(&img, &mut t);
        assert_eq!(region, Rect { x: 8, y: 0, width: 48, height: 48 });
        assert_eq!(input.len(), 3 * 16 * 16);
        assert!(input.iter().all(|v| *v < 0.01), "the red bands outside the centre square are cut");
    }

    /// A locate stage that frames the centre square and says it saw no pet there.
    struct SawNothing;
    impl Locate for SawNothing {
        fn locate(&mut self, rgb: &RgbImage) -> Rect {
            CentreCrop.locate(rgb)
        }
        fn name(&self) -> &'static str {
            "saw-nothing"
        }
        fn saw_pet(&self) -> Option<bool> {
            Some(false)
        }
    }

    #[test]
    fn a_frame_the_locate_stage_saw_no_pet_in_scores_no_pet() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = || crate::classifier::TractClassifier::load(&root.join("models").join(crate::config::DEFAULT_MODEL_FILE)).unwrap();
        let cat = image::open(root.join("demo/images/chelsea.png")).unwrap().to_rgb8();
        let plain = Pipeline::new(model()).analyse(cat.clone(), &mut StageTimes::default()).unwrap();
        assert!(plain.scores.pet_score > 0.9 && plain.saw_pet.is_none(), "{:?}", plain.scores.pet_score);
        let vetoed = Pipeline::new(model()).with_locator(Box::new(SawNothing)).analyse(cat, &mut StageTimes::default()).unwrap();
        assert_eq!((vetoed.scores.pet_score, vetoed.saw_pet), (0.0, Some(false)));
        assert_eq!(vetoed.scores.probs, plain.scores.probs, "the breed probabilities stay the classifier's");
    }

    /// A classifier that always answers `1`, with metadata `0`.
    struct Fixed(ModelMetadata, Scores);
    impl Classifier for Fixed {
        type Error = std::convert::Infallible;
        fn metadata(&self) -> &ModelMetadata {
            &self.0
        }
        fn classify(&mut self, _: &[f32]) -> Result<Scores, Self::Error> {
            Ok(self.1.clone())
        }
    }

    /// A locate stage whose search saw `0` of the whole frame.
    struct Saw(Option<crate::evidence::WideEvidence>);
    impl Locate for Saw {
        fn locate(&mut self, rgb: &RgbImage) -> Rect {
            CentreCrop.locate(rgb)
        }
        fn name(&self) -> &'static str {
            "saw"
        }
        fn evidence(&self) -> Option<crate::evidence::WideEvidence> {
            self.0
        }
    }

    #[test]
    fn a_model_with_pet_evidence_weighs_the_wide_view_in() {
        use crate::evidence::{PetEvidence, WideEvidence};
        let sigmoid = |z: f32| 1.0 / (1.0 + (-z).exp());
        let mut meta = crate::metadata::tests::sample(); // beagle, pug, no pet; threshold 0.5
        let crop = Scores { probs: vec![0.4, 0.1, 0.5], pet_score: 0.5 }; // crop log-odds 0
        let run = |meta: &ModelMetadata, wide: Option<WideEvidence>| {
            Pipeline::new(Fixed(meta.clone(), crop.clone())).with_locator(Box::new(Saw(wide))).analyse(RgbImage::new(64, 48), &mut StageTimes::default()).unwrap()
        };
        let pet_like = WideEvidence { cell: 0.0, cam_cell: 0.0, view: 3.0 };
        // Without weights in the model, the crop's own score whatever the view saw.
        assert_eq!(run(&meta, Some(pet_like)).scores.pet_score, 0.5);
        meta.pet_evidence = Some(PetEvidence { crop: 1.0, cell: 0.0, cam_cell: 0.0, view: 1.0, bias: 0.0, crop_threshold: 0.9 });
        let a = run(&meta, Some(pet_like));
        assert!((a.scores.pet_score - sigmoid(3.0)).abs() < 1e-5, "{}", a.scores.pet_score);
        assert_eq!((a.evidence, &a.scores.probs), (Some(pet_like), &crop.probs), "the breed probabilities stay the classifier's");
        let empty = run(&meta, Some(WideEvidence { view: -3.0, ..pet_like }));
        assert!((empty.scores.pet_score - sigmoid(-3.0)).abs() < 1e-5);
        // No wide view (the centre crop): the crop's 0.5 read against its own threshold 0.9.
        let alone = run(&meta, None).scores.pet_score;
        assert!((alone - sigmoid(-(9.0f32).ln())).abs() < 1e-5, "{alone}");
    }
}
