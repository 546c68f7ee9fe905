//! The training loop: head first with the backbone frozen, then fine-tuning; early stopping on
//! validation accuracy, a checkpoint and a CSV row every epoch, `--resume` from the last one.

use crate::augment::{augment_into, scene_into, AugmentConfig};
use crate::data::Split;
use crate::distill::SoftTargets;
use crate::images::Loaded;
use crate::model::arch::{Arch, Family, Node, Weights};
use crate::model::net::Net;
use crate::model::store;
use crate::optim::{self, lr_at, OptimizerKind};
use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub family: Family,
    pub input_size: u32,
    pub head_epochs: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub head_lr: f64,
    pub momentum: f64,
    pub warmup_epochs: f32,
    pub weight_decay: f32,
    pub label_smoothing: f32,
    pub dropout: f32,
    /// Fine-tuning leaves the stem and this many MBConv blocks frozen.
    pub freeze_blocks: usize,
    pub patience: usize,
    pub shuffle: bool,
    pub seed: u64,
    pub augment: AugmentConfig,
    /// Stop each epoch after this many batches (tests and quick looks); 0 = all.
    pub max_batches: usize,
    /// Wall-clock budget in minutes for the whole run (0 = none): when it is spent, the epoch in
    /// progress stops, is validated and logged, and training ends. The learning-rate schedule
    /// still follows `epochs`, so a budgeted run is "the first N minutes" of the full run.
    #[serde(default)]
    pub budget_minutes: f32,
    /// Loss weight of the no-pet pictures relative to a pet's (1 = plain cross-entropy). Raising it
    /// moves the no-pet class's mistakes (a breed shown for a chair) ahead of breed mix-ups.
    #[serde(default = "one")]
    pub no_pet_weight: f32,
    /// Extra loss weight, on top of `no_pet_weight`, of the no-pet photos that show other animals
    /// (rabbits, monkeys, horses: the no-pet photos most often taken for a pet).
    #[serde(default = "one")]
    pub animal_weight: f32,
    /// Distillation: the teacher's weights file (a `best.bin`), when there is one.
    #[serde(default)]
    pub teacher: Option<PathBuf>,
    /// Share of each target row taken from the teacher's probabilities ([`crate::distill`]).
    #[serde(default)]
    pub distill_weight: f32,
    /// Temperature of the teacher's probabilities.
    #[serde(default = "one")]
    pub distill_temperature: f32,
}

impl TrainConfig {
    /// Loss weight of one training photo relative to a pet photo's.
    pub fn sample_weight(&self, s: &crate::data::Sample) -> f32 {
        sample_weight(s, self.no_pet_weight, self.animal_weight)
    }
}

fn sample_weight(s: &crate::data::Sample, no_pet_weight: f32, animal_weight: f32) -> f32 {
    if s.label != crate::data::NO_PET_LABEL {
        1.0
    } else if s.scene == Some(crate::data::Scene::Animal) {
        no_pet_weight * animal_weight
    } else {
        no_pet_weight
    }
}

fn one() -> f32 {
    1.0
}

/// A run's budget as typed: `20min` (wall clock) or `5ep` (fine-tuning epochs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    Minutes(f32),
    Epochs(usize),
}

impl std::str::FromStr for Budget {
    type Err = String;
    fn from_str(s: &str) -> Result<Budget, String> {
        let t = s.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let bad = || format!("`{s}`: expected minutes (`20min`, `20m`) or epochs (`5ep`, `5epochs`)");
        let v: f32 = num.parse().map_err(|_| bad())?;
        match unit {
            "m" | "min" | "mins" | "minutes" if v > 0.0 => Ok(Budget::Minutes(v)),
            "e" | "ep" | "epoch" | "epochs" if v >= 1.0 && v.fract() == 0.0 => Ok(Budget::Epochs(v as usize)),
            _ => Err(bad()),
        }
    }
}

impl TrainConfig {
    /// Applies a budget: epochs replace `epochs`, minutes set `budget_minutes`.
    pub fn with_budget(mut self, b: Option<Budget>) -> TrainConfig {
        match b {
            Some(Budget::Minutes(m)) => self.budget_minutes = m,
            Some(Budget::Epochs(e)) => self.epochs = e,
            None => {}
        }
        self
    }

    fn out_of_time(&self, start: &Instant) -> bool {
        self.budget_minutes > 0.0 && start.elapsed().as_secs_f32() >= self.budget_minutes * 60.0
    }
}

