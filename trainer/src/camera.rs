//! The camera-conditions benchmark: accuracy the way the kiosk is used, beside the clean photos.
//!
//! Every Oxford *test* photo is put in front of a simulated cheap camera ([`petcam::scene::Shot`]:
//! a 640x480 frame, the pet at 35-100% of the frame height anywhere in it, possibly cut by the
//! edge, slightly stretched, on a background from the no-pets *test* photos, with colour cast,
//! exposure, gamma, noise, defocus and MJPEG at quality 50-80), and as many pet-free frames are
//! made the same way from no-pets *test* photos (other animals among them). Every frame goes
//! through the device's own [`Pipeline`] (MJPEG decode, locate, crop, classify), and so does every
//! clean photo, as `petcam classify` takes it. Frames are made at run time from `../shared` and
//! never stored, except the few `--frames-out` writes for a look.

use crate::data::{Sample, Scene, Split, NO_PET_LABEL};
use crate::metrics::argmax;
use anyhow::{ensure, Context, Result};
use image::RgbImage;
use petcam::classifier::TractClassifier;
use petcam::decision::{Decider, Decision, DecisionConfig};
use petcam::frame::{self, Frame, PixelFormat};
use petcam::locate::Locate;
use petcam::pipeline::{Pipeline, StageTimes};
use petcam::scene::{self, Rng, Shot};
use rayon::prelude::*;
use std::path::Path;

/// One benchmark item: a photo judged clean and as a camera frame.
#[derive(Debug, Clone)]
pub struct Judged {
    /// Breed label, or [`NO_PET_LABEL`].
    pub label: usize,
    pub scene: Option<Scene>,
    pub clean: Verdict,
    pub camera: Verdict,
    /// Share of the classified region covered by the subject (camera frames).
    pub region_on_subject: f32,
    /// Side of the classified square as a share of the frame's height (camera frames).
    pub region_side: f32,
    /// Height of the pasted photo in the frame, as a share of the frame height (what is inside
    /// the frame).
    pub subject_height: f32,
    /// The locate stage found something pet-like in the camera frame ([`Locate::saw_pet`]; true
    /// for a locator that cannot tell). With a clip: in its last frame.
    pub located: bool,
    /// `ln` of the probabilities (all labels, at the temperature judged with), clean and camera:
    /// the logits up to a constant, for fitting and checking the temperature.
    pub log_probs: [Vec<f32>; 2],
    /// What the locate stage's search of the whole picture saw ([`Locate::evidence`]), clean and
    /// camera.
    pub evidence: [Option<petcam::evidence::WideEvidence>; 2],
    /// With [`Settings::clip`]: what the kiosk's screen showed over the clip.
    pub shown: Option<Shown>,
}

/// What the kiosk's screen ([`Decider`]) showed over a clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown {
    /// A breed on the clip's last frame.
    pub breed_at_end: bool,
    /// A breed on any frame from the one that fills the decision's window with the clip's own
    /// frames (the screen may show a breed for a moment and drop it).
    pub breed_any: bool,
}

/// What the pipeline said of one picture.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// Most probable breed (the no-pet output excluded).
    pub breed: usize,
    /// `1 - P(no pet)`.
    pub pet_score: f32,
    /// The breed's probability given a pet (over the breeds' share): under the model's confidence
    /// threshold the kiosk says "not sure" instead of naming it (`petcam::decision`).
    pub breed_probability: f32,
}

/// Benchmark settings.
pub struct Settings<'a> {
    pub model: &'a Path,
    /// Builds the locate stage for each worker thread (`None`: the pipeline's default).
    pub locator: &'a (dyn Fn() -> Option<Box<dyn Locate>> + Sync),
    pub seed: u64,
    /// Write the first N camera frames (pets and pet-free) here as JPEG, for a look.
    pub frames_out: Option<&'a Path>,
    pub frames_out_count: usize,
    /// The split judged (`Test` for reports; `Val` to tune the locator).
    pub split: Split,
    /// At most this many pet photos, spread evenly over the split (and as many pet-free frames).
    pub limit: Option<usize>,
    /// Classify the photo's own centre square inside the camera frame (the framing the clean
    /// photo gets) instead of the locate stage's answer: what the camera's look alone costs.
    pub oracle: bool,
    /// Read the model at this softmax temperature instead of its own (pet scores, thresholds
    /// and calibration follow it).
    pub temperature: Option<f32>,
    /// Which 1x1 convolutions the classifier runs on petcam's int8 op (`All`: as a CPU with the
    /// dot product runs an int8 model, on any machine).
    pub int8: petcam::classifier::pointwise::Policy,
    /// How the simulated camera makes its frames.
    pub camera: Camera,
    /// Judge each photo on a short clip of frames, as the kiosk's screen shows it after them,
    /// instead of on one frame.
    pub clip: Option<Clip>,
    /// The kiosk's decision settings for clips (window, pet threshold, hysteresis).
    pub decision: DecisionConfig,
}

/// A few consecutive frames of one shot, as the kiosk films a pet in front of it: the same scene
/// and camera, the subject drifting, the sensor noise and the JPEG new on every frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// Frames in the clip (the kiosk shows about 10 a second).
    pub frames: usize,
    /// How far the subject moves over the clip: its centre by up to this share of the frame on
    /// each axis, and its height by up to this share of itself (0: it stands still, and only the
    /// noise and the JPEG change).
    pub motion: f32,
}

