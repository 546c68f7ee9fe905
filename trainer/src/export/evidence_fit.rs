//! Fit the combined pet score ([`petcam::evidence`]) of a shipped model: logistic-regression
//! weights for the crop's pet log-odds and the locate stage's wide-view evidence, fitted on the
//! camera benchmark's validation frames (`camera --split val --scores-out F`), and the pet
//! threshold at which at most a given share of the pet-free frames get a breed. Only the `petcam`
//! metadata entry changes; the weights of the network stay byte for byte.

use anyhow::{bail, ensure, Context, Result};
use petcam::evidence::{logit, sigmoid, PetEvidence, WideEvidence};
use petcam::metadata::{ModelMetadata, METADATA_KEY};
use std::path::Path;
use tract_onnx::pb;

/// One camera frame of a `--scores-out` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub seed: u64,
    /// A pet frame (else pet-free).
    pub pet: bool,
    /// The locate stage found something pet-like (else the device answers "no pet").
    pub located: bool,
    /// The classifier's pet log-odds on the cropped square.
    pub crop_log_odds: f32,
    pub wide: Option<WideEvidence>,
}

#[derive(serde::Deserialize)]
struct Line {
    seed: u64,
    label: usize,
    located: bool,
    pet_log_odds: f32,
    evidence: Option<WideEvidence>,
}

/// Reads a `camera --scores-out` file; an unreadable line is an error naming the file and line.
pub fn read_scores(path: &Path) -> Result<Vec<Scored>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: Line = serde_json::from_str(l).with_context(|| format!("{}: line {}: not a camera benchmark score", path.display(), i + 1))?;
            Ok(Scored { seed: v.seed, pet: v.label != crate::data::NO_PET_LABEL, located: v.located, crop_log_odds: v.pet_log_odds, wide: v.evidence })
        })
        .collect()
}

/// The fitted weights, the threshold, and what they give on the frames they were set on.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub weights: PetEvidence,
    pub threshold: f32,
    /// Pets given a breed and pet-free frames given one, at `threshold`, on the threshold's frames.
    pub pets: f32,
    pub false_breeds: f32,
    /// Frames the weights were fitted on (located ones).
    pub fitted_on: usize,
    pub threshold_frames: usize,
}

/// Weights `[crop, cell, cam_cell, view, bias]` of the logistic regression of `pet` on `x`
/// (Newton's method with a small L2 penalty, as the features are on the scale of log-odds).
pub fn logistic(x: &[[f32; 4]], pet: &[bool]) -> [f32; 5] {
    const N: usize = 5;
    let l2 = 1e-3;
    let mut w = [0f64; N];
    for _ in 0..50 {
        let mut g = [0f64; N];
        let mut h = [[0f64; N]; N];
        for (xi, &yi) in x.iter().zip(pet) {
            let v = [xi[0] as f64, xi[1] as f64, xi[2] as f64, xi[3] as f64, 1.0];
            let p = 1.0 / (1.0 + (-(0..N).map(|k| w[k] * v[k]).sum::<f64>()).exp());
            for a in 0..N {
                g[a] += (p - yi as u8 as f64) * v[a];
                for b in 0..N {
                    h[a][b] += p * (1.0 - p) * v[a] * v[b];
                }
            }
        }
        for a in 0..N {
            g[a] += l2 * w[a];
            h[a][a] += l2;
        }
        // Solve h d = g by Gauss-Jordan with partial pivoting (h is positive definite).
        let mut m: Vec<[f64; N + 1]> = (0..N).map(|a| std::array::from_fn(|b| if b < N { h[a][b] } else { g[a] })).collect();
        for c in 0..N {
            let p = (c..N).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())).unwrap_or(c);
            m.swap(c, p);
            for r in 0..N {
                if r != c && m[c][c] != 0.0 {
                    let f = m[r][c] / m[c][c];
                    let pivot = m[c];
                    m[r].iter_mut().zip(pivot).for_each(|(a, b)| *a -= f * b);
                }
            }
        }
        let step: Vec<f64> = (0..N).map(|a| if m[a][a] != 0.0 { m[a][N] / m[a][a] } else { 0.0 }).collect();
        w.iter_mut().zip(&step).for_each(|(a, d)| *a -= d);
        if step.iter().all(|d| d.abs() < 1e-9) {
            break;
        }
    }
    w.map(|v| v as f32)
}

fn features(s: &Scored, w: &WideEvidence) -> [f32; 4] {
    // The crop's log-odds as the device reads them back from its score.
    [logit(sigmoid(s.crop_log_odds)), w.cell, w.cam_cell, w.view]
}

