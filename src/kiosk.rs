//! The device loop: source -> frame -> preprocess -> classifier -> decision -> ui, forever.
//!
//! Nothing in here stops the loop except the end of a finite source, the frame limit or the stop
//! flag (SIGTERM/SIGINT). A bad frame is counted and skipped; a source fault shows the error screen
//! and the loop keeps asking (the camera source reopens itself); a display fault is logged and the
//! next frame tries again; classification and logging carry on regardless.

use crate::classifier::Classifier;
use crate::decision::{Decider, Decision};
use crate::frame;
use crate::labels::display_name;
use crate::preprocess;
use crate::source::FrameSource;
use crate::ui::{self, Canvas, Display, Overlay, Screen};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time spent in each stage for one frame.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub source_ms: f32,
    pub convert_ms: f32,
    pub preprocess_ms: f32,
    pub classify_ms: f32,
    pub decide_ms: f32,
    pub render_ms: f32,
    pub display_ms: f32,
}

impl StageTimes {
    fn add(&mut self, o: &StageTimes) {
        self.source_ms += o.source_ms;
        self.convert_ms += o.convert_ms;
        self.preprocess_ms += o.preprocess_ms;
        self.classify_ms += o.classify_ms;
        self.decide_ms += o.decide_ms;
        self.render_ms += o.render_ms;
        self.display_ms += o.display_ms;
    }
    fn scaled(&self, k: f32) -> StageTimes {
        StageTimes {
            source_ms: self.source_ms * k,
            convert_ms: self.convert_ms * k,
            preprocess_ms: self.preprocess_ms * k,
            classify_ms: self.classify_ms * k,
            decide_ms: self.decide_ms * k,
            render_ms: self.render_ms * k,
            display_ms: self.display_ms * k,
        }
    }
    pub fn total_ms(&self) -> f32 {
        self.source_ms + self.convert_ms + self.preprocess_ms + self.classify_ms + self.decide_ms + self.render_ms + self.display_ms
    }
}

/// What happened to one frame (or one failed attempt to get one).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrameReport {
    pub index: usize,
    pub timestamp_ms: Option<u64>,
    pub decision: Option<Decision>,
    /// Short text of what the screen shows ("beagle 97%", "no pet", "error").
    pub shown: String,
    pub error: Option<String>,
    pub times: StageTimes,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub frames: usize,
    pub bad_frames: usize,
    pub source_errors: usize,
    pub classify_errors: usize,
    pub display_errors: usize,
    pub mean_times: StageTimes,
    pub fps: f32,
}

pub struct Options {
    /// Stop after this many frames (0 = no limit).
    pub max_frames: usize,
    /// Show the camera picture on screen.
    pub preview: bool,
    /// Pause after a source error before asking again (the camera also backs off by itself).
    pub error_pause: Duration,
    /// Consecutive bad frames before the error screen replaces the last decision.
    pub bad_frames_before_error: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_frames: 0, preview: true, error_pause: Duration::from_millis(200), bad_frames_before_error: 3 }
    }
}

pub struct Kiosk<S, C, D> {
    pub source: S,
    pub classifier: C,
    pub display: D,
    pub decider: Decider,
    pub options: Options,
    pub stop: Arc<AtomicBool>,
    canvas: Canvas,
    labels: Vec<String>,
    size: u32,
}

/// One-line text of a decision, as the CLI prints it: `98.2% beagle`, `no pet (93%)`.
pub fn describe(d: &Decision, labels: &[String]) -> String {
    match d {
        Decision::Breed { label, probability, .. } => format!("{:.1}% {}", probability * 100.0, labels[*label]),
        Decision::NotSure { top, .. } => format!("not sure (best guess {:.1}% {})", top[0].1 * 100.0, labels[top[0].0]),
        Decision::NoPet { confidence } => format!("no pet ({:.0}%)", confidence * 100.0),
    }
}

/// The screen for a decision.
pub fn screen_for(d: &Decision, labels: &[String]) -> Screen {
    let names = |top: &[(usize, f32)]| top.iter().map(|(i, p)| (display_name(&labels[*i]), *p)).collect::<Vec<_>>();
    match d {
        Decision::Breed { label, probability, top, .. } => Screen::Breed { name: display_name(&labels[*label]), probability: *probability, top: names(top) },
        Decision::NotSure { top, .. } => Screen::NotSure { top: names(top) },
        Decision::NoPet { confidence } => Screen::NoPet { confidence: *confidence },
    }
}

fn ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1000.0
}

impl<S: FrameSource, C: Classifier, D: Display> Kiosk<S, C, D> {
    pub fn new(source: S, classifier: C, display: D, decider: Decider, options: Options) -> Self {
        let (w, h) = display.size();
        let labels = classifier.metadata().labels.clone();
        let size = classifier.metadata().input_size;
        Kiosk { source, classifier, display, decider, options, stop: Arc::new(AtomicBool::new(false)), canvas: Canvas::new(w, h), labels, size }
    }

