//! Calibration, test figures, ONNX export and the tract cross-check, as one step.

use super::bias_correction;
use super::onnx::{self, LayerRange};
use super::rounding::{self, Rounding};
use crate::data::{Split, NO_PET_LABEL};
use crate::images::Loaded;
use crate::metrics::{self, breed_report, BreedReport};
use crate::model::arch::{Arch, Node};
use crate::model::net::Net;
use crate::model::store;
use crate::plots;
use crate::train::{self, predict};
use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use petcam::classifier::TractClassifier;
use petcam::metadata::{ModelMetadata, FORMAT_VERSION};
use petcam::pipeline::Preprocessor;
use petcam::preprocess;
use serde_json::json;
use std::path::PathBuf;

/// What `petcam-trainer export` does: its command-line options, and the training record to store.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Trained weights (best.bin from `train`), or an exported f32 .onnx model (e.g. the shipped
    /// one, to write its int8 form).
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long = "out", default_value = "models")]
    pub out_dir: PathBuf,
    /// Base name of the files (`<name>-f32.onnx`, `<name>-int8.onnx`, ...).
    #[arg(long, default_value = "petcam-effnet-lite0-96")]
    pub name: String,
    /// Training images used to calibrate int8 activation ranges and the bias correction.
    #[arg(long, default_value_t = 256)]
    pub calib_images: usize,
    /// Largest false-breed rate on validation no-pet photos when choosing the pet threshold.
    #[arg(long, default_value_t = 0.015)]
    pub max_false_breed: f32,
    /// Choose the pet threshold to keep this share of the validation pets (e.g. 0.98) instead
    /// of --max-false-breed: the pets' validation split is large and like the camera's pets,
    /// the no-pets' one is small and has few animals.
    #[arg(long, conflicts_with = "max_false_breed")]
    pub keep_pets: Option<f32>,
    /// Set the pet threshold to this value instead: one tuned on camera-like validation frames
    /// (`petcam-trainer camera --split val` prints the candidates).
    #[arg(long, conflicts_with_all = ["max_false_breed", "keep_pets"], value_parser = crate::cli::unit_interval)]
    pub pet_threshold: Option<f32>,
    /// Use this softmax temperature instead of fitting one on the clean validation photos:
    /// one fitted on camera-like validation frames (`petcam-trainer camera --split val`
    /// prints it).
    #[arg(long, value_parser = crate::cli::positive)]
    pub temperature: Option<f32>,
    /// Breed probability under which the device says "not sure".
    #[arg(long, default_value_t = 0.25)]
    pub confidence_threshold: f32,
    /// What the model's metadata records of its training (filled in by the command, not an
    /// option).
    #[arg(skip)]
    pub training: serde_json::Value,
    /// Only the f32 model.
    #[arg(long)]
    pub skip_int8: bool,
    /// Which activations the int8 model quantises (`weights`: none in the graph, int8 weights;
    /// petcam runs its 1x1 convolutions in int8 where the CPU has the dot product;
    /// `pointwise`: every 1x1 convolution a `QLinearConv`; `all`/`relu`: QDQ pairs, which
    /// tract runs in f32).
    #[arg(long, value_enum, default_value_t = onnx::ActQuant::Weights)]
    pub int8_activations: onnx::ActQuant,
    /// Least top-1 agreement of the int8 model with f32 on the test images for its file to be
    /// written. Lower it only to measure a file's cost: the app's gate for shipping is 0.98.
    #[arg(long, default_value_t = 0.98, value_parser = crate::cli::unit_interval)]
    pub int8_min_agreement: f32,
    /// Correct the biases of the int8-stored layers for their weights' rounding
    /// ([`super::bias_correction`]; input means measured on the --calib-images photos).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub int8_bias_correction: bool,
    /// How weights are rounded to int8: `gptq` compensates each rounding error on the rest of
    /// the filter, weighted by its inputs' second moments on the --calib-images photos
    /// ([`super::rounding`]); `nearest` rounds each weight on its own.
    #[arg(long, value_enum, default_value_t = Rounding::Gptq)]
    pub int8_rounding: Rounding,
    /// Convolutions whose weights stay f32 in the int8 file, by position among the model's
    /// convolutions: 0 is the stem, -1 the last (the head convolution); comma-separated.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub int8_f32_layers: Vec<i64>,
}

