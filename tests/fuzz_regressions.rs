//! Every input a fuzzer ever crashed, hung or ran out of memory on (`fuzz/regressions/<target>/`)
//! goes back through the same entry point (`petcam::fuzzing`) on every test run, without nightly.
//! Each must now return normally, with an error message when it is bad input.

use std::path::PathBuf;

#[test]
fn fuzz_crash_inputs_no_longer_crash() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut seen = 0;
    for (name, target) in petcam::fuzzing::TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else { continue };
        for entry in dir.filter_map(|e| e.ok()) {
            let data = std::fs::read(entry.path()).unwrap();
            let t = std::time::Instant::now();
            if let Err(e) = target(&data) {
                assert!(!e.trim().is_empty(), "{}: empty error message", entry.path().display());
            }
            assert!(t.elapsed().as_secs() < 20, "{}: took {:?}", entry.path().display(), t.elapsed());
            seen += 1;
        }
    }
    eprintln!("{seen} fuzz regression inputs replayed");
}

#[test]
fn fuzz_targets_accept_good_inputs() {
    // The entry points are not vacuous: well-formed inputs pass all the way through.
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 128]));
    let jpeg = petcam::frame::encode_jpeg(&img, 85);
    let mut mjpeg = vec![0u8, 64, 0, 48, 0];
    mjpeg.extend(&jpeg);
    petcam::fuzzing::camera_frame(&mjpeg).unwrap();
    let mut yuyv = vec![64u8, 0, 48, 0];
    yuyv.extend(petcam::frame::rgb_to_yuyv(&img));
    petcam::fuzzing::yuyv_frame(&yuyv).unwrap();
    let mut rec = br#"{"version":1,"format":"mjpeg","width":64,"height":48,"frames":[{"file":"f","timestamp_ms":0}]}"#.to_vec();
    rec.push(0);
    rec.extend(&jpeg);
    petcam::fuzzing::recording(&rec).unwrap();
    petcam::fuzzing::image_file(&jpeg).unwrap();
    let model = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(petcam::config::DEFAULT_MODEL_FILE)).unwrap();
    petcam::fuzzing::model_file(&model).unwrap();
    // Truncated model and garbage frame: errors, not panics.
    assert!(petcam::fuzzing::model_file(&model[..model.len() / 3]).unwrap_err().contains("fuzz.onnx"));
    assert!(petcam::fuzzing::camera_frame(&[0, 64, 0, 48, 0, 0xff, 0xd8, 1, 2, 3]).is_err());
}