/// Fits the weights on every located frame of `frames` (or takes `given` weights), and the pet
/// threshold on those of `threshold_seeds` (all when empty): the lowest at which at most
/// `max_false` of their pet-free frames get a breed, frames the locate stage found nothing in
/// counting as "no pet" as on the device. `crop_threshold` is the crop score's own threshold,
/// for frames without wide evidence.
pub fn fit(frames: &[Scored], crop_threshold: f32, max_false: f32, threshold_seeds: &[u64], given: Option<PetEvidence>) -> Result<Fit> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for s in frames.iter().filter(|s| s.located) {
        let w = s.wide.as_ref().context("a located frame without wide-view evidence: the scores come from a locate stage that does not search the frame (use the default `activation`)")?;
        x.push(features(s, w));
        y.push(s.pet);
    }
    ensure!(y.iter().any(|&p| p) && y.iter().any(|&p| !p), "the located frames need both pets and pet-free frames to fit on ({} frames)", y.len());
    let weights = match given {
        Some(g) => PetEvidence { crop_threshold, ..g },
        None => {
            let [crop, cell, cam_cell, view, bias] = logistic(&x, &y);
            PetEvidence { crop, cell, cam_cell, view, bias, crop_threshold }
        }
    };
    weights.validate().map_err(anyhow::Error::msg)?;
    let chosen: Vec<&Scored> = frames.iter().filter(|s| threshold_seeds.is_empty() || threshold_seeds.contains(&s.seed)).collect();
    let score = |s: &Scored| match (&s.wide, s.located) {
        (Some(w), true) => weights.pet_score(sigmoid(s.crop_log_odds), Some(w), 0.5),
        _ => 0.0,
    };
    let no_pet: Vec<f32> = chosen.iter().filter(|s| !s.pet).map(|s| score(s)).collect();
    let pets: Vec<f32> = chosen.iter().filter(|s| s.pet).map(|s| score(s)).collect();
    ensure!(!no_pet.is_empty() && !pets.is_empty(), "no pets or no pet-free frames from camera seeds {threshold_seeds:?}");
    let threshold = crate::metrics::threshold_for_false_rate(&no_pet, max_false);
    let share = |v: &[f32]| v.iter().filter(|&&p| p >= threshold).count() as f32 / v.len() as f32;
    Ok(Fit { weights, threshold, pets: share(&pets), false_breeds: share(&no_pet), fitted_on: x.len(), threshold_frames: chosen.len() })
}

/// The crop score's own threshold for a model: its `pet_evidence.crop_threshold` when it has
/// one, else its pet threshold.
pub fn crop_threshold(meta: &ModelMetadata) -> f32 {
    meta.pet_evidence.map_or(meta.pet_threshold, |e| e.crop_threshold)
}