/// One row of the CSV log.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub phase: String,
    pub lr: f64,
    pub train_loss: f32,
    pub train_acc: f32,
    pub val_loss: f32,
    pub val_acc: f32,
    pub images_per_s: f32,
    pub seconds: f32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct State {
    next_epoch: usize,
    best_val_acc: f32,
    best_epoch: usize,
    since_best: usize,
    history: Vec<EpochLog>,
}

pub struct Outcome {
    pub arch: Arch,
    pub best: Weights,
    pub history: Vec<EpochLog>,
    pub best_val_acc: f32,
    pub seconds: f32,
}

/// Index of the first node after the stem and `blocks` MBConv blocks (for freezing).
pub fn frozen_node_index(arch: &Arch, blocks: usize) -> usize {
    if arch.family != Family::EffnetLite0 {
        return 0;
    }
    // Block boundaries: a Save or an expand conv after a projection. Count projections (Act::None convs).
    let mut seen = 0;
    for (i, n) in arch.nodes.iter().enumerate() {
        if seen == blocks {
            return i;
        }
        if let Node::Conv(c) = n {
            if c.act == crate::model::arch::Act::None {
                seen += 1;
                // include a following AddSaved in the block
                if matches!(arch.nodes.get(i + 1), Some(Node::AddSaved)) && seen == blocks {
                    return i + 2;
                }
            }
        }
    }
    arch.head_start
}

/// Builds a `[N, 3, S, S]` tensor from pictures already at model size (no augmentation).
pub fn batch_tensor(images: &[&image::RgbImage], size: u32, device: &Device) -> Tensor<4> {
    let mut v = Vec::with_capacity(images.len() * 3 * (size * size) as usize);
    for img in images {
        petcam::preprocess::push_chw(img, &mut v);
    }
    Tensor::from_data(TensorData::new(v, [images.len(), 3, size as usize, size as usize]), device)
}

/// Logits of a plain (no-autodiff) network for pictures at model size, in batches.
pub fn predict(net: &Net, images: &[&image::RgbImage], size: u32, device: &Device) -> Vec<Vec<f32>> {
    let mut out = vec![];
    for chunk in images.chunks(64) {
        let logits = net.forward(batch_tensor(chunk, size, device), false, usize::MAX);
        let [n, c] = logits.dims();
        let v: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        out.extend((0..n).map(|i| v[i * c..(i + 1) * c].to_vec()));
    }
    out
}

/// The pictures of one split and their labels, in data order.
fn pictures_of(data: &[Loaded], split: Split) -> (Vec<&image::RgbImage>, Vec<usize>) {
    data.iter().filter(|l| l.sample.split == split).map(|l| (&l.image, l.sample.label)).unzip()
}

/// Top-1 accuracy of `weights` on the `Test` split of `data` (None when it has no test images).
pub fn test_accuracy(arch: &Arch, weights: &Weights, data: &[Loaded], size: u32) -> Option<f32> {
    let (imgs, labels) = pictures_of(data, Split::Test);
    if imgs.is_empty() {
        return None;
    }
    let device = Device::flex();
    let net = Net::new(arch, weights, &device);
    Some(score(&predict(&net, &imgs, size, &device), &labels).1)
}

/// What one batch is trained toward: labels, per-sample loss weights and, when distilling, the
/// teacher's probabilities for each sample.
struct Targets<'a> {
    labels: Vec<usize>,
    weights: Vec<f32>,
    teacher: Vec<Option<&'a [f32]>>,
}

