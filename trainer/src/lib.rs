//! petcam-trainer: from breed photos to the calibrated ONNX models the edge app ships.
//!
//! [`data`] finds labelled photos, [`images`] decodes them, [`augment`] varies them, [`model`]
//! describes and trains networks ([`train`], [`optim`]), [`distill`] turns a bigger model's
//! predictions into targets, [`metrics`] measures them and fits the temperature, [`nopet`]
//! compares ways of saying "no pet", [`export`] writes ONNX (f32 and int8) and checks it with
//! tract, [`plots`] draws the figures, [`study`] runs parameter studies.

pub mod augment;
pub mod camera;
pub mod cli;
pub mod data;
pub mod distill;
pub mod export;
pub mod images;
pub mod located;
pub mod locator_head;
pub mod metrics;
pub mod model;
pub mod nopet;
pub mod optim;
pub mod plots;
pub mod study;
pub mod train;
