//! Trains a tiny model for a few steps on a synthetic fixture in the Oxford-IIIT Pet layout,
//! exports it, reloads the ONNX file with tract (petcam's own classifier) and checks agreement.
//! Needs neither the backbone download nor the shared data set.

use image::{Rgb, RgbImage};
use petcam::classifier::{Classifier, TractClassifier};
use petcam_trainer::augment::AugmentConfig;
use petcam_trainer::data::{self, Split};
use petcam_trainer::export::{onnx, report};
use petcam_trainer::images;
use petcam_trainer::model::{arch, init, net::Net, store};
use petcam_trainer::optim::OptimizerKind;
use petcam_trainer::train::{self, TrainConfig};
use std::path::{Path, PathBuf};

/// Three "breeds" that differ in colour and shape, plus a no-pet folder.
fn fixture(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root.join("pets/images")).unwrap();
    std::fs::create_dir_all(root.join("pets/annotations")).unwrap();
    std::fs::create_dir_all(root.join("nopets/no_pet")).unwrap();
    let breeds = [("Bengal", 6, [200, 120, 40]), ("beagle", 5, [60, 160, 60]), ("pug", 26, [60, 60, 200])];
    let (mut list, mut trainval, mut test) = (String::from("#Image CLASS-ID SPECIES BREED ID\n"), String::new(), String::new());
    for (b, id, colour) in breeds {
        for n in 1..=24 {
            let img = RgbImage::from_fn(48 + n, 40, |x, y| {
                let inside = ((x as i32 - 24).pow(2) + (y as i32 - 20).pow(2)) < 150 + (n as i32 * 3);
                if inside {
                    Rgb(colour)
                } else {
                    Rgb([(x * 3 + n * 5) as u8, (y * 4) as u8, 128])
                }
            });
            let name = format!("{b}_{n}");
            img.save(root.join("pets/images").join(format!("{name}.jpg"))).unwrap();
            let line = format!("{name} {id} 1 1\n");
            list.push_str(&line);
            if n > 20 {
                test.push_str(&line)
            } else {
                trainval.push_str(&line)
            }
        }
    }
    std::fs::write(root.join("pets/annotations/list.txt"), list).unwrap();
    std::fs::write(root.join("pets/annotations/trainval.txt"), trainval).unwrap();
    std::fs::write(root.join("pets/annotations/test.txt"), test).unwrap();
    // The no-pets set in its manifest layout (its own split; every third photo an "other animal").
    let mut manifest = String::from("file,split,source,category,why_pet_free,original_size\n");
    for n in 0..12 {
        RgbImage::from_fn(40, 40, |x, y| Rgb([((x + y) * n) as u8, 200, (x * 6) as u8])).save(root.join(format!("nopets/no_pet/{n}.png"))).unwrap();
        let split = ["train", "train", "val", "test"][n as usize % 4];
        let category = if n % 3 == 0 { "imagenet:hare,ImageNet class n02326432 is not a dog or cat class" } else { "scene:BSDS500,natural scene" };
        manifest.push_str(&format!("no_pet/{n}.png,{split},fixture,{category},40x40\n"));
    }
    std::fs::write(root.join("nopets/manifest.csv"), manifest).unwrap();
    // One corrupt file: skipped with a warning, not fatal (1 of 84 < 5%).
    std::fs::write(root.join("pets/images/pug_24.jpg"), b"\xff\xd8 broken").unwrap();
}

/// Writes the fixture under `root` and decodes it (pets with a 25% validation split, plus no-pets).
fn fixture_images(root: &Path, size: u32) -> images::Decoded {
    fixture(root);
    let mut samples = data::load(&[root.join("pets")], 0.25, 1).unwrap();
    samples.extend(data::load(&[root.join("nopets")], 0.25, 1).unwrap());
    images::decode_all(samples, size).unwrap()
}

