//! From per-frame scores to what the screen says, steadily.
//!
//! A single frame is noisy: a pet turning its head, motion blur, a hand passing. The [`Decider`]
//! averages the last `window` frames' probabilities and pet scores, then applies hysteresis:
//! - "no pet" until the averaged pet score reaches the model's pet threshold; once a pet is shown,
//!   it takes a score below `threshold - pet_margin` to go back to "no pet";
//! - among pets, the breed changes only when another breed leads the shown one by `switch_margin`;
//! - a pet whose leading breed has less than the confidence threshold (probability of the breed
//!   given that it is a pet) is "not sure" rather than a guess.
//!
//! The seed project's biggest failure was naming a breed for anything; here an unsure model
//! never shows a breed for an empty scene.

use crate::classifier::Scores;
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DecisionConfig {
    /// Frames averaged (at ~10 fps, 5 frames = half a second).
    pub window: usize,
    /// Pet score at or above which a pet is present (the model's calibrated threshold).
    pub pet_threshold: f32,
    /// Hysteresis below the pet threshold before a shown pet is dropped.
    pub pet_margin: f32,
    /// Breed probability (given a pet) under which the answer is "not sure".
    pub confidence_threshold: f32,
    /// Lead another breed needs over the shown one to replace it.
    pub switch_margin: f32,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig { window: 5, pet_threshold: 0.5, pet_margin: 0.1, confidence_threshold: 0.25, switch_margin: 0.1 }
    }
}

/// What the display shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Decision {
    /// No pet in view; `confidence` is the averaged probability of "no pet".
    NoPet { confidence: f32 },
    /// A pet, but no breed is likely enough; the best guesses are listed.
    NotSure { pet_score: f32, top: Vec<(usize, f32)> },
    /// A breed: label index, probability given a pet, the top-3 (including it).
    Breed { label: usize, probability: f32, pet_score: f32, top: Vec<(usize, f32)> },
}

impl Decision {
    pub fn label(&self) -> Option<usize> {
        match self {
            Decision::Breed { label, .. } => Some(*label),
            _ => None,
        }
    }
}

pub struct Decider {
    cfg: DecisionConfig,
    no_pet: Option<usize>,
    history: VecDeque<Scores>,
    pet_shown: bool,
    breed_shown: Option<usize>,
}

impl Decider {
    pub fn new(cfg: DecisionConfig, no_pet: Option<usize>) -> Decider {
        Decider { cfg, no_pet, history: VecDeque::new(), pet_shown: false, breed_shown: None }
    }

    pub fn config(&self) -> &DecisionConfig {
        &self.cfg
    }

    /// Forgets the past (after a camera fault, say).
    pub fn reset(&mut self) {
        self.history.clear();
        self.pet_shown = false;
        self.breed_shown = None;
    }

    /// The last `window` frames' scores averaged: what the decision reads (`None` before the
    /// first frame, or after [`Decider::reset`]).
    pub fn averaged(&self) -> Option<Scores> {
        let n = self.history.len() as f32;
        let first = self.history.front()?;
        let mut probs = vec![0.0f32; first.probs.len()];
        let mut pet_score = 0.0;
        for h in &self.history {
            for (a, b) in probs.iter_mut().zip(&h.probs) {
                *a += b / n;
            }
            pet_score += h.pet_score / n;
        }
        Some(Scores { probs, pet_score })
    }

