//! `petcam-trainer`: command line. See `petcam-trainer --help`.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use petcam_trainer::augment::AugmentConfig;
use petcam_trainer::cli::{positive, unit_interval};
use petcam_trainer::data::{self, Split};
use petcam_trainer::images::{self, Loaded};
use petcam_trainer::model::arch::{self, Family};
use petcam_trainer::model::{backbone, init, store};
use petcam_trainer::optim::OptimizerKind;
use petcam_trainer::train::{self, TrainConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "petcam-trainer", version, about = "Train, evaluate and export petcam's breed classifier")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Data roots (Oxford-IIIT Pet layout, folder per breed, or a manifest.csv); repeatable.
    #[arg(long = "data", required = true)]
    data: Vec<PathBuf>,
    /// Photos with no pet (label `no_pet`); repeatable. Without it the model has no no-pet output trained.
    #[arg(long = "no-pets")]
    no_pets: Vec<PathBuf>,
    /// Validation fraction for roots that bring no split of their own (stratified by breed).
    #[arg(long, default_value_t = 0.2)]
    validation_split: f32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Model input size in pixels (square).
    #[arg(long, default_value_t = 96)]
    input_size: u32,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print per-breed counts and image sizes, like the student project did.
    Stats {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Train a model; writes checkpoints, train.csv and best.bin into --out.
    Train(TrainArgs),
    /// Calibrate, measure on the test splits, write f32 and int8 ONNX + plots + report into --out.
    Export {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        args: petcam_trainer::export::report::ExportArgs,
        /// Free text stored in the model's metadata as the training command line.
        #[arg(long, default_value = "")]
        command: String,
    },
    /// Evaluate weights (.bin) or an exported model (.onnx, run with tract) on a split.
    Eval {
        #[command(flatten)]
        data: DataArgs,
        /// best.bin from `train`, or an .onnx file from `export`.
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_enum, default_value_t = Split::Test)]
        split: Split,
        /// Temperature (default: the model's own for .onnx, 1 for .bin).
        #[arg(long)]
        temperature: Option<f32>,
        /// Print one JSON line per image (path, label, prediction, probability).
        #[arg(long)]
        per_image: bool,
        /// Scale each photo to this many pixels first, then up to --input-size: what a model of
        /// that input size sees when the camera pipeline keeps only N x N pixels (an upsampling
        /// layer at the model's input).
        #[arg(long)]
        from_size: Option<u32>,
    },
    /// The camera-conditions benchmark: every Oxford test photo and as many no-pet test photos,
    /// clean and as simulated camera frames, through the device pipeline (top-1, pets given a
    /// breed, false breeds by group).
    Camera {
        #[command(flatten)]
        data: DataArgs,
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        /// The locate stage: `activation` (the device's default: the classifier's class-activation
        /// map over the whole frame) or `centre` (the middle square, for comparison).
        #[arg(long, default_value = petcam::config::DEFAULT_LOCATOR)]
        locator: String,
        /// Seed of the simulated camera (placement, look, background). Several, comma-separated
        /// (`1,2,3`): every photo is judged in one frame per seed and the report pools them (more
        /// pet-free frames to set a threshold on; the clean photos count once per seed).
        #[arg(long, default_value = "1", value_delimiter = ',', num_args = 1..)]
        camera_seed: Vec<u64>,
        /// Write the first N pet and N pet-free frames here as JPEG, for a look (never commit them:
        /// they are made from ../shared photos).
        #[arg(long)]
        frames_out: Option<PathBuf>,
        #[arg(long, default_value_t = 12)]
        frames_out_count: usize,
        /// The split to judge: `test` for reports, `val` to tune the locator.
        #[arg(long, value_enum, default_value_t = Split::Test)]
        split: Split,
        /// At most this many pet photos (spread over the split), for quick comparisons.
        #[arg(long)]
        limit: Option<usize>,
        /// Classify the pasted photo's own centre square in each pet frame (the clean photo's
        /// framing) instead of the locator's answer: what the camera's look alone costs.
        /// Pet-free frames still go through the locator.
        #[arg(long)]
        oracle: bool,
        /// Make the frames without the camera's colour cast, exposure, tone curve and noise
        /// (placement, scene, blur and JPEG as always): what the look costs.
        #[arg(long)]
        neutral_look: bool,
        /// Frame size of the simulated camera, `WIDTHxHEIGHT` (default: the kiosk's capture,
        /// 640x480): what a larger sensor mode would give, the same shots at that resolution.
        #[arg(long, value_parser = petcam::frame::parse_size)]
        frame_size: Option<(u32, u32)>,
        /// Judge every photo on a clip of N consecutive frames (about 10 a second on the kiosk)
        /// instead of one: the subject drifts (`--clip-motion`), the noise and the JPEG change,
        /// every frame goes through the same pipeline, and the camera figures are the kiosk's
        /// decision after the clip (its averaged scores, with its window and hysteresis). The
        /// clip's first frame is the one-frame benchmark's frame.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100), conflicts_with = "oracle")]
        clip: Option<u32>,
        /// How far the subject moves over a `--clip`: its centre up to this share of the frame on
        /// each axis, its height up to this share of itself (0: only noise and JPEG change).
        #[arg(long, default_value_t = 0.1, value_parser = unit_interval, requires = "clip")]
        clip_motion: f32,
        /// Read the model at this softmax temperature instead of its own: the report then gives
        /// pet thresholds for it (the temperature line suggests one fitted on these frames).
        #[arg(long, value_parser = positive)]
        temperature: Option<f32>,
        /// Run the classifier's 1x1 convolutions on petcam's int8 op, as a CPU with the dot
        /// product (Raspberry Pi 5) runs an int8 model; by default the app's choice for this CPU.
        #[arg(long)]
        int8_op: bool,
        /// Report "given a breed" at this pet threshold instead of the model's own (to judge on
        /// test a threshold set on val).
        #[arg(long, value_parser = unit_interval)]
        pet_threshold: Option<f32>,
        /// Write every camera frame's scores here, one JSON object a line (label, scene, pet
        /// score, the locate stage's evidence), for studies of the no-pet decision.
        #[arg(long)]
        scores_out: Option<PathBuf>,
    },
    /// Train the locator head on simulated camera frames of the training photos (pets pasted
    /// anywhere at 35-100% of the frame height; as many pet-free frames) and write it into the
    /// model file: a 1x1 convolution on the frozen backbone's last feature map that says which
    /// cells of the kiosk's wide view are pet. The breed classifier is unchanged.
    LocatorHead {
        #[command(flatten)]
        data: DataArgs,
        /// The ONNX model whose backbone the head reads.
        #[arg(long)]
        model: PathBuf,
        /// Where to write the model with the head (default: over --model).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Pet frames from the training split (and as many pet-free ones).
        #[arg(long, default_value_t = 2000)]
        frames: usize,
        /// Pet frames from the validation split for the held-out figures.
        #[arg(long, default_value_t = 400)]
        val_frames: usize,
        #[arg(long, default_value_t = 12)]
        epochs: usize,
        #[arg(long, default_value_t = 1e-4)]
        l2: f32,
        /// Seed of the simulated camera.
        #[arg(long, default_value_t = 11)]
        camera_seed: u64,
    },
    /// Set a model file's pet threshold (e.g. the camera benchmark's val 2% point after the device
    /// pipeline changed) without re-exporting: the weights stay as they are, the metadata records
    /// the old value and the reason.
    SetThreshold {
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_parser = unit_interval)]
        pet_threshold: f32,
        /// Why, with the command that measured it; kept in the file's `training.pet_threshold_history`.
        #[arg(long)]
        reason: String,
        /// Where to write the model (default: over --model).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Combine a model's pet score with the locate stage's wide view (petcam's `evidence`):
    /// fit the weights on the camera benchmark's validation frames (`camera --split val
    /// --scores-out F`), set the pet threshold at which at most --max-false of the pet-free frames
    /// of --threshold-seed get a breed, and write both into the model's metadata (the network's
    /// weights stay byte for byte).
    FitEvidence {
        /// The ONNX model the scores were measured with.
        #[arg(long)]
        model: PathBuf,
        /// `camera --split val --scores-out` file(s) of that model.
        #[arg(long, required = true, num_args = 1..)]
        scores: Vec<PathBuf>,
        #[arg(long, default_value_t = 0.02, value_parser = unit_interval)]
        max_false: f32,
        /// Camera seeds whose frames set the threshold (default: all in the scores).
        #[arg(long, value_delimiter = ',')]
        threshold_seed: Vec<u64>,
        /// Why, with the commands that measured the scores; kept in the file.
        #[arg(long)]
        reason: String,
        /// Take the weights from this model's `pet_evidence` (e.g. the f32 file's, fitted on
        /// more frames, for the int8 file of the same network) and set only the threshold.
        #[arg(long)]
        weights_from: Option<PathBuf>,
        /// Where to write the model (default: over --model).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Train every combination of the varied parameters; overlay plots and a summary table in --out.
    /// Example: `study --model seed-cnn --vary optimizer=adam,nadam,adadelta --vary dropout=0,0.2 --epochs 5`.
    Study {
        #[command(flatten)]
        train: TrainArgs,
        /// NAME=V1,V2,... (lr, batch-size, epochs, dropout, augment, shuffle, freeze-blocks,
        /// weight-decay, label-smoothing, optimizer, input-size, no-pet-weight, animal-weight, scene); repeatable.
        #[arg(long = "vary", required = true)]
        vary: Vec<petcam_trainer::study::Axis>,
    },
    /// Compare ways of saying "no pet" with a shipped model: thresholds set on val, judged on test;
    /// writes <out>/<model>-no-pet-approaches.{png,json}.
    NoPet {
        #[command(flatten)]
        data: DataArgs,
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        /// Also score the untouched ImageNet head (a second pass): the EfficientNet-Lite0 .pth; default:
        /// what scripts/fetch-backbone.sh prints. `--no-imagenet` to skip.
        #[arg(long)]
        backbone: Option<PathBuf>,
        #[arg(long)]
        no_imagenet: bool,
        /// Largest false-breed rate on the validation no-pet photos when setting each threshold.
        #[arg(long, default_value_t = 0.015)]
        max_false_breed: f32,
        /// Set each threshold to keep this share of the validation pets instead (see `export`).
        #[arg(long, conflicts_with = "max_false_breed")]
        keep_pets: Option<f32>,
        #[arg(long, default_value = "models")]
        out: PathBuf,
    },
    /// Check the EfficientNet-Lite0 port: ImageNet top-1 of Oxford test photos must be a cat or dog class.
    CheckBackbone {
        #[arg(long)]
        backbone: Option<PathBuf>,
        /// An Oxford-IIIT Pet root (or the shared pets root).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 60)]
        count: usize,
        #[arg(long, default_value_t = 224)]
        input_size: u32,
    },
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_enum, default_value_t = Family::EffnetLite0)]
    model: Family,
    /// EfficientNet-Lite0 ImageNet weights (.pth); default: what scripts/fetch-backbone.sh prints.
    #[arg(long)]
    backbone: Option<PathBuf>,
    #[arg(long, default_value = "runs/effnet")]
    out: PathBuf,
    /// Epochs training only the new head on frozen backbone features (effnet-lite0 only).
    #[arg(long, default_value_t = 4)]
    head_epochs: usize,
    /// Epochs of fine-tuning (or of training from scratch for seed-cnn).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    /// Peak learning rate of fine-tuning / from-scratch training.
    #[arg(long, default_value_t = 3e-4)]
    lr: f64,
    /// Learning rate of the head phase.
    #[arg(long, default_value_t = 1e-3)]
    head_lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    #[arg(long, default_value_t = 0.5)]
    warmup_epochs: f32,
    #[arg(long, default_value_t = 1e-5)]
    weight_decay: f32,
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f32,
    /// Dropout before the classifier.
    #[arg(long, default_value_t = 0.2)]
    dropout: f32,
    /// MBConv blocks (after the stem) kept frozen while fine-tuning (0-16).
    #[arg(long, default_value_t = 2)]
    freeze_blocks: usize,
    /// Early stopping: epochs without a better validation accuracy.
    #[arg(long, default_value_t = 4)]
    patience: usize,
    /// Do not shuffle the training set each epoch.
    #[arg(long)]
    no_shuffle: bool,
    /// Stop each epoch after this many batches (quick runs and tests); 0 = all.
    #[arg(long, default_value_t = 0)]
    max_batches: usize,
    /// Continue from the last checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// Budget per run: wall-clock minutes (`20min`: the run stops when they are spent) or
    /// fine-tuning epochs (`5ep`, same as --epochs). Studies use it to fit on a small machine.
    #[arg(long)]
    budget: Option<petcam_trainer::train::Budget>,
    /// Loss weight of a no-pet photo relative to a pet photo (class-weighted cross-entropy).
    #[arg(long, default_value_t = 1.0)]
    no_pet_weight: f32,
    /// Extra loss weight (multiplying --no-pet-weight) of the no-pet photos showing other animals,
    /// the ones most often taken for a pet (grouped from the no-pets manifest's categories).
    #[arg(long, default_value_t = 1.0)]
    animal_weight: f32,
    /// Start from these trained weights (a best.bin from `train`, or a shipped `-f32.onnx` from
    /// `export`) instead of the ImageNet backbone or a random seed CNN: continue training an
    /// existing model with other settings.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Distil from this trained model (a best.bin, usually the same network at a larger input
    /// size): its probabilities on each training photo become part of the targets.
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Share of each target taken from the teacher's probabilities (with --teacher).
    #[arg(long, default_value_t = 0.5, requires = "teacher")]
    distill_weight: f32,
    /// Temperature of the teacher's probabilities (above 1 softens them).
    #[arg(long, default_value_t = 1.0, requires = "teacher")]
    distill_temperature: f32,
    /// Add this many located pictures per training photo: the photo in a simulated camera frame,
    /// cut out by the device's locate stage (pets off-centre, small or cut; and, from pet-free
    /// photos, the close-ups of whatever looks most like a pet: hard negatives). `train` only.
    #[arg(long, default_value_t = 0)]
    located: usize,
    /// Share of the located pets' frames that show the pet under half the frame height (35-50%;
    /// the others 35-100%, as the camera benchmark draws them): the pets the kiosk names least.
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval, requires = "located")]
    located_small: f32,
    /// The ONNX model that locates for --located, with the device's default locate stage (its
    /// locator head, else its class-activation map); default: --init when it is an .onnx file.
    #[arg(long)]
    located_model: Option<PathBuf>,
    /// Mine hard negatives: put every pet-free training photo in this many simulated camera
    /// frames, run each through the device pipeline with the --located model (locate, crop,
    /// classify), and train on the squares it still takes for a pet (see --mine-above) as
    /// "no pet". `train` only; 0 = none.
    #[arg(long, default_value_t = 0)]
    mine_negatives: usize,
    /// The pet score (`1 - P(no pet)` at the model's temperature) from which a mined pet-free
    /// square is kept.
    #[arg(long, default_value_t = 0.5, value_parser = unit_interval)]
    mine_above: f32,
    #[command(flatten)]
    augment: AugmentConfig,
}

