//! Per-stage and end-to-end timings of the device pipeline on realistic inputs (640x480 frames,
//! the shipped models). Single-threaded like the kiosk; with `--features threads` also a 2-thread
//! inference. `cargo bench -p petcam`; figures in docs/PERFORMANCE.md.

use criterion::{criterion_group, criterion_main, Criterion};
use petcam::classifier::depthwise::Policy;
use petcam::classifier::{LoadOptions, Scores, TractClassifier};
use petcam::decision::{Decider, DecisionConfig};
use petcam::frame::{self, Frame, PixelFormat};
use petcam::pipeline::{Pipeline, Preprocessor, StageTimes};
use petcam::ui::{render, Canvas, Overlay, Screen};
use std::hint::black_box;
use std::path::PathBuf;

fn scene() -> image::RgbImage {
    let cat = image::open(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/images/chelsea.png")).unwrap().to_rgb8();
    let bg = petcam::scene::background(None, 640, 480);
    petcam::scene::compose(&bg, Some((&cat, petcam::scene::Placement { height_frac: 0.8, centre_x: 0.5, centre_y: 0.5 })), &petcam::scene::Look::neutral(), &mut petcam::scene::Rng::new(1))
}

/// The shipped models, plus the int8 QDQ copy that scripts/bench-vs-onnxruntime.sh makes (no int8
/// model ships yet).
fn models() -> Vec<(String, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<(String, PathBuf)> = vec![];
    for dir in [root.join("models"), root.join("target/bench-ort")] {
        if let Ok(r) = std::fs::read_dir(&dir) {
            v.extend(r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "onnx")).map(|p| (p.file_stem().unwrap().to_string_lossy().to_string(), p)));
        }
    }
    v.sort();
    v
}

fn stages(c: &mut Criterion) {
    let img = scene();
    let yuyv = Frame { format: PixelFormat::Yuyv, width: 640, height: 480, data: frame::rgb_to_yuyv(&img), timestamp_ms: 0 };
    let mjpeg = Frame { format: PixelFormat::Mjpeg, width: 640, height: 480, data: frame::encode_jpeg(&img, 85), timestamp_ms: 0 };
    c.bench_function("yuyv_640x480_to_rgb", |b| b.iter(|| frame::to_rgb(black_box(&yuyv)).unwrap()));
    c.bench_function("mjpeg_640x480_decode", |b| b.iter(|| frame::to_rgb(black_box(&mjpeg)).unwrap()));
    let mut pre = Preprocessor::new(96);
    c.bench_function("locate_crop_resize_to_96_chw", |b| b.iter(|| pre.prepare(black_box(&img), &mut StageTimes::default()).1.len()));
    // Each model gets the input its own metadata asks for (the 128 px model a 128 px crop).
    for (name, path) in models() {
        let mut p = Pipeline::new(TractClassifier::load(&path).unwrap());
        let input = p.preprocessor().prepare(&img, &mut StageTimes::default()).1.to_vec();
        let m = p.classifier();
        c.bench_function(&format!("inference_{name}"), |b| b.iter(|| m.logits(black_box(&input)).unwrap()));
        // The same model with tract's own depthwise op (issue 19: petcam's op is the default).
        let tract_dw = TractClassifier::load_with(&path, LoadOptions { depthwise: Policy::None, ..Default::default() }).unwrap();
        c.bench_function(&format!("inference_{name}_tract_depthwise"), |b| b.iter(|| tract_dw.logits(black_box(&input)).unwrap()));
    }
    // tract parallelises its matrix products when given threads (feature `threads`); the kiosk uses one.
    #[cfg(feature = "threads")]
    if let Some((name, path)) = models().into_iter().find(|(n, _)| n.ends_with("f32")) {
        let mut p = Pipeline::new(TractClassifier::load(&path).unwrap());
        let input = p.preprocessor().prepare(&img, &mut StageTimes::default()).1.to_vec();
        petcam::classifier::set_threads(2).unwrap();
        let m = p.classifier();
        c.bench_function(&format!("inference_{name}_2_threads"), |b| b.iter(|| m.logits(black_box(&input)).unwrap()));
        petcam::classifier::set_threads(1).unwrap();
    }
    let probs: Vec<f32> = (0..38).map(|i| if i == 4 { 0.8 } else { 0.2 / 37.0 }).collect();
    let scores = Scores { probs, pet_score: 0.99 };
    let mut d = Decider::new(DecisionConfig::default(), Some(37));
    c.bench_function("decision_update", |b| b.iter(|| d.update(black_box(&scores))));
    let mut canvas = Canvas::new(240, 240);
    let screen = Screen::Breed { name: "Beagle".into(), probability: 0.98, top: vec![("Beagle".into(), 0.98), ("Basset Hound".into(), 0.01), ("Pug".into(), 0.005)] };
    let overlay = Overlay { preview: Some(img.clone()), region: None, fps: Some(10.0) };
    c.bench_function("render_breed_screen_240x240", |b| b.iter(|| render(&mut canvas, black_box(&screen), black_box(&overlay))));
    // The locate stage's search: the backbone over a 256 x 192 view of the frame, and the pet map.
    let default_model = models().into_iter().find(|(n, _)| n.ends_with("96-f32"));
    if let Some((_, path)) = &default_model {
        use petcam::locate::activation::{ActivationConfig, ActivationLocator};
        let mut every_frame = ActivationLocator::load(path, 37, ActivationConfig { every: 1, ..Default::default() }).unwrap();
        c.bench_function("locate_activation_search_640x480", |b| b.iter(|| petcam::locate::Locate::locate(&mut every_frame, black_box(&img))));
    }
    // The whole frame as the kiosk handles it: decode, locate, preprocess, classify, decide, draw.
    for (name, path) in models().into_iter().filter(|(n, _)| n.ends_with("f32")) {
        // The default locate stage (a search every 6th frame): the mean over frames is the cost.
        let locator = petcam::locate::by_name(petcam::config::DEFAULT_LOCATOR, &path, Some(37), None).unwrap();
        let mut p = Pipeline::new(TractClassifier::load(&path).unwrap()).with_locator(locator);
        let mut d = Decider::new(DecisionConfig::default(), p.metadata().no_pet_index());
        let labels = p.metadata().labels.clone();
        c.bench_function(&format!("end_to_end_mjpeg_frame_{name}"), |b| {
            b.iter(|| {
                let a = p.analyse_frame(black_box(&mjpeg), &mut StageTimes::default()).unwrap();
                let dec = d.update(&a.scores);
                let screen = petcam::kiosk::screen_for(&dec, &labels);
                render(&mut canvas, &screen, &Overlay { preview: Some(a.rgb), region: Some(a.region), fps: Some(10.0) });
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = stages
}
criterion_main!(benches);