    fn show(&mut self, screen: &Screen, overlay: &Overlay, times: &mut StageTimes, summary: &mut Summary) {
        let t = Instant::now();
        ui::render(&mut self.canvas, screen, overlay);
        times.render_ms = ms(t);
        let t = Instant::now();
        if let Err(e) = self.display.show(&self.canvas) {
            summary.display_errors += 1;
            tracing::warn!("display: {e}");
        }
        times.display_ms = ms(t);
    }

    /// Shows `screen` once (start-up and final screens).
    pub fn show_screen(&mut self, screen: &Screen) {
        let mut t = StageTimes::default();
        let mut s = Summary::default();
        self.show(screen, &Overlay::default(), &mut t, &mut s);
    }

    /// Runs until the source ends, `max_frames` is reached or the stop flag is set; calls
    /// `on_frame` after every attempt.
    pub fn run(&mut self, mut on_frame: impl FnMut(&FrameReport)) -> Summary {
        let mut summary = Summary::default();
        let mut totals = StageTimes::default();
        let started = Instant::now();
        let mut consecutive_bad = 0;
        let mut index = 0;
        let mut fps_window: std::collections::VecDeque<Instant> = Default::default();
        let mut input = Vec::with_capacity((3 * self.size * self.size) as usize);
        while !self.stop.load(Ordering::Relaxed) {
            if self.options.max_frames > 0 && index >= self.options.max_frames {
                break;
            }
            index += 1;
            let mut times = StageTimes::default();
            let t = Instant::now();
            let got = self.source.next_frame();
            times.source_ms = ms(t);
            let frame = match got {
                Ok(f) => f,
                Err(e) if e.is_end() => break,
                Err(e) => {
                    summary.source_errors += 1;
                    self.decider.reset();
                    let msg = e.to_string();
                    tracing::warn!("camera: {msg}");
                    self.show(&Screen::Error { title: "Camera problem".into(), message: msg.clone() }, &Overlay::default(), &mut times, &mut summary);
                    on_frame(&FrameReport { index, timestamp_ms: None, decision: None, shown: "error".into(), error: Some(msg), times });
                    if !self.options.error_pause.is_zero() {
                        std::thread::sleep(self.options.error_pause);
                    }
                    continue;
                }
            };
            let t = Instant::now();
            let rgb = match frame::to_rgb(&frame) {
                Ok(rgb) => rgb,
                Err(e) => {
                    summary.bad_frames += 1;
                    consecutive_bad += 1;
                    let msg = format!("{}: bad frame: {e}", self.source.describe());
                    tracing::warn!("{msg}");
                    if consecutive_bad >= self.options.bad_frames_before_error {
                        self.decider.reset();
                        self.show(&Screen::Error { title: "Bad camera frames".into(), message: msg.clone() }, &Overlay::default(), &mut times, &mut summary);
                    }
                    on_frame(&FrameReport { index, timestamp_ms: Some(frame.timestamp_ms), decision: None, shown: "bad frame".into(), error: Some(msg), times });
                    continue;
                }
            };
            consecutive_bad = 0;
            times.convert_ms = ms(t);
            let t = Instant::now();
            input.clear();
            preprocess::push_chw(&preprocess::centre_crop_resize(&rgb, self.size), &mut input);
            times.preprocess_ms = ms(t);
            let t = Instant::now();
            let scores = match self.classifier.classify(&input) {
                Ok(s) => s,
                Err(e) => {
                    summary.classify_errors += 1;
                    let msg = e.to_string();
                    tracing::error!("{msg}");
                    self.show(&Screen::Error { title: "Model error".into(), message: msg.clone() }, &Overlay::default(), &mut times, &mut summary);
                    on_frame(&FrameReport { index, timestamp_ms: Some(frame.timestamp_ms), decision: None, shown: "error".into(), error: Some(msg), times });
                    continue;
                }
            };
            times.classify_ms = ms(t);
            let t = Instant::now();
            let decision = self.decider.update(&scores);
            times.decide_ms = ms(t);
            let now = Instant::now();
            fps_window.push_back(now);
            while fps_window.len() > 30 {
                fps_window.pop_front();
            }
            let fps = (fps_window.len() > 1).then(|| (fps_window.len() - 1) as f32 / now.duration_since(fps_window[0]).as_secs_f32().max(1e-6));
            let overlay = Overlay { preview: self.options.preview.then_some(rgb), fps };
            let screen = screen_for(&decision, &self.labels);
            self.show(&screen, &overlay, &mut times, &mut summary);
            summary.frames += 1;
            totals.add(&times);
            let shown = describe(&decision, &self.labels);
            tracing::debug!(frame = index, "{shown}");
            on_frame(&FrameReport { index, timestamp_ms: Some(frame.timestamp_ms), decision: Some(decision), shown, error: None, times });
        }
        if summary.frames > 0 {
            summary.mean_times = totals.scaled(1.0 / summary.frames as f32);
        }
        summary.fps = summary.frames as f32 / started.elapsed().as_secs_f32().max(1e-6);
        summary
    }
}