/// Test figures of one model variant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VariantFigures {
    pub variant: String,
    pub breed_all: BreedReport,
    pub breed_jpg_orig: BreedReport,
    pub breed_squashed: BreedReport,
    pub ece_uncalibrated: f32,
    pub false_breed_rate: Option<f32>,
    pub pet_recall: Option<f32>,
    pub top1_among_passing: Option<f32>,
    pub file_bytes: usize,
    pub tract_top1_agreement: f32,
    pub tract_max_abs_logit_diff: f32,
}

pub struct Exported {
    pub temperature: f32,
    pub pet_threshold: f32,
    pub variants: Vec<VariantFigures>,
    pub files: Vec<PathBuf>,
}

struct Split2<'a> {
    pets: Vec<&'a Loaded>,
    no_pets: Vec<&'a Loaded>,
}

fn split<'a>(data: &'a [Loaded], s: Split) -> Split2<'a> {
    let pets = data.iter().filter(|l| l.sample.split == s && l.sample.label != NO_PET_LABEL && (l.sample.oxford || s != Split::Test)).collect();
    let no_pets = data.iter().filter(|l| l.sample.split == s && l.sample.label == NO_PET_LABEL).collect();
    Split2 { pets, no_pets }
}

fn tract_logits(c: &TractClassifier, items: &[&Loaded]) -> Result<Vec<Vec<f32>>> {
    let mut out = vec![];
    let mut buf = vec![];
    for l in items {
        buf.clear();
        preprocess::push_chw(&l.image, &mut buf);
        out.push(c.logits(&buf)?);
    }
    Ok(out)
}

fn imgs<'a>(v: &[&'a Loaded]) -> Vec<&'a image::RgbImage> {
    v.iter().map(|l| &l.image).collect()
}

fn agreement(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32) {
    let mut same = 0;
    let mut maxd = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        same += (metrics::argmax(x) == metrics::argmax(y)) as usize;
        for (p, q) in x.iter().zip(y) {
            maxd = maxd.max((p - q).abs());
        }
    }
    (same as f32 / a.len().max(1) as f32, maxd)
}

fn figures(variant: &str, arch: &Arch, pets: &[&Loaded], pet_logits: &[Vec<f32>], nopet_logits: &[Vec<f32>], t: f32, threshold: f32) -> VariantFigures {
    let breeds = petcam::labels::BREEDS.len();
    let labels: Vec<usize> = pets.iter().map(|l| l.sample.label).collect();
    let subset = |want: &dyn Fn(&str) -> bool| {
        let (lz, ll): (Vec<Vec<f32>>, Vec<usize>) = pets.iter().zip(pet_logits).filter(|(l, _)| want(&l.sample.kind)).map(|(l, z)| (z.clone(), l.sample.label)).unzip();
        breed_report(&lz, &ll, breeds, t)
    };
    let has_no_pet = arch.num_outputs() > breeds;
    let (fb, rec, pass_top1) = if has_no_pet {
        let ps: Vec<f32> = pet_logits.iter().map(|z| metrics::pet_score(z, NO_PET_LABEL, t)).collect();
        let ns: Vec<f32> = nopet_logits.iter().map(|z| metrics::pet_score(z, NO_PET_LABEL, t)).collect();
        let (fb, rec) = metrics::pet_rates(&ps, &ns, threshold);
        let passing: Vec<usize> = (0..pets.len()).filter(|&i| ps[i] >= threshold).collect();
        let ok = passing.iter().filter(|&&i| metrics::argmax(&pet_logits[i][..breeds]) == labels[i]).count();
        (Some(fb), Some(rec), Some(ok as f32 / passing.len().max(1) as f32))
    } else {
        (None, None, None)
    };
    VariantFigures {
        variant: variant.into(),
        breed_all: breed_report(pet_logits, &labels, breeds, t),
        breed_jpg_orig: subset(&|k| k == "jpg-orig"),
        breed_squashed: subset(&|k| k.contains("squashed")),
        ece_uncalibrated: breed_report(pet_logits, &labels, breeds, 1.0).ece,
        false_breed_rate: fb,
        pet_recall: rec,
        top1_among_passing: pass_top1,
        file_bytes: 0,
        tract_top1_agreement: 1.0,
        tract_max_abs_logit_diff: 0.0,
    }
}