fn load_data(d: &DataArgs) -> Result<Vec<Loaded>> {
    let mut samples = data::load(&d.data, d.validation_split, d.seed)?;
    if !d.no_pets.is_empty() {
        samples.extend(data::load(&d.no_pets, d.validation_split, d.seed)?);
    }
    let decoded = images::decode_all(samples, d.input_size)?;
    print_stats(&decoded.items, decoded.failed);
    Ok(decoded.items)
}

fn print_stats(items: &[Loaded], failed: usize) {
    let labels = data::labels();
    let mut per: BTreeMap<usize, [usize; 3]> = BTreeMap::new();
    for l in items {
        per.entry(l.sample.label).or_default()[l.sample.split as usize] += 1;
    }
    println!("{:<28} {:>6} {:>6} {:>6}", "label", "train", "val", "test");
    for (label, c) in &per {
        println!("{:<28} {:>6} {:>6} {:>6}", labels[*label], c[0], c[1], c[2]);
    }
    let (mut minw, mut minh, mut maxw, mut maxh, mut sw, mut sh) = (u32::MAX, u32::MAX, 0, 0, 0u64, 0u64);
    for l in items {
        let (w, h) = l.original;
        minw = minw.min(w);
        minh = minh.min(h);
        maxw = maxw.max(w);
        maxh = maxh.max(h);
        sw += w as u64;
        sh += h as u64;
    }
    let n = items.len().max(1) as u64;
    println!("{} images ({} unreadable, skipped); width min {minw} max {maxw} mean {}; height min {minh} max {maxh} mean {}", items.len(), failed, sw / n, sh / n);
}

