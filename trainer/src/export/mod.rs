//! From trained weights to the files the edge app ships: calibrate (temperature, no-pet
//! threshold), measure on the test splits, write f32 and int8 ONNX, reload both with tract
//! (petcam's own classifier) and check them against the trainer's forward pass.

pub mod bias_correction;
pub mod evidence_fit;
pub mod onnx;
pub mod report;
pub mod retune;
pub mod rounding;