impl<'a> Targets<'a> {
    fn of(idx: impl Iterator<Item = usize>, data: &[Loaded], cfg: &TrainConfig, soft: Option<&'a SoftTargets>) -> Targets<'a> {
        let mut t = Targets { labels: vec![], weights: vec![], teacher: vec![] };
        for i in idx {
            t.labels.push(data[i].sample.label);
            t.weights.push(cfg.sample_weight(&data[i].sample));
            t.teacher.push(soft.and_then(|s| s.get(i)));
        }
        t
    }
}

/// Smoothed targets, mixed with the teacher's probabilities where there are any (`distill`: the
/// teacher's share), with each row scaled by its sample's weight ([`TrainConfig::sample_weight`])
/// over the sum of the weights, so that `-(log_softmax * targets).sum()` is the weighted mean
/// cross-entropy.
fn weighted_targets(t: &Targets, distill: f32, classes: usize, smoothing: f32, device: &Device) -> Tensor<2> {
    let total: f32 = t.weights.iter().sum();
    let off = smoothing / classes as f32;
    let mut v = Vec::with_capacity(t.labels.len() * classes);
    for ((&l, &w), soft) in t.labels.iter().zip(&t.weights).zip(&t.teacher) {
        let row: Vec<f32> = (0..classes).map(|c| off + if c == l { 1.0 - smoothing } else { 0.0 }).collect();
        v.extend(crate::distill::mix(&row, *soft, distill).into_iter().map(|x| x * w / total));
    }
    Tensor::from_data(TensorData::new(v, [t.labels.len(), classes]), device)
}

fn loss_and_correct(logits: Tensor<2>, t: &Targets, distill: f32, smoothing: f32) -> (Tensor<1>, usize) {
    let [_, c] = logits.dims();
    let device = logits.device();
    let preds: Vec<i64> = logits.clone().inner().argmax(1).into_data().convert::<i64>().try_to_vec().unwrap();
    let correct = preds.iter().zip(&t.labels).filter(|(p, l)| **p as usize == **l).count();
    let t = weighted_targets(t, distill, c, smoothing, &device.inner());
    let loss = (log_softmax(logits, 1) * t).sum().neg();
    (loss.reshape([1]), correct)
}

/// Mean cross-entropy (no smoothing) and accuracy of plain logits.
pub fn score(logits: &[Vec<f32>], labels: &[usize]) -> (f32, f32) {
    let mut loss = 0.0;
    let mut correct = 0;
    for (z, &l) in logits.iter().zip(labels) {
        let m = z.iter().cloned().fold(f32::MIN, f32::max);
        let lse = z.iter().map(|v| (v - m).exp()).sum::<f32>().ln() + m;
        loss += lse - z[l];
        let arg = z.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        correct += (arg == l) as usize;
    }
    let n = logits.len().max(1) as f32;
    (loss / n, correct as f32 / n)
}

fn bar(len: u64, label: String) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})").unwrap().progress_chars("=> "));
    pb.set_prefix(label);
    if std::env::var_os("PETCAM_NO_PROGRESS").is_some() {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb
}

pub fn train(cfg: &TrainConfig, arch: Arch, init: Weights, data: &[Loaded], out: &Path, resume: bool) -> Result<Outcome> {
    train_with_teacher(cfg, arch, init, data, out, resume, None)
}

