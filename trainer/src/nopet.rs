//! Knowing when there is no pet: ways of scoring "is this a pet?" from one forward pass, each with
//! a threshold chosen on the validation splits and judged on the test splits (Oxford test pets,
//! no-pets test photos). `petcam-trainer no-pet` prints the comparison, draws the curves and lists
//! the no-pet photos that still get a breed.

use crate::metrics::{argmax, softmax};

/// One way of scoring a logit vector as "pet" (higher = more pet).
pub struct Approach {
    pub name: &'static str,
    pub how: &'static str,
    pub score: fn(&[f32], f32) -> f32,
}

fn breeds() -> usize {
    petcam::labels::BREEDS.len()
}

fn logsumexp(z: &[f32]) -> f32 {
    let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    m + z.iter().map(|v| (v - m).exp()).sum::<f32>().ln()
}

/// The approaches that work from the breed model's own logits (`t`: its temperature). The
/// no-pet class ones need a 38th output; they are skipped for 37-output models.
pub fn approaches(has_no_pet: bool) -> Vec<Approach> {
    let mut v = vec![
        Approach { name: "max breed prob", how: "max softmax over the 37 breed logits (the 38th ignored)", score: |z, t| softmax(&z[..breeds()], t).into_iter().fold(0.0, f32::max) },
        Approach { name: "energy", how: "T * logsumexp(breed logits / T)", score: |z, t| t * logsumexp(&z[..breeds()].iter().map(|v| v / t).collect::<Vec<_>>()) },
    ];
    if has_no_pet {
        v.insert(0, Approach { name: "no-pet class", how: "1 - P(no pet) of the 38-way softmax (shipped)", score: |z, t| 1.0 - softmax(z, t)[breeds()] });
        v.push(Approach {
            name: "top breed (38-way)",
            how: "max breed probability in the 38-way softmax = P(pet) x P(breed | pet)",
            score: |z, t| softmax(z, t)[..breeds()].iter().cloned().fold(0.0, f32::max),
        });
    }
    v
}

/// Probability mass an ImageNet classifier puts on its cat (281-285) and dog (151-268) classes.
pub fn imagenet_pet_mass(z: &[f32]) -> f32 {
    let p = softmax(z, 1.0);
    p[151..=268].iter().sum::<f32>() + p[281..=285].iter().sum::<f32>()
}

/// A pet score from two: `ln a + w ln b` (both probabilities, clamped away from 0).
pub fn combined_score(a: f32, b: f32, w: f32) -> f32 {
    a.max(1e-12).ln() + w * b.max(1e-12).ln()
}

/// Lowest threshold letting at most `max_false` of `no_pet` scores through (`score >= threshold`).
pub fn threshold_at(no_pet: &[f32], max_false: f32) -> f32 {
    let mut s = no_pet.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_false * s.len() as f32).floor() as usize;
    match s.get(allowed) {
        Some(&v) => v + v.abs().max(1.0) * 1e-6,
        None => f32::NEG_INFINITY,
    }
}

/// Wilson score interval (95%) for `k` successes in `n` trials: how far a rate measured on a few
/// hundred photos can be from the true one. `(0, 1)` when `n` is 0.
pub fn wilson(k: usize, n: usize) -> (f32, f32) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n, p) = (1.959_964f64, n as f64, k as f64 / n as f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (((centre - half).max(0.0)) as f32, ((centre + half).min(1.0)) as f32)
}

/// No-pet photos of one [`Scene`] group that pass a threshold, on val and on test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SceneRate {
    pub scene: crate::data::Scene,
    pub val_photos: usize,
    pub val_passing: usize,
    pub test_photos: usize,
    pub test_passing: usize,
}

