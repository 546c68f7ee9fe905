//! petcam: what breed is this pet? Camera frames in, breed and confidence on a small display out.
//!
//! Data flows one way: [`source`] -> [`frame`] -> [`locate`] -> [`preprocess`] -> [`classifier`]
//! -> [`decision`] -> [`ui`]. [`pipeline`] is the per-frame chain from frame to scores, written
//! once for every command, with [`evidence`] combining the crop's pet score with the locate
//! stage's wide view; [`kiosk`] wires it between a source, the decision and a display;
//! [`config`] holds the settings.
//! [`labels`], [`preprocess`] and [`metadata`] are shared with the trainer (`petcam-trainer`), so
//! both sides agree on breeds, pixels and the model format.

pub mod bench;
pub mod classifier;
pub mod config;
pub mod decision;
pub mod evidence;
pub mod frame;
/// Fuzz entry points (feature `test-support`: the fuzz crate and the regression test use them).
#[cfg(feature = "test-support")]
pub mod fuzzing;
pub mod kiosk;
pub mod labels;
pub mod locate;
pub mod metadata;
pub mod pipeline;
pub mod preprocess;
/// Synthetic camera scenes for tests and benchmarks (feature `test-support`).
#[cfg(feature = "test-support")]
pub mod scene;
pub mod source;
pub mod ui;
