//! Figures of merit computed from logits: top-k, mean per-class accuracy, confusion matrix,
//! expected calibration error, temperature fitting, and the pet/no-pet rates.

/// The device's `softmax(z / t)`: calibration here and probabilities on the device agree by
/// construction.
pub use petcam::classifier::softmax;

/// Mean negative log-likelihood at temperature `t`.
pub fn nll(logits: &[Vec<f32>], labels: &[usize], t: f32) -> f64 {
    let mut s = 0.0f64;
    for (z, &l) in logits.iter().zip(labels) {
        let p = softmax(z, t)[l].max(1e-12);
        s -= (p as f64).ln();
    }
    s / logits.len().max(1) as f64
}

/// The temperature minimising validation NLL (golden-section search on log t in [0.2, 10]).
pub fn fit_temperature(logits: &[Vec<f32>], labels: &[usize]) -> f32 {
    let f = |lt: f64| nll(logits, labels, lt.exp() as f32);
    let (mut a, mut b) = (0.2f64.ln(), 10f64.ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    for _ in 0..60 {
        if f(c) < f(d) {
            b = d
        } else {
            a = c
        }
        c = b - g * (b - a);
        d = a + g * (b - a);
    }
    ((a + b) / 2.0).exp() as f32
}

/// Expected calibration error with `bins` equal-width confidence bins, plus per-bin
/// (mean confidence, accuracy, count) for a reliability diagram.
pub fn ece(conf: &[f32], correct: &[bool], bins: usize) -> (f32, Vec<(f32, f32, usize)>) {
    let mut acc = vec![(0.0f32, 0.0f32, 0usize); bins];
    for (&c, &ok) in conf.iter().zip(correct) {
        let i = ((c * bins as f32) as usize).min(bins - 1);
        acc[i].0 += c;
        acc[i].1 += ok as u8 as f32;
        acc[i].2 += 1;
    }
    let n = conf.len().max(1) as f32;
    let mut e = 0.0;
    let out = acc
        .into_iter()
        .map(|(cs, ks, k)| {
            if k == 0 {
                return (0.0, 0.0, 0);
            }
            let (mc, ma) = (cs / k as f32, ks / k as f32);
            e += (k as f32 / n) * (mc - ma).abs();
            (mc, ma, k)
        })
        .collect();
    (e, out)
}

/// Rank of the true label (0 = top-1).
pub fn rank(z: &[f32], label: usize) -> usize {
    z.iter().filter(|&&v| v > z[label]).count()
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0).unwrap_or(0)
}

/// Breed classification figures over pet photos; the no-pet output (if any) is ignored for
/// ranking, so these measure the breed decision alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BreedReport {
    pub n: usize,
    pub top1: f32,
    pub top5: f32,
    pub mean_per_class: f32,
    pub ece: f32,
    pub per_class: Vec<(usize, f32, usize)>,
    pub confusion: Vec<Vec<usize>>,
    #[serde(skip)]
    pub reliability: Vec<(f32, f32, usize)>,
}

pub fn breed_report(logits: &[Vec<f32>], labels: &[usize], breeds: usize, t: f32) -> BreedReport {
    let mut confusion = vec![vec![0; breeds]; breeds];
    let (mut top1, mut top5) = (0, 0);
    let mut conf = vec![];
    let mut correct = vec![];
    for (z, &l) in logits.iter().zip(labels) {
        let zb = &z[..breeds];
        let p = softmax(zb, t);
        let pred = argmax(&p);
        confusion[l][pred] += 1;
        let r = rank(zb, l);
        top1 += (r == 0) as usize;
        top5 += (r < 5) as usize;
        conf.push(p[pred]);
        correct.push(pred == l);
    }
    let per_class: Vec<(usize, f32, usize)> = (0..breeds)
        .filter_map(|c| {
            let n: usize = confusion[c].iter().sum();
            (n > 0).then(|| (c, confusion[c][c] as f32 / n as f32, n))
        })
        .collect();
    let mean_per_class = per_class.iter().map(|x| x.1).sum::<f32>() / per_class.len().max(1) as f32;
    let (e, reliability) = ece(&conf, &correct, 15);
    let n = logits.len().max(1) as f32;
    BreedReport { n: logits.len(), top1: top1 as f32 / n, top5: top5 as f32 / n, mean_per_class, ece: e, per_class, confusion, reliability }
}

/// Pet score of one output vector: `1 - P(no pet)` at temperature `t`.
pub fn pet_score(z: &[f32], no_pet: usize, t: f32) -> f32 {
    1.0 - softmax(z, t)[no_pet]
}