fn train_config(a: &TrainArgs) -> TrainConfig {
    TrainConfig {
        family: a.model,
        input_size: a.data.input_size,
        head_epochs: if a.model == Family::EffnetLite0 { a.head_epochs } else { 0 },
        epochs: a.epochs,
        batch_size: a.batch_size,
        optimizer: a.optimizer,
        lr: a.lr,
        head_lr: a.head_lr,
        momentum: a.momentum,
        warmup_epochs: a.warmup_epochs,
        weight_decay: a.weight_decay,
        label_smoothing: a.label_smoothing,
        dropout: a.dropout,
        freeze_blocks: a.freeze_blocks,
        patience: a.patience,
        shuffle: !a.no_shuffle,
        seed: a.data.seed,
        augment: a.augment.clone(),
        max_batches: a.max_batches,
        budget_minutes: 0.0,
        no_pet_weight: a.no_pet_weight,
        animal_weight: a.animal_weight,
        teacher: a.teacher.clone(),
        distill_weight: if a.teacher.is_some() { a.distill_weight } else { 0.0 },
        distill_temperature: a.distill_temperature,
    }
    .with_budget(a.budget)
}

/// Trained weights to start from (`--init`: a `best.bin`, or an exported `-f32.onnx`), checked
/// against what the run expects.
fn load_init(p: &std::path::Path, family: Family, classes: usize, size: usize, dropout: f32) -> Result<(arch::Arch, arch::Weights)> {
    let (arch, w) = if p.extension().is_some_and(|e| e == "onnx") {
        let (arch, w, labels) = petcam_trainer::model::import::from_onnx(p, dropout)?;
        anyhow::ensure!(labels == data::labels(), "{}: its labels are not the trainer's ({} outputs: {})", p.display(), labels.len(), labels.join(", "));
        (arch, w)
    } else {
        store::load(p)?
    };
    anyhow::ensure!(arch.family == family, "{}: holds a {} model, --model is {}", p.display(), arch.family.name(), family.name());
    anyhow::ensure!(arch.num_outputs() == classes, "{}: {} outputs, the labels are {classes}", p.display(), arch.num_outputs());
    anyhow::ensure!(arch.input_size == size, "{}: made for {} px, the run's input size is {size}", p.display(), arch.input_size);
    Ok((arch, w))
}