/// Per-group pass counts of no-pet scores at threshold `th` (`*_scenes[i]` is photo `i`'s group;
/// photos without one are left out).
pub fn by_scene(val: (&[f32], &[Option<crate::data::Scene>]), test: (&[f32], &[Option<crate::data::Scene>]), th: f32) -> Vec<SceneRate> {
    let count = |(s, g): (&[f32], &[Option<crate::data::Scene>]), want| {
        let of: Vec<f32> = s.iter().zip(g).filter(|(_, g)| **g == Some(want)).map(|(s, _)| *s).collect();
        (of.len(), of.iter().filter(|&&x| x >= th).count())
    };
    crate::data::Scene::ALL
        .iter()
        .map(|&scene| {
            let ((vn, vp), (tn, tp)) = (count(val, scene), count(test, scene));
            SceneRate { scene, val_photos: vn, val_passing: vp, test_photos: tn, test_passing: tp }
        })
        .collect()
}

/// `k of n, rate; 95% interval lo-hi%`.
fn count_with_interval(k: usize, n: usize) -> String {
    let (lo, hi) = wilson(k, n);
    format!("{k} of {n}, {:.2}%; 95% interval {:.1}-{:.1}%", 100.0 * k as f32 / n.max(1) as f32, 100.0 * lo, 100.0 * hi)
}

/// Lines judging pet scores at one threshold (the model's own): false breeds and pet recall with
/// their intervals, then the false breeds per group of no-pet photo (groups without photos left out).
pub fn at_threshold(th: f32, pets: &[f32], no_pets: &[f32], no_pet_scenes: &[Option<crate::data::Scene>]) -> String {
    let pass = |v: &[f32]| v.iter().filter(|&&s| s >= th).count();
    let mut out = format!(
        "  at the model's pet threshold {th:.4}: false breeds {} (no-pet photos shown a breed); pet recall {}\n",
        count_with_interval(pass(no_pets), no_pets.len()),
        count_with_interval(pass(pets), pets.len())
    );
    for g in crate::data::Scene::ALL {
        let of: Vec<f32> = no_pets.iter().zip(no_pet_scenes).filter(|(_, s)| **s == Some(g)).map(|(v, _)| *v).collect();
        if !of.is_empty() {
            out += &format!("    false breeds on {}: {}\n", g.name(), count_with_interval(pass(&of), of.len()));
        }
    }
    out
}

/// Test figures of one approach at its validation threshold.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub approach: String,
    pub threshold: f32,
    /// No-pet test photos that pass as pets (would get a breed or "not sure").
    pub false_breed: f32,
    /// 95% Wilson interval of `false_breed` (test no-pet photos are few).
    pub false_breed_ci: (f32, f32),
    pub pet_recall: f32,
    /// 95% Wilson interval of `pet_recall`.
    pub pet_recall_ci: (f32, f32),
    pub top1_among_passing: f32,
    /// Breed top-1 over all test pets, counting rejected pets as wrong, minus the top-1 with
    /// every pet passing: what the no-pet decision costs the breed answer.
    pub top1_lost: f32,
    /// Best recall on test with the false-breed rate at most 2% (the target; threshold tuned on test).
    pub recall_at_2pct_test: f32,
    /// Curve over thresholds: (false-breed rate, pet recall).
    #[serde(skip)]
    pub curve: Vec<(f32, f32)>,
}

/// Scores of one approach on the four sets: val pets, val no-pets, test pets, test no-pets.
pub struct Scored<'a> {
    pub name: &'a str,
    pub val_pets: Vec<f32>,
    pub val_no: Vec<f32>,
    pub test_pets: Vec<f32>,
    pub test_no: Vec<f32>,
}

/// How a threshold is set on validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// At most this share of the validation no-pet photos pass.
    MaxFalseBreed(f32),
    /// At least this share of the validation pets pass.
    KeepPets(f32),
}

impl Rule {
    pub fn threshold(self, val_pets: &[f32], val_no: &[f32]) -> f32 {
        match self {
            Rule::MaxFalseBreed(f) => threshold_at(val_no, f),
            Rule::KeepPets(r) => crate::metrics::threshold_for_recall(val_pets, r),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Rule::MaxFalseBreed(f) => format!("<= {:.1}% of validation no-pet photos passing", 100.0 * f),
            Rule::KeepPets(r) => format!(">= {:.1}% of validation pets passing", 100.0 * r),
        }
    }
}

