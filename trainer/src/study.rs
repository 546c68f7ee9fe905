//! Parameter studies: one base configuration, one or more parameters varied, every combination
//! trained (finished runs are skipped, so a study resumes), then overlay plots and a summary table.

use crate::images::Loaded;
use crate::model::arch::{self, Arch, Family, Weights};
use crate::model::init;
use crate::plots;
use crate::train::{self, EpochLog, TrainConfig};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Instant;

/// One varied parameter and its values, as typed: `optimizer=adam,nadam,adadelta`.
#[derive(Debug, Clone)]
pub struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

impl std::str::FromStr for Axis {
    type Err = String;
    fn from_str(s: &str) -> Result<Axis, String> {
        let (name, vals) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected NAME=V1,V2,..."))?;
        let values: Vec<String> = vals.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err(format!("`{s}`: no values"));
        }
        Ok(Axis { name: name.trim().to_string(), values })
    }
}

/// Applies `name = value` to a configuration. Returns the input size change separately (it
/// changes the architecture and the decoded pictures).
pub fn apply(cfg: &mut TrainConfig, name: &str, value: &str) -> Result<()> {
    let f = |v: &str| v.parse::<f64>().with_context(|| format!("{name}: `{v}` is not a number"));
    match name {
        "lr" => cfg.lr = f(value)?,
        "batch-size" => cfg.batch_size = f(value)? as usize,
        "epochs" => cfg.epochs = f(value)? as usize,
        "dropout" => cfg.dropout = f(value)? as f32,
        "augment" => {
            cfg.augment = crate::augment::AugmentConfig { flip: 0.5, rotation: 10.0, zoom: 0.1, crop_min_area: 0.35, aspect: 1.333, colour: 0.2, noise: 0.02, scene: cfg.augment.scene }
                .scaled(f(value)? as f32 / 0.2)
        }
        "scene" => cfg.augment.scene = f(value)? as f32,
        "shuffle" => cfg.shuffle = matches!(value, "on" | "true" | "1" | "yes"),
        "freeze-blocks" => cfg.freeze_blocks = f(value)? as usize,
        "weight-decay" => cfg.weight_decay = f(value)? as f32,
        "label-smoothing" => cfg.label_smoothing = f(value)? as f32,
        "optimizer" => cfg.optimizer = <crate::optim::OptimizerKind as clap::ValueEnum>::from_str(value, true).map_err(|e| anyhow::anyhow!("optimizer: {e}"))?,
        "input-size" => cfg.input_size = f(value)? as u32,
        "no-pet-weight" => cfg.no_pet_weight = f(value)? as f32,
        "animal-weight" => cfg.animal_weight = f(value)? as f32,
        _ => {
            bail!("cannot vary `{name}` (lr, batch-size, epochs, dropout, augment, shuffle, freeze-blocks, weight-decay, label-smoothing, optimizer, input-size, no-pet-weight, animal-weight, scene)")
        }
    }
    Ok(())
}