#[test]
fn train_export_reload_agree() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e");
    let size = 32;
    let decoded = fixture_images(&root, size);
    assert_eq!(decoded.failed, 1, "the corrupt file is skipped and counted");
    let items = decoded.items;
    assert!(items.iter().any(|l| l.sample.split == Split::Val) && items.iter().any(|l| l.sample.split == Split::Test));

    let arch = arch::seed_cnn(size as usize, data::labels().len(), 0.1);
    let w0 = init::random(&arch, 3);
    let cfg = TrainConfig {
        family: arch.family,
        input_size: size,
        head_epochs: 0,
        epochs: 3,
        batch_size: 16,
        optimizer: OptimizerKind::Adam,
        lr: 3e-3,
        head_lr: 1e-3,
        momentum: 0.9,
        warmup_epochs: 0.0,
        weight_decay: 0.0,
        label_smoothing: 0.0,
        dropout: 0.1,
        freeze_blocks: 0,
        patience: 0,
        shuffle: true,
        seed: 1,
        augment: AugmentConfig::none().scaled(0.0),
        max_batches: 0,
        budget_minutes: 0.0,
        no_pet_weight: 1.0,
        animal_weight: 1.0,
        teacher: None,
        distill_weight: 0.0,
        distill_temperature: 1.0,
    };
    let out = root.join("run");
    let outcome = train::train(&cfg, arch.clone(), w0.clone(), &items, &out, false).unwrap();
    assert_eq!(outcome.history.len(), 3);
    assert!(out.join("train.csv").is_file() && out.join("checkpoint.bin").is_file());
    let first = &outcome.history[0];
    let last = outcome.history.last().unwrap();
    assert!(last.train_loss < first.train_loss, "training lowers the loss: {:?}", outcome.history);
    assert!(outcome.best != w0, "weights changed");

    // Resume continues after the last epoch instead of starting over.
    let cfg4 = TrainConfig { epochs: 4, ..cfg.clone() };
    let resumed = train::train(&cfg4, arch.clone(), w0, &items, &out, true).unwrap();
    assert_eq!(resumed.history.len(), 4);

    // Distillation: the trained run as the teacher of a fresh student. Every training photo gets a
    // probability row, no other photo does; the student trained on them only moves toward the
    // teacher's answers.
    let classes = data::labels().len();
    let soft = petcam_trainer::distill::SoftTargets::compute(&out.join("best.bin"), &items, classes, 2.0).unwrap();
    for (i, l) in items.iter().enumerate() {
        match (l.sample.split, soft.get(i)) {
            (Split::Train, Some(p)) => assert!(p.len() == classes && (p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "row {i}: {p:?}"),
            (Split::Train, None) => panic!("training photo {i} has no teacher row"),
            (_, p) => assert!(p.is_none(), "photo {i} is not a training photo"),
        }
    }
    let agreement = soft.agreement(&items);
    assert!((0.0..=1.0).contains(&agreement) && agreement > 0.34, "the trained teacher beats chance on 3 breeds: {agreement}");
    let wrong = petcam_trainer::distill::SoftTargets::compute(&out.join("best.bin"), &items, classes + 1, 1.0).err().unwrap().to_string();
    assert!(wrong.contains("best.bin") && wrong.contains("outputs"), "{wrong}");
    let student_cfg = TrainConfig { distill_weight: 1.0, teacher: Some(out.join("best.bin")), ..cfg.clone() };
    let student = train::train_with_teacher(&student_cfg, arch.clone(), init::random(&arch, 5), &items, &root.join("student"), false, Some(&soft)).unwrap();
    assert!(student.history.last().unwrap().train_loss < student.history[0].train_loss, "{:?}", student.history);

    // Export f32 and check it with tract.
    let models = root.join("models");
    let args = report::ExportArgs {
        weights: out.join("best.bin"),
        out_dir: models.clone(),
        name: "tiny".into(),
        calib_images: 16,
        max_false_breed: 0.1,
        keep_pets: None,
        pet_threshold: None,
        temperature: None,
        confidence_threshold: 0.25,
        training: serde_json::json!({"fixture": true}),
        skip_int8: true,
        int8_activations: onnx::ActQuant::Relu,
        int8_min_agreement: 0.98,
        int8_bias_correction: true,
        int8_rounding: petcam_trainer::export::rounding::Rounding::Gptq,
        int8_f32_layers: vec![],
    };
    let ex = report::export(&args, &items).unwrap();
    assert!(ex.variants[0].tract_top1_agreement >= 0.98);
    assert!(ex.variants[0].tract_max_abs_logit_diff < 1e-3, "{}", ex.variants[0].tract_max_abs_logit_diff);
    let onnx_path = models.join("tiny-f32.onnx");
    let mut c = TractClassifier::load(&onnx_path).unwrap();
    assert_eq!(c.metadata().labels.len(), 38);
    assert_eq!(c.metadata().input_size, size);
    assert!((c.metadata().temperature - ex.temperature).abs() < 1e-6);
    assert!(models.join("tiny-confusion.png").is_file() && models.join("tiny-reliability.png").is_file() && models.join("tiny-curves.png").is_file());

    // The exported model and the trainer agree on a test picture, logit for logit.
    let (a, w) = store::load(&out.join("best.bin")).unwrap();
    // ... and the f32 file gives the trainer its weights back (`train --init <model>.onnx`).
    let (a_back, w_back, labels_back) = petcam_trainer::model::import::from_onnx(&onnx_path, 0.1).unwrap();
    assert_eq!((&a_back, &w_back), (&a, &w));
    assert_eq!(labels_back, data::labels());
    let device = burn::tensor::Device::flex();
    let net = Net::new(&a, &w, &device);
    let pic = items.iter().find(|l| l.sample.split == Split::Test).unwrap();
    let trainer_logits = &train::predict(&net, &[&pic.image], size, &device)[0];
    let input = petcam::pipeline::Preprocessor::new(size).prepare(&pic.image, &mut Default::default()).1.to_vec();
    let tract_logits = c.logits(&input).unwrap();
    assert_eq!(tract_logits, petcam::pipeline::Pipeline::new(TractClassifier::load(&onnx_path).unwrap()).logits(&pic.image).unwrap(), "the trainer's evaluation path is the device's");
    for (x, y) in trainer_logits.iter().zip(&tract_logits) {
        assert!((x - y).abs() < 1e-3, "{x} vs {y}");
    }
    let s = c.classify(&input).unwrap();
    assert!((s.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);

    // The int8 file through the whole export path (GPTQ rounding on the calibration photos'
    // Gram matrices, bias correction, QDQ graph): written, loaded, close to f32, the recipe in the
    // report.
    let int8_args = report::ExportArgs { out_dir: root.join("models-int8"), skip_int8: false, int8_min_agreement: 0.0, ..args.clone() };
    let ex8 = report::export(&int8_args, &items).unwrap();
    assert_eq!(ex8.variants.len(), 2);
    let c8 = TractClassifier::load(&root.join("models-int8").join("tiny-int8.onnx")).unwrap();
    assert_eq!(c8.metadata().precision, "int8");
    let z8 = c8.logits(&input).unwrap();
    let spread = tract_logits.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(z8.iter().zip(&tract_logits).all(|(a, b)| (a - b).abs() < 0.2 * spread.max(1.0)), "int8 {z8:?} vs f32 {tract_logits:?}");
    let report_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("models-int8").join("tiny-report.json")).unwrap()).unwrap();
    assert_eq!(report_json["int8"]["rounding"], "gptq");

    // `eval` judges the model at its own pet threshold, with intervals, and per group of no-pet
    // photo: validation no-pets are n = 2, 6, 10, of which 6 is an animal (n % 3 == 0). (Not the
    // test split: its corrupt file is 1 of 15, over the 5% an evaluation accepts.)
    let eval = |extra: &[&str]| -> String {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_petcam-trainer"))
            .args(["eval", "--model", onnx_path.to_str().unwrap(), "--split", "val", "--input-size", "32", "--validation-split", "0.25", "--seed", "1"])
            .args(["--data", root.join("pets").to_str().unwrap(), "--no-pets", root.join("nopets").to_str().unwrap()])
            .args(extra)
            .env("PETCAM_NO_PROGRESS", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
        text
    };
    let text = eval(&["--per-image"]);
    let line = text.lines().find(|l| l.contains("at the model's pet threshold")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&format!("{:.4}", c.metadata().pet_threshold)) && line.contains(" of 3, ") && line.contains("95% interval"), "{line}");
    assert!(text.lines().any(|l| l.contains("false breeds on other animals:") && l.contains(" of 1, ")), "{text}");
    assert!(text.lines().any(|l| l.contains("false breeds on scenes and objects:") && l.contains(" of 2, ")), "{text}");
    assert!(!text.contains("false breeds on people"), "no group without photos: {text}");

    // `--from-size` shows the model pictures that held fewer pixels: same photos, same count,
    // other probabilities.
    let coarse = eval(&["--from-size", "8", "--per-image"]);
    let per_image = |t: &str| t.lines().filter(|l| l.starts_with('{')).map(String::from).collect::<Vec<_>>();
    assert_eq!(per_image(&coarse).len(), per_image(&text).len());
    assert_ne!(per_image(&coarse), per_image(&text), "8 px pictures scored exactly like 32 px ones");
    let count = |t: &str| t.lines().find(|l| l.starts_with("Val:")).and_then(|l| l.split_whitespace().nth(1).map(String::from));
    assert_eq!(count(&coarse), count(&text), "{coarse}");
    assert!(count(&text).is_some(), "{text}");

    // The int8 formulation loads in tract and stays close to f32 on this picture.
    let ranges: Vec<onnx::LayerRange> = net.activation_ranges(train::batch_tensor(&[&pic.image], size, &device)).into_iter().map(onnx::LayerRange::from_pairs).collect();
    let meta = c.metadata().clone();
    let bytes = onnx::encode(&onnx::build(&a, &w, &meta, Some(&ranges)));
    let c8 = TractClassifier::from_bytes(&bytes, Path::new("tiny-int8.onnx")).unwrap();
    let z8 = c8.logits(&input).unwrap();
    assert_eq!(z8.len(), 38);
    let max_diff = z8.iter().zip(&tract_logits).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    let scale = tract_logits.iter().map(|v| v.abs()).fold(0.0, f32::max);
    assert!(max_diff < 0.2 * scale.max(1.0), "int8 logits drift {max_diff} (scale {scale})");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let missing = petcam_trainer::model::backbone::load_imagenet(Path::new("/nonexistent/lite0.pth"), 96).unwrap_err().to_string();
    assert!(missing.contains("/nonexistent/lite0.pth") && missing.contains("fetch-backbone"), "{missing}");
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad-data");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("beagle")).unwrap();
    let err = data::load(std::slice::from_ref(&root), 0.2, 1).unwrap_err().to_string();
    assert!(err.contains("beagle") && err.contains("no images"), "{err}");
    let not_pth = root.join("weights.pth");
    std::fs::write(&not_pth, b"not a checkpoint").unwrap();
    let err = petcam_trainer::model::backbone::load_imagenet(&not_pth, 96).unwrap_err().to_string();
    assert!(err.contains("weights.pth"), "{err}");
}