/// Judges one approach. `pet_correct[i]`: is test pet `i`'s breed right.
pub fn judge(s: &Scored, pet_correct: &[bool], rule: Rule) -> Outcome {
    let th = rule.threshold(&s.val_pets, &s.val_no);
    let passing_count = |v: &[f32], th: f32| v.iter().filter(|&&x| x >= th).count();
    let rate = |v: &[f32], th: f32| passing_count(v, th) as f32 / v.len().max(1) as f32;
    let n = s.test_pets.len().max(1) as f32;
    let passing: Vec<usize> = (0..s.test_pets.len()).filter(|&i| s.test_pets[i] >= th).collect();
    let right_passing = passing.iter().filter(|&&i| pet_correct[i]).count() as f32;
    let top1_all = pet_correct.iter().filter(|&&c| c).count() as f32 / n;
    let mut ths: Vec<f32> = s.test_no.iter().chain(&s.test_pets).cloned().collect();
    ths.sort_by(f32::total_cmp);
    ths.dedup();
    let mut curve: Vec<(f32, f32)> = ths.iter().map(|&t| (rate(&s.test_no, t), rate(&s.test_pets, t))).collect();
    curve.push((0.0, 0.0));
    let recall_at_2 = curve.iter().filter(|(fb, _)| *fb <= 0.02).map(|c| c.1).fold(0.0, f32::max);
    Outcome {
        approach: s.name.to_string(),
        threshold: th,
        false_breed: rate(&s.test_no, th),
        false_breed_ci: wilson(passing_count(&s.test_no, th), s.test_no.len()),
        pet_recall: rate(&s.test_pets, th),
        pet_recall_ci: wilson(passing_count(&s.test_pets, th), s.test_pets.len()),
        top1_among_passing: right_passing / passing.len().max(1) as f32,
        top1_lost: top1_all - right_passing / n,
        recall_at_2pct_test: recall_at_2,
        curve,
    }
}

/// What the device shows for one picture under a (pet threshold, confidence threshold) pair, from
/// the 38-way calibrated probabilities: no pet, "not sure", or a breed (index).
pub fn device_answer(z: &[f32], t: f32, pet_th: f32, conf_th: f32) -> Option<Option<usize>> {
    let p = softmax(z, t);
    if 1.0 - p[breeds()] < pet_th {
        return None;
    }
    let b = argmax(&p[..breeds()]);
    Some(if p[b] >= conf_th { Some(b) } else { None })
}

/// Test figures of the device's three-way answer (no pet / not sure / breed).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceOutcome {
    pub pet_threshold: f32,
    pub confidence_threshold: f32,
    /// No-pet photos shown a breed.
    pub false_breed: f32,
    /// No-pet photos shown "not sure".
    pub no_pet_not_sure: f32,
    /// Pets not answered "no pet" (a breed or "not sure").
    pub pet_recall: f32,
    /// Pets shown a breed.
    pub pets_named: f32,
    /// Pets shown their right breed.
    pub pets_named_right: f32,
    /// Right breed among pets shown a breed.
    pub precision_named: f32,
}

pub fn device_outcome(pets: &[Vec<f32>], labels: &[usize], no: &[Vec<f32>], t: f32, pet_th: f32, conf_th: f32) -> DeviceOutcome {
    let n = pets.len().max(1) as f32;
    let m = no.len().max(1) as f32;
    let a: Vec<Option<Option<usize>>> = pets.iter().map(|z| device_answer(z, t, pet_th, conf_th)).collect();
    let b: Vec<Option<Option<usize>>> = no.iter().map(|z| device_answer(z, t, pet_th, conf_th)).collect();
    let named = a.iter().filter(|x| matches!(x, Some(Some(_)))).count() as f32;
    let right = a.iter().zip(labels).filter(|(x, &l)| **x == Some(Some(l))).count() as f32;
    DeviceOutcome {
        pet_threshold: pet_th,
        confidence_threshold: conf_th,
        false_breed: b.iter().filter(|x| matches!(x, Some(Some(_)))).count() as f32 / m,
        no_pet_not_sure: b.iter().filter(|x| matches!(x, Some(None))).count() as f32 / m,
        pet_recall: a.iter().filter(|x| x.is_some()).count() as f32 / n,
        pets_named: named / n,
        pets_named_right: right / n,
        precision_named: right / named.max(1.0),
    }
}

