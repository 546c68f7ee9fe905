//! The device loop: source -> [`Pipeline`] (frame -> locate -> preprocess -> classifier) ->
//! decision -> ui, forever.
//!
//! Nothing in here stops the loop except the end of a finite source, the frame limit or the stop
//! flag (SIGTERM/SIGINT). A bad frame is counted and skipped; a source fault shows the error screen
//! and the loop keeps asking (the camera source reopens itself); a display fault is logged and the
//! next frame tries again; classification and logging carry on regardless.

use crate::classifier::Classifier;
use crate::decision::{Decider, Decision};
use crate::labels::display_name;
use crate::pipeline::{Analysis, Pipeline, PipelineError, Stage, StageTimes};
use crate::preprocess::Rect;
use crate::source::{FrameSource, SourceError};
use crate::ui::{self, Canvas, Display, Overlay, Screen};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened to one frame (or one failed attempt to get one).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrameReport {
    pub index: usize,
    pub timestamp_ms: Option<u64>,
    pub decision: Option<Decision>,
    /// The square region of the frame that was classified (absent when there was no frame).
    pub region: Option<Rect>,
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

impl std::fmt::Display for Summary {
    /// One line: counts, frame rate and the mean time of every stage.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frames ({} bad, {} source errors, {} model errors, {} display errors); {:.1} fps; mean ms per frame:",
            self.frames, self.bad_frames, self.source_errors, self.classify_errors, self.display_errors, self.fps
        )?;
        let stages: Vec<String> = self.mean_times.iter().map(|(s, ms)| format!("{} {ms:.2}", s.name())).collect();
        write!(f, " {}", stages.join(", "))
    }
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

/// The device loop around a borrowed [`Pipeline`]: one model load serves many kiosks (the demo
/// replays several recordings through one).
pub struct Kiosk<'p, S, C, D> {
    pub source: S,
    pub display: D,
    pub decider: Decider,
    pub options: Options,
    pub stop: Arc<AtomicBool>,
    pipeline: &'p mut Pipeline<C>,
    canvas: Canvas,
    labels: Vec<String>,
}

/// A frame that went all the way through.
struct Shown {
    timestamp_ms: u64,
    analysis: Analysis,
    decision: Decision,
}

/// An attempt that gave no decision, and when (if there was a frame).
struct Failed {
    timestamp_ms: Option<u64>,
    fault: Fault,
}

/// Why an attempt gave no decision.
enum Fault {
    /// The source failed (camera gone, stalled); transient.
    Source(SourceError),
    /// The frame's bytes could not be converted.
    BadFrame(String),
    /// The model failed on a good frame.
    Model(String),
}

impl Fault {
    fn message(&self) -> String {
        match self {
            Fault::Source(e) => e.to_string(),
            Fault::BadFrame(m) | Fault::Model(m) => m.clone(),
        }
    }
    /// Short text for the report's `shown`.
    fn shown(&self) -> &'static str {
        match self {
            Fault::BadFrame(_) => "bad frame",
            _ => "error",
        }
    }
    fn title(&self) -> &'static str {
        match self {
            Fault::Source(_) => "Camera problem",
            Fault::BadFrame(_) => "Bad camera frames",
            Fault::Model(_) => "Model error",
        }
    }
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

impl<'p, S: FrameSource, C: Classifier, D: Display> Kiosk<'p, S, C, D> {
    pub fn new(source: S, pipeline: &'p mut Pipeline<C>, display: D, decider: Decider, options: Options) -> Self {
        let (w, h) = display.size();
        let labels = pipeline.metadata().labels.clone();
        pipeline.reset();
        Kiosk { source, display, decider, options, stop: Arc::new(AtomicBool::new(false)), pipeline, canvas: Canvas::new(w, h), labels }
    }

