//! petcam: what breed is this pet? Camera frames in, breed and confidence on a small display out.
//!
//! Data flows one way: [`source`] -> [`frame`] -> [`preprocess`] -> [`classifier`] -> [`decision`]
//! -> [`ui`]. [`kiosk`] wires the stages into the device loop; [`config`] holds the settings.
//! [`labels`], [`preprocess`] and [`metadata`] are shared with the trainer (`petcam-trainer`), so
//! both sides agree on breeds, pixels and the model format.

pub mod bench;
pub mod classifier;
pub mod config;
pub mod decision;
pub mod frame;
pub mod fuzzing;
pub mod kiosk;
pub mod labels;
pub mod metadata;
pub mod preprocess;
pub mod scene;
pub mod source;
pub mod ui;
