//! The command line: classify, info, and clear one-line errors for bad input.

use crate::util::*;

#[test]
fn info_describes_the_shipped_model() {
    let o = petcam(&["info", model().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("input        [1, 3, 96, 96]"), "{out}");
    assert!(out.contains("no_pet") && out.contains("beagle"), "{out}");
    // On x86_64 every depthwise convolution runs on petcam's own op (issue 19), and info says so.
    assert!(out.contains("depthwise    16 convolutions on petcam's op (16 with ReLU6 fused"), "{out}");
    // Where the CPU has AVX-512F or AVX2+FMA (x86_64) the 32 1x1 convolutions run on petcam's
    // f32 op; elsewhere in tract.
    let f32_op = petcam::classifier::pointwise_f32::Policy::Auto.isa();
    assert_eq!(out.contains("1x1 convs    f32 on petcam's f32 op (32, x86_64 "), f32_op.is_some(), "{out}");
    // Both shipped networks find pets with their own locator head and combine the crop's pet
    // score with the wide view (the 128 px alternative since its version 2).
    assert!(out.contains("found by this model's locator head"), "{out}");
    let alt = stdout(&petcam(&["info", model().with_file_name("petcam-effnet-lite0-128-f32.onnx").to_str().unwrap()]));
    assert!(alt.contains("input        [1, 3, 128, 128]"), "{alt}");
    assert!(alt.contains("found by this model's locator head") && alt.contains("combined with the wide view"), "{alt}");
}

#[test]
fn bench_compares_the_two_depthwise_ops_on_the_same_input() {
    let o = petcam(&["bench", "--model", model().to_str().unwrap(), "--runs", "5", "--warmup", "1", "--depthwise", "petcam", "--compare-depthwise", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["depthwise"]["replaced"], 16, "{v}");
    let cmp = &v["compare_depthwise"];
    assert!(cmp["ours_ms"].as_f64().unwrap() > 0.0 && cmp["theirs_ms"].as_f64().unwrap() > 0.0, "{v}");
    // The two plans compute the same network: logits agree to float rounding.
    assert!(cmp["max_logit_diff"].as_f64().unwrap() < 1e-3, "{v}");
    let o = petcam(&["bench", "--model", model().to_str().unwrap(), "--runs", "2", "--depthwise", "tract", "--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["depthwise"]["replaced"], 0, "{v}");
}

#[test]
fn bench_runs_the_1x1_convolutions_on_petcams_f32_op_or_on_tracts() {
    let run = |choice: &str| {
        let o = petcam(&["bench", "--model", model().to_str().unwrap(), "--runs", "2", "--warmup", "0", "--pointwise", choice, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(stdout(&o).trim()).unwrap()
    };
    let (ours, tracts) = (run("petcam"), run("tract"));
    assert_eq!((ours["f32_pointwise"].as_u64(), tracts["f32_pointwise"].as_u64()), (Some(32), Some(0)), "{ours} {tracts}");
    let (a, b) = (ours["logits"].as_array().unwrap(), tracts["logits"].as_array().unwrap());
    let worst = a.iter().zip(b).map(|(x, y)| (x.as_f64().unwrap() - y.as_f64().unwrap()).abs()).fold(0.0, f64::max);
    assert!(a.len() == 38 && worst < 1e-3, "logits differ by {worst}: {ours} {tracts}");
}

#[test]
fn classify_names_a_cat_and_not_a_coffee_cup() {
    let cat = demo_image("chelsea.png");
    let cup = demo_image("coffee.png");
    let o = petcam(&["classify", "--json", "--model", model().to_str().unwrap(), cat.to_str().unwrap(), cup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    // Chelsea is a tabby cat: a pet, and the most likely breed is a cat breed.
    assert_ne!(lines[0]["decision"], "no_pet", "{}", lines[0]);
    assert!(petcam::labels::is_cat(lines[0]["label"].as_str().unwrap()), "{}", lines[0]);
    assert_eq!(lines[1]["decision"], "no_pet", "{}", lines[1]);
    assert!(lines[1]["pet_score"].as_f64().unwrap() < 0.5);
}

#[test]
fn classify_prints_percent_and_breed() {
    let o = petcam(&["classify", "--top-k", "3", "--model", model().to_str().unwrap(), demo_image("chelsea.png").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out.lines().next().unwrap();
    assert!(first.contains('%'), "{out}");
    assert_eq!(out.lines().count(), 4, "answer plus 3 breeds: {out}");
}

#[test]
fn log_filter_picks_levels_per_module_and_a_bad_one_is_named() {
    let m = model();
    // `classify` logs the model load at info: shown at info, hidden at warn.
    let cat = demo_image("chelsea.png");
    let run = |log: &str| petcam(&["classify", "--log", log, "--model", m.to_str().unwrap(), cat.to_str().unwrap()]);
    assert!(stderr(&run("warn,petcam=info")).contains("loaded in"));
    assert!(!stderr(&run("warn")).contains("loaded in"));
    let bad = run("petcam=loud");
    assert!(bad.status.success(), "a bad filter must not stop the device: {}", stderr(&bad));
    let err = stderr(&bad);
    assert!(err.contains("--log 'petcam=loud' is not a log filter"), "{err}");
    assert!(err.contains("loaded in"), "falls back to info: {err}");
    assert!(!err.contains('\u{1b}'), "no colour codes when stderr is not a terminal (the journal): {err:?}");
}

#[test]
fn corrupt_image_is_a_one_line_error_naming_the_file() {
    let d = scratch("corrupt-image");
    let jpeg = std::fs::read(demo_image("chelsea.png")).unwrap();
    let bad = d.join("truncated.png");
    write(&bad, &jpeg[..jpeg.len() / 3]);
    let o = petcam(&["classify", "--model", model().to_str().unwrap(), bad.to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("truncated.png"), "{line}");
    let txt = d.join("notes.jpg");
    write(&txt, b"this is not a picture");
    let o = petcam(&["classify", "--model", model().to_str().unwrap(), txt.to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("notes.jpg") && line.contains("not an image"), "{line}");
}

#[test]
fn missing_model_names_the_path() {
    let o = petcam(&["classify", "--model", "/nonexistent/model.onnx", demo_image("chelsea.png").to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("/nonexistent/model.onnx") && line.contains("cannot read model"), "{line}");
}

#[test]
fn a_file_that_is_not_a_model_is_rejected_clearly() {
    let d = scratch("bad-model");
    let p = d.join("garbage.onnx");
    write(&p, b"\x08\x07garbage that is not protobuf at all \xff\xff\xff");
    let line = assert_one_line_error(&petcam(&["info", p.to_str().unwrap()]));
    assert!(line.contains("garbage.onnx"), "{line}");
    // A real ONNX file without petcam metadata: truncate the shipped model to its first bytes is
    // not valid protobuf either; use the metadata check through the library instead.
    let bytes = std::fs::read(model()).unwrap();
    let p2 = d.join("truncated.onnx");
    write(&p2, &bytes[..bytes.len() / 2]);
    let line = assert_one_line_error(&petcam(&["info", p2.to_str().unwrap()]));
    assert!(line.contains("truncated.onnx"), "{line}");
}

/// Rewrites the petcam metadata of a decoded model with `f`.
fn edit_metadata(proto: &mut tract_onnx::pb::ModelProto, f: impl Fn(&mut petcam::metadata::ModelMetadata)) {
    for e in proto.metadata_props.iter_mut().filter(|e| e.key == petcam::metadata::METADATA_KEY) {
        let mut m = petcam::metadata::ModelMetadata::from_json(&e.value).unwrap();
        f(&mut m);
        e.value = m.to_json();
    }
}

#[test]
fn model_with_the_wrong_input_size_is_rejected() {
    use prost::Message;
    let bytes = std::fs::read(model()).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    // Claim a 128x128 input while the graph was built for 96x96... the graph itself is fully
    // convolutional, so also break the classifier: declare 5 labels for 38 outputs.
    edit_metadata(&mut proto, |m| m.labels.truncate(5));
    let d = scratch("wrong-shape");
    let p = d.join("five-labels.onnx");
    write(&p, &proto.encode_to_vec());
    let line = assert_one_line_error(&petcam(&["info", p.to_str().unwrap()]));
    assert!(line.contains("five-labels.onnx") && line.contains("does not match its 5 labels"), "{line}");
    proto.metadata_props.clear();
    let p = d.join("no-metadata.onnx");
    write(&p, &proto.encode_to_vec());
    let line = assert_one_line_error(&petcam(&["info", p.to_str().unwrap()]));
    assert!(line.contains("no-metadata.onnx") && line.contains("not a petcam model"), "{line}");
}

/// A file without a locator head (both shipped networks have one since the 128 px file's version
/// 2) still locates, with its class-activation map, and `info` says so.
#[test]
fn a_model_without_a_locator_head_locates_with_its_activation_map() {
    use prost::Message;
    let bytes = std::fs::read(model()).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let before = graph.node.len();
    graph.node.retain(|n| !n.output.iter().any(|o| o == petcam::locate::activation::HEAD_OUTPUT));
    assert_eq!(graph.node.len(), before - 1, "the default model carries one head node");
    // The combined pet score needs the head's best cell: a head-less file has the crop's own.
    edit_metadata(&mut proto, |m| m.pet_evidence = None);
    let p = scratch("no-head").join("no-head.onnx");
    write(&p, &proto.encode_to_vec());
    let out = stdout(&petcam(&["info", p.to_str().unwrap()]));
    assert!(out.contains("class-activation map over the frame (it has no locator head)"), "{out}");
    assert!(out.contains("pet score    the crop's own"), "{out}");
    // Through the activation map, Chelsea is still a cat and the cup still no pet.
    let (cat, cup) = (demo_image("chelsea.png"), demo_image("coffee.png"));
    let o = petcam(&["classify", "--json", "--model", p.to_str().unwrap(), cat.to_str().unwrap(), cup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["decision"] != "no_pet" && petcam::labels::is_cat(lines[0]["label"].as_str().unwrap()), "{}", lines[0]);
    assert_eq!(lines[1]["decision"], "no_pet", "{}", lines[1]);
}

#[test]
fn bad_recording_sidecar_is_a_clear_error() {
    let d = scratch("bad-sidecar");
    write(&d.join("recording.json"), b"{\"version\": 1, ");
    let line = assert_one_line_error(&petcam(&["replay", d.to_str().unwrap(), "--model", model().to_str().unwrap()]));
    assert!(line.contains("recording.json") && line.contains("bad recording sidecar"), "{line}");
}

/// Every model in `models/` (the 96 px default, the 128 px alternative, and their int8 files) works in the app as
/// shipped: its input size comes from its metadata, its best guess for the demo cat is a cat breed and it says
/// "no pet" for the coffee cup.
#[test]
fn every_shipped_model_runs_in_the_app() {
    let models = shipped_models();
    assert!(models.len() >= 2, "{models:?}");
    for m in &models {
        let size: u32 = m.file_stem().unwrap().to_string_lossy().split('-').find_map(|p| p.parse().ok()).unwrap_or_else(|| panic!("{}: no input size in the name", m.display()));
        let o = petcam(&["info", m.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", m.display(), stderr(&o));
        assert!(stdout(&o).contains(&format!("input        [1, 3, {size}, {size}]")), "{}: {}", m.display(), stdout(&o));
        let o = petcam(&["classify", "--json", "--model", m.to_str().unwrap(), demo_image("chelsea.png").to_str().unwrap(), demo_image("coffee.png").to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", m.display(), stderr(&o));
        let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        // Chelsea is a tabby, none of the 37 breeds: a cat breed or an honest "not sure".
        assert!(lines[0]["decision"] == "breed" || lines[0]["decision"] == "not_sure", "{}: {:?}", m.display(), lines[0]);
        assert!(petcam::labels::is_cat(lines[0]["label"].as_str().unwrap()), "{}: {:?}", m.display(), lines[0]);
        assert_eq!(lines[1]["decision"], "no_pet", "{}: {:?}", m.display(), lines[1]);
    }
}

/// The README's first command: every bundled recording through one loaded model, one screen PNG
/// per frame, and a decision for each recording.
#[test]
fn demo_loads_the_model_once_and_writes_the_screens() {
    let out = scratch("demo");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_petcam")).args(["demo", "--out", out.to_str().unwrap()]).env("PETCAM_LOG", "info").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let loads = stderr(&o).matches(" loaded in ").count();
    assert_eq!(loads, 1, "the model is loaded once for all recordings:\n{}", stderr(&o));
    let recordings = std::fs::read_dir(root().join("demo/recordings")).unwrap().count();
    assert_eq!(stdout(&o).matches("  -> ").count(), recordings, "{}", stdout(&o));
    for e in std::fs::read_dir(root().join("demo/recordings")).unwrap() {
        let name = e.unwrap().file_name();
        let pngs = std::fs::read_dir(out.join(&name)).unwrap().filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|x| x == "png")).count();
        assert!(pngs > 1, "{name:?}: {pngs} screens");
    }
}

/// `--config` works for classify and replay as for run: a bad value names the file and the key, and
/// the [decision] settings change what a replay decides.
#[test]
fn classify_and_replay_take_the_device_settings_file() {
    let d = scratch("config");
    let bad = d.join("bad.toml");
    write(&bad, b"[decision]\nwindow = \"five\"\n");
    for cmd in [vec!["classify", demo_image("chelsea.png").to_str().unwrap()], vec!["replay", "demo/recordings/3-cat"]] {
        let mut args = cmd.clone();
        args.extend(["--config", bad.to_str().unwrap()]);
        let line = assert_one_line_error(&petcam(&args));
        assert!(line.contains("bad.toml") && line.contains("`decision.window`"), "{cmd:?}: {line}");
    }
    // A pet threshold no pet can reach: the cat recording never shows a breed.
    let strict = d.join("strict.toml");
    write(&strict, b"[decision]\npet_threshold = 1.01\n");
    let rec = root().join("demo/recordings/3-cat");
    let model = model();
    let states = |extra: &[&str]| {
        let mut args = vec!["replay", rec.to_str().unwrap(), "--json", "--model", model.to_str().unwrap()];
        args.extend(extra);
        let o = petcam(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter_map(|v| v["decision"]["state"].as_str().map(String::from)).collect::<Vec<_>>()
    };
    assert!(states(&[]).iter().any(|s| s == "breed"), "the cat is named with the default settings");
    let strict_states = states(&["--config", strict.to_str().unwrap()]);
    assert!(!strict_states.is_empty() && strict_states.iter().all(|s| s != "breed"), "{strict_states:?}");
}