/// [`train`], with the targets mixed with a teacher's probabilities (`cfg.distill_weight` of each
/// row) where `teacher` has them.
pub fn train_with_teacher(cfg: &TrainConfig, arch: Arch, init: Weights, data: &[Loaded], out: &Path, resume: bool, teacher: Option<&SoftTargets>) -> Result<Outcome> {
    let distill = if teacher.is_some() { cfg.distill_weight } else { 0.0 };
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let size = cfg.input_size;
    let train_idx: Vec<usize> = data.iter().enumerate().filter(|(_, l)| l.sample.split == Split::Train).map(|(i, _)| i).collect();
    let (val_imgs, val_labels) = pictures_of(data, Split::Val);
    anyhow::ensure!(!train_idx.is_empty(), "no training images");
    // Pet-free training photos other than animals: the backgrounds of camera-like scenes (`--scene`).
    let backgrounds: Vec<usize> = train_idx.iter().copied().filter(|&i| data[i].sample.label == crate::data::NO_PET_LABEL && data[i].sample.scene != Some(crate::data::Scene::Animal)).collect();
    anyhow::ensure!(cfg.augment.scene == 0.0 || !backgrounds.is_empty(), "--scene needs pet-free training photos (--no-pets) for backgrounds");
    let ckpt = out.join("checkpoint.bin");
    let best_path = out.join("best.bin");
    let state_path = out.join("state.json");
    let csv_path = out.join("train.csv");

    let (mut net, mut state) = if resume && ckpt.is_file() && state_path.is_file() {
        let (a, w) = store::load(&ckpt)?;
        let st: State = serde_json::from_str(&std::fs::read_to_string(&state_path)?).context("state.json")?;
        eprintln!("resuming from {} at epoch {}", ckpt.display(), st.next_epoch + 1);
        (Net::new(&a, &w, &ad), st)
    } else {
        (Net::new(&arch, &init, &ad), State { next_epoch: 0, best_val_acc: -1.0, best_epoch: 0, since_best: 0, history: vec![] })
    };
    let start = Instant::now();
    let total_epochs = cfg.head_epochs + cfg.epochs;
    let steps_per_epoch = {
        let n = train_idx.len().div_ceil(cfg.batch_size);
        if cfg.max_batches > 0 {
            n.min(cfg.max_batches)
        } else {
            n
        }
    };
    let frozen_ft = frozen_node_index(&arch, cfg.freeze_blocks);
    // Frozen-backbone features of the training photos and, per row, the photo's index in `data`.
    let mut head_features: Option<(Vec<f32>, Vec<usize>, usize)> = None;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    // Advance the RNG stream deterministically on resume.
    for _ in 0..state.next_epoch {
        let _: u64 = rand::Rng::random(&mut rng);
    }

    let mut optim = None;
    for epoch in state.next_epoch..total_epochs {
        if cfg.out_of_time(&start) {
            eprintln!("budget of {} min spent before epoch {}", cfg.budget_minutes, epoch + 1);
            break;
        }
        let head_phase = epoch < cfg.head_epochs;
        let t0 = Instant::now();
        // One optimiser per phase: its moments carry over from epoch to epoch (a resumed run starts
        // them afresh).
        if optim.is_none() || epoch == cfg.head_epochs {
            optim = Some(optim::build(if head_phase { OptimizerKind::Adam } else { cfg.optimizer }, cfg.weight_decay, cfg.momentum));
        }
        let optim = optim.as_mut().expect("built above");
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let lr;
        if head_phase {
            // Frozen backbone: its features do not change, so compute them once (centre crop and
            // its mirror image) and train the head on them.
            if head_features.is_none() {
                let pb = bar(train_idx.len() as u64, "features".into());
                let mut feats = vec![];
                let mut labels = vec![];
                let mut dim = 0;
                for chunk in train_idx.chunks(64) {
                    for flip in [false, true] {
                        let cfg_aug = AugmentConfig { flip: if flip { 1.0 } else { 0.0 }, ..AugmentConfig::none() };
                        let mut v = vec![0.0; chunk.len() * 3 * (size * size) as usize];
                        let per = 3 * (size * size) as usize;
                        v.par_chunks_mut(per).zip(chunk.par_iter()).for_each(|(o, &i)| {
                            let mut r = rand::rngs::StdRng::seed_from_u64(i as u64);
                            augment_into(&data[i].image, size, &cfg_aug, &mut r, o);
                        });
                        let x = Tensor::<4>::from_data(TensorData::new(v, [chunk.len(), 3, size as usize, size as usize]), &device);
                        let f = net.features(x);
                        dim = f.dims()[1];
                        feats.extend(f.into_data().try_to_vec::<f32>().unwrap());
                        labels.extend_from_slice(chunk);
                    }
                    pb.inc(chunk.len() as u64);
                }
                pb.finish_and_clear();
                head_features = Some((feats, labels, dim));
            }
            let (feats, labels, dim) = head_features.as_ref().unwrap();
            let n = labels.len();
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            let steps = n.div_ceil(cfg.batch_size);
            lr = cfg.head_lr;
            for (s, b) in order.chunks(cfg.batch_size).enumerate() {
                let lr_now = lr_at(epoch * steps + s, cfg.head_epochs * steps, 0, cfg.head_lr, 0.1);
                let mut v = Vec::with_capacity(b.len() * dim);
                for &i in b {
                    v.extend_from_slice(&feats[i * dim..(i + 1) * dim]);
                }
                let targets = Targets::of(b.iter().map(|&i| labels[i]), data, cfg, teacher);
                let x = Tensor::<2>::from_data(TensorData::new(v, [b.len(), *dim]), &device);
                let logits = net.head(x, true);
                let (loss, c) = loss_and_correct(logits, &targets, distill, cfg.label_smoothing);
                loss_sum += loss.clone().inner().into_scalar::<f32>() as f64 * b.len() as f64;
                correct += c;
                seen += b.len();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(lr_now, net, grads);
            }
        } else {
            let mut order = train_idx.clone();
            if cfg.shuffle {
                order.shuffle(&mut rng);
            }
            let ft_epoch = epoch - cfg.head_epochs;
            let warmup = (cfg.warmup_epochs * steps_per_epoch as f32) as usize;
            let pb = bar((steps_per_epoch * cfg.batch_size).min(order.len()) as u64, format!("epoch {:>2}/{total_epochs}", epoch + 1));
            let epoch_seed: u64 = rand::Rng::random(&mut rng);
            let mut last_lr = 0.0;
            let frozen = if cfg.family == Family::EffnetLite0 { frozen_ft } else { 0 };
            for (s, b) in order.chunks(cfg.batch_size).take(steps_per_epoch).enumerate() {
                let lr_now = lr_at(ft_epoch * steps_per_epoch + s, cfg.epochs * steps_per_epoch, warmup, cfg.lr, 0.02);
                last_lr = lr_now;
                let per = 3 * (size * size) as usize;
                let mut v = vec![0.0; b.len() * per];
                v.par_chunks_mut(per).zip(b.par_iter()).enumerate().for_each(|(k, (o, &i))| {
                    let mut r = rand::rngs::StdRng::seed_from_u64(epoch_seed ^ ((s * cfg.batch_size + k) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    if cfg.augment.scene > 0.0 && rand::Rng::random::<f32>(&mut r) < cfg.augment.scene {
                        // Pet-free photos: half close-ups, half placed in a scene like the pets.
                        let close_up = data[i].sample.label == crate::data::NO_PET_LABEL && rand::Rng::random::<bool>(&mut r);
                        let bg = (!close_up).then(|| &data[backgrounds[rand::Rng::random_range(&mut r, 0..backgrounds.len())]].image);
                        scene_into(&data[i].image, bg, size, &cfg.augment, &mut r, o);
                    } else {
                        augment_into(&data[i].image, size, &cfg.augment, &mut r, o);
                    }
                });
                let targets = Targets::of(b.iter().copied(), data, cfg, teacher);
                let x = Tensor::<4>::from_data(TensorData::new(v, [b.len(), 3, size as usize, size as usize]), &device);
                let logits = net.forward(x, true, frozen);
                let (loss, c) = loss_and_correct(logits, &targets, distill, cfg.label_smoothing);
                let lv = loss.clone().inner().into_scalar::<f32>();
                anyhow::ensure!(lv.is_finite(), "loss became {lv} at epoch {} step {s}: lower the learning rate", epoch + 1);
                loss_sum += lv as f64 * b.len() as f64;
                correct += c;
                seen += b.len();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(lr_now, net, grads);
                pb.inc(b.len() as u64);
                let el = t0.elapsed().as_secs_f32();
                pb.set_message(format!("loss {:.3} acc {:.3} {:.0} img/s", loss_sum / seen as f64, correct as f32 / seen as f32, seen as f32 / el));
                if cfg.out_of_time(&start) {
                    eprintln!("budget of {} min spent during epoch {} ({seen} images); validating and stopping", cfg.budget_minutes, epoch + 1);
                    break;
                }
            }
            pb.finish_and_clear();
            lr = last_lr;
        }
        let train_secs = t0.elapsed().as_secs_f32();
        let plain = net.valid();
        let (val_loss, val_acc) = if val_imgs.is_empty() { (f32::NAN, 0.0) } else { score(&predict(&plain, &val_imgs, size, &device), &val_labels) };
        let log = EpochLog {
            epoch: epoch + 1,
            phase: if head_phase { "head".into() } else { "finetune".into() },
            lr,
            train_loss: (loss_sum / seen.max(1) as f64) as f32,
            train_acc: correct as f32 / seen.max(1) as f32,
            val_loss,
            val_acc,
            images_per_s: seen as f32 / train_secs,
            seconds: t0.elapsed().as_secs_f32(),
        };
        eprintln!(
            "epoch {:>2}/{total_epochs} {:<8} lr {:.2e}  train loss {:.3} acc {:.3}  val loss {:.3} acc {:.3}  {:.0} img/s  {:.0}s",
            log.epoch, log.phase, log.lr, log.train_loss, log.train_acc, log.val_loss, log.val_acc, log.images_per_s, log.seconds
        );
        state.history.push(log);
        let weights = plain.weights();
        if val_acc > state.best_val_acc {
            state.best_val_acc = val_acc;
            state.best_epoch = epoch + 1;
            state.since_best = 0;
            store::save(&best_path, net.arch(), &weights)?;
        } else if !head_phase {
            state.since_best += 1;
        }
        store::save(&ckpt, net.arch(), &weights)?;
        state.next_epoch = epoch + 1;
        std::fs::write(&state_path, serde_json::to_string_pretty(&state)?)?;
        write_csv(&csv_path, &state.history)?;
        if !head_phase && cfg.patience > 0 && state.since_best >= cfg.patience {
            eprintln!("early stop: no val improvement for {} epochs (best {:.3} at epoch {})", cfg.patience, state.best_val_acc, state.best_epoch);
            break;
        }
    }
    let (arch, best) = store::load(&best_path)?;
    Ok(Outcome { arch, best, history: state.history, best_val_acc: state.best_val_acc, seconds: start.elapsed().as_secs_f32() })
}

pub fn write_csv(path: &PathBuf, rows: &[EpochLog]) -> Result<()> {
    let mut f = std::fs::File::create(path).with_context(|| format!("{}: cannot write", path.display()))?;
    writeln!(f, "epoch,phase,lr,train_loss,train_acc,val_loss,val_acc,images_per_s,seconds")?;
    for r in rows {
        writeln!(f, "{},{},{:.6e},{:.5},{:.5},{:.5},{:.5},{:.1},{:.1}", r.epoch, r.phase, r.lr, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.images_per_s, r.seconds)?;
    }
    Ok(())
}

pub fn read_csv(path: &Path) -> Result<Vec<EpochLog>> {
    let mut rd = csv::Reader::from_path(path).with_context(|| format!("{}: cannot read", path.display()))?;
    rd.deserialize().map(|r| r.with_context(|| format!("{}: bad row", path.display()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_minutes_and_epochs() {
        assert_eq!("20min".parse::<Budget>(), Ok(Budget::Minutes(20.0)));
        assert_eq!("2.5m".parse::<Budget>(), Ok(Budget::Minutes(2.5)));
        assert_eq!("5ep".parse::<Budget>(), Ok(Budget::Epochs(5)));
        assert_eq!("3epochs".parse::<Budget>(), Ok(Budget::Epochs(3)));
        for bad in ["", "20", "min", "0min", "2.5ep", "5 hours", "-3m"] {
            assert!(bad.parse::<Budget>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn sample_weights_follow_the_label_and_the_scene() {
        use crate::data::{Sample, Scene, Split, NO_PET_LABEL};
        let s = |label, scene| Sample { path: "x".into(), label, split: Split::Train, kind: String::new(), oxford: false, scene };
        let w = |s: &Sample| sample_weight(s, 4.0, 2.5);
        assert_eq!(w(&s(3, None)), 1.0);
        assert_eq!(w(&s(NO_PET_LABEL, Some(Scene::People))), 4.0);
        assert_eq!(w(&s(NO_PET_LABEL, None)), 4.0);
        assert_eq!(w(&s(NO_PET_LABEL, Some(Scene::Animal))), 10.0);
    }

    #[test]
    fn no_pet_weight_scales_the_no_pet_rows_and_keeps_a_mean() {
        let device = Device::flex();
        let np = crate::data::NO_PET_LABEL;
        let targets = |weights: &[f32], teacher: Vec<Option<&'static [f32]>>| Targets { labels: vec![0, np], weights: weights.to_vec(), teacher };
        let t = weighted_targets(&targets(&[1.0, 3.0], vec![None, None]), 0.0, np + 1, 0.0, &device);
        let v: Vec<f32> = t.into_data().try_to_vec().unwrap();
        let c = np + 1;
        // weights 1 and 3 over a total of 4
        assert!((v[0] - 0.25).abs() < 1e-6, "{}", v[0]);
        assert!((v[c + np] - 0.75).abs() < 1e-6, "{}", v[c + np]);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // weight 1 is the plain mean
        let plain: Vec<f32> = weighted_targets(&targets(&[1.0, 1.0], vec![None, None]), 0.0, c, 0.1, &device).into_data().try_to_vec().unwrap();
        assert!((plain.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!((plain[0] - (0.9 + 0.1 / c as f32) / 2.0).abs() < 1e-6);
        // A teacher sure of class 1 for the first photo takes half of its row; the second photo,
        // which the teacher did not score, keeps its label.
        let sure: &'static [f32] = Box::leak((0..c).map(|k| if k == 1 { 1.0 } else { 0.0 }).collect::<Vec<f32>>().into_boxed_slice());
        let mixed: Vec<f32> = weighted_targets(&targets(&[1.0, 1.0], vec![Some(sure), None]), 0.5, c, 0.0, &device).into_data().try_to_vec().unwrap();
        assert!((mixed[0] - 0.25).abs() < 1e-6 && (mixed[1] - 0.25).abs() < 1e-6, "{:?}", &mixed[..2]);
        assert!((mixed[c + np] - 0.5).abs() < 1e-6);
        // Without a distillation weight the teacher is ignored.
        let off: Vec<f32> = weighted_targets(&targets(&[1.0, 1.0], vec![Some(sure), None]), 0.0, c, 0.0, &device).into_data().try_to_vec().unwrap();
        assert!((off[0] - 0.5).abs() < 1e-6 && off[1] == 0.0);
    }
}