fn metrics_json(f: &VariantFigures) -> serde_json::Value {
    json!({
        "split": "oxford-iiit-pet test (shared/datasets/pets manifest) + no-pets test",
        "n_test_pets": f.breed_all.n,
        "top1": f.breed_all.top1, "top5": f.breed_all.top5, "mean_per_class": f.breed_all.mean_per_class,
        "ece": f.breed_all.ece, "ece_uncalibrated": f.ece_uncalibrated,
        "top1_jpg_orig": f.breed_jpg_orig.top1, "top1_squashed": f.breed_squashed.top1,
        "false_breed_rate": f.false_breed_rate, "pet_recall": f.pet_recall, "top1_among_passing": f.top1_among_passing,
    })
}

pub fn export(args: &ExportArgs, data: &[Loaded]) -> Result<Exported> {
    // A checkpoint from `train`, or an exported f32 model (the shipped one, re-exported as int8).
    let (arch, w) = if args.weights.extension().is_some_and(|e| e == "onnx") {
        let (arch, w, _) = crate::model::import::from_onnx(&args.weights, 0.0)?;
        (arch, w)
    } else {
        store::load(&args.weights)?
    };
    let device = Device::flex();
    let net = Net::new(&arch, &w, &device);
    let size = arch.input_size as u32;
    let labels_all = crate::data::labels();
    let labels: Vec<String> = labels_all[..arch.num_outputs()].to_vec();
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("{}: cannot create", args.out_dir.display()))?;
    if data.iter().any(|l| l.image.dimensions() != (size, size) && l.sample.split != Split::Train) {
        bail!("evaluation images were decoded at another size than the model's {size}x{size}");
    }

    // 1. Temperature on validation (pets and no-pets), pet threshold on validation.
    let val = split(data, Split::Val);
    let val_items: Vec<&Loaded> = val.pets.iter().chain(&val.no_pets).cloned().collect();
    if val_items.is_empty() {
        bail!("no validation images: cannot calibrate");
    }
    let val_imgs: Vec<_> = val_items.iter().map(|l| &l.image).collect();
    let val_logits = predict(&net, &val_imgs, size, &device);
    let val_labels: Vec<usize> = val_items.iter().map(|l| l.sample.label.min(arch.num_outputs() - 1)).collect();
    let t = args.temperature.unwrap_or_else(|| metrics::fit_temperature(&val_logits, &val_labels));
    let has_no_pet = arch.num_outputs() > petcam::labels::BREEDS.len();
    let threshold = if let (true, Some(t)) = (has_no_pet, args.pet_threshold) {
        t
    } else if has_no_pet && !val.no_pets.is_empty() {
        let (ps, ns) = val_logits.split_at(val.pets.len());
        let score = |v: &[Vec<f32>]| -> Vec<f32> { v.iter().map(|z| metrics::pet_score(z, NO_PET_LABEL, t)).collect() };
        match args.keep_pets {
            Some(r) => metrics::threshold_for_recall(&score(ps), r).clamp(0.0, 1.0),
            None => metrics::threshold_for_false_rate(&score(ns), args.max_false_breed),
        }
    } else {
        0.0
    };
    eprintln!("temperature {t:.3} (val NLL {:.4} -> {:.4}); pet threshold {threshold:.4}", metrics::nll(&val_logits, &val_labels, 1.0), metrics::nll(&val_logits, &val_labels, t));

    // 2. Test figures from the trainer's own forward pass.
    let test = split(data, Split::Test);
    if test.pets.is_empty() {
        bail!("no Oxford test images: cannot report test figures");
    }
    let pet_logits = predict(&net, &imgs(&test.pets), size, &device);
    let nopet_logits = predict(&net, &imgs(&test.no_pets), size, &device);
    let mut f32_fig = figures("f32", &arch, &test.pets, &pet_logits, &nopet_logits, t, threshold);

    let mut meta = ModelMetadata {
        format_version: FORMAT_VERSION,
        name: format!("{}-f32", args.name),
        architecture: arch.family.name().into(),
        precision: "f32".into(),
        labels: labels.clone(),
        input_size: size,
        input_format: "NCHW RGB f32 0..1".into(),
        normalisation: if arch.family == crate::model::arch::Family::EffnetLite0 { (0.5, 0.5) } else { (0.0, 1.0) },
        temperature: t,
        pet_threshold: threshold,
        confidence_threshold: args.confidence_threshold,
        pet_evidence: None,
        training: args.training.clone(),
        metrics: metrics_json(&f32_fig),
    };

    // 3. f32 ONNX, reloaded with petcam's tract classifier.
    let mut files = vec![];
    let f32_bytes = onnx::encode(&onnx::build(&arch, &w, &meta, None));
    let f32_path = args.out_dir.join(format!("{}-f32.onnx", args.name));
    let tc = TractClassifier::from_bytes(&f32_bytes, &f32_path)?;
    let all_test: Vec<&Loaded> = test.pets.iter().chain(&test.no_pets).cloned().collect();
    let tract_f32 = tract_logits(&tc, &all_test)?;
    let burn_all: Vec<Vec<f32>> = pet_logits.iter().chain(&nopet_logits).cloned().collect();
    let (agree, maxd) = agreement(&burn_all, &tract_f32);
    eprintln!("f32 ONNX in tract vs trainer: top-1 agreement {:.4}, max |logit diff| {maxd:.2e} over {} test images", agree, all_test.len());
    if agree < 0.98 {
        bail!("f32 export disagrees with the trainer on {:.1}% of test images", 100.0 * (1.0 - agree));
    }
    f32_fig.tract_top1_agreement = agree;
    f32_fig.tract_max_abs_logit_diff = maxd;
    f32_fig.file_bytes = f32_bytes.len();
    std::fs::write(&f32_path, &f32_bytes).with_context(|| format!("{}: cannot write", f32_path.display()))?;
    files.push(f32_path);
    let mut variants = vec![f32_fig];

    // 4. int8: calibrate activation ranges on training photos, quantise, check against f32.
    //    A failed check does not stop the f32 outputs below; export still fails at the end.
    let mut int8_error = None;
    if !args.skip_int8 {
        let mut int8 = || -> Result<VariantFigures> {
            let calib: Vec<image::RgbImage> = data
                .iter()
                .filter(|l| l.sample.split == Split::Train)
                .step_by((data.len() / args.calib_images.max(1)).max(1))
                .take(args.calib_images)
                .map(|l| Preprocessor::model_picture(&l.image, size))
                .collect();
            if calib.is_empty() {
                bail!("no training images to calibrate int8 activations");
            }
            // Range of every Conv/Gemm input and output over the calibration set (min/max, as ORT's MinMax).
            let mut ranges: Vec<LayerRange> = vec![];
            // The weights-only form quantises no activation in the graph: nothing to calibrate.
            if args.int8_activations == onnx::ActQuant::Weights {
                ranges = vec![LayerRange::EMPTY; w.layers.len()];
            }
            for chunk in calib.chunks(32).filter(|_| args.int8_activations != onnx::ActQuant::Weights) {
                let refs: Vec<&image::RgbImage> = chunk.iter().collect();
                let r = net.activation_ranges(train::batch_tensor(&refs, size, &device));
                ranges.resize(r.len(), LayerRange::EMPTY);
                for (acc, seen) in ranges.iter_mut().zip(r) {
                    acc.widen(LayerRange::from_pairs(seen));
                }
            }
            let f32_layers = onnx::conv_layers(&arch, &args.int8_f32_layers)?;
            // The layers whose weights the file stores per-channel int8 (not those kept f32, nor
            // the `pointwise` form's QLinearConvs, which requantise with one scale per tensor).
            let dense_int8 = args.int8_activations.dense_int8();
            let quant = args.int8_activations;
            let per_channel_int8 = |i: usize, n: &Node| {
                !f32_layers.contains(&i)
                    && match n {
                        Node::Conv(c) => !quant.qlinear(c),
                        _ => dense_int8,
                    }
            };
            let batches = || calib.chunks(32).map(|chunk| train::batch_tensor(&chunk.iter().collect::<Vec<_>>(), size, &device));
            let grams = (args.int8_rounding == Rounding::Gptq).then(|| {
                let (mut sums, mut counts) = (vec![], vec![]);
                for batch in batches() {
                    net.add_input_grams(batch, &mut sums, &mut counts);
                }
                rounding::Grams { sums, counts }
            });
            let started = std::time::Instant::now();
            let rounded = rounding::round(&arch, &w, args.int8_rounding, grams.as_ref(), per_channel_int8)?;
            eprintln!("int8 weights rounded ({:?}) in {:.1} s", args.int8_rounding, started.elapsed().as_secs_f32());
            // The biases of the int8-stored layers, corrected for how far rounding moved their weights.
            let w8 = if args.int8_bias_correction {
                let (mut sums, mut counts) = (vec![], vec![]);
                for batch in batches() {
                    net.add_tap_sums(batch, &mut sums, &mut counts);
                }
                bias_correction::correct(&arch, &w, &rounded, &bias_correction::TapMeans::from_sums(&sums, &counts))?
            } else {
                rounded
            };
            meta.name = format!("{}-int8", args.name);
            meta.precision = "int8".into();
            let int8_path = args.out_dir.join(format!("{}-int8.onnx", args.name));
            let bytes = onnx::encode(&onnx::build_with(&arch, &w8, &meta, Some(&ranges), args.int8_activations, &f32_layers));
            // The weights-only form is checked as a Pi 5 runs it: the 1x1 convolutions in int8 on
            // petcam's op (its portable tile here gives the same integers as `sdot`).
            let int8_op = if args.int8_activations == onnx::ActQuant::Weights { petcam::classifier::pointwise::Policy::StoredInt8 } else { petcam::classifier::pointwise::Policy::None };
            let tc8 = TractClassifier::from_bytes_with(&bytes, &int8_path, petcam::classifier::LoadOptions { int8: int8_op, ..Default::default() })?;
            if int8_op == petcam::classifier::pointwise::Policy::StoredInt8 && tc8.int8_pointwise() == 0 {
                bail!("int8 weights model: petcam's int8 op took none of its 1x1 convolutions");
            }
            let tract_int8 = tract_logits(&tc8, &all_test)?;
            let (agree8, maxd8) = agreement(&tract_f32, &tract_int8);
            eprintln!("int8 ONNX vs f32 ONNX (both in tract): top-1 agreement {agree8:.4}, max |logit diff| {maxd8:.3}");
            if agree8 < args.int8_min_agreement {
                bail!("int8 model agrees with f32 on only {:.1}% of test images (< {:.1}%); int8 file not written", 100.0 * agree8, 100.0 * args.int8_min_agreement);
            }
            let np = test.pets.len();
            let mut fig = figures("int8", &arch, &test.pets, &tract_int8[..np], &tract_int8[np..], t, threshold);
            fig.tract_top1_agreement = agree8;
            fig.tract_max_abs_logit_diff = maxd8;
            meta.metrics = metrics_json(&fig);
            let bytes = onnx::encode(&onnx::build_with(&arch, &w8, &meta, Some(&ranges), args.int8_activations, &f32_layers));
            fig.file_bytes = bytes.len();
            std::fs::write(&int8_path, &bytes).with_context(|| format!("{}: cannot write", int8_path.display()))?;
            files.push(int8_path);
            Ok(fig)
        };
        match int8() {
            Ok(fig) => variants.push(fig),
            Err(e) => int8_error = Some(e),
        }
    }

    // 5. Plots and a JSON of every figure.
    let f = &variants[0];
    let base = args.out_dir.join(&args.name);
    let png = |suffix: &str| PathBuf::from(format!("{}-{suffix}.png", base.display()));
    plots::confusion(&png("confusion"), &format!("{}: confusion on Oxford test (rows: truth)", args.name), &f.breed_all.confusion, &labels[..petcam::labels::BREEDS.len()])?;
    let before = breed_report(&pet_logits, &test.pets.iter().map(|l| l.sample.label).collect::<Vec<_>>(), petcam::labels::BREEDS.len(), 1.0);
    plots::reliability(
        &png("reliability"),
        &format!("{}: reliability (Oxford test)", args.name),
        &[(format!("T=1, ECE {:.3}", before.ece), before.reliability), (format!("T={t:.2}, ECE {:.3}", f.breed_all.ece), f.breed_all.reliability.clone())],
    )?;
    if has_no_pet && !test.no_pets.is_empty() {
        let ps: Vec<f32> = pet_logits.iter().map(|z| metrics::pet_score(z, NO_PET_LABEL, t)).collect();
        let ns: Vec<f32> = nopet_logits.iter().map(|z| metrics::pet_score(z, NO_PET_LABEL, t)).collect();
        let curve: Vec<(f32, f32, f32)> = (0..=200)
            .map(|i| {
                let th = i as f32 / 200.0;
                let (fb, rec) = metrics::pet_rates(&ps, &ns, th);
                (th, fb, rec)
            })
            .collect();
        plots::pet_threshold(&png("pet-threshold"), &format!("{}: pet / no-pet on test photos", args.name), &curve, threshold)?;
    }
    if let Some(dir) = args.weights.parent() {
        let csv = dir.join("train.csv");
        if csv.is_file() {
            let logs = train::read_csv(&csv)?;
            plots::curves(&png("curves"), &format!("{}: training", args.name), &[(args.name.clone(), logs)], true)?;
        }
    }
    let int8_recipe = json!({ "activations": format!("{:?}", args.int8_activations).to_lowercase(), "rounding": args.int8_rounding, "bias_correction": args.int8_bias_correction, "f32_layers": args.int8_f32_layers, "calib_images": args.calib_images });
    let summary = json!({ "name": args.name, "temperature": t, "pet_threshold": threshold, "training": args.training, "int8": int8_recipe, "variants": variants });
    let json_path = PathBuf::from(format!("{}-report.json", base.display()));
    std::fs::write(&json_path, serde_json::to_string_pretty(&summary)?)?;
    if let Some(e) = int8_error {
        return Err(e.context("int8 export failed (f32 model, plots and report were written)"));
    }
    Ok(Exported { temperature: t, pet_threshold: threshold, variants, files })
}