/// At `threshold`: (false-breed rate on no-pet photos, pet recall on pet photos).
pub fn pet_rates(pet_scores: &[f32], no_pet_scores: &[f32], threshold: f32) -> (f32, f32) {
    let fb = no_pet_scores.iter().filter(|&&s| s >= threshold).count() as f32 / no_pet_scores.len().max(1) as f32;
    let rec = pet_scores.iter().filter(|&&s| s >= threshold).count() as f32 / pet_scores.len().max(1) as f32;
    (fb, rec)
}

/// Highest threshold that still lets at least `min_recall` of `pet_scores` through
/// (`score >= threshold`): the pet threshold anchored on the pets, whose validation split stands
/// for what the device will see, rather than on a small no-pet split. `-inf` when there are no pets.
pub fn threshold_for_recall(pet_scores: &[f32], min_recall: f32) -> f32 {
    let mut s: Vec<f32> = pet_scores.to_vec();
    s.sort_by(f32::total_cmp);
    let rejected = ((1.0 - min_recall.clamp(0.0, 1.0)) * s.len() as f32 + 1e-4).floor() as usize;
    s.get(rejected).copied().unwrap_or(f32::NEG_INFINITY)
}

/// Lowest threshold whose false-breed rate on `no_pet_scores` is at most `max_false`.
pub fn threshold_for_false_rate(no_pet_scores: &[f32], max_false: f32) -> f32 {
    let mut s: Vec<f32> = no_pet_scores.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_false * s.len() as f32).floor() as usize;
    // Scores strictly above the (allowed)-th highest pass; put the threshold just above it.
    match s.get(allowed) {
        Some(&v) => (v + 1e-6).min(1.0),
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_threshold_keeps_the_asked_share_of_pets() {
        let pets: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        for keep in [1.0f32, 0.98, 0.95, 0.5] {
            let th = threshold_for_recall(&pets, keep);
            let kept = pets.iter().filter(|&&s| s >= th).count();
            assert_eq!(kept, (keep * 100.0).round() as usize, "keep {keep}: threshold {th}");
        }
        // 474 validation pets at 98%: 9 may be turned away, not 10.
        let pets: Vec<f32> = (0..474).map(|i| i as f32).collect();
        let th = threshold_for_recall(&pets, 0.98);
        assert_eq!(pets.iter().filter(|&&s| s < th).count(), 9);
        assert_eq!(threshold_for_recall(&[], 0.98), f32::NEG_INFINITY);
    }

    #[test]
    fn temperature_undoes_overconfidence() {
        // Logits scaled by 3 from calibrated ones: the fitted temperature is about 3.
        let mut logits = vec![];
        let mut labels = vec![];
        let mut seed = 1u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as f32 / (1u64 << 31) as f32
        };
        for _ in 0..3000 {
            let z = vec![rnd() * 2.0, rnd() * 2.0, rnd() * 2.0];
            let p = softmax(&z, 1.0);
            let u = rnd();
            let l = if u < p[0] {
                0
            } else if u < p[0] + p[1] {
                1
            } else {
                2
            };
            logits.push(z.iter().map(|v| v * 3.0).collect());
            labels.push(l);
        }
        let t = fit_temperature(&logits, &labels);
        assert!((2.4..3.6).contains(&t), "{t}");
    }

    #[test]
    fn ece_of_perfect_calibration_is_small_and_of_overconfidence_large() {
        let conf = vec![0.9; 100];
        let ok: Vec<bool> = (0..100).map(|i| i < 90).collect();
        assert!(ece(&conf, &ok, 15).0 < 1e-6);
        let ok: Vec<bool> = (0..100).map(|i| i < 50).collect();
        assert!((ece(&conf, &ok, 15).0 - 0.4).abs() < 1e-5);
    }

    #[test]
    fn threshold_meets_the_false_rate() {
        let neg: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let t = threshold_for_false_rate(&neg, 0.02);
        let (fb, _) = pet_rates(&[], &neg, t);
        assert!(fb <= 0.02, "{fb} at {t}");
        assert!(fb >= 0.01);
    }

    #[test]
    fn breed_report_counts() {
        let logits = vec![vec![3.0, 1.0, 0.0], vec![0.0, 2.0, 5.0], vec![1.0, 0.0, 4.0]];
        let r = breed_report(&logits, &[0, 1, 1], 2, 1.0);
        // third output ignored: sample 2 predicted 1 (correct), sample 3 predicted 0 (wrong)
        assert!((r.top1 - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(r.confusion[1], vec![1, 1]);
    }
}
