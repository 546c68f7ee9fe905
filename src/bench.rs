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

/// Two plans of the same model timed in one run: petcam's depthwise op against tract's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// Alternating rounds (ours, theirs, ours, ...), each `runs / rounds` inferences.
    pub rounds: usize,
    /// Median over rounds of each round's median, ms.
    pub ours_ms: f64,
    pub theirs_ms: f64,
    /// Largest absolute difference between the two plans' logits on the input.
    pub max_logit_diff: f32,
}

/// Times `ours` and `theirs` on `input` in alternating rounds, so that both see the same drift of
/// a shared, noisy machine; the ratio of the two medians is the figure to quote.
pub fn compare(ours: &TractClassifier, theirs: &TractClassifier, input: &[f32], warmup: usize, runs: usize) -> Result<Comparison, ModelError> {
    const ROUNDS: usize = 5;
    let per = (runs / ROUNDS).max(1);
    let (mut a, mut b) = (vec![], vec![]);
    for round in 0..ROUNDS {
        let w = if round == 0 { warmup } else { 0 };
        a.push(time_inference(ours, input, w, per)?.median_ms);
        b.push(time_inference(theirs, input, w, per)?.median_ms);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (la, lb) = (ours.logits(input)?, theirs.logits(input)?);
    let max_logit_diff = la.iter().zip(&lb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    Ok(Comparison { rounds: ROUNDS, ours_ms: med(&mut a), theirs_ms: med(&mut b), max_logit_diff })
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