fn default_backbone() -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash").arg(root.join("scripts/fetch-backbone.sh")).output().context("running scripts/fetch-backbone.sh")?;
    anyhow::ensure!(out.status.success(), "scripts/fetch-backbone.sh failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Stats { data } => {
            load_data(&data)?;
        }
        Cmd::Export { data, mut args, command } => {
            let items = load_data(&data)?;
            let weights = &args.weights;
            let cfg_path = weights.parent().map(|d| d.join("config.json"));
            let config: serde_json::Value = cfg_path.and_then(|p| std::fs::read_to_string(p).ok()).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
            let state: serde_json::Value = weights.parent().and_then(|d| std::fs::read_to_string(d.join("state.json")).ok()).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
            let train_secs: f64 = state["history"].as_array().map(|h| h.iter().filter_map(|r| r["seconds"].as_f64()).sum()).unwrap_or(0.0);
            let n_train = items.iter().filter(|l| l.sample.split == Split::Train).count();
            let training = serde_json::json!({
                "command": command, "config": config, "train_images": n_train,
                "data": data.data, "no_pets": data.no_pets, "train_seconds": train_secs.round(),
                "best_epoch": state["best_epoch"], "best_val_acc": state["best_val_acc"],
            });
            args.training = training;
            let ex = petcam_trainer::export::report::export(&args, &items)?;
            println!("temperature {:.3}, pet threshold {:.4}", ex.temperature, ex.pet_threshold);
            for v in &ex.variants {
                petcam_trainer::export::report::print(v);
            }
            for f in &ex.files {
                println!("wrote {}", f.display());
            }
        }
        Cmd::LocatorHead { data, model, out, frames, val_frames, epochs, l2, camera_seed } => {
            use petcam_trainer::locator_head as head;
            let mut samples = data::load(&data.data, data.validation_split, data.seed)?;
            samples.extend(data::load(&data.no_pets, data.validation_split, data.seed)?);
            let meta = petcam::classifier::Classifier::metadata(&petcam::classifier::TractClassifier::load(&model)?).clone();
            let no_pet = meta.no_pet_index().context("the locator head needs a model with a no-pet output")?;
            let t = std::time::Instant::now();
            let train_cells = head::collect(&samples, Split::Train, frames, camera_seed, &model, no_pet)?;
            let val_cells = head::collect(&samples, Split::Val, val_frames, camera_seed ^ 0xA5A5, &model, no_pet)?;
            eprintln!("{} training cells, {} validation cells, {} channels ({:.0} s)", train_cells.len(), val_cells.len(), train_cells.channels, t.elapsed().as_secs_f32());
            let t = std::time::Instant::now();
            let h = head::fit(&train_cells, head::Fit { epochs, l2, ..Default::default() });
            for (name, cells) in [("train", &train_cells), ("val", &val_cells)] {
                let (acc, recall) = head::accuracy(cells, &h);
                println!(
                    "{name}: loss {:.4} (a constant guess: {:.4}), cells right {:.1}%, pet cells found {:.1}%",
                    head::loss(cells, &h),
                    head::loss(cells, &head::constant(cells)),
                    100.0 * acc,
                    100.0 * recall
                );
            }
            println!("border offsets (left, right, top, bottom): {:?}", h.edges);
            eprintln!("fitted in {:.0} s", t.elapsed().as_secs_f32());
            let mut proto = read_onnx(&model)?;
            head::install(&mut proto, &h).with_context(|| model.display().to_string())?;
            let out = out.unwrap_or(model);
            write_onnx(&out, &proto)?;
            println!("wrote {} (locator head `{}`)", out.display(), petcam::locate::activation::HEAD_OUTPUT);
        }
        Cmd::SetThreshold { model, pet_threshold, reason, out } => {
            let mut proto = read_onnx(&model)?;
            let old = petcam_trainer::export::retune::set_pet_threshold(&mut proto, pet_threshold, &reason).with_context(|| model.display().to_string())?;
            let out = out.unwrap_or(model);
            write_onnx(&out, &proto)?;
            println!("wrote {}: pet threshold {old:.4} -> {pet_threshold:.4}", out.display());
        }
        Cmd::FitEvidence { model, scores, max_false, threshold_seed, reason, weights_from, out } => {
            use petcam_trainer::export::retune::short;
            let mut frames = Vec::new();
            for p in &scores {
                frames.extend(petcam_trainer::export::evidence_fit::read_scores(p)?);
            }
            let meta = petcam::classifier::Classifier::metadata(&petcam::classifier::TractClassifier::load(&model)?).clone();
            anyhow::ensure!(meta.no_pet_index().is_some(), "{}: no no-pet output, so no pet score to combine", model.display());
            let given = match &weights_from {
                Some(p) => Some(
                    petcam::classifier::Classifier::metadata(&petcam::classifier::TractClassifier::load(p)?)
                        .pet_evidence
                        .with_context(|| format!("{}: no pet_evidence weights to take", p.display()))?,
                ),
                None => None,
            };
            let fit = petcam_trainer::export::evidence_fit::fit(&frames, petcam_trainer::export::evidence_fit::crop_threshold(&meta), max_false, &threshold_seed, given)?;
            let w = &fit.weights;
            let whence = if given.is_some() { "taken from --weights-from, judged on" } else { "fitted on" };
            println!("weights {whence} {} located frames: crop {:.3}, best cell {:.3}, best CAM cell {:.3}, whole view {:.3}, bias {:.3}", fit.fitted_on, w.crop, w.cell, w.cam_cell, w.view, w.bias);
            println!(
                "pet threshold {:.4}: on {} frames of camera seed(s) {}, pets given a breed {:.1}%, false breeds {:.1}%",
                fit.threshold,
                fit.threshold_frames,
                if threshold_seed.is_empty() { "all".to_string() } else { threshold_seed.iter().map(u64::to_string).collect::<Vec<_>>().join(",") },
                100.0 * fit.pets,
                100.0 * fit.false_breeds
            );
            let about = serde_json::json!({
                "scores": scores.iter().map(|p| p.file_name().unwrap_or(p.as_os_str()).to_string_lossy().into_owned()).collect::<Vec<_>>(), "located_frames": fit.fitted_on,
                "threshold_seeds": threshold_seed, "max_false": short(max_false), "pets_at_threshold": short(fit.pets), "false_breeds_at_threshold": short(fit.false_breeds),
                "weights_from": weights_from.as_ref().map(|p| p.file_name().unwrap_or(p.as_os_str()).to_string_lossy().into_owned()),
            });
            let mut proto = read_onnx(&model)?;
            petcam_trainer::export::evidence_fit::set_evidence(&mut proto, &fit, &reason, about).with_context(|| model.display().to_string())?;
            let out = out.unwrap_or(model);
            write_onnx(&out, &proto)?;
            println!("wrote {}", out.display());
        }
        Cmd::Camera {
            data,
            model,
            locator,
            camera_seed,
            frames_out,
            frames_out_count,
            split,
            limit,
            oracle,
            neutral_look,
            frame_size,
            clip,
            clip_motion,
            temperature,
            int8_op,
            pet_threshold,
            scores_out,
        } => {
            let mut samples = data::load(&data.data, data.validation_split, data.seed)?;
            samples.extend(data::load(&data.no_pets, data.validation_split, data.seed)?);
            let meta = petcam::classifier::Classifier::metadata(&petcam::classifier::TractClassifier::load(&model)?).clone();
            petcam::locate::by_name(&locator, &model, meta.no_pet_index(), None).map_err(anyhow::Error::msg)?;
            let make = || petcam::locate::by_name(&locator, &model, meta.no_pet_index(), None).ok();
            if int8_op {
                // The locate stage's wide pass too, as on a Pi 5.
                petcam::classifier::pointwise::set_app_policy(petcam::classifier::pointwise::Policy::StoredInt8);
            }
            let t = std::time::Instant::now();
            let mut judged = Vec::new();
            for (k, &seed) in camera_seed.iter().enumerate() {
                let settings = petcam_trainer::camera::Settings {
                    model: &model,
                    locator: &make,
                    seed,
                    frames_out: frames_out.as_deref().filter(|_| k == 0),
                    frames_out_count,
                    split,
                    limit,
                    oracle,
                    camera: petcam_trainer::camera::Camera { size: frame_size.unwrap_or(petcam::frame::DEFAULT_SIZE), neutral_look },
                    temperature,
                    int8: if int8_op { petcam::classifier::pointwise::Policy::StoredInt8 } else { Default::default() },
                    clip: clip.map(|n| petcam_trainer::camera::Clip { frames: n as usize, motion: clip_motion }),
                    // The kiosk's decision with its defaults, at the threshold judged with.
                    decision: petcam::decision::DecisionConfig { pet_threshold: pet_threshold.unwrap_or(meta.pet_threshold), ..petcam::config::DecisionSection::default().resolve(&meta) },
                };
                let run = petcam_trainer::camera::run(&samples, &settings)?;
                if let Some(path) = &scores_out {
                    petcam_trainer::camera::write_scores(path, &run, seed, k > 0)?;
                }
                judged.extend(run);
            }
            let seeds: Vec<String> = camera_seed.iter().map(u64::to_string).collect();
            println!(
                "camera-conditions benchmark, {split:?} split: {}{}{}{}{} with locator `{}`, camera seed {} ({:.0} s)",
                model.display(),
                frame_size.map(|(w, h)| format!(" ({w}x{h} frames)")).unwrap_or_default(),
                if int8_op { " (1x1 convolutions in int8 on petcam's op)" } else { "" },
                if neutral_look { " (frames without the camera's colour cast, exposure and noise)" } else { "" },
                clip.map(|n| format!(" (clips of {n} frames, motion {clip_motion}: the kiosk's decision after each)")).unwrap_or_default(),
                if oracle { "oracle: the photo's centre square (pets)" } else { &locator },
                seeds.join(","),
                t.elapsed().as_secs_f32()
            );
            print!("{}", petcam_trainer::camera::report(&judged, pet_threshold.unwrap_or(meta.pet_threshold), meta.confidence_threshold, temperature.unwrap_or(meta.temperature)));
        }
        Cmd::Eval { data, model, split, temperature, per_image, from_size } => {
            let mut samples = data::load(&data.data, data.validation_split, data.seed)?;
            if !data.no_pets.is_empty() {
                samples.extend(data::load(&data.no_pets, data.validation_split, data.seed)?);
            }
            samples.retain(|s| s.split == split); // decode only the split being evaluated
            let mut items = images::decode_all(samples, from_size.unwrap_or(data.input_size))?.items;
            if from_size.is_some() {
                for l in &mut items {
                    l.image = image::imageops::resize(&l.image, data.input_size, data.input_size, image::imageops::FilterType::Triangle);
                }
            }
            let items: Vec<&Loaded> = items.iter().filter(|l| l.sample.split == split && (l.sample.oxford || split != Split::Test || l.sample.label == data::NO_PET_LABEL)).collect();
            anyhow::ensure!(!items.is_empty(), "no images in the {split:?} split");
            let (logits, t, n_out, model_pet_threshold) = if model.extension().is_some_and(|e| e == "onnx") {
                let mut p = petcam::pipeline::Pipeline::new(petcam::classifier::TractClassifier::load(&model)?);
                let m = p.metadata().clone();
                anyhow::ensure!(m.input_size == data.input_size, "{}: model input is {} px, --input-size is {}", model.display(), m.input_size, data.input_size);
                let mut v = vec![];
                for l in &items {
                    v.push(p.logits(&l.image)?);
                }
                (v, temperature.unwrap_or(m.temperature), m.labels.len(), m.no_pet_index().map(|_| m.pet_threshold))
            } else {
                let (arch, w) = store::load(&model)?;
                let device = burn::tensor::Device::flex();
                let net = petcam_trainer::model::net::Net::new(&arch, &w, &device);
                let imgs: Vec<_> = items.iter().map(|l| &l.image).collect();
                (train::predict(&net, &imgs, data.input_size, &device), temperature.unwrap_or(1.0), arch.num_outputs(), None)
            };
            let labels = data::labels();
            let breeds = petcam::labels::BREEDS.len();
            if per_image {
                for (l, z) in items.iter().zip(&logits) {
                    let p = petcam_trainer::metrics::softmax(z, t);
                    let top = petcam_trainer::metrics::argmax(&p[..breeds]);
                    println!(
                        "{}",
                        serde_json::json!({"path": l.sample.path, "label": labels[l.sample.label], "breed": labels[top], "probability": p[top], "pet_score": if n_out > breeds { 1.0 - p[breeds] } else { 1.0 }})
                    );
                }
            }
            let pets: Vec<usize> = (0..items.len()).filter(|&i| items[i].sample.label < breeds).collect();
            let pl: Vec<Vec<f32>> = pets.iter().map(|&i| logits[i].clone()).collect();
            let ll: Vec<usize> = pets.iter().map(|&i| items[i].sample.label).collect();
            let r = petcam_trainer::metrics::breed_report(&pl, &ll, breeds, t);
            println!(
                "{split:?}: {} pet photos  top-1 {:.2}%  top-5 {:.2}%  mean per-class {:.2}%  ECE(15 bins, T={t:.3}) {:.2}%",
                r.n,
                100.0 * r.top1,
                100.0 * r.top5,
                100.0 * r.mean_per_class,
                100.0 * r.ece
            );
            for kind in ["jpg-orig", "squashed"] {
                let sel: Vec<usize> = (0..pets.len()).filter(|&k| items[pets[k]].sample.kind.contains(kind)).collect();
                if !sel.is_empty() {
                    let rr = petcam_trainer::metrics::breed_report(&sel.iter().map(|&k| pl[k].clone()).collect::<Vec<_>>(), &sel.iter().map(|&k| ll[k]).collect::<Vec<_>>(), breeds, t);
                    println!("  {kind}: {} photos top-1 {:.2}%", rr.n, 100.0 * rr.top1);
                }
            }
            println!("per breed:");
            for (c, acc, n) in &r.per_class {
                println!("  {:<28} {:>6.1}%  ({n})", labels[*c], 100.0 * acc);
            }
            if n_out > breeds {
                let no_pets: Vec<usize> = (0..items.len()).filter(|&i| items[i].sample.label == breeds).collect();
                let np: Vec<f32> = no_pets.iter().map(|&i| petcam_trainer::metrics::pet_score(&logits[i], breeds, t)).collect();
                let ps: Vec<f32> = pl.iter().map(|z| petcam_trainer::metrics::pet_score(z, breeds, t)).collect();
                if let (Some(th), false) = (model_pet_threshold, np.is_empty()) {
                    let scenes: Vec<Option<data::Scene>> = no_pets.iter().map(|&i| items[i].sample.scene).collect();
                    print!("{}", petcam_trainer::nopet::at_threshold(th, &ps, &np, &scenes));
                }
                if !np.is_empty() {
                    for th in [0.3f32, 0.5, 0.7, 0.9] {
                        let (fb, rec) = petcam_trainer::metrics::pet_rates(&ps, &np, th);
                        println!("  pet threshold {th:.1}: false-breed rate {:.2}% on {} no-pet photos, pet recall {:.2}%", 100.0 * fb, np.len(), 100.0 * rec);
                    }
                }
            }
            println!("confusion matrix (rows: truth, columns: prediction), nonzero off-diagonal cells:");
            for (i, row) in r.confusion.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    if i != j && v > 0 {
                        print!("  {}->{}:{v}", labels[i], labels[j]);
                    }
                }
            }
            println!();
        }
        Cmd::NoPet { data, model, backbone: bb, no_imagenet, max_false_breed, keep_pets, out } => {
            let mut samples = data::load(&data.data, data.validation_split, data.seed)?;
            samples.extend(data::load(&data.no_pets, data.validation_split, data.seed)?);
            samples.retain(|s| s.split != Split::Train);
            let items = images::decode_all(samples, data.input_size)?.items;
            let bb = if no_imagenet {
                None
            } else {
                Some(match bb {
                    Some(p) => p,
                    None => default_backbone()?,
                })
            };
            let rule = match keep_pets {
                Some(r) => petcam_trainer::nopet::Rule::KeepPets(r),
                None => petcam_trainer::nopet::Rule::MaxFalseBreed(max_false_breed),
            };
            petcam_trainer::nopet::compare(&items, &model, bb.as_deref(), rule, &out)?;
        }
        Cmd::CheckBackbone { backbone: bb, data: root, count, input_size } => {
            let path = match bb {
                Some(p) => p,
                None => default_backbone()?,
            };
            let (arch, w) = backbone::load_imagenet(&path, input_size as usize)?;
            let mut samples: Vec<_> = data::load(&[root], 0.0, 1)?.into_iter().filter(|s| s.split == Split::Test && s.oxford).collect();
            samples.truncate(count);
            let n = samples.len();
            let items = images::decode_all(samples, input_size)?.items;
            let device = burn::tensor::Device::flex();
            let net = petcam_trainer::model::net::Net::new(&arch, &w, &device);
            let imgs: Vec<_> = items.iter().map(|l| &l.image).collect();
            let logits = train::predict(&net, &imgs, input_size, &device);
            let mut ok = 0;
            for (l, z) in items.iter().zip(&logits) {
                let top = z.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
                let cat = (281..=285).contains(&top);
                let dog = (151..=268).contains(&top);
                let want_cat = petcam::labels::is_cat(petcam::labels::BREEDS[l.sample.label]);
                ok += ((cat && want_cat) || (dog && !want_cat)) as usize;
            }
            println!("{ok}/{n} photos at {input_size}x{input_size}: ImageNet top-1 in the right group (cat 281-285 / dog 151-268)");
        }
        Cmd::Study { train: a, vary } => {
            anyhow::ensure!(a.teacher.is_none(), "--teacher works with `train`, not with `study`");
            let backbone = match (a.model, &a.backbone) {
                (Family::EffnetLite0, None) => Some(default_backbone()?),
                (_, b) => b.clone(),
            };
            let cfg = train_config(&a);
            let mut cache: BTreeMap<u32, Vec<Loaded>> = BTreeMap::new();
            let data_args = a.data.clone();
            let mut data_for = |size: u32| -> Result<Vec<Loaded>> {
                let loaded = match cache.entry(size) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => e.insert(load_data(&DataArgs { input_size: size, ..data_args.clone() })?),
                };
                Ok(loaded.iter().map(|l| Loaded { sample: l.sample.clone(), image: l.image.clone(), original: l.original }).collect())
            };
            let classes = data::labels().len();
            let init = |c: &TrainConfig| match &a.init {
                Some(p) => load_init(p, c.family, classes, c.input_size as usize, c.dropout),
                None => petcam_trainer::study::init_for(c, classes, backbone.as_deref()),
            };
            petcam_trainer::study::run(&cfg, &vary, &mut data_for, &init, &a.out)?;
        }
        Cmd::Train(a) => {
            let classes = data::labels().len();
            let size = a.data.input_size as usize;
            let (arch, weights) = match (&a.init, a.model) {
                (Some(p), family) => load_init(p, family, classes, size, a.dropout)?,
                (None, Family::EffnetLite0) => {
                    let path = match &a.backbone {
                        Some(p) => p.clone(),
                        None => default_backbone()?,
                    };
                    backbone::with_new_head(&path, size, classes, a.dropout, a.data.seed)?
                }
                (None, Family::SeedCnn) => {
                    let arch = arch::seed_cnn(size, classes, a.dropout);
                    let w = init::random(&arch, a.data.seed);
                    (arch, w)
                }
            };
            let mut items = load_data(&a.data)?;
            if a.located > 0 || a.mine_negatives > 0 {
                let model = a.located_model.clone().or_else(|| a.init.clone().filter(|p| p.extension().is_some_and(|e| e == "onnx")));
                let model = model.context("--located and --mine-negatives need --located-model (or --init with an .onnx model): the model that locates")?;
                let meta = petcam::classifier::Classifier::metadata(&petcam::classifier::TractClassifier::load(&model)?).clone();
                let locator = || petcam::locate::by_name(petcam::config::DEFAULT_LOCATOR, &model, meta.no_pet_index(), None).map_err(anyhow::Error::msg);
                let side = size as u32 * 3 / 2;
                let mut extra = Vec::new();
                if a.located > 0 {
                    let t0 = std::time::Instant::now();
                    let made = petcam_trainer::located::make(&items, a.located, side, a.data.seed, a.located_small, &locator)?;
                    eprintln!("{} located pictures from simulated camera frames, located by {} ({:.0} s)", made.len(), model.display(), t0.elapsed().as_secs_f32());
                    extra.extend(made);
                }
                if a.mine_negatives > 0 {
                    let t0 = std::time::Instant::now();
                    let pipeline = || Ok(petcam::pipeline::Pipeline::new(petcam::classifier::TractClassifier::load(&model)?).with_locator(locator()?));
                    let m = petcam_trainer::located::mine(&items, a.mine_negatives, side, a.data.seed, a.mine_above, &pipeline)?;
                    let animals = m.pictures.iter().filter(|l| l.sample.scene == Some(data::Scene::Animal)).count();
                    eprintln!(
                        "mined {} hard negatives (pet score at least {}) from {} pet-free camera frames: {animals} of {} animal frames, {} of {} others ({:.0} s)",
                        m.pictures.len(),
                        a.mine_above,
                        m.frames,
                        m.animal_frames,
                        m.pictures.len() - animals,
                        m.frames - m.animal_frames,
                        t0.elapsed().as_secs_f32()
                    );
                    extra.extend(m.pictures);
                }
                items.extend(extra);
            }
            let cfg = train_config(&a);
            std::fs::create_dir_all(&a.out)?;
            std::fs::write(a.out.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
            let n_train = items.iter().filter(|l| l.sample.split == Split::Train).count();
            eprintln!("training {} ({} M MACs at {size}px) on {n_train} images", a.model.name(), arch.macs() / 1_000_000);
            let teacher = match &a.teacher {
                Some(p) => {
                    petcam_trainer::distill::check_weight(a.distill_weight)?;
                    let t0 = std::time::Instant::now();
                    let soft = petcam_trainer::distill::SoftTargets::compute(p, &items, classes, a.distill_temperature)?;
                    eprintln!("teacher {}: top class is the label on {:.1}% of the training photos ({:.0} s)", p.display(), 100.0 * soft.agreement(&items), t0.elapsed().as_secs_f32());
                    Some(soft)
                }
                None => None,
            };
            let out = train::train_with_teacher(&cfg, arch, weights, &items, &a.out, a.resume, teacher.as_ref())?;
            println!("best val accuracy {:.4}; {:.0} s; best weights in {}", out.best_val_acc, out.seconds, a.out.join("best.bin").display());
        }
    }
    Ok(())
}