    pub fn update(&mut self, s: &Scores) -> Decision {
        self.history.push_back(s.clone());
        while self.history.len() > self.cfg.window.max(1) {
            self.history.pop_front();
        }
        // The history holds `s` now, so the average always exists.
        let avg = self.averaged().unwrap_or_else(|| s.clone());
        let pet = avg.pet_score;
        let enter = pet >= self.cfg.pet_threshold;
        let stay = pet >= self.cfg.pet_threshold - self.cfg.pet_margin;
        self.pet_shown = if self.pet_shown { stay } else { enter };
        if !self.pet_shown {
            self.breed_shown = None;
            return Decision::NoPet { confidence: 1.0 - pet };
        }
        // Probability of each breed given that there is a pet: over the breeds' own share of
        // the probabilities (the pet score may be another number: the locate stage's veto, or a
        // score combined with the wide view, `crate::evidence`).
        let share = avg.breeds_share(self.no_pet);
        let mut top: Vec<(usize, f32)> = (0..avg.probs.len()).filter(|&i| Some(i) != self.no_pet).map(|i| (i, avg.given_pet(i, share))).collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(3);
        let (best, best_p) = top[0];
        let chosen = match self.breed_shown {
            Some(cur) if cur != best => {
                let cur_p = avg.given_pet(cur, share);
                if best_p >= cur_p + self.cfg.switch_margin || cur_p < self.cfg.confidence_threshold {
                    best
                } else {
                    cur
                }
            }
            _ => best,
        };
        let p = avg.given_pet(chosen, share);
        if p < self.cfg.confidence_threshold {
            self.breed_shown = None;
            return Decision::NotSure { pet_score: pet, top };
        }
        self.breed_shown = Some(chosen);
        Decision::Breed { label: chosen, probability: p, pet_score: pet, top }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores over [cat, dog, no_pet].
    fn scores(cat: f32, dog: f32) -> Scores {
        let no = 1.0 - cat - dog;
        Scores { probs: vec![cat, dog, no], pet_score: 1.0 - no }
    }

    fn decider() -> Decider {
        Decider::new(DecisionConfig { window: 3, pet_threshold: 0.6, pet_margin: 0.2, confidence_threshold: 0.4, switch_margin: 0.15 }, Some(2))
    }

    #[test]
    fn empty_scene_never_names_a_breed() {
        let mut d = decider();
        for _ in 0..10 {
            assert!(matches!(d.update(&scores(0.2, 0.15)), Decision::NoPet { .. }));
        }
    }

    #[test]
    fn a_pet_entering_is_named_within_the_window() {
        let mut d = decider();
        for _ in 0..5 {
            d.update(&scores(0.05, 0.05));
        }
        let mut named_after = None;
        for i in 1..=5 {
            if d.update(&scores(0.9, 0.05)).label() == Some(0) {
                named_after = Some(i);
                break;
            }
        }
        assert!(named_after.is_some_and(|i| i <= 3), "{named_after:?}");
    }

    #[test]
    fn the_average_is_over_the_window_and_gone_after_a_reset() {
        let mut d = decider();
        assert_eq!(d.averaged(), None);
        for (cat, dog) in [(0.9, 0.0), (0.6, 0.3), (0.3, 0.3), (0.0, 0.9)] {
            d.update(&scores(cat, dog));
        }
        // The window is 3: the first frame is out.
        let avg = d.averaged().unwrap();
        assert!((avg.probs[0] - 0.3).abs() < 1e-6 && (avg.probs[1] - 0.5).abs() < 1e-6 && (avg.pet_score - 0.8).abs() < 1e-6, "{avg:?}");
        d.reset();
        assert_eq!(d.averaged(), None);
    }

    #[test]
    fn one_odd_frame_does_not_flicker() {
        let mut d = decider();
        for _ in 0..5 {
            d.update(&scores(0.8, 0.1));
        }
        assert_eq!(d.update(&scores(0.1, 0.8)).label(), Some(0), "single contrary frame must not switch");
        assert_eq!(d.update(&scores(0.8, 0.1)).label(), Some(0));
    }

    #[test]
    fn hysteresis_keeps_a_pet_through_a_dip() {
        let mut d = decider();
        for _ in 0..3 {
            d.update(&scores(0.8, 0.1));
        }
        // pet score 0.5: below the 0.6 threshold to enter, above 0.4 to stay
        for _ in 0..3 {
            assert!(!matches!(d.update(&scores(0.45, 0.05)), Decision::NoPet { .. }));
        }
        for _ in 0..3 {
            d.update(&scores(0.1, 0.1));
        }
        assert!(matches!(d.update(&scores(0.1, 0.1)), Decision::NoPet { .. }));
    }

    #[test]
    fn torn_between_breeds_is_not_sure() {
        let mut d = decider();
        let mut last = None;
        for _ in 0..3 {
            last = Some(d.update(&Scores { probs: vec![0.3, 0.35, 0.35], pet_score: 0.65 }));
        }
        // given a pet: 0.46 vs 0.54 -> above 0.4, a breed; with a third breed it would not be
        assert!(matches!(last, Some(Decision::Breed { label: 1, .. })), "{last:?}");
        let mut d = Decider::new(DecisionConfig { confidence_threshold: 0.6, ..decider().cfg }, Some(2));
        assert!(matches!(d.update(&Scores { probs: vec![0.3, 0.35, 0.35], pet_score: 0.65 }), Decision::NotSure { .. }));
    }

    #[test]
    fn breed_probabilities_do_not_follow_a_pet_score_from_elsewhere() {
        // The crop says 60% cat, 20% dog; a combined pet score of 0.95 (the wide view agreeing)
        // decides that there is a pet, not how likely each breed is: cat 0.75 given a pet.
        let mut d = Decider::new(DecisionConfig { window: 1, ..decider().cfg }, Some(2));
        match d.update(&Scores { probs: vec![0.6, 0.2, 0.2], pet_score: 0.95 }) {
            Decision::Breed { label: 0, probability, pet_score, .. } => assert!((probability - 0.75).abs() < 1e-6 && pet_score == 0.95),
            other => panic!("{other:?}"),
        }
    }
}