/// Every combination of the axes' values, as lists of (name, value).
pub fn combinations(axes: &[Axis]) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![vec![]];
    for a in axes {
        out = out
            .into_iter()
            .flat_map(|c| {
                a.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((a.name.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    out
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub name: String,
    pub best_val_acc: f32,
    pub best_epoch: usize,
    /// Top-1 on the test split with the best-validation weights (pets and no-pets as loaded).
    #[serde(default)]
    pub test_acc_at_best: Option<f32>,
    pub seconds: f32,
    pub images_per_s: f32,
    pub peak_rss_mb: f32,
    pub history: Vec<EpochLog>,
}

/// Training speed of a run: the mean over its fine-tuning epochs, or for a head-only run the
/// first epoch's (the pass through the frozen backbone; later head epochs reuse its features).
pub fn images_per_s(history: &[EpochLog]) -> f32 {
    let ft: Vec<f32> = history.iter().filter(|l| l.phase != "head").map(|l| l.images_per_s).collect();
    if ft.is_empty() {
        history.first().map(|l| l.images_per_s).unwrap_or(0.0)
    } else {
        ft.iter().sum::<f32>() / ft.len() as f32
    }
}

/// Starts a new peak-memory window for this process (Linux: writing 5 to clear_refs resets VmHWM).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f32>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Runs the study into `out`. `make_init` builds the starting weights for an architecture.
pub fn run(
    base: &TrainConfig,
    axes: &[Axis],
    data_for: &mut dyn FnMut(u32) -> Result<Vec<Loaded>>,
    make_init: &dyn Fn(&TrainConfig) -> Result<(Arch, Weights)>,
    out: &Path,
) -> Result<Vec<RunSummary>> {
    std::fs::create_dir_all(out)?;
    let mut summaries = vec![];
    for combo in combinations(axes) {
        let name = combo.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let dir = out.join(&name);
        let done = dir.join("summary.json");
        if let Ok(text) = std::fs::read_to_string(&done) {
            eprintln!("study: {name} already done, skipped");
            summaries.push(serde_json::from_str(&text).with_context(|| format!("{}", done.display()))?);
            continue;
        }
        let mut cfg = base.clone();
        for (k, v) in &combo {
            apply(&mut cfg, k, v)?;
        }
        let data = data_for(cfg.input_size)?;
        let (a, w) = make_init(&cfg)?;
        eprintln!("study: run {name}");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
        reset_peak_rss();
        let t = Instant::now();
        let o = train::train(&cfg, a, w, &data, &dir, true)?;
        let secs = t.elapsed().as_secs_f32();
        let ips = images_per_s(&o.history);
        let best_epoch = o.history.iter().max_by(|a, b| a.val_acc.total_cmp(&b.val_acc)).map(|l| l.epoch).unwrap_or(0);
        let test_acc_at_best = train::test_accuracy(&o.arch, &o.best, &data, cfg.input_size);
        let s = RunSummary { name, best_val_acc: o.best_val_acc, best_epoch, test_acc_at_best, seconds: secs, images_per_s: ips, peak_rss_mb: peak_rss_mb(), history: o.history };
        std::fs::write(&done, serde_json::to_string_pretty(&s)?)?;
        summaries.push(s);
    }
    let runs: Vec<(String, Vec<EpochLog>)> = summaries.iter().map(|s| (s.name.clone(), s.history.clone())).collect();
    plots::curves(&out.join("curves.png"), &format!("study: {}", axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(" x ")), &runs, false)?;
    plots::curves(&out.join("train-vs-val.png"), "study: train (light) vs validation", &runs, true)?;
    let mut md = String::from("| run | best val acc | best epoch | test acc at best epoch | wall time (s) | images/s | peak RSS (MB) |\n|---|---|---|---|---|---|---|\n");
    for s in &summaries {
        let test = s.test_acc_at_best.map(|a| format!("{:.2}%", 100.0 * a)).unwrap_or_else(|| "no test split".into());
        md.push_str(&format!("| {} | {:.2}% | {} | {} | {:.0} | {:.0} | {:.0} |\n", s.name, 100.0 * s.best_val_acc, s.best_epoch, test, s.seconds, images_per_s(&s.history), s.peak_rss_mb));
    }
    std::fs::write(out.join("summary.md"), &md)?;
    println!("{md}");
    Ok(summaries)
}

/// Fresh weights for a configuration (seed CNN from scratch; EfficientNet from the backbone file).
pub fn init_for(cfg: &TrainConfig, classes: usize, backbone: Option<&Path>) -> Result<(Arch, Weights)> {
    let size = cfg.input_size as usize;
    Ok(match cfg.family {
        Family::SeedCnn => {
            let a = arch::seed_cnn(size, classes, cfg.dropout);
            let w = init::random(&a, cfg.seed);
            (a, w)
        }
        Family::EffnetLite0 => crate::model::backbone::with_new_head(backbone.context("effnet-lite0 needs --backbone")?, size, classes, cfg.dropout, cfg.seed)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(epoch: usize, phase: &str, ips: f32) -> EpochLog {
        EpochLog { epoch, phase: phase.into(), lr: 0.0, train_loss: 0.0, train_acc: 0.0, val_loss: 0.0, val_acc: 0.0, images_per_s: ips, seconds: 0.0 }
    }

    #[test]
    fn speed_is_the_fine_tuning_mean_or_the_feature_pass() {
        assert_eq!(images_per_s(&[log(1, "head", 60.0), log(2, "head", 9000.0), log(3, "finetune", 20.0), log(4, "finetune", 30.0)]), 25.0);
        assert_eq!(images_per_s(&[log(1, "head", 60.0), log(2, "head", 9000.0)]), 60.0);
        assert_eq!(images_per_s(&[]), 0.0);
    }

    #[test]
    fn combinations_cover_the_grid() {
        let axes: Vec<Axis> = vec!["optimizer=adam,nadam".parse().unwrap(), "dropout=0,0.2,0.4".parse().unwrap()];
        let c = combinations(&axes);
        assert_eq!(c.len(), 6);
        assert_eq!(c[0], vec![("optimizer".to_string(), "adam".to_string()), ("dropout".to_string(), "0".to_string())]);
        assert!("bad".parse::<Axis>().is_err());
    }
}
