//! Process life: SIGTERM and SIGINT end `petcam run` and `petcam replay --loop` cleanly (exit 0,
//! summary printed, the display left on the final "Stopped" screen), and so does a closed output pipe; `petcam record` on a full disk
//! says so in one line and leaves neither a recording nor a partial one behind.

use crate::util::*;
use petcam::ui::{render, Canvas, Screen};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_petcam")).args(args).env("PETCAM_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start petcam")
}

fn wait_for(path: &Path, child: &mut Child) {
    let t = Instant::now();
    while !path.exists() {
        assert!(child.try_wait().unwrap().is_none(), "petcam exited before showing a screen");
        assert!(t.elapsed() < Duration::from_secs(60), "no screen after 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
}

/// Sends `sig`, waits for the exit, returns (exit code, stdout, stderr).
fn stop(child: Child, sig: &str) -> (Option<i32>, String, String) {
    let pid = child.id().to_string();
    let t = Instant::now();
    let ok = Command::new("kill").args([&format!("-{sig}"), &pid]).status().expect("run kill").success();
    assert!(ok, "kill -{sig} {pid} failed");
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?} to stop after SIG{sig}", t.elapsed());
    (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn sigterm_and_sigint_stop_the_kiosk_cleanly() {
    let stopped = {
        let mut c = Canvas::new(240, 240);
        render(&mut c, &Screen::Error { title: "Stopped".into(), message: "petcam is not running".into() }, &Default::default());
        c.to_image()
    };
    for sig in ["TERM", "INT"] {
        let dir = scratch(&format!("signal-run-{sig}"));
        let display = format!("png:{}", dir.display());
        // No camera here: the kiosk shows the camera error and keeps retrying until stopped.
        let mut child = spawn(&["run", "--camera", "/dev/petcam-test-no-camera", "--display", &display, "--model", model().to_str().unwrap()]);
        wait_for(&dir.join("latest.png"), &mut child);
        let (code, out, err) = stop(child, sig);
        assert_eq!(code, Some(0), "SIG{sig}: exit {code:?}\nstderr: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.contains("source errors"), "summary printed: {out}");
        let last = image::open(dir.join("latest.png")).unwrap().to_rgb8();
        assert!(last == stopped, "SIG{sig}: the display is left on the Stopped screen");
    }
}

#[test]
fn sigterm_stops_a_looping_replay() {
    let dir = scratch("signal-replay");
    let rec = root().join("demo/recordings/3-cat");
    let display = format!("png:{}", dir.display());
    let mut child = spawn(&["replay", rec.to_str().unwrap(), "--loop", "--quiet", "--display", &display, "--model", model().to_str().unwrap()]);
    wait_for(&dir.join("latest.png"), &mut child);
    let (code, out, err) = stop(child, "TERM");
    assert_eq!(code, Some(0), "exit {code:?}\nstderr: {err}");
    assert!(out.contains(" frames ("), "summary printed: {out}");
}

/// A reader that goes away (`petcam replay --json | head -1`) ends a looping replay quietly:
/// exit 0, no panic about a broken pipe.
#[test]
fn a_closed_output_pipe_ends_a_looping_replay_quietly() {
    use std::io::BufRead;
    let rec = root().join("demo/recordings/3-cat");
    let mut child = spawn(&["replay", rec.to_str().unwrap(), "--loop", "--json", "--display", "none", "--model", model().to_str().unwrap()]);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"index\":1"), "{first}");
    // The reader is dropped: the next frames' lines meet a closed pipe.
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "petcam kept running with its output closed");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Mounts a 1 MiB tmpfs at `dir`; `false` where this user may not mount (not root).
fn small_disk(dir: &Path) -> bool {
    Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(dir).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[test]
fn recording_onto_a_full_disk_is_a_clear_error_and_leaves_nothing() {
    let mnt = scratch("full-disk");
    if !small_disk(&mnt) {
        assert!(std::env::var_os("PETCAM_REQUIRE_SHARED").is_none(), "cannot mount a tmpfs (CI runs as root and must)");
        eprintln!("skipping the full-disk test: cannot mount a tmpfs here (needs root)");
        return;
    }
    let rec = mnt.join("rec");
    let cat = root().join("demo/images/chelsea.png");
    // 200 frames of 640x480 YUYV (600 KiB each) cannot fit in 1 MiB.
    let o = petcam(&["record", rec.to_str().unwrap(), "--images", cat.to_str().unwrap(), "--frames-per-image", "200", "--format", "yuyv"]);
    let listing: Vec<_> = std::fs::read_dir(&mnt).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    let _ = Command::new("umount").arg(&mnt).status();
    let line = assert_one_line_error(&o);
    assert!(line.contains("disk full") && line.contains("rec.partial"), "{line}");
    assert!(listing.is_empty(), "left behind: {listing:?}");
}