/// The simulated camera of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Frame size in pixels: the kiosk's default capture ([`frame::DEFAULT_SIZE`]), unless a
    /// study asks what another sensor mode would give.
    pub size: (u32, u32),
    /// Frames without the camera's colour cast, exposure, tone curve and noise (placement, blur
    /// and JPEG kept): what the look costs, beside `oracle` for what the framing costs.
    pub neutral_look: bool,
}

impl Default for Camera {
    fn default() -> Self {
        Camera { size: frame::DEFAULT_SIZE, neutral_look: false }
    }
}

/// The centre square of the pasted photo's `footprint` in the frame: the clean photo's framing.
pub fn oracle_region(footprint: petcam::preprocess::Rect) -> petcam::preprocess::Rect {
    let c = petcam::preprocess::Rect::centre_square(footprint.width, footprint.height);
    petcam::preprocess::Rect { x: footprint.x + c.x, y: footprint.y + c.y, ..c }
}

fn read(path: &Path) -> Result<RgbImage> {
    Ok(image::open(path).with_context(|| path.display().to_string())?.to_rgb8())
}

/// Camera frame number `i` of the benchmark made with `seed`: `photo` pasted on a scene from
/// `backgrounds` by [`Shot::random`] (placement, scale, look, JPEG quality), as an MJPEG frame of
/// `camera.size` (the kiosk's default for the benchmark), with the pasted photo's footprint in it. The frames
/// depend on nothing else, so study tools that call this see the benchmark's frames exactly.
/// `camera.neutral_look` drops the camera's colour cast, exposure, tone curve and noise and keeps
/// everything else (the same placement, scene, blur and JPEG quality); another size keeps the
/// same shots too, at that resolution.
pub fn frame_of(photo: &RgbImage, backgrounds: &[&Sample], seed: u64, i: usize, camera: &Camera) -> Result<(Frame, petcam::preprocess::Rect)> {
    let mut one = clip_of(photo, backgrounds, seed, i, camera, &Clip { frames: 1, motion: 0.0 })?;
    Ok(one.remove(0))
}

/// Mixed into the seed of a clip's motion, so that its first frame is [`frame_of`]'s frame.
const CLIP_SALT: u64 = 0x636C_6970_2121;

