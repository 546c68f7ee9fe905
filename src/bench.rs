//! Timing the model on this machine (`petcam bench`): load time, and inference time over many
//! runs as median and spread. The same figures on a Pi and on the build host make the choice of
//! model variant and thread count a measurement, not a guess.

use crate::classifier::{ModelError, TractClassifier};
use std::time::Instant;

/// Inference times of one model, in milliseconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    pub runs: usize,
    pub median_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
    pub min_ms: f64,
    pub mean_ms: f64,
}

impl Timing {
    /// Summarises per-run durations (seconds). `None` for no samples.
    pub fn from_seconds(samples: &[f64]) -> Option<Timing> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|s| s * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let q = |f: f64| ms[((ms.len() - 1) as f64 * f).round() as usize];
        Some(Timing { runs: ms.len(), median_ms: q(0.5), p10_ms: q(0.1), p90_ms: q(0.9), min_ms: ms[0], mean_ms: ms.iter().sum::<f64>() / ms.len() as f64 })
    }
}

/// Runs `warmup` untimed inferences, then times `runs` of them, one at a time.
pub fn time_inference(c: &TractClassifier, input: &[f32], warmup: usize, runs: usize) -> Result<Timing, ModelError> {
    for _ in 0..warmup {
        c.logits(input)?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        std::hint::black_box(c.logits(input)?);
        samples.push(t.elapsed().as_secs_f64());
    }
    Ok(Timing::from_seconds(&samples).expect("at least one run"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_known_samples() {
        let s: Vec<f64> = (1..=11).rev().map(|i| i as f64 / 1000.0).collect();
        let t = Timing::from_seconds(&s).unwrap();
        assert_eq!(t.runs, 11);
        assert!((t.median_ms - 6.0).abs() < 1e-9);
        assert!((t.p10_ms - 2.0).abs() < 1e-9);
        assert!((t.p90_ms - 10.0).abs() < 1e-9);
        assert!((t.min_ms - 1.0).abs() < 1e-9);
        assert!((t.mean_ms - 6.0).abs() < 1e-9);
        assert!(Timing::from_seconds(&[]).is_none());
    }
}