/// An ONNX file as its protobuf, for commands that rewrite part of it ([`write_onnx`]).
fn read_onnx(path: &std::path::Path) -> Result<tract_onnx::pb::ModelProto> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    <tract_onnx::pb::ModelProto as prost::Message>::decode(bytes.as_slice()).with_context(|| format!("{}: not an ONNX file", path.display()))
}

fn write_onnx(path: &std::path::Path, proto: &tract_onnx::pb::ModelProto) -> Result<()> {
    std::fs::write(path, petcam_trainer::export::onnx::encode(proto)).with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap's own consistency checks (conflicting names, defaults that fail their parsers), and
    /// export's options reaching its arguments.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["petcam-trainer", "export", "--data", "d", "--weights", "w.bin", "--out", "o", "--temperature", "0.75", "--int8-f32-layers=0,-1", "--int8-bias-correction", "false"])
                .unwrap();
        let Cmd::Export { args, .. } = cli.cmd else { panic!("not export") };
        assert_eq!((args.out_dir, args.temperature, args.int8_f32_layers, args.int8_bias_correction), (PathBuf::from("o"), Some(0.75), vec![0, -1], false));
        assert!(Cli::try_parse_from(["petcam-trainer", "export", "--data", "d", "--weights", "w", "--temperature", "0"]).is_err());
        let seeds = |extra: &[&str]| {
            let cli = Cli::try_parse_from(["petcam-trainer", "camera", "--data", "d", "--model", "m.onnx"].iter().chain(extra)).unwrap();
            let Cmd::Camera { camera_seed, .. } = cli.cmd else { panic!("not camera") };
            camera_seed
        };
        assert_eq!((seeds(&[]), seeds(&["--camera-seed", "1,2,7"])), (vec![1], vec![1, 2, 7]));
        assert!(Cli::try_parse_from(["petcam-trainer", "camera", "--data", "d", "--model", "m", "--camera-seed", "1,x"]).is_err());
    }
}
