//! Faults injected through the source and display seams: the kiosk loop survives them all, shows
//! the error screen while they last, and classifies again right after.

use crate::util::*;
use petcam::classifier::TractClassifier;
use petcam::decision::Decider;
use petcam::frame::{Frame, PixelFormat};
use petcam::kiosk::{FrameReport, Kiosk, Options};
use petcam::pipeline::Pipeline;
use petcam::source::{FrameSource, SourceError};
use petcam::ui::{Canvas, Display, DisplayError};
use std::collections::VecDeque;

enum Step {
    Good,
    Vanished,
    Stall,
    Truncated,
    Garbage,
    Resized,
}

/// A camera that does what the script says, then ends.
struct Scripted {
    steps: VecDeque<Step>,
    t: u64,
}

fn picture(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    petcam::frame::rgb_to_yuyv(&img)
}

impl FrameSource for Scripted {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        self.t += 100;
        let frame = |w: u32, h: u32, data: Vec<u8>, t| Frame { format: PixelFormat::Yuyv, width: w, height: h, data, timestamp_ms: t };
        match self.steps.pop_front() {
            None => Err(SourceError::End("script".into())),
            Some(Step::Good) => Ok(frame(64, 48, picture(64, 48), self.t)),
            Some(Step::Resized) => Ok(frame(32, 24, picture(32, 24), self.t)),
            Some(Step::Truncated) => Ok(frame(64, 48, picture(64, 48)[..1000].to_vec(), self.t)),
            Some(Step::Garbage) => Ok(Frame { format: PixelFormat::Mjpeg, width: 64, height: 48, data: vec![0xFF, 0xD8, 1, 2, 3, 4, 5], timestamp_ms: self.t }),
            Some(Step::Vanished) => Err(SourceError::Device { device: "/dev/video0".into(), message: "capture failed: No such device (will reopen)".into() }),
            Some(Step::Stall) => Err(SourceError::Timeout { device: "/dev/video0".into(), timeout_ms: 2000 }),
        }
    }
    fn describe(&self) -> String {
        "scripted camera".into()
    }
}

/// A display that fails to come up and then fails every third flush.
struct Flaky {
    shows: usize,
}

impl Display for Flaky {
    fn size(&self) -> (u32, u32) {
        (240, 240)
    }
    fn show(&mut self, _: &Canvas) -> Result<(), DisplayError> {
        self.shows += 1;
        if self.shows <= 2 || self.shows.is_multiple_of(3) {
            return Err(DisplayError { device: "/dev/spidev0.0".into(), message: "SPI write failed".into() });
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
}

fn pipeline() -> Pipeline<TractClassifier> {
    Pipeline::new(TractClassifier::load(&model()).unwrap())
}

fn kiosk(p: &mut Pipeline<TractClassifier>, steps: Vec<Step>) -> Kiosk<'_, Scripted, TractClassifier, Flaky> {
    let d = Decider::new(Default::default(), p.metadata().no_pet_index());
    let opts = Options { error_pause: std::time::Duration::ZERO, ..Options::default() };
    Kiosk::new(Scripted { steps: steps.into(), t: 0 }, p, Flaky { shows: 0 }, d, opts)
}

#[test]
fn every_fault_is_survived_and_classification_resumes() {
    use Step::*;
    let script = vec![Good, Good, Vanished, Vanished, Vanished, Good, Stall, Good, Truncated, Good, Garbage, Good, Resized, Resized, Good, Good, Good];
    let n = script.len();
    let mut p = pipeline();
    let mut k = kiosk(&mut p, script);
    let mut reports: Vec<FrameReport> = vec![];
    let s = k.run(|r| reports.push(r.clone()));
    assert_eq!(reports.len(), n, "one report per attempt");
    assert_eq!(s.source_errors, 4, "3 vanished + 1 stall");
    assert_eq!(s.bad_frames, 2, "truncated + garbage");
    assert_eq!(s.frames, n - 6, "every good frame (including resized ones) classified");
    assert!(s.display_errors > 0, "the flaky display failed sometimes");
    for (i, r) in reports.iter().enumerate() {
        match r.error {
            Some(ref e) => {
                assert!(e.contains("/dev/video0") || e.contains("scripted camera"), "error names the device: {e}");
                assert!(r.decision.is_none());
            }
            None => assert!(r.decision.is_some(), "frame {i} classified"),
        }
    }
    // The frame right after the camera came back is classified again (well within 2 s).
    assert!(reports[5].decision.is_some() && reports[4].shown == "error");
}

#[test]
fn error_screen_while_the_camera_is_gone() {
    use Step::*;
    let mut p = pipeline();
    let mut k = kiosk(&mut p, vec![Good, Vanished, Vanished, Good]);
    let mut shown = vec![];
    k.run(|r| shown.push(r.shown.clone()));
    assert_eq!(shown[1], "error");
    assert_eq!(shown[2], "error");
    assert_ne!(shown[3], "error");
}