/// The (pet, confidence) threshold pair that names the most pets right on validation while
/// showing a breed for at most `max_false` of the validation no-pet photos.
pub fn tune_device(pets: &[Vec<f32>], labels: &[usize], no: &[Vec<f32>], t: f32, max_false: f32) -> (f32, f32) {
    let mut best = (0.0, 0.98, 0.25);
    for pi in 0..=40 {
        let pet_th = 0.5 + 0.0125 * pi as f32;
        for ci in 0..=16 {
            let conf_th = 0.1 + 0.05 * ci as f32;
            let o = device_outcome(pets, labels, no, t, pet_th, conf_th);
            if o.false_breed <= max_false && o.pet_recall >= 0.95 && o.pets_named_right > best.0 {
                best = (o.pets_named_right, pet_th, conf_th);
            }
        }
    }
    (best.1, best.2)
}

/// Is the top breed right, per pet.
pub fn correct(logits: &[Vec<f32>], labels: &[usize]) -> Vec<bool> {
    logits.iter().zip(labels).map(|(z, &l)| argmax(&z[..breeds()]) == l).collect()
}

/// Loaded val/test photos, a shipped ONNX model, and optionally the ImageNet backbone file:
/// compares every approach, writes `<out>/<stem>-no-pet-approaches.{png,json}` and returns the
/// outcomes in table order (the shipped no-pet class first when the model has one).
pub fn compare(items: &[crate::images::Loaded], model: &std::path::Path, backbone: Option<&std::path::Path>, rule: Rule, out: &std::path::Path) -> anyhow::Result<Vec<Outcome>> {
    use crate::data::{Split, NO_PET_LABEL};
    use anyhow::Context;
    let mut p = petcam::pipeline::Pipeline::new(petcam::classifier::TractClassifier::load(model)?);
    let t = p.metadata().temperature;
    let size = p.metadata().input_size;
    let has_no_pet = p.metadata().no_pet_index().is_some();
    let pick = |split: Split, pets: bool| -> Vec<&crate::images::Loaded> {
        items.iter().filter(|l| l.sample.split == split && (l.sample.label == NO_PET_LABEL) != pets && (!pets || split != Split::Test || l.sample.oxford)).collect()
    };
    let sets = [pick(Split::Val, true), pick(Split::Val, false), pick(Split::Test, true), pick(Split::Test, false)];
    anyhow::ensure!(sets.iter().all(|s| !s.is_empty()), "need pets and no-pets in both val and test splits (give --data and --no-pets)");
    let logits: Vec<Vec<Vec<f32>>> = sets.iter().map(|s| s.iter().map(|l| p.logits(&l.image)).collect::<Result<Vec<_>, _>>()).collect::<Result<_, _>>()?;
    let labels: Vec<usize> = sets[2].iter().map(|l| l.sample.label).collect();
    let right = correct(&logits[2], &labels);
    let mut scored: Vec<(String, [Vec<f32>; 4])> =
        approaches(has_no_pet).iter().map(|a| (format!("{} ({})", a.name, a.how), [0, 1, 2, 3].map(|k| logits[k].iter().map(|z| (a.score)(z, t)).collect()))).collect();
    if let Some(bb) = backbone {
        // The untouched ImageNet classifier as a second pass: what keeping its head alive would give.
        let (arch, w) = crate::model::backbone::load_imagenet(bb, size as usize).with_context(|| bb.display().to_string())?;
        let device = burn::tensor::Device::flex();
        let net = crate::model::net::Net::new(&arch, &w, &device);
        let mass = |s: &Vec<&crate::images::Loaded>| -> Vec<f32> {
            let imgs: Vec<&image::RgbImage> = s.iter().map(|l| &l.image).collect();
            crate::train::predict(&net, &imgs, size, &device).iter().map(|z| imagenet_pet_mass(z)).collect()
        };
        let m = [mass(&sets[0]), mass(&sets[1]), mass(&sets[2]), mass(&sets[3])];
        if has_no_pet {
            // Both votes at once: the no-pet class and ImageNet's view, as a weighted sum of log
            // scores. 0.1 was the best of the weights 0.1, 0.25, 0.5 and 1 (models/MODEL_CARD.md).
            let comb: [Vec<f32>; 4] = [0, 1, 2, 3].map(|k| scored[0].1[k].iter().zip(&m[k]).map(|(a, b)| combined_score(*a, *b, 0.1)).collect());
            scored.push(("no-pet class + ImageNet (ln(1 - P(no pet)) + 0.1 ln(ImageNet pet mass))".into(), comb));
        }
        scored.push(("ImageNet pet mass (ImageNet head of the original backbone, second pass; sum of P(cat 281-285, dog 151-268))".into(), m));
    }
    let mut outcomes = vec![];
    for (name, [vp, vn, tp, tn]) in &scored {
        let o = judge(&Scored { name, val_pets: vp.clone(), val_no: vn.clone(), test_pets: tp.clone(), test_no: tn.clone() }, &right, rule);
        outcomes.push(o);
    }
    // The device's three-way answer, at the model's thresholds and at a pair tuned on validation.
    let val_labels: Vec<usize> = sets[0].iter().map(|l| l.sample.label).collect();
    let mut device = vec![];
    if has_no_pet {
        let meta = p.metadata();
        let max_false_val = if let Rule::MaxFalseBreed(f) = rule { f } else { 0.015 };
        let (pt, ct) = tune_device(&logits[0], &val_labels, &logits[1], t, max_false_val);
        for (what, p, q) in [("shipped thresholds", meta.pet_threshold, meta.confidence_threshold), ("tuned on val", pt, ct)] {
            let o = device_outcome(&logits[2], &labels, &logits[3], t, p, q);
            let all_named = device_outcome(&logits[2], &labels, &logits[3], t, 0.0, 0.0);
            println!(
                "device answer, {what} (pet {p:.4}, confidence {q:.2}): test no-pets shown a breed {:.2}% (\"not sure\" {:.2}%); pets not called \"no pet\" {:.2}%; pets named {:.2}%, named right {:.2}% ({:.2} points below naming every pet), right among named {:.2}%",
                100.0 * o.false_breed, 100.0 * o.no_pet_not_sure, 100.0 * o.pet_recall, 100.0 * o.pets_named, 100.0 * o.pets_named_right, 100.0 * (all_named.pets_named_right - o.pets_named_right), 100.0 * o.precision_named
            );
            device.push((what, o));
        }
    }
    // Which no-pet test photos pass under the first (shipped) approach.
    let first = &scored[0].1;
    let th = outcomes[0].threshold;
    let mut offenders: Vec<(f32, String, String)> = sets[3]
        .iter()
        .zip(&first[3])
        .zip(&logits[3])
        .filter(|((_, s), _)| **s >= th)
        .map(|((l, s), z)| (*s, l.sample.kind.clone(), petcam::labels::BREEDS[argmax(&z[..breeds()])].to_string()))
        .collect();
    offenders.sort_by(|a, b| b.0.total_cmp(&a.0));
    let scenes_of = |k: usize| -> Vec<Option<crate::data::Scene>> { sets[k].iter().map(|l| l.sample.scene).collect() };
    let (val_scenes, test_scenes) = (scenes_of(1), scenes_of(3));
    let scenes = by_scene((&first[1], &val_scenes), (&first[3], &test_scenes), th);
    let stem = model.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    std::fs::create_dir_all(out)?;
    let series: Vec<(String, Vec<(f32, f32)>)> = outcomes.iter().map(|o| (o.approach.split(" (").next().unwrap_or("").to_string(), o.curve.clone())).collect();
    crate::plots::pet_roc(&out.join(format!("{stem}-no-pet-approaches.png")), &format!("{stem}: pet vs no pet, test splits"), &series, 0.02)?;
    let json = serde_json::json!({
        "model": model, "temperature": t, "threshold_rule": rule.describe(),
        "n": {"val_pets": sets[0].len(), "val_no_pets": sets[1].len(), "test_pets": sets[2].len(), "test_no_pets": sets[3].len()},
        "outcomes": outcomes,
        "device": device.iter().map(|(w, o)| serde_json::json!({"thresholds": w, "outcome": o})).collect::<Vec<_>>(),
        "scenes_of_first": scenes,
        "false_breeds_of_first": offenders.iter().map(|(s, cat, breed)| serde_json::json!({"pet_score": s, "category": cat, "shown_breed": breed})).collect::<Vec<_>>(),
    });
    std::fs::write(out.join(format!("{stem}-no-pet-approaches.json")), serde_json::to_string_pretty(&json)?)?;
    println!("{} val pets, {} val no-pets, {} test pets (Oxford), {} test no-pets; thresholds set on val: {}", sets[0].len(), sets[1].len(), sets[2].len(), sets[3].len(), rule.describe());
    println!("| approach | threshold | test false-breed (95% interval) | test pet recall (95% interval) | top-1 among passing | top-1 lost (points) | best recall at <=2% false-breed (test-tuned) |\n|---|---|---|---|---|---|---|");
    let pct = |(lo, hi): (f32, f32)| format!("{:.1}-{:.1}%", 100.0 * lo, 100.0 * hi);
    for o in &outcomes {
        println!(
            "| {} | {:.4} | {:.2}% ({}) | {:.2}% ({}) | {:.2}% | {:.2} | {:.2}% |",
            o.approach,
            o.threshold,
            100.0 * o.false_breed,
            pct(o.false_breed_ci),
            100.0 * o.pet_recall,
            pct(o.pet_recall_ci),
            100.0 * o.top1_among_passing,
            100.0 * o.top1_lost,
            100.0 * o.recall_at_2pct_test
        );
    }
    println!("\nno-pet photos shown a breed under `{}`, by what they show (val sets the threshold, test judges it):", outcomes[0].approach);
    println!("| group | val photos | val passing | test photos | test passing | test false-breed (95% interval) |\n|---|---|---|---|---|---|");
    for r in &scenes {
        let rate = r.test_passing as f32 / r.test_photos.max(1) as f32;
        println!("| {} | {} | {} | {} | {} | {:.1}% ({}) |", r.scene.name(), r.val_photos, r.val_passing, r.test_photos, r.test_passing, 100.0 * rate, pct(wilson(r.test_passing, r.test_photos)));
    }
    println!("\nno-pet test photos that pass under `{}`:", outcomes[0].approach);
    for (s, cat, breed) in &offenders {
        println!("  {s:.4}  {cat}  -> {breed}");
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_on_the_pets_keeps_their_share_whatever_the_no_pets_do() {
        let s = Scored { name: "x", val_pets: vec![0.2, 0.6, 0.7, 0.8], val_no: vec![0.9, 0.95], test_pets: vec![0.5, 0.65, 0.9], test_no: vec![0.1, 0.7] };
        // Keeping 75% of the 4 validation pets puts the threshold at the second lowest (0.6).
        let o = judge(&s, &[true, true, true], Rule::KeepPets(0.75));
        assert_eq!(o.threshold, 0.6);
        assert!((o.pet_recall - 2.0 / 3.0).abs() < 1e-6 && (o.false_breed - 0.5).abs() < 1e-6);
        // The no-pet rule would have put it above every validation no-pet photo.
        assert!(judge(&s, &[true, true, true], Rule::MaxFalseBreed(0.0)).threshold > 0.95);
    }

    #[test]
    fn wilson_interval_matches_the_textbook_values() {
        let close = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4;
        // 11 of 354 no-pet photos shown a breed: 3.1%, but anything from 1.7% to 5.5% is consistent.
        assert!(close(wilson(11, 354), (0.01744, 0.05478)), "{:?}", wilson(11, 354));
        assert!(close(wilson(0, 10), (0.0, 0.27753)), "{:?}", wilson(0, 10));
        assert!(close(wilson(716, 738), (0.95528, 0.98023)), "{:?}", wilson(716, 738));
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson(10, 10);
        assert!(lo > 0.7 && hi == 1.0);
    }

    #[test]
    fn judging_at_a_threshold_counts_each_group() {
        use crate::data::Scene::{Animal, Other};
        let text = at_threshold(0.5, &[0.9, 0.8, 0.2], &[0.7, 0.1, 0.6, 0.3], &[Some(Animal), Some(Animal), Some(Other), None]);
        assert!(text.contains("false breeds 2 of 4, 50.00%") && text.contains("pet recall 2 of 3, 66.67%"), "{text}");
        assert!(text.contains("other animals: 1 of 2, 50.00%") && text.contains("scenes and objects: 1 of 1, 100.00%"), "{text}");
        assert!(!text.contains("people"), "{text}");
    }

    #[test]
    fn scene_counts_split_the_passing_photos_by_group() {
        use crate::data::Scene::{Animal, Other, People};
        let val = ([0.9, 0.1, 0.95, 0.2], [Some(Animal), Some(People), Some(Other), None]);
        let test = ([0.9, 0.95, 0.3, 0.99], [Some(Animal), Some(Animal), Some(People), None]);
        let r = by_scene((&val.0, &val.1), (&test.0, &test.1), 0.5);
        let row = |g| r.iter().find(|x| x.scene == g).map(|x| (x.val_photos, x.val_passing, x.test_photos, x.test_passing)).unwrap();
        assert_eq!(row(Animal), (1, 1, 2, 2));
        assert_eq!(row(People), (1, 0, 1, 0));
        assert_eq!(row(Other), (1, 1, 0, 0));
    }

    #[test]
    fn threshold_lets_through_at_most_the_allowed_share() {
        let no: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let th = threshold_at(&no, 0.02);
        assert_eq!(no.iter().filter(|&&x| x >= th).count(), 2);
        assert_eq!(threshold_at(&[], 0.02), f32::NEG_INFINITY);
        // Works for unbounded scores (energy) too.
        let e: Vec<f32> = (0..50).map(|i| -10.0 + i as f32).collect();
        let th = threshold_at(&e, 0.1);
        assert_eq!(e.iter().filter(|&&x| x >= th).count(), 5);
    }

    #[test]
    fn a_perfect_score_loses_nothing() {
        let s = Scored { name: "x", val_pets: vec![0.9, 0.8], val_no: vec![0.1, 0.2], test_pets: vec![0.9, 0.95, 0.7], test_no: vec![0.1, 0.15] };
        let o = judge(&s, &[true, false, true], Rule::MaxFalseBreed(0.0));
        assert_eq!((o.false_breed, o.pet_recall), (0.0, 1.0));
        assert!((o.top1_lost).abs() < 1e-6);
        assert!((o.top1_among_passing - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(o.recall_at_2pct_test, 1.0);
        // A pet scored below every no-pet photo is lost, and costs top-1 if it was right.
        let s = Scored { test_pets: vec![0.9, 0.95, 0.05], ..s };
        let o = judge(&s, &[true, false, true], Rule::MaxFalseBreed(0.0));
        assert!((o.pet_recall - 2.0 / 3.0).abs() < 1e-6);
        assert!((o.top1_lost - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn scores_rank_as_expected() {
        let mut pet = vec![0.0f32; 38];
        pet[3] = 8.0;
        let mut chair = vec![0.0f32; 38];
        chair[37] = 8.0;
        for a in approaches(true) {
            assert!((a.score)(&pet, 1.0) > (a.score)(&chair, 1.0), "{}", a.name);
        }
        assert_eq!(approaches(false).len(), 2);
        let mut z = vec![0.0f32; 1000];
        z[200] = 20.0;
        assert!(imagenet_pet_mass(&z) > 0.99);
        z[200] = 0.0;
        z[330] = 20.0; // a rabbit (ImageNet 330-332)
        assert!(imagenet_pet_mass(&z) < 0.01);
    }

    #[test]
    fn combined_score_needs_both_votes() {
        let both = combined_score(0.9, 0.9, 0.1);
        assert!(both > combined_score(0.9, 0.01, 0.1));
        assert!(both > combined_score(0.01, 0.9, 0.1));
        assert!(combined_score(0.0, 0.5, 0.1).is_finite());
    }
}
