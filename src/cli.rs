//! Command-line flags (clap). Only `main.rs` uses these; the pipeline never sees a flag.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "petcam", version, about = "What breed is this pet? Camera in, breed and confidence on a small display out.")]
pub struct Cli {
    /// Log filter (tracing), e.g. `info`, `petcam=debug`.
    #[arg(long, global = true, default_value = "info", env = "PETCAM_LOG")]
    pub log: String,
    /// Which models run their 1x1 convolutions in int8 on petcam's op: `auto` (int8 models on
    /// aarch64 CPUs: a Pi 5, 4, 3 or Zero 2 W), `all` (any model on any CPU, to check on another
    /// machine what a Pi computes), `none` (f32 throughout).
    #[arg(long, global = true, value_enum, default_value_t = Int8Arg::Auto, env = "PETCAM_INT8")]
    pub int8: Int8Arg,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Args, Clone, Default)]
pub struct ModelArg {
    /// ONNX model (default: the shipped model, see `petcam info`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where in the frame to look: `activation` (find the pet with the model's class-activation
    /// map; the default) or `centre` (the middle square, as before).
    #[arg(long)]
    pub locator: Option<String>,
}

#[derive(Args, Clone)]
pub struct ScreenArgs {
    /// Where screens go: st7789 | ili9341 | fb | fb:/dev/fbN | png:DIR | none.
    #[arg(long)]
    pub display: Option<String>,
    /// Screen size for png/none displays, WxH.
    #[arg(long, default_value = "240x240")]
    pub size: String,
    /// Keep every screen as a numbered PNG (png displays), not only latest.png.
    #[arg(long)]
    pub keep_screens: bool,
    /// Do not show the camera picture on screen.
    #[arg(long)]
    pub no_preview: bool,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Classify image files (or folders of them): `98.2% beagle` per image.
    Classify {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[command(flatten)]
        model: ModelArg,
        /// Settings file (TOML): its model and [decision] settings apply. Default:
        /// /etc/petcam.toml when it exists.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Breeds listed per image.
        #[arg(long, default_value_t = 1)]
        top_k: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// The kiosk: camera -> model -> display, until stopped (SIGTERM/SIGINT).
    Run {
        #[command(flatten)]
        model: ModelArg,
        /// Settings file (TOML); flags override it. Default: /etc/petcam.toml when it exists.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Camera device.
        #[arg(long)]
        camera: Option<PathBuf>,
        #[command(flatten)]
        screen: ScreenArgs,
        /// Stop after this many frames (0 = never).
        #[arg(long, default_value_t = 0)]
        frames: usize,
    },
    /// Record camera frames exactly as delivered, for replay and tests.
    Record {
        /// Output directory (must not exist).
        dir: PathBuf,
        #[arg(long, default_value = "/dev/video0")]
        camera: PathBuf,
        #[arg(long, default_value_t = 100)]
        frames: usize,
        /// mjpeg or yuyv.
        #[arg(long, default_value = "mjpeg")]
        format: String,
        #[arg(long, default_value_t = petcam::frame::DEFAULT_SIZE.0)]
        width: u32,
        #[arg(long, default_value_t = petcam::frame::DEFAULT_SIZE.1)]
        height: u32,
        /// Instead of a camera, make the recording from these pictures (letterboxed into the frame).
        #[arg(long, num_args = 1..)]
        images: Vec<PathBuf>,
        /// Frames per picture with --images.
        #[arg(long, default_value_t = 10)]
        frames_per_image: usize,
    },
    /// Replay a recording through the same pipeline the device runs.
    Replay {
        dir: PathBuf,
        #[command(flatten)]
        model: ModelArg,
        /// Settings file (TOML): its model and [decision] settings apply, so a replay decides as
        /// the device does. Default: /etc/petcam.toml when it exists.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        screen: ScreenArgs,
        /// Play the recording in a loop.
        #[arg(long = "loop")]
        looping: bool,
        /// Stop after this many frames (0 = end of recording).
        #[arg(long, default_value_t = 0)]
        frames: usize,
        /// One JSON object per frame instead of text.
        #[arg(long)]
        json: bool,
        /// Print only the summary.
        #[arg(long)]
        quiet: bool,
    },
    /// Show a model's metadata and shapes.
    Info {
        /// The model (default: the shipped model).
        model: Option<PathBuf>,
    },
    /// Time model loading and inference on this machine (and where the time goes, with --profile).
    Bench {
        #[command(flatten)]
        model: ModelArg,
        /// Picture to classify (default: the bundled demo cat, else mid-grey).
        #[arg(long)]
        image: Option<PathBuf>,
        /// A preprocessed input instead of a picture: raw little-endian f32 [1, 3, S, S].
        #[arg(long, conflicts_with = "image")]
        input_raw: Option<PathBuf>,
        /// Timed inferences.
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// Untimed inferences first.
        #[arg(long, default_value_t = 10)]
        warmup: usize,
        /// Threads for tract's matrix products (the kiosk uses 1; more needs the `threads` feature).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Also time each node of the optimised graph and print the slowest.
        #[arg(long)]
        profile: bool,
        /// Which depthwise convolutions run on petcam's own op: `auto` (the app's choice), `petcam`
        /// (all it can take), `tract` (none).
        #[arg(long, value_enum, default_value_t = DepthwiseArg::Auto)]
        depthwise: DepthwiseArg,
        /// Which f32 1x1 convolutions run on petcam's own f32 op: `auto` (the app's choice: all
        /// but the last where the CPU has AVX-512F or AVX2+FMA), `petcam` (all but the last, any
        /// CPU), `tract` (none).
        #[arg(long, value_enum, default_value_t = DepthwiseArg::Auto)]
        pointwise: DepthwiseArg,
        /// Also time tract's own depthwise op in the same run (alternating rounds with the plan
        /// `--depthwise` picks) and print the ratio and the largest logit difference.
        #[arg(long)]
        compare_depthwise: bool,
        /// One JSON object (timings, logits) instead of text.
        #[arg(long)]
        json: bool,
        /// Write the preprocessed input as raw little-endian f32 [1, 3, S, S] (for other runtimes).
        #[arg(long)]
        dump_input: Option<PathBuf>,
    },
    /// Replay the bundled demo recordings through the shipped model; screens go to target/demo.
    Demo {
        #[command(flatten)]
        model: ModelArg,
        /// Where to write the screens.
        #[arg(long, default_value = "target/demo")]
        out: PathBuf,
    },
}

/// `petcam bench --depthwise` and `--pointwise`: petcam's op where the app puts it, everywhere it can run, or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DepthwiseArg {
    Auto,
    Petcam,
    Tract,
}

impl DepthwiseArg {
    pub fn policy(self) -> petcam::classifier::depthwise::Policy {
        use petcam::classifier::depthwise::Policy;
        match self {
            DepthwiseArg::Auto => Policy::Auto,
            DepthwiseArg::Petcam => Policy::All,
            DepthwiseArg::Tract => Policy::None,
        }
    }
}

impl DepthwiseArg {
    /// The same choice for the f32 1x1 convolutions (`petcam bench --pointwise`).
    pub fn pointwise_policy(self) -> petcam::classifier::pointwise_f32::Policy {
        use petcam::classifier::pointwise_f32::Policy;
        match self {
            DepthwiseArg::Auto => Policy::Auto,
            DepthwiseArg::Petcam => Policy::All,
            DepthwiseArg::Tract => Policy::None,
        }
    }
}

/// `petcam --int8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Int8Arg {
    Auto,
    All,
    None,
}

impl Int8Arg {
    pub fn policy(self) -> petcam::classifier::pointwise::Policy {
        use petcam::classifier::pointwise::Policy;
        match self {
            Int8Arg::Auto => Policy::Auto,
            Int8Arg::All => Policy::All,
            Int8Arg::None => Policy::None,
        }
    }
}
