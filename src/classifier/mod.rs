//! Turning a model input into breed probabilities.
//!
//! [`Classifier`] is the seam: [`TractClassifier`] runs a real petcam ONNX model with tract; tests
//! of later stages (decision, ui) may drive them with fixed scores instead. Probabilities are
//! `softmax(logits / T)` with the temperature `T` the model carries in its metadata.

pub mod depthwise;
mod dequantize;
mod graph;
pub mod pointwise;
pub mod pointwise_f32;
pub mod simd;
mod tract;

pub use self::dequantize::fold_constants as fold_constant_dequantize;
pub use self::tract::{set_threads, DepthwiseUse, LoadOptions, ModelError, NodeTime, TractClassifier};
use crate::metadata::ModelMetadata;

/// The result of one inference.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Calibrated probability per label (same order as the model's labels), summing to 1.
    pub probs: Vec<f32>,
    /// `1 - P(no pet)`, or 1 when the model has no no-pet output.
    pub pet_score: f32,
}

impl Scores {
    /// From raw logits, the model's temperature and its no-pet index.
    pub fn from_logits(logits: &[f32], temperature: f32, no_pet: Option<usize>) -> Scores {
        let probs = softmax(logits, temperature);
        let pet_score = no_pet.map(|i| 1.0 - probs[i]).unwrap_or(1.0);
        Scores { probs, pet_score }
    }

    /// The breeds' share of the probability (all but the no-pet output): what a breed's
    /// probability given a pet is taken over ([`Scores::given_pet`]).
    pub fn breeds_share(&self, no_pet: Option<usize>) -> f32 {
        self.probs.iter().enumerate().filter(|(i, _)| Some(*i) != no_pet).map(|(_, p)| p).sum()
    }

    /// `label`'s probability given a pet: over the breeds' `share` ([`Scores::breeds_share`],
    /// computed once per frame by the caller), at most 1.
    pub fn given_pet(&self, label: usize, share: f32) -> f32 {
        (self.probs[label] / share.max(1e-6)).min(1.0)
    }

    /// The `k` most probable breeds (the no-pet output excluded): (label index, probability).
    pub fn top_k(&self, k: usize, no_pet: Option<usize>) -> Vec<(usize, f32)> {
        let mut v: Vec<(usize, f32)> = self.probs.iter().cloned().enumerate().filter(|(i, _)| Some(*i) != no_pet).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v.truncate(k);
        v
    }
}

/// `softmax(z / t)`, numerically stable.
pub fn softmax(z: &[f32], t: f32) -> Vec<f32> {
    let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = z.iter().map(|v| ((v - m) / t).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Anything that scores a preprocessed input (`[3, S, S]` CHW f32 in `[0, 1]`).
pub trait Classifier {
    type Error: std::error::Error + Send + Sync + 'static;
    fn metadata(&self) -> &ModelMetadata;
    fn classify(&mut self, input: &[f32]) -> Result<Scores, Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_flattens() {
        let sharp = softmax(&[2.0, 0.0], 1.0);
        let flat = softmax(&[2.0, 0.0], 2.0);
        assert!((sharp[0] - 0.880797).abs() < 1e-5);
        assert!((flat[0] - 0.731059).abs() < 1e-5);
    }

    #[test]
    fn top_k_skips_no_pet() {
        let s = Scores::from_logits(&[1.0, 3.0, 5.0], 1.0, Some(2));
        assert_eq!(s.top_k(2, Some(2)).iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 0]);
        assert!((s.pet_score - (1.0 - s.probs[2])).abs() < 1e-7);
    }
}