/// Writes `fit` into `proto`'s metadata: `pet_evidence`, the pet threshold (recorded in
/// `training.pet_threshold_history` with `reason`), and `training.pet_evidence_fit`, what it
/// was fitted on (`about`).
pub fn set_evidence(proto: &mut pb::ModelProto, fit: &Fit, reason: &str, about: serde_json::Value) -> Result<()> {
    super::retune::set_pet_threshold(proto, fit.threshold, reason)?;
    let entry = proto.metadata_props.iter_mut().find(|e| e.key == METADATA_KEY).context("no petcam metadata entry")?;
    let mut meta = ModelMetadata::from_json(&entry.value)?;
    meta.pet_evidence = Some(fit.weights);
    match meta.training.as_object_mut() {
        Some(t) => t.insert("pet_evidence_fit".into(), about),
        None => bail!("`training` is not an object"),
    };
    meta.validate()?;
    entry.value = meta.to_json();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames whose pet-ness follows known weights: the fit should find them again.
    fn synthetic(n: usize) -> Vec<Scored> {
        let mut rng = petcam::scene::Rng::new(7);
        let truth = [0.6f32, 0.1, 0.3, 0.5, -1.0];
        (0..n)
            .map(|i| {
                let mut u = || (rng.next_u64() % 10_000) as f32 / 10_000.0;
                let f = [8.0 * u() - 4.0, 8.0 * u() - 4.0, 8.0 * u() - 4.0, 8.0 * u() - 4.0];
                let z = truth[4] + (0..4).map(|k| truth[k] * f[k]).sum::<f32>();
                let pet = u() < sigmoid(z);
                Scored { seed: 1 + (i % 2) as u64, pet, located: true, crop_log_odds: f[0], wide: Some(WideEvidence { cell: f[1], cam_cell: f[2], view: f[3] }) }
            })
            .collect()
    }

    #[test]
    fn logistic_regression_finds_the_weights_again() {
        let frames = synthetic(20_000);
        let x: Vec<[f32; 4]> = frames.iter().map(|s| features(s, s.wide.as_ref().unwrap())).collect();
        let y: Vec<bool> = frames.iter().map(|s| s.pet).collect();
        let w = logistic(&x, &y);
        for (got, want) in w.iter().zip([0.6, 0.1, 0.3, 0.5, -1.0]) {
            assert!((got - want).abs() < 0.08, "{w:?}");
        }
    }

    #[test]
    fn the_threshold_keeps_its_promise_on_the_chosen_seeds() {
        let mut frames = synthetic(4_000);
        // A vetoed pet-free frame with pet-like evidence must not count as a false breed.
        frames.push(Scored { seed: 1, pet: false, located: false, crop_log_odds: 9.0, wide: Some(WideEvidence { cell: 9.0, cam_cell: 9.0, view: 9.0 }) });
        let f = fit(&frames, 0.96, 0.02, &[1], None).unwrap();
        assert!(f.false_breeds <= 0.02 && f.pets > 0.15, "{f:?}");
        assert_eq!(f.threshold_frames, 2_001);
        assert_eq!(f.weights.crop_threshold, 0.96);
        let on_seed_1: Vec<&Scored> = frames.iter().filter(|s| s.seed == 1 && !s.pet && s.located).collect();
        let passed = on_seed_1.iter().filter(|s| f.weights.pet_score(sigmoid(s.crop_log_odds), s.wide.as_ref(), 0.5) >= f.threshold).count();
        assert!(passed as f32 <= 0.02 * (on_seed_1.len() + 1) as f32, "{passed} of {}", on_seed_1.len());
    }

    #[test]
    fn refuses_scores_it_cannot_fit() {
        let mut frames = synthetic(100);
        frames[3].wide = None;
        assert!(fit(&frames, 0.96, 0.02, &[], None).unwrap_err().to_string().contains("wide-view evidence"));
        let pets_only: Vec<Scored> = synthetic(200).into_iter().filter(|s| s.pet).collect();
        assert!(fit(&pets_only, 0.96, 0.02, &[], None).is_err());
        let dir = std::env::temp_dir().join(format!("petcam-evidence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("scores.jsonl");
        std::fs::write(&bad, "{\"seed\": 1, \"label\": 3, \"located\": true, \"pet_log_odds\": 2.0, \"evidence\": null}\nnot json\n").unwrap();
        let e = format!("{:#}", read_scores(&bad).unwrap_err());
        assert!(e.contains("scores.jsonl: line 2"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn writes_the_weights_and_keeps_the_record() {
        let meta = crate::export::onnx::test_metadata(96, 4);
        let mut proto = pb::ModelProto { metadata_props: vec![pb::StringStringEntryProto { key: METADATA_KEY.into(), value: meta.to_json() }], ..Default::default() };
        let f = fit(&synthetic(2_000), crop_threshold(&meta), 0.02, &[], None).unwrap();
        set_evidence(&mut proto, &f, "val 2% point", serde_json::json!({ "frames": 2_000 })).unwrap();
        let got = ModelMetadata::from_json(&proto.metadata_props[0].value).unwrap();
        assert_eq!(got.pet_evidence, Some(f.weights));
        assert_eq!(got.pet_threshold, f.threshold);
        assert_eq!(crop_threshold(&got), meta.pet_threshold);
        assert_eq!(got.training["pet_evidence_fit"]["frames"], 2_000);
        assert_eq!(got.training["pet_threshold_history"][0]["reason"], "val 2% point");
    }

    #[test]
    fn given_weights_are_kept_and_only_the_threshold_is_set() {
        let given = PetEvidence { crop: 0.5, cell: 0.2, cam_cell: 0.1, view: 0.4, bias: -2.0, crop_threshold: 0.9 };
        let f = fit(&synthetic(2_000), 0.97, 0.02, &[], Some(given)).unwrap();
        assert_eq!(f.weights, PetEvidence { crop_threshold: 0.97, ..given }, "the crop threshold stays this model's own");
        assert!(f.false_breeds <= 0.02);
        assert_ne!(f.threshold, fit(&synthetic(2_000), 0.97, 0.02, &[], None).unwrap().threshold);
    }
}