/// Frame `i`'s shot (as [`frame_of`] makes it, which is the clip's first frame) filmed for
/// `clip.frames` frames, 100 ms apart: the subject's centre and height drift at a constant speed
/// drawn up to `clip.motion` over the clip; the scene, the look, the blur and the JPEG quality
/// stay; every frame gets its own sensor noise and its own JPEG.
pub fn clip_of(photo: &RgbImage, backgrounds: &[&Sample], seed: u64, i: usize, camera: &Camera, clip: &Clip) -> Result<Vec<(Frame, petcam::preprocess::Rect)>> {
    ensure!(!backgrounds.is_empty(), "no pet-free photos for the camera frames' backgrounds");
    let mix = (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut rng = Rng::new(seed ^ mix);
    let bg_sample = backgrounds[(rng.next_u64() % backgrounds.len() as u64) as usize];
    let bg = scene::background(Some(&read(&bg_sample.path)?), camera.size.0, camera.size.1);
    let mut shot = Shot::random(&mut rng);
    if camera.neutral_look {
        shot.look = scene::Look::neutral();
    }
    let mut motion = Rng::new(seed ^ CLIP_SALT ^ mix);
    let m = clip.motion;
    let (dx, dy, dh) = (motion.range(-m, m), motion.range(-m, m), motion.range(-m, m));
    let last = clip.frames.saturating_sub(1).max(1) as f32;
    (0..clip.frames.max(1))
        .map(|k| {
            let t = k as f32 / last;
            let at = Shot { centre_x: shot.centre_x + dx * t, centre_y: shot.centre_y + dy * t, height_frac: shot.height_frac * (1.0 + dh * t), ..shot };
            let (pixels, footprint) = at.compose(&bg, photo, &mut rng);
            let data = frame::encode_jpeg(&pixels, shot.jpeg_quality);
            Ok((Frame { format: PixelFormat::Mjpeg, width: pixels.width(), height: pixels.height(), data, timestamp_ms: 100 * k as u64 }, footprint))
        })
        .collect()
}

/// Runs the benchmark on one split of `samples` (pets: Oxford photos only).
pub fn run(samples: &[Sample], s: &Settings) -> Result<Vec<Judged>> {
    let mut pets: Vec<&Sample> = samples.iter().filter(|x| x.split == s.split && x.label != NO_PET_LABEL && x.oxford).collect();
    if let Some(n) = s.limit {
        let step = pets.len().div_ceil(n.max(1)).max(1);
        pets = pets.into_iter().step_by(step).take(n).collect();
    }
    let no_pets: Vec<&Sample> = samples.iter().filter(|x| x.split == s.split && x.label == NO_PET_LABEL).collect();
    let backgrounds: Vec<&Sample> = no_pets.iter().copied().filter(|x| x.scene != Some(Scene::Animal)).collect();
    ensure!(!pets.is_empty(), "no Oxford test photos of pets (give --data with the Oxford-IIIT Pet layout or the shared manifest)");
    ensure!(!backgrounds.is_empty(), "no no-pet test photos for backgrounds (give --no-pets)");
    // As many pet-free frames as pet frames, cycling through the no-pet test photos.
    let subjects: Vec<(usize, &Sample)> = pets.iter().copied().chain((0..pets.len()).map(|i| no_pets[i % no_pets.len()])).enumerate().collect();
    if let Some(dir) = s.frames_out {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let pb = indicatif::ProgressBar::new(subjects.len() as u64);
    let out: Vec<Result<Judged>> = subjects
        .par_iter()
        .map_init(
            || -> Result<Pipeline<TractClassifier>> {
                let c = TractClassifier::load_with(s.model, petcam::classifier::LoadOptions { int8: s.int8, ..Default::default() })?;
                let p = Pipeline::new(match s.temperature {
                    Some(t) => c.with_temperature(t),
                    None => c,
                });
                Ok(match (s.locator)() {
                    Some(l) => p.with_locator(l),
                    None => p,
                })
            },
            |pipeline, &(i, sample)| -> Result<Judged> {
                let p = pipeline.as_mut().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                let photo = read(&sample.path)?;
                // --oracle judges one frame; otherwise the clip, if any.
                let clip = s.clip.filter(|_| !s.oracle);
                let mut frames = clip_of(&photo, &backgrounds, s.seed, i, &s.camera, &clip.unwrap_or(Clip { frames: 1, motion: 0.0 }))?;
                let (f, footprint) = frames.remove(0);
                if let Some(dir) = s.frames_out.filter(|_| i < s.frames_out_count || (i >= pets.len() && i - pets.len() < s.frames_out_count)) {
                    let name = format!("{}-{i:04}.jpg", if sample.label == NO_PET_LABEL { "nopet" } else { "pet" });
                    std::fs::write(dir.join(name), &f.data)?;
                }
                let verdict = |a: &petcam::pipeline::Analysis| {
                    let breed = argmax(&a.scores.probs[..NO_PET_LABEL]);
                    let share = a.scores.breeds_share(Some(NO_PET_LABEL));
                    Verdict { breed, pet_score: a.scores.pet_score, breed_probability: a.scores.given_pet(breed, share) }
                };
                p.reset();
                let clean_a = p.analyse(photo, &mut StageTimes::default())?;
                let clean = verdict(&clean_a);
                p.reset();
                let a = if s.oracle && sample.label != NO_PET_LABEL {
                    let rgb = frame::to_rgb(&f).map_err(|e| anyhow::anyhow!("{}: camera frame {i}: {e}", sample.path.display()))?;
                    let region = oracle_region(footprint);
                    p.analyse_region(rgb, region, &mut StageTimes::default())?
                } else {
                    p.analyse_frame(&f, &mut StageTimes::default()).map_err(|e| anyhow::anyhow!("{}: camera frame {i}: {e}", sample.path.display()))?
                };
                // A clip: the rest of its frames through the same pipeline, and the kiosk's
                // decision over them; the camera verdict is then the decision's averaged scores.
                let (a, footprint, f, shown) = match clip {
                    None => (a, footprint, f, None),
                    Some(clip) => {
                        let mut decider = Decider::new(s.decision.clone(), p.metadata().no_pet_index());
                        let full = s.decision.window.clamp(1, clip.frames.max(1));
                        let mut shown = Shown { breed_at_end: false, breed_any: false };
                        let mut last = (a, footprint, f);
                        for k in 0..clip.frames.max(1) {
                            if k > 0 {
                                let (f, footprint) = frames.remove(0);
                                let a = p.analyse_frame(&f, &mut StageTimes::default()).map_err(|e| anyhow::anyhow!("{}: camera frame {i}, clip frame {k}: {e}", sample.path.display()))?;
                                last = (a, footprint, f);
                            }
                            let breed = matches!(decider.update(&last.0.scores), Decision::Breed { .. });
                            shown.breed_any |= breed && k + 1 >= full;
                            shown.breed_at_end = breed;
                        }
                        let (mut a, footprint, f) = last;
                        if let Some(avg) = decider.averaged() {
                            a.scores = avg;
                        }
                        (a, footprint, f, Some(shown))
                    }
                };
                let r = a.region;
                let ix = (r.x + r.width).min(footprint.x + footprint.width).saturating_sub(r.x.max(footprint.x));
                let iy = (r.y + r.height).min(footprint.y + footprint.height).saturating_sub(r.y.max(footprint.y));
                let region_on_subject = (ix * iy) as f32 / (r.width * r.height).max(1) as f32;
                let located = a.saw_pet != Some(false);
                pb.inc(1);
                let ln = |a: &petcam::pipeline::Analysis| a.scores.probs.iter().map(|p| p.max(1e-30).ln()).collect();
                let subject_height = footprint.height as f32 / f.height as f32;
                Ok(Judged {
                    label: sample.label,
                    scene: sample.scene,
                    clean,
                    camera: verdict(&a),
                    region_on_subject,
                    region_side: r.width.max(r.height) as f32 / f.height.max(1) as f32,
                    subject_height,
                    located,
                    log_probs: [ln(&clean_a), ln(&a)],
                    evidence: [clean_a.evidence, a.evidence],
                    shown,
                })
            },
        )
        .collect();
    pb.finish_and_clear();
    out.into_iter().collect()
}

/// Appends (`append`) or writes `items`' camera-frame scores to `path`, one JSON object a line:
/// the camera `seed`, label, scene, the breed shown, the pet score (after the locate stage's
/// veto), the classifier's own pet log-odds, `ln` of the breed's probability given a pet
/// (`breed_top`), whether the locate stage found a pet, its evidence, the classified square's
/// side as a share of the frame's height, and with clips what the kiosk's screen showed
/// (`shown_at_end`, `shown_any`; the pet score is then the decision's average).
pub fn write_scores(path: &Path, items: &[Judged], seed: u64, append: bool) -> Result<()> {
    use std::io::Write;
    let file = std::fs::OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(path).with_context(|| path.display().to_string())?;
    let mut w = std::io::BufWriter::new(file);
    let log_odds = |z: &[f32]| {
        let no_pet = z.get(NO_PET_LABEL).copied().unwrap_or(f32::NEG_INFINITY);
        let pet = z.iter().take(NO_PET_LABEL).copied().fold(f32::NEG_INFINITY, f32::max);
        pet + z.iter().take(NO_PET_LABEL).map(|v| (v - pet).exp()).sum::<f32>().ln() - no_pet
    };
    for j in items {
        let line = serde_json::json!({
            "seed": seed, "label": j.label, "scene": j.scene.map(|s| s.name()), "breed": j.camera.breed,
            "pet_score": j.camera.pet_score, "pet_log_odds": log_odds(&j.log_probs[1]), "breed_top": j.camera.breed_probability.ln(), "located": j.located,
            "evidence": j.evidence[1], "subject_height": j.subject_height, "region_on_subject": j.region_on_subject, "region_side": j.region_side,
            "shown_at_end": j.shown.map(|s| s.breed_at_end), "shown_any": j.shown.map(|s| s.breed_any),
            "clean_breed": j.clean.breed, "clean_pet_score": j.clean.pet_score, "clean_pet_log_odds": log_odds(&j.log_probs[0]), "clean_evidence": j.evidence[0],
        });
        writeln!(w, "{line}").with_context(|| path.display().to_string())?;
    }
    w.flush().with_context(|| path.display().to_string())
}

/// Top-1 over the pets: the most probable breed is the right one (no threshold).
pub fn top1(items: &[Judged], v: impl Fn(&Judged) -> Verdict) -> f32 {
    let pets: Vec<&Judged> = items.iter().filter(|j| j.label != NO_PET_LABEL).collect();
    pets.iter().filter(|j| v(j).breed == j.label).count() as f32 / pets.len().max(1) as f32
}

/// Expected calibration error of the breed confidence (softmax over the breeds alone, 15 bins,
/// as `export` measures it) on the pets' clean photos (`view` 0) or camera frames (1), read at
/// `scale` times the temperature judged with.
pub fn breed_ece(items: &[Judged], view: usize, scale: f32) -> f32 {
    let pets: Vec<&Judged> = items.iter().filter(|j| j.label != NO_PET_LABEL && j.label < j.log_probs[view].len()).collect();
    let logits: Vec<Vec<f32>> = pets.iter().map(|j| j.log_probs[view].clone()).collect();
    let labels: Vec<usize> = pets.iter().map(|j| j.label).collect();
    let breeds = logits.first().map_or(0, |z| z.len().min(NO_PET_LABEL));
    crate::metrics::breed_report(&logits, &labels, breeds, scale).ece
}

/// The temperature, as a multiple of the one judged with, that minimises the negative
/// log-likelihood over the camera frames: of the right label (breed or no pet) over every frame,
/// as `export` fits its own on clean validation photos, or (`breeds_only`) of the right breed
/// among the breeds over the pets, the confidence the screen shows and ECE measures.
pub fn fit_temperature_scale(items: &[Judged], breeds_only: bool) -> f32 {
    let kept: Vec<&Judged> = items.iter().filter(|j| j.label < j.log_probs[1].len() && !(breeds_only && j.label == NO_PET_LABEL)).collect();
    let logits: Vec<Vec<f32>> = kept.iter().map(|j| if breeds_only { j.log_probs[1][..NO_PET_LABEL.min(j.log_probs[1].len())].to_vec() } else { j.log_probs[1].clone() }).collect();
    let labels: Vec<usize> = kept.iter().map(|j| j.label).collect();
    crate::metrics::fit_temperature(&logits, &labels)
}

/// The report: top-1, then pet recall and false breeds at the model's pet threshold (by group),
/// and what the kiosk's screen shows: of one frame (a breed only at `confidence_threshold` and
/// more, else "not sure"), or with clips over each clip ([`shown_report`]); clean photos and
/// camera frames side by side.
pub fn report(items: &[Judged], pet_threshold: f32, confidence_threshold: f32, temperature: f32) -> String {
    let pets = items.iter().filter(|j| j.label != NO_PET_LABEL).count();
    let no = items.len() - pets;
    let mut out = format!("{pets} pet photos (Oxford), {no} pet-free photos (no-pets)\n");
    out += &format!("{:<44} {:>14} {:>14}\n", "", "clean photos", "camera frames");
    let pct = |x: f32| format!("{:.1}%", 100.0 * x);
    out += &format!("{:<44} {:>14} {:>14}\n", "breed top-1", pct(top1(items, |j| j.clean)), pct(top1(items, |j| j.camera)));
    out += &format!("{:<44} {:>14} {:>14}\n", format!("breed ECE, 15 bins (temperature {temperature:.3})"), pct(breed_ece(items, 0, 1.0)), pct(breed_ece(items, 1, 1.0)));
    let share = |f: &dyn Fn(&Judged) -> bool, of: &dyn Fn(&Judged) -> bool| {
        let n = items.iter().filter(|j| of(j)).count();
        (items.iter().filter(|j| of(j) && f(j)).count(), n)
    };
    let given = |v: &Verdict| v.pet_score >= pet_threshold;
    let screen = |v: &Verdict| given(v) && v.breed_probability >= confidence_threshold;
    let row_of = |name: &str, of: &dyn Fn(&Judged) -> bool, shown: &dyn Fn(&Verdict) -> bool| {
        let (kc, n) = share(&|j| shown(&j.clean), of);
        let (kf, _) = share(&|j| shown(&j.camera), of);
        let cell = |k: usize| format!("{k} of {n}, {:.1}%", 100.0 * k as f32 / n.max(1) as f32);
        format!("{name:<44} {:>14} {:>14}\n", cell(kc), cell(kf))
    };
    let row = |name: &str, of: &dyn Fn(&Judged) -> bool| row_of(name, of, &given);
    out += &row(&format!("pets given a breed (pet threshold {pet_threshold:.3})"), &|j| j.label != NO_PET_LABEL);
    let right = |c: &dyn Fn(&Judged) -> Verdict| items.iter().filter(|j| j.label != NO_PET_LABEL && c(j).pet_score >= pet_threshold && c(j).breed == j.label).count() as f32 / pets.max(1) as f32;
    out += &format!("{:<44} {:>14} {:>14}\n", "right breed shown (top-1 after the no-pet check)", pct(right(&|j| j.clean)), pct(right(&|j| j.camera)));
    out += &row("false breeds: pet-free photos given a breed", &|j| j.label == NO_PET_LABEL);
    for g in Scene::ALL {
        if items.iter().any(|j| j.label == NO_PET_LABEL && j.scene == Some(g)) {
            out += &row(&format!("  on {}", g.name()), &|j| j.label == NO_PET_LABEL && j.scene == Some(g));
        }
    }
    if items.iter().any(|j| j.shown.is_some()) {
        out += &shown_report(items);
    } else {
        out += &format!("the kiosk's screen, one frame: a breed, not \"not sure\" (breed probability {confidence_threshold:.2} and more)\n");
        out += &row_of("  pets shown a breed", &|j| j.label != NO_PET_LABEL, &screen);
        out += &row_of("  pet-free photos shown a breed", &|j| j.label == NO_PET_LABEL, &screen);
        out += &row_of("  other animals shown a breed", &|j| j.label == NO_PET_LABEL && j.scene == Some(Scene::Animal), &screen);
    }
    let on_pet: Vec<f32> = items.iter().filter(|j| j.label != NO_PET_LABEL).map(|j| j.region_on_subject).collect();
    let mean = on_pet.iter().sum::<f32>() / on_pet.len().max(1) as f32;
    let mostly = on_pet.iter().filter(|&&v| v >= 0.5).count() as f32 / on_pet.len().max(1) as f32;
    out += &format!("classified region on the pet (camera frames): mean {:.0}% of the region, at least half for {}\n", 100.0 * mean, pct(mostly));
    let fell_back = |of: &dyn Fn(&Judged) -> bool| share(&|j| !j.located, of);
    let ((fp, np), (fn_, nn)) = (fell_back(&|j| j.label != NO_PET_LABEL), fell_back(&|j| j.label == NO_PET_LABEL));
    out += &format!("camera frames the locate stage found nothing in: pets {fp} of {np}, pet-free {fn_} of {nn}\n");
    out += &format!("  pets, by their height in the frame: {}\n", missed_by_height(items));
    let (p, f, a) = shares_at_located(items, pet_threshold);
    out += &format!("  those called no pet (the default; not with `activation:veto=0`): pets given a breed {}, false breeds {}, on other animals {}\n", pct(p), pct(f), pct(a));
    out += "temperatures fitted on these camera frames (tune on --split val; `export --temperature`):\n";
    for (name, breeds_only) in [("breed or no pet, every frame", false), ("breed, pets only", true)] {
        let k = fit_temperature_scale(items, breeds_only);
        out += &format!("  NLL of the {name}: {:.3}, breed ECE clean {}, camera {}\n", k * temperature, pct(breed_ece(items, 0, k)), pct(breed_ece(items, 1, k)));
    }
    out += "pet thresholds on these camera frames (tune on --split val; `export --pet-threshold`):\n";
    for max_false in [0.02, 0.05] {
        let t = threshold_for_false_breeds(items, max_false);
        out += &format!("  at most {} false breeds: threshold {t:.4}, pets given a breed {}\n", pct(max_false), pct(shares_at(items, t).0));
    }
    let t = threshold_for_pets(items, 0.95);
    let (_, false_breeds, animals) = shares_at(items, t);
    out += &format!("  95% of pets given a breed: threshold {t:.4}, false breeds {}, on other animals {}\n", pct(false_breeds), pct(animals));
    out
}

/// What the kiosk's screen showed over the clips (the camera column above is its averaged scores
/// at the clip's end): a breed at the end, and at any point once the decision's window held only
/// the clip's frames, for pets, pet-free frames and other animals among them.
pub fn shown_report(items: &[Judged]) -> String {
    let count = |of: &dyn Fn(&Judged) -> bool, f: &dyn Fn(&Shown) -> bool| {
        let group: Vec<&Shown> = items.iter().filter(|j| of(j)).filter_map(|j| j.shown.as_ref()).collect();
        let k = group.iter().filter(|s| f(s)).count();
        format!("{k} of {}, {:.1}%", group.len(), 100.0 * k as f32 / group.len().max(1) as f32)
    };
    let pets = |j: &Judged| j.label != NO_PET_LABEL;
    let pet_free = |j: &Judged| j.label == NO_PET_LABEL;
    let animals = |j: &Judged| j.label == NO_PET_LABEL && j.scene == Some(Scene::Animal);
    let row = |name: &str, of: &dyn Fn(&Judged) -> bool| format!("  {name:<14} at the clip's end {:>18}, at any point {:>18}\n", count(of, &|s| s.breed_at_end), count(of, &|s| s.breed_any));
    format!("the kiosk's screen over the clips, a breed shown:\n{}{}{}", row("pets", &pets), row("pet-free", &pet_free), row("other animals", &animals))
}

/// The pets the locate stage found nothing in, per band of the pet photo's height in the frame:
/// `under 50%: 3 of 120, 50-75%: ...`.
pub fn missed_by_height(items: &[Judged]) -> String {
    let bands = [(0.0, 0.5, "under 50%"), (0.5, 0.75, "50-75%"), (0.75, f32::INFINITY, "75% and more")];
    let cells: Vec<String> = bands
        .iter()
        .map(|&(lo, hi, name)| {
            let band: Vec<&Judged> = items.iter().filter(|j| j.label != NO_PET_LABEL && j.subject_height >= lo && j.subject_height < hi).collect();
            format!("{name}: {} of {}", band.iter().filter(|j| !j.located).count(), band.len())
        })
        .collect();
    cells.join(", ")
}

/// At pet threshold `t` on the camera frames: (share of pets given a breed, share of pet-free
/// frames given one, share of other-animal frames given one).
pub fn shares_at(items: &[Judged], t: f32) -> (f32, f32, f32) {
    shares_where(items, |j| j.camera.pet_score >= t)
}

/// [`shares_at`], counting camera frames in which the locate stage found nothing as no pet.
pub fn shares_at_located(items: &[Judged], t: f32) -> (f32, f32, f32) {
    shares_where(items, |j| j.located && j.camera.pet_score >= t)
}

/// (pets, pet-free frames, other-animal frames) given a breed, a frame being given one when
/// `breed_shown` says so.
fn shares_where(items: &[Judged], breed_shown: impl Fn(&Judged) -> bool) -> (f32, f32, f32) {
    let share = |of: &dyn Fn(&Judged) -> bool| {
        let n = items.iter().filter(|j| of(j)).count();
        items.iter().filter(|j| of(j) && breed_shown(j)).count() as f32 / n.max(1) as f32
    };
    (share(&|j| j.label != NO_PET_LABEL), share(&|j| j.label == NO_PET_LABEL), share(&|j| j.label == NO_PET_LABEL && j.scene == Some(Scene::Animal)))
}

/// The lowest pet threshold at which at most `max_false` of the pet-free camera frames get a breed.
pub fn threshold_for_false_breeds(items: &[Judged], max_false: f32) -> f32 {
    let scores: Vec<f32> = items.iter().filter(|j| j.label == NO_PET_LABEL).map(|j| j.camera.pet_score).collect();
    crate::metrics::threshold_for_false_rate(&scores, max_false)
}

/// The highest pet threshold at which at least `min_pets` of the pets in camera frames get a breed.
pub fn threshold_for_pets(items: &[Judged], min_pets: f32) -> f32 {
    let scores: Vec<f32> = items.iter().filter(|j| j.label != NO_PET_LABEL).map(|j| j.camera.pet_score).collect();
    crate::metrics::threshold_for_recall(&scores, min_pets).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(label: usize, clean: (usize, f32), camera: (usize, f32), scene: Option<Scene>) -> Judged {
        let v = |(breed, pet_score)| Verdict { breed, pet_score, breed_probability: 0.9 };
        Judged {
            label,
            scene,
            clean: v(clean),
            camera: v(camera),
            region_on_subject: 1.0,
            region_side: 0.5,
            subject_height: 0.6,
            located: true,
            log_probs: [vec![], vec![]],
            evidence: [None, None],
            shown: None,
        }
    }

    #[test]
    fn missed_pets_are_counted_by_their_height_band() {
        let mut items: Vec<Judged> = [0.4, 0.45, 0.6, 0.9, 1.0].iter().map(|&h| Judged { subject_height: h, ..j(1, (1, 0.9), (1, 0.9), None) }).collect();
        items[1].located = false;
        items[3].located = false;
        // A pet-free frame the locate stage found nothing in is no pet missed.
        items.push(Judged { located: false, subject_height: 0.4, ..j(NO_PET_LABEL, (0, 0.1), (0, 0.1), Some(Scene::Other)) });
        assert_eq!(missed_by_height(&items), "under 50%: 1 of 2, 50-75%: 0 of 1, 75% and more: 1 of 2");
    }

    #[test]
    fn report_counts_clean_and_camera_separately() {
        let mut items = vec![
            j(3, (3, 0.99), (5, 0.99), None),
            j(4, (4, 0.99), (4, 0.50), None),
            j(NO_PET_LABEL, (1, 0.10), (1, 0.97), Some(Scene::Animal)),
            j(NO_PET_LABEL, (1, 0.10), (1, 0.10), Some(Scene::People)),
            j(NO_PET_LABEL, (1, 0.10), (1, 0.98), Some(Scene::Other)),
        ];
        // Unsure of the breed: a breed by the pet threshold alone, "not sure" on the screen.
        items[0].camera.breed_probability = 0.2;
        items[4].camera.breed_probability = 0.1;
        assert_eq!(top1(&items, |j| j.clean), 1.0);
        assert_eq!(top1(&items, |j| j.camera), 0.5);
        let r = report(&items, 0.9, 0.25, 1.0);
        let line = |start: &str| r.lines().find(|l| l.trim_start().starts_with(start)).unwrap_or_else(|| panic!("{r}")).to_string();
        assert!(line("breed top-1").contains("100.0%") && line("breed top-1").contains("50.0%"), "{r}");
        assert!(line("pets given a breed").contains("2 of 2, 100.0%") && line("pets given a breed").contains("1 of 2, 50.0%"), "{r}");
        assert!(line("right breed shown").ends_with("0.0%"), "{r}");
        assert!(line("false breeds").contains("0 of 3, 0.0%") && line("false breeds").contains("2 of 3, 66.7%"), "{r}");
        assert!(line("on other animals").contains("1 of 1, 100.0%"), "{r}");
        assert!(line("pets shown a breed").contains("2 of 2, 100.0%") && line("pets shown a breed").ends_with("0 of 2, 0.0%"), "{r}");
        assert!(line("pet-free photos shown a breed").ends_with("1 of 3, 33.3%"), "{r}");
        assert!(line("other animals shown a breed").ends_with("1 of 1, 100.0%"), "{r}");
    }

    #[test]
    fn an_overconfident_model_gets_a_higher_temperature_and_a_lower_ece() {
        // Every pet frame is 95% sure of one breed, right for half of them: overconfident.
        let mut items = vec![];
        for i in 0..40 {
            let label = 1 + i % 2;
            let mut it = j(label, (1, 1.0), (1, 1.0), None);
            let mut z = vec![(0.05f32 / 37.0).ln(); 38];
            z[1] = 0.95f32.ln();
            it.log_probs = [z.clone(), z];
            items.push(it);
        }
        let k = fit_temperature_scale(&items, true);
        assert!(k > 1.5, "{k}");
        let (before, after) = (breed_ece(&items, 1, 1.0), breed_ece(&items, 1, k));
        assert!((before - 0.45).abs() < 0.01, "{before}");
        assert!(after < 0.1, "{after}");
        assert!(report(&items, 0.5, 0.25, 0.7).contains(&format!("breed, pets only: {:.3}", 0.7 * k)));
    }

    #[test]
    fn thresholds_meet_what_they_promise() {
        // 10 pet-free frames scored 0.0, 0.1, ..., 0.9; 10 pets scored 0.5, 0.55, ..., 0.95.
        let mut items: Vec<Judged> = (0..10).map(|i| j(NO_PET_LABEL, (0, 0.0), (0, i as f32 / 10.0), Some(Scene::Animal))).collect();
        items.extend((0..10).map(|i| j(1, (1, 1.0), (1, 0.5 + i as f32 / 20.0), None)));
        let t = threshold_for_false_breeds(&items, 0.1);
        assert!(t > 0.8 && t < 0.81, "{t}");
        let (pets, false_breeds, animals) = shares_at(&items, t);
        assert_eq!((false_breeds, animals), (0.1, 0.1));
        assert_eq!(pets, 0.3); // 0.85, 0.9, 0.95
        let t = threshold_for_pets(&items, 0.95);
        assert_eq!(t, 0.5);
        assert_eq!(shares_at(&items, t).0, 1.0);
        assert_eq!(shares_at(&items, threshold_for_pets(&items, 0.5)).0, 0.5);
        assert!(shares_at(&items, threshold_for_false_breeds(&items, 0.0)).1 == 0.0);
        // Frames the locate stage found nothing in count as no pet: the two highest pet-free
        // frames and the lowest pet drop out.
        for i in [8, 9, 10] {
            items[i].located = false;
        }
        assert_eq!(shares_at_located(&items, 0.5), (0.9, 0.3, 0.3));
        assert!(report(&items, 0.5, 0.25, 1.0).contains("pets 1 of 10, pet-free 2 of 10"));
    }

    /// A flat `colour` scene saved in a scratch folder (returned, to remove), as a pet-free test
    /// sample, and a flat red subject photo.
    fn flat_scene_and_subject(name: &str, colour: [u8; 3]) -> (std::path::PathBuf, Sample, RgbImage) {
        let dir = std::env::temp_dir().join(format!("petcam-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bg_path = dir.join("scene.png");
        RgbImage::from_pixel(320, 240, image::Rgb(colour)).save(&bg_path).unwrap();
        let scene = Sample { path: bg_path, label: NO_PET_LABEL, split: Split::Test, kind: "orig".into(), oxford: false, scene: Some(Scene::Other) };
        (dir, scene, RgbImage::from_pixel(200, 150, image::Rgb([200, 60, 40])))
    }

    #[test]
    fn a_neutral_look_or_another_size_keeps_the_shot() {
        // A mid-grey scene and a flat subject: with the neutral look the scene stays grey (JPEG
        // aside) and the subject lands where it does with the camera's look; in a frame twice
        // the size it lands twice as far in, twice as tall.
        let (dir, scene, subject) = flat_scene_and_subject("neutral-look", [128, 128, 128]);
        let mean_of = |f: &Frame, keep: &dyn Fn(u32, u32) -> bool| {
            let rgb = frame::to_rgb(f).unwrap();
            let (mut sum, mut n) = ([0.0f64; 3], 0.0);
            for (_, _, p) in rgb.enumerate_pixels().filter(|(x, y, _)| keep(*x, *y)) {
                for k in 0..3 {
                    sum[k] += f64::from(p[k]);
                }
                n += 1.0;
            }
            sum.map(|v| v / n)
        };
        let mut cast = 0.0f64;
        for i in 0..6 {
            let (neutral, at) = frame_of(&subject, &[&scene], 5, i, &Camera { neutral_look: true, ..Default::default() }).unwrap();
            let (camera, at_camera) = frame_of(&subject, &[&scene], 5, i, &Camera::default()).unwrap();
            assert_eq!(at, at_camera, "frame {i}: the same shot");
            let (large, at_large) = frame_of(&subject, &[&scene], 5, i, &Camera { size: (1280, 960), ..Default::default() }).unwrap();
            assert_eq!((large.width, large.height), (1280, 960));
            let twice = |a: u32, b: u32| a.abs_diff(2 * b) <= 2;
            assert!(twice(at_large.x, at.x) && twice(at_large.y, at.y) && twice(at_large.height, at.height), "frame {i}: {at_large:?} is not twice {at:?}");
            let outside = |x: u32, y: u32| x + 8 < at.x || x > at.x + at.width + 8 || y + 8 < at.y || y > at.y + at.height + 8;
            let grey = mean_of(&neutral, &outside);
            assert!(grey.iter().all(|v| (v - 128.0).abs() < 3.0), "frame {i}: scene {grey:?}");
            let seen = mean_of(&camera, &outside);
            cast = cast.max(seen.iter().map(|v| (v - 128.0).abs()).fold(0.0, f64::max));
        }
        assert!(cast > 5.0, "the camera's look shifts the scene's colour ({cast})");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_screen_report_counts_each_group_at_the_end_and_at_any_point() {
        let shown = |end, any| Some(Shown { breed_at_end: end, breed_any: any });
        let mut items = vec![
            Judged { shown: shown(true, true), ..j(1, (1, 0.9), (1, 0.9), None) },
            Judged { shown: shown(false, true), ..j(2, (2, 0.9), (2, 0.9), None) },
            Judged { shown: shown(false, false), ..j(NO_PET_LABEL, (0, 0.1), (0, 0.1), Some(Scene::Other)) },
            Judged { shown: shown(false, true), ..j(NO_PET_LABEL, (0, 0.1), (0, 0.1), Some(Scene::Animal)) },
        ];
        let r = shown_report(&items).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(r.contains("pets at the clip's end 1 of 2, 50.0%, at any point 2 of 2, 100.0%"), "{r}");
        assert!(r.contains("pet-free at the clip's end 0 of 2, 0.0%, at any point 1 of 2, 50.0%"), "{r}");
        assert!(r.contains("other animals at the clip's end 0 of 1, 0.0%, at any point 1 of 1, 100.0%"), "{r}");
        assert!(report(&items, 0.5, 0.25, 1.0).contains("the kiosk's screen over the clips"));
        assert!(!report(&items, 0.5, 0.25, 1.0).contains("the kiosk's screen, one frame"), "clips: the screen over the clips only");
        items.iter_mut().for_each(|j| j.shown = None);
        assert!(!report(&items, 0.5, 0.25, 1.0).contains("the kiosk's screen over"), "no clips, no lines of the screen over clips");
    }

    #[test]
    fn a_clip_starts_on_the_benchmark_frame_and_drifts_within_its_motion() {
        let (dir, scene, subject) = flat_scene_and_subject("clip", [90, 120, 150]);
        let cam = Camera::default();
        let mut moved = 0u32;
        for i in 0..6 {
            let (one, at) = frame_of(&subject, &[&scene], 3, i, &cam).unwrap();
            let still = clip_of(&subject, &[&scene], 3, i, &cam, &Clip { frames: 4, motion: 0.0 }).unwrap();
            let moving = clip_of(&subject, &[&scene], 3, i, &cam, &Clip { frames: 4, motion: 0.1 }).unwrap();
            assert_eq!(still.len(), 4);
            for clip in [&still, &moving] {
                assert_eq!((&clip[0].0.data, clip[0].1), (&one.data, at), "frame {i}: a clip starts on the one-frame benchmark's frame");
                assert_eq!(clip.iter().map(|(f, _)| f.timestamp_ms).collect::<Vec<_>>(), [0, 100, 200, 300]);
            }
            // Standing still, only the noise changes: the same footprint, other bytes.
            assert!(still.iter().all(|(_, r)| *r == at), "frame {i}: a still clip keeps the footprint");
            assert_ne!(still[1].0.data, still[2].0.data, "frame {i}: every frame has its own noise");
            // Moving: at most 10% of the frame per axis (64 and 48 px) and 10% of the height,
            // give or take the frame edge's clipping.
            let end = moving[3].1;
            let centre = |r: petcam::preprocess::Rect| ((2 * r.x + r.width) as i64, (2 * r.y + r.height) as i64);
            let ((x0, y0), (x1, y1)) = (centre(at), centre(end));
            assert!((x1 - x0).abs() <= 2 * 64 + 2 * 40 && (y1 - y0).abs() <= 2 * 48 + 2 * 40, "frame {i}: {at:?} -> {end:?}");
            moved += u32::from(end != at);
        }
        assert!(moved >= 5, "a moving clip moves ({moved} of 6)");
        std::fs::remove_dir_all(&dir).ok();
    }
}
