//! One pet score from two looks: the classifier's word on the cropped square, and the locate
//! stage's word on the whole frame.
//!
//! The classifier sees only the square the locate stage cut out, so a pet-like patch of a
//! pet-free scene (a furry rug, a fox) can look like a pet there. The locate stage's wide pass
//! saw the whole frame: how pet-like its best cell is (the locator head's map), how pet-like the
//! class-activation map's best cell is, and what the classifier's own linear layer makes of the
//! whole view. A model that carries [`PetEvidence`] weights (fitted by logistic regression on the
//! camera benchmark's validation frames, `petcam-trainer fit-evidence`) reads its pet score as
//!
//! `sigmoid(crop * logit(crop score) + cell * best cell + cam_cell * best CAM cell + view * whole view + bias)`,
//!
//! and its `pet_threshold` applies to that. A frame without wide-view evidence (the centre-crop
//! locator) keeps the crop's own score, shifted so that the crop's own threshold
//! ([`PetEvidence::crop_threshold`]) lands on the model's: the same decisions as before fusion.

use serde::{Deserialize, Serialize};

/// What the locate stage's wide pass saw, as pet log-odds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WideEvidence {
    /// Best cell of the map the locator frames the pet with (the locator head's, else the
    /// class-activation map's).
    pub cell: f32,
    /// Best cell of the class-activation map (`logsumexp(breed logits) - no-pet logit`).
    pub cam_cell: f32,
    /// The classifier's linear layer on the mean feature of the whole view.
    pub view: f32,
}

/// Weights of the combined pet score, in the model's metadata (`pet_evidence`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PetEvidence {
    /// Weight of the crop's pet log-odds, `logit(1 - P(no pet))`.
    pub crop: f32,
    /// Weight of [`WideEvidence::cell`].
    pub cell: f32,
    /// Weight of [`WideEvidence::cam_cell`].
    pub cam_cell: f32,
    /// Weight of [`WideEvidence::view`].
    pub view: f32,
    pub bias: f32,
    /// The crop score's own pet threshold, for frames without wide-view evidence.
    pub crop_threshold: f32,
}

/// `ln(p / (1 - p))`, with `p` kept inside `[1e-7, 1 - 1e-7]` (at most about 16.1 either way).
pub fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl PetEvidence {
    /// The pet score of a frame whose crop scored `crop_score` (`1 - P(no pet)`), with the wide
    /// pass's `wide` evidence if there is some, for a model whose pet threshold is `threshold`.
    pub fn pet_score(&self, crop_score: f32, wide: Option<&WideEvidence>, threshold: f32) -> f32 {
        let crop = logit(crop_score);
        let z = match wide {
            Some(w) => self.crop * crop + self.cell * w.cell + self.cam_cell * w.cam_cell + self.view * w.view + self.bias,
            None => crop - logit(self.crop_threshold) + logit(threshold),
        };
        sigmoid(z)
    }

    /// Finite weights, and a crop threshold inside (0, 1).
    pub fn validate(&self) -> Result<(), String> {
        let w = [self.crop, self.cell, self.cam_cell, self.view, self.bias];
        if w.iter().any(|v| !v.is_finite()) {
            return Err(format!("pet_evidence weights {w:?} are not all finite"));
        }
        if !(self.crop_threshold > 0.0 && self.crop_threshold < 1.0) {
            return Err(format!("pet_evidence.crop_threshold {} outside (0, 1)", self.crop_threshold));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: PetEvidence = PetEvidence { crop: 0.6, cell: 0.1, cam_cell: 0.25, view: 0.55, bias: -3.2, crop_threshold: 0.96 };

    #[test]
    fn the_wide_view_moves_the_score_both_ways() {
        let pet_like = WideEvidence { cell: 4.0, cam_cell: 6.0, view: 5.0 };
        let empty = WideEvidence { cell: -6.0, cam_cell: -3.0, view: -4.0 };
        let crop = 0.9;
        let (yes, no) = (W.pet_score(crop, Some(&pet_like), 0.8), W.pet_score(crop, Some(&empty), 0.8));
        assert!(yes > 0.9 && no < 0.1, "{yes} {no}");
        // By the formula: 0.6 * logit(0.9) + 0.1 * 4 + 0.25 * 6 + 0.55 * 5 - 3.2.
        let z = 0.6 * (0.9f32 / 0.1).ln() + 0.4 + 1.5 + 2.75 - 3.2;
        assert!((yes - 1.0 / (1.0 + (-z).exp())).abs() < 1e-6);
        // More pet-like crops score higher with the same view.
        assert!(W.pet_score(0.99, Some(&empty), 0.8) > no);
    }

    #[test]
    fn without_the_wide_view_the_crop_threshold_maps_onto_the_model_threshold() {
        assert!((W.pet_score(0.96, None, 0.8) - 0.8).abs() < 1e-5);
        assert!(W.pet_score(0.95, None, 0.8) < 0.8 && W.pet_score(0.97, None, 0.8) > 0.8);
        // Saturated crop scores stay finite.
        assert!(W.pet_score(1.0, None, 0.8).is_finite() && W.pet_score(0.0, None, 0.8) >= 0.0);
    }

    #[test]
    fn refuses_weights_it_cannot_use() {
        assert!(W.validate().is_ok());
        assert!(PetEvidence { view: f32::NAN, ..W }.validate().is_err());
        assert!(PetEvidence { crop_threshold: 1.0, ..W }.validate().is_err());
    }
}