#[test]
fn a_study_runs_every_combination_and_resumes() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("study");
    let size = 32;
    let items = fixture_images(&root, size).items;
    let base = TrainConfig {
        family: arch::Family::SeedCnn,
        input_size: size,
        head_epochs: 0,
        epochs: 2,
        batch_size: 16,
        optimizer: OptimizerKind::Adam,
        lr: 3e-3,
        head_lr: 1e-3,
        momentum: 0.9,
        warmup_epochs: 0.0,
        weight_decay: 0.0,
        label_smoothing: 0.0,
        dropout: 0.1,
        freeze_blocks: 0,
        patience: 0,
        shuffle: true,
        seed: 1,
        augment: AugmentConfig::none(),
        max_batches: 3,
        budget_minutes: 0.0,
        no_pet_weight: 1.0,
        animal_weight: 1.0,
        teacher: None,
        distill_weight: 0.0,
        distill_temperature: 1.0,
    };
    let axes: Vec<petcam_trainer::study::Axis> = vec!["optimizer=adam,sgd".parse().unwrap()];
    let out = root.join("out");
    let mut decoded = 0;
    let mut data_for = |_s: u32| -> anyhow::Result<Vec<images::Loaded>> {
        decoded += 1;
        Ok(items.iter().map(|l| images::Loaded { sample: l.sample.clone(), image: l.image.clone(), original: l.original }).collect())
    };
    let init = |c: &TrainConfig| petcam_trainer::study::init_for(c, 38, None);
    let s = petcam_trainer::study::run(&base, &axes, &mut data_for, &init, &out).unwrap();
    assert_eq!(s.len(), 2);
    assert!(out.join("curves.png").is_file() && out.join("summary.md").is_file());
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("optimizer=sgd"));
    let run_cfg: TrainConfig = serde_json::from_str(&std::fs::read_to_string(out.join("optimizer=sgd/config.json")).unwrap()).unwrap();
    assert_eq!(run_cfg.optimizer, OptimizerKind::Sgd, "each run records the configuration it trained with");
    for r in &s {
        let t = r.test_acc_at_best.expect("the fixture has a test split");
        assert!((0.0..=1.0).contains(&t), "{}: test accuracy {t}", r.name);
    }
    // Second time: both runs are found finished and skipped.
    let s2 = petcam_trainer::study::run(&base, &axes, &mut data_for, &init, &out).unwrap();
    assert_eq!(s2.len(), 2);
    assert_eq!(decoded, 2, "finished runs are not retrained");
    let err = petcam_trainer::study::apply(&mut base.clone(), "colour", "1").unwrap_err().to_string();
    assert!(err.contains("cannot vary `colour`"), "{err}");

    // A minutes budget ends the run inside its first epoch: that epoch is validated and logged,
    // and none of the other four starts.
    let budgeted = TrainConfig { epochs: 5, max_batches: 0, budget_minutes: 1e-5, ..base.clone() };
    let (a, w) = init(&budgeted).unwrap();
    let o = petcam_trainer::train::train(&budgeted, a, w, &items, &root.join("budget"), false).unwrap();
    assert_eq!(o.history.len(), 1, "budget spent: one (partial) epoch, not {}", o.history.len());
}
