//! Integration tests, built as one binary. Each module runs the real `petcam` binary or the real
//! pipeline with the shipped model:
//! - `cli`: classify, info and the one-line errors for bad input;
//! - `replay`: recorded camera frames (made from ../shared at test time) through the whole pipeline;
//! - `screens`: every screen at two panel sizes against committed golden PNGs;
//! - `faults`: camera and display faults injected through the source/display seams;
//! - `process_life`: SIGTERM/SIGINT end the kiosk and a looping replay cleanly; a full disk while recording;
//! - `fuzz_regressions`: inputs the fuzzers (fuzz/) once crashed on, replayed through the same entry points;
//! - `packaging`: the .deb's file list, the systemd unit and the postinst agree with the app's defaults.

mod util;

mod cli;
mod faults;
mod fuzz_regressions;
mod packaging;
mod process_life;
mod replay;
mod screens;