    fn show(&mut self, screen: &Screen, overlay: &Overlay, times: &mut StageTimes) -> bool {
        let canvas = &mut self.canvas;
        times.time(Stage::Render, || ui::render(canvas, screen, overlay));
        let display = &mut self.display;
        match times.time(Stage::Display, || display.show(canvas)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("display: {e}");
                false
            }
        }
    }

    /// Shows `screen` once (start-up and final screens).
    pub fn show_screen(&mut self, screen: &Screen) {
        self.show(screen, &Overlay::default(), &mut StageTimes::default());
    }

    /// One attempt: a frame from the source through the pipeline and the decider.
    fn step(&mut self, times: &mut StageTimes) -> Result<Option<Shown>, Failed> {
        let source = &mut self.source;
        let frame = match times.time(Stage::Source, || source.next_frame()) {
            Ok(f) => f,
            Err(e) if e.is_end() => return Ok(None),
            Err(e) => return Err(Failed { timestamp_ms: None, fault: Fault::Source(e) }),
        };
        let analysis = self.pipeline.analyse_frame(&frame, times).map_err(|e| {
            let fault = match e {
                PipelineError::Frame(e) => Fault::BadFrame(format!("{}: bad frame: {e}", self.source.describe())),
                PipelineError::Classify(e) => Fault::Model(e.to_string()),
            };
            Failed { timestamp_ms: Some(frame.timestamp_ms), fault }
        })?;
        let decider = &mut self.decider;
        let decision = times.time(Stage::Decide, || decider.update(&analysis.scores));
        Ok(Some(Shown { timestamp_ms: frame.timestamp_ms, analysis, decision }))
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
        while !self.stop.load(Ordering::Relaxed) {
            if self.options.max_frames > 0 && index >= self.options.max_frames {
                break;
            }
            index += 1;
            let mut times = StageTimes::default();
            let mut pause = false;
            let report = match self.step(&mut times) {
                Ok(None) => break,
                Ok(Some(Shown { timestamp_ms, analysis, decision })) => {
                    consecutive_bad = 0;
                    let now = Instant::now();
                    fps_window.push_back(now);
                    while fps_window.len() > 30 {
                        fps_window.pop_front();
                    }
                    let fps = (fps_window.len() > 1).then(|| (fps_window.len() - 1) as f32 / now.duration_since(fps_window[0]).as_secs_f32().max(1e-6));
                    let overlay = Overlay { preview: self.options.preview.then_some(analysis.rgb), region: Some(analysis.region), fps };
                    let screen = screen_for(&decision, &self.labels);
                    if !self.show(&screen, &overlay, &mut times) {
                        summary.display_errors += 1;
                    }
                    summary.frames += 1;
                    totals.add(&times);
                    let shown = describe(&decision, &self.labels);
                    tracing::debug!(frame = index, "{shown}");
                    FrameReport { index, timestamp_ms: Some(timestamp_ms), decision: Some(decision), region: Some(analysis.region), shown, error: None, times }
                }
                Err(Failed { timestamp_ms, fault }) => {
                    let message = fault.message();
                    let show_error = match fault {
                        Fault::Source(_) => {
                            summary.source_errors += 1;
                            tracing::warn!("camera: {message}");
                            pause = !self.options.error_pause.is_zero();
                            self.decider.reset();
                            true
                        }
                        Fault::BadFrame(_) => {
                            summary.bad_frames += 1;
                            consecutive_bad += 1;
                            tracing::warn!("{message}");
                            let persistent = consecutive_bad >= self.options.bad_frames_before_error;
                            if persistent {
                                self.decider.reset();
                            }
                            persistent
                        }
                        Fault::Model(_) => {
                            summary.classify_errors += 1;
                            tracing::error!("{message}");
                            true
                        }
                    };
                    if show_error {
                        self.pipeline.reset();
                        if !self.show(&Screen::Error { title: fault.title().into(), message: message.clone() }, &Overlay::default(), &mut times) {
                            summary.display_errors += 1;
                        }
                    }
                    FrameReport { index, timestamp_ms, decision: None, region: None, shown: fault.shown().into(), error: Some(message), times }
                }
            };
            on_frame(&report);
            if pause {
                std::thread::sleep(self.options.error_pause);
            }
        }
        if summary.frames > 0 {
            summary.mean_times = totals.scaled(1.0 / summary.frames as f32);
        }
        summary.fps = summary.frames as f32 / started.elapsed().as_secs_f32().max(1e-6);
        summary
    }
}
