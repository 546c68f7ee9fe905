//! Helpers: run the real binary, find the shipped model, scratch directories.

#![allow(dead_code)]

pub mod recordings;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped model the device uses by default.
pub fn model() -> PathBuf {
    root().join("models").join(petcam::config::DEFAULT_MODEL_FILE)
}

/// Every model in models/, the default among them, sorted by file name.
pub fn shipped_models() -> Vec<PathBuf> {
    let mut models: Vec<PathBuf> = std::fs::read_dir(root().join("models")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "onnx")).collect();
    models.sort();
    models
}

/// A fresh scratch directory under target/.
pub fn scratch(name: &str) -> PathBuf {
    let d = root().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn petcam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_petcam")).args(args).env("PETCAM_LOG", "warn").output().expect("run petcam")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Asserts a failed run printed exactly one line of error, no panic.
pub fn assert_one_line_error(o: &Output) -> String {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success; stdout: {}", stdout(o));
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line of error, got:\n{err}");
    lines[0].to_string()
}

/// The shared data set, or a one-line skip notice (a failure when PETCAM_REQUIRE_SHARED is set,
/// as in CI).
pub fn shared_or_skip(test: &str) -> Option<PathBuf> {
    match recordings::shared_root() {
        Some(p) => Some(p),
        None if std::env::var_os("PETCAM_REQUIRE_SHARED").is_some() => panic!("{test}: ../shared/datasets is missing and PETCAM_REQUIRE_SHARED is set"),
        None => {
            eprintln!("skipping {test}: ../shared/datasets not found (set PETCAM_REQUIRE_SHARED=1 to make this a failure)");
            None
        }
    }
}

pub fn demo_image(name: &str) -> PathBuf {
    root().join("demo/images").join(name)
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}