/// Prints the figures of one variant as a short table.
pub fn print(v: &VariantFigures) {
    let b = &v.breed_all;
    println!(
        "[{}] Oxford test: {} photos  top-1 {:.2}%  top-5 {:.2}%  mean per-class {:.2}%  ECE {:.2}% (uncalibrated {:.2}%)",
        v.variant,
        b.n,
        100.0 * b.top1,
        100.0 * b.top5,
        100.0 * b.mean_per_class,
        100.0 * b.ece,
        100.0 * v.ece_uncalibrated
    );
    println!(
        "[{}]   jpg-orig: {} photos top-1 {:.2}%   squashed: {} photos top-1 {:.2}%",
        v.variant,
        v.breed_jpg_orig.n,
        100.0 * v.breed_jpg_orig.top1,
        v.breed_squashed.n,
        100.0 * v.breed_squashed.top1
    );
    if let (Some(fb), Some(rec), Some(p)) = (v.false_breed_rate, v.pet_recall, v.top1_among_passing) {
        println!("[{}]   no-pet test: false-breed rate {:.2}%  pet recall {:.2}%  top-1 among passing pets {:.2}%", v.variant, 100.0 * fb, 100.0 * rec, 100.0 * p);
    }
    if v.file_bytes > 0 {
        println!("[{}]   file {:.2} MB; tract top-1 agreement {:.2}%, max |logit diff| {:.2e}", v.variant, v.file_bytes as f64 / 1e6, 100.0 * v.tract_top1_agreement, v.tract_max_abs_logit_diff);
    }
}
