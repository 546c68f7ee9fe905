//! Entry points for the fuzz targets (`fuzz/`, `cargo fuzz`) and for the test that replays every
//! input the fuzzers ever crashed on (`tests/fuzz_regressions.rs`). Each takes arbitrary bytes and
//! drives one input path of the device the way the device does; none may panic, whatever the bytes.
//! An `Err` is a correct answer to bad input; the error must name its source.

use crate::classifier::TractClassifier;
use crate::frame::{Frame, PixelFormat};
use crate::metadata::ModelMetadata;
use crate::pipeline::{Pipeline, Preprocessor, StageTimes};
use crate::source::{recording::Sidecar, stills};
use std::path::Path;

/// Splits a header off the fuzz input: `n` bytes (zero-padded when short), and the rest.
fn header<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut h = [0u8; N];
    let n = data.len().min(N);
    h[..n].copy_from_slice(&data[..n]);
    (h, &data[n..])
}

/// A camera frame: 1 byte format, 2+2 bytes width/height (little-endian), then the frame bytes.
/// Converted to RGB and, when that works, preprocessed to the model input.
pub fn camera_frame(data: &[u8]) -> Result<(), String> {
    let (h, rest) = header::<5>(data);
    let format = [PixelFormat::Mjpeg, PixelFormat::Yuyv, PixelFormat::Rgb24][h[0] as usize % 3];
    let width = u16::from_le_bytes([h[1], h[2]]) as u32;
    let height = u16::from_le_bytes([h[3], h[4]]) as u32;
    frame_to_input(&Frame { format, width, height, data: rest.to_vec(), timestamp_ms: 0 })
}

/// YUYV only, any size and length: the conversion the camera's raw mode goes through.
pub fn yuyv_frame(data: &[u8]) -> Result<(), String> {
    let (h, rest) = header::<4>(data);
    let width = u16::from_le_bytes([h[0], h[1]]) as u32;
    let height = u16::from_le_bytes([h[2], h[3]]) as u32;
    frame_to_input(&Frame { format: PixelFormat::Yuyv, width, height, data: rest.to_vec(), timestamp_ms: 0 })
}

/// The device's path from frame bytes to the model input ([`Preprocessor`], 96 px).
fn frame_to_input(f: &Frame) -> Result<(), String> {
    let mut p = Preprocessor::new(96);
    let mut times = StageTimes::default();
    let rgb = p.convert(f, &mut times).map_err(|e| e.to_string())?;
    let (_, x) = p.prepare(&rgb, &mut times);
    assert_eq!(x.len(), 3 * 96 * 96);
    Ok(())
}

/// A recording: the sidecar JSON, a 0 byte, then the bytes of its first frame, which is read with
/// the format and size the sidecar declares.
pub fn recording(data: &[u8]) -> Result<(), String> {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (json, frame_bytes) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let s = Sidecar::parse(json, Path::new("fuzz/recording.json")).map_err(|e| e.to_string())?;
    frame_to_input(&Frame { format: s.format, width: s.width, height: s.height, data: frame_bytes.to_vec(), timestamp_ms: 0 })
}

/// An image file given to `petcam classify`: decoded, converted and preprocessed.
pub fn image_file(data: &[u8]) -> Result<(), String> {
    let f = stills::decode(data, Path::new("fuzz.img")).map_err(|e| e.to_string())?;
    frame_to_input(&f)
}

/// A model file: parsed, its metadata checked, the graph optimised, and one grey picture run
/// through its pipeline.
pub fn model_file(data: &[u8]) -> Result<(), String> {
    let c = TractClassifier::from_bytes(data, Path::new("fuzz.onnx")).map_err(|e| e.to_string())?;
    let mut p = Pipeline::new(c);
    let grey = image::RgbImage::from_pixel(64, 48, image::Rgb([128, 128, 128]));
    let a = p.analyse(grey, &mut StageTimes::default()).map_err(|e| e.to_string())?;
    assert_eq!(a.scores.probs.len(), p.metadata().labels.len());
    Ok(())
}

/// The metadata JSON a model carries.
pub fn metadata(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    ModelMetadata::from_json(text).map(|_| ()).map_err(|e| e.to_string())
}

/// One fuzz entry point: arbitrary bytes in, `Err` for input it rejects.
pub type Target = fn(&[u8]) -> Result<(), String>;

/// Every target by name, as `fuzz/fuzz_targets/*.rs` and the regression test use them.
pub const TARGETS: &[(&str, Target)] =
    &[("camera_frame", camera_frame), ("yuyv_frame", yuyv_frame), ("recording", recording), ("image_file", image_file), ("model_file", model_file), ("metadata", metadata)];
