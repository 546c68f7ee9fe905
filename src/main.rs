//! `petcam`: the device program. Parses flags, builds the pipeline stages, runs them, and maps
//! errors to one line and an exit code. See `petcam --help`.

mod cli;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Cmd, ModelArg, ScreenArgs};
use petcam::classifier::depthwise::Policy;
use petcam::classifier::{Classifier, LoadOptions, TractClassifier};
use petcam::config::{self, DisplayKind, FileConfig};
use petcam::decision::{Decider, DecisionConfig};
use petcam::frame::{self, Frame, PixelFormat};
use petcam::kiosk::{self, Kiosk, Options};
use petcam::pipeline::{Pipeline, Stage, StageTimes};
use petcam::source::recording::{RecordingSource, RecordingWriter};
use petcam::source::{stills, FrameSource};
use petcam::ui::{self, Display, NullDisplay, Screen};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// `println!` that survives a reader that went away: `petcam replay --json | head` ends quietly
/// (exit 0) when `head` closes the pipe, instead of panicking; any other failure to write is
/// reported once on stderr and the run goes on (the kiosk keeps running without its log).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($t)*) {
            stdout_failed(e);
        }
    }};
}

fn stdout_failed(e: std::io::Error) {
    static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    if !REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("petcam: cannot write to standard output ({e}); going on without it");
    }
}

fn main() {
    let cli = Cli::parse();
    init_logging(&cli.log);
    petcam::classifier::pointwise::set_app_policy(cli.int8.policy());
    let code = match run(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("petcam: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

/// Logs to stderr, filtered by `--log` / `PETCAM_LOG` (`info`, `warn,petcam=debug`, ...: a level
/// per module path). A filter that does not parse is reported and `info` is used.
fn init_logging(filter: &str) {
    use tracing_subscriber::prelude::*;
    let targets = filter.parse::<tracing_subscriber::filter::Targets>().unwrap_or_else(|e| {
        eprintln!("petcam: --log '{filter}' is not a log filter ({e}); logging at info");
        tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
    });
    // Colours only on a terminal: under systemd, stderr goes to the journal, where escape codes
    // would show up as text in `journalctl`.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_ansi(ansi)).with(targets).init();
}

/// The model (`--model`, else the settings file's, else the shipped one), loaded once, in its
/// pipeline.
fn load_pipeline(flags: &ModelArg, file: &FileConfig) -> Result<Pipeline<TractClassifier>> {
    let asked = flags.model.as_deref().or(file.model.as_deref());
    let path = config::resolve_model(asked);
    if asked.is_none() {
        tracing::info!("default model: {}", config::default_model_reason());
    }
    let t = std::time::Instant::now();
    let c = TractClassifier::load(&path)?;
    tracing::info!(
        "model {} ({}) loaded in {:.0} ms; depthwise: {}; 1x1 convolutions: {}",
        path.display(),
        c.metadata().name,
        t.elapsed().as_secs_f32() * 1000.0,
        describe_depthwise(c.depthwise_use()),
        describe_int8(&c)
    );
    let locator = locator_for(&path, c.metadata().no_pet_index(), flags.locator.as_deref(), file)?;
    tracing::info!("locate stage: {}", locator.name());
    Ok(Pipeline::new(c).with_locator(locator))
}

/// The locate stage: `--locator`, else the settings file's, else [`config::DEFAULT_LOCATOR`]. A
/// locator asked for by name must load; the default falls back to the centre square (logged).
fn locator_for(model: &Path, no_pet: Option<usize>, flag: Option<&str>, file: &FileConfig) -> Result<Box<dyn petcam::locate::Locate>> {
    let asked = flag.or(file.locate.method.as_deref());
    match petcam::locate::by_name(asked.unwrap_or(config::DEFAULT_LOCATOR), model, no_pet, file.locate.every) {
        Ok(l) => Ok(l),
        Err(e) if asked.is_none() => {
            tracing::warn!("{e}; locating with the centre square");
            Ok(Box::new(petcam::locate::CentreCrop))
        }
        Err(e) => bail!(e),
    }
}

/// The decider for one stream, from the settings file and the model's calibration.
fn decider(p: &Pipeline<TractClassifier>, file: &FileConfig) -> Decider {
    Decider::new(file.decision.resolve(p.metadata()), p.metadata().no_pet_index())
}

fn image_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for a in args {
        if a.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(a)
                .with_context(|| format!("{}: cannot list", a.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Files whose extension names a format this build decodes (Cargo.toml: image features).
                .filter(|p| p.is_file() && image::ImageFormat::from_path(p).is_ok_and(|f| f.reading_enabled()))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

fn make_display(kind: &DisplayKind, size: (u32, u32), keep: bool, file: &FileConfig) -> Result<Box<dyn Display>> {
    Ok(match kind {
        DisplayKind::None => Box::new(NullDisplay { size }),
        DisplayKind::Png(dir) => Box::new(ui::png::PngDisplay::new(dir, size, keep)?),
        DisplayKind::Framebuffer(dev) => {
            let dev = dev.clone();
            let probe = ui::framebuffer::Framebuffer::open(&dev);
            let fb_size = probe.as_ref().map(|f| f.size()).unwrap_or(size);
            drop(probe);
            Box::new(ui::Reopening::new(&dev.display().to_string(), fb_size, std::time::Duration::from_secs(5), move || ui::framebuffer::Framebuffer::open(&dev)))
        }
        #[cfg(all(feature = "spi", target_os = "linux"))]
        DisplayKind::St7789 | DisplayKind::Ili9341 => {
            use ui::panel::{Panel, PanelConfig, PanelModel};
            let p = &file.panel;
            let d = PanelConfig::default();
            let cfg = PanelConfig {
                model: if *kind == DisplayKind::St7789 { PanelModel::St7789 } else { PanelModel::Ili9341 },
                spidev: p.spidev.clone().unwrap_or(d.spidev),
                gpiochip: p.gpiochip.clone().unwrap_or(d.gpiochip),
                dc_pin: p.dc_pin.unwrap_or(d.dc_pin),
                reset_pin: p.reset_pin.or(d.reset_pin),
                backlight_pin: p.backlight_pin.or(d.backlight_pin),
                rotation: p.rotation.unwrap_or(d.rotation),
                spi_hz: p.spi_hz.unwrap_or(d.spi_hz),
            };
            let size = cfg.size();
            let name = cfg.spidev.clone();
            Box::new(ui::Reopening::new(&name, size, std::time::Duration::from_secs(5), move || Panel::open(cfg.clone())))
        }
        #[cfg(not(all(feature = "spi", target_os = "linux")))]
        DisplayKind::St7789 | DisplayKind::Ili9341 => {
            let _ = file;
            bail!("this petcam was built without SPI panel support (feature `spi`)")
        }
    })
}

fn screen_display(s: &ScreenArgs, file: &FileConfig, default: &str) -> Result<Box<dyn Display>> {
    let kind: DisplayKind = s.display.clone().or_else(|| file.display.clone()).unwrap_or_else(|| default.to_string()).parse().map_err(anyhow::Error::msg)?;
    let size = petcam::frame::parse_size(&s.size).map_err(anyhow::Error::msg)?;
    make_display(&kind, size, s.keep_screens, file)
}

/// systemd notification (`READY=1`, `WATCHDOG=1`, `STOPPING=1`) when run as a service.
fn sd_notify(state: &str) {
    #[cfg(unix)]
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        let sock = std::os::unix::net::UnixDatagram::unbound();
        if let Ok(sock) = sock {
            let path = path.to_string_lossy().to_string();
            let _ = if let Some(abstract_name) = path.strip_prefix('@') {
                #[cfg(target_os = "linux")]
                {
                    use std::os::linux::net::SocketAddrExt;
                    std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
                }
                #[cfg(not(target_os = "linux"))]
                {
                    let _ = abstract_name;
                    Ok(0)
                }
            } else {
                sock.send_to(state.as_bytes(), &path)
            };
        }
    }
}

fn print_frame(r: &kiosk::FrameReport, json: bool) {
    if json {
        out!("{}", serde_json::to_string(r).expect("report serialises"));
    } else if let Some(e) = &r.error {
        out!("frame {:>5}: error: {e}", r.index);
    } else {
        out!("frame {:>5}: {}", r.index, r.shown);
    }
}

fn run(cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Classify { images, model, config: cfg_path, top_k, json } => {
            let file = FileConfig::load_or_default(cfg_path.as_deref())?;
            let mut p = load_pipeline(&model, &file)?;
            let meta = p.metadata().clone();
            let no_pet = meta.no_pet_index();
            let mut failed = 0;
            for path in image_paths(&images)? {
                // Each photo is a frame of its own: nothing carries over from the one before.
                p.reset();
                let result = stills::load(&path).map_err(anyhow::Error::from).and_then(|f| p.analyse_frame(&f, &mut StageTimes::default()).with_context(|| path.display().to_string()));
                let scores = match result {
                    Ok(a) => a.scores,
                    Err(e) => {
                        failed += 1;
                        eprintln!("petcam: {e:#}");
                        continue;
                    }
                };
                let mut d = Decider::new(DecisionConfig { window: 1, ..file.decision.resolve(&meta) }, no_pet);
                let decision = d.update(&scores);
                let top = scores.top_k(top_k.max(1), no_pet);
                if json {
                    let state = match &decision {
                        petcam::decision::Decision::Breed { .. } => "breed",
                        petcam::decision::Decision::NotSure { .. } => "not_sure",
                        petcam::decision::Decision::NoPet { .. } => "no_pet",
                    };
                    let v = serde_json::json!({
                        "path": path, "decision": state, "answer": kiosk::describe(&decision, &meta.labels),
                        "label": meta.labels[top[0].0], "probability": top[0].1, "pet_score": scores.pet_score,
                        "top": top.iter().map(|(i, p)| serde_json::json!({"label": meta.labels[*i], "probability": p})).collect::<Vec<_>>(),
                    });
                    out!("{v}");
                } else {
                    let prefix = if images.len() > 1 || images[0].is_dir() { format!("{}: ", path.display()) } else { String::new() };
                    out!("{prefix}{}", kiosk::describe(&decision, &meta.labels));
                    if top_k > 1 {
                        for (i, p) in &top {
                            out!("    {:>5.1}% {}", p * 100.0, meta.labels[*i]);
                        }
                    }
                }
            }
            Ok(if failed > 0 { 1 } else { 0 })
        }
        Cmd::Info { model } => {
            let path = config::resolve_model(model.as_deref());
            let t = std::time::Instant::now();
            let c = TractClassifier::load(&path)?;
            let m = c.metadata();
            out!("model        {}", path.display());
            if model.is_none() {
                out!("default      {}", config::default_model_reason());
            }
            out!("name         {} ({}, {})", m.name, m.architecture, m.precision);
            out!("input        [1, 3, {0}, {0}] {1}; normalisation (x - {2}) / {3} inside the graph", m.input_size, m.input_format, m.normalisation.0, m.normalisation.1);
            out!("output       [1, {}] logits", m.labels.len());
            out!("labels       {}", m.labels.join(", "));
            out!("temperature  {:.3}", m.temperature);
            out!("thresholds   pet {:.4}, breed confidence {:.2}", m.pet_threshold, m.confidence_threshold);
            match &m.pet_evidence {
                Some(e) => out!(
                    "pet score    combined with the wide view: sigmoid({:.3} crop + {:.3} best cell + {:.3} best CAM cell + {:.3} whole view {:+.3}); without a wide view (`--locator centre`) the crop's own, read against {:.4}",
                    e.crop,
                    e.cell,
                    e.cam_cell,
                    e.view,
                    e.bias,
                    e.crop_threshold
                ),
                None => out!("pet score    the crop's own, 1 - P(no pet)"),
            }
            let finder = if petcam::locate::activation::model_has_head(&path) {
                "this model's locator head (which cells of a wide view of the frame are pet)"
            } else {
                "this model's class-activation map over the frame (it has no locator head)"
            };
            let wide = petcam::locate::activation::ActivationConfig::default();
            out!(
                "locate       `{}` by default: the pet found by {finder}, searched every {}th frame in a {} px wide view (`--locator centre`: the middle square)",
                config::DEFAULT_LOCATOR,
                wide.every,
                wide.view_width
            );
            out!("depthwise    {}", describe_depthwise(c.depthwise_use()));
            out!("1x1 convs    {}", describe_int8(&c));
            out!("metrics      {}", m.metrics);
            out!("training     {}", m.training);
            out!("file size    {} bytes; loaded and optimised in {:.0} ms", std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), t.elapsed().as_secs_f32() * 1000.0);
            Ok(0)
        }
        Cmd::Replay { dir, model, config: cfg_path, screen, looping, frames, json, quiet } => {
            let file = FileConfig::load_or_default(cfg_path.as_deref())?;
            let mut p = load_pipeline(&model, &file)?;
            let src = RecordingSource::open(&dir, looping)?;
            // Screens go where --display says, never to the settings file's panel: on a device the
            // kiosk service owns it.
            let screens = screen_display(&screen, &FileConfig::default(), "none")?;
            let decider = decider(&p, &file);
            tracing::info!("replaying {} to {}", src.describe(), screens.describe());
            let opts = Options { max_frames: frames, preview: !screen.no_preview, error_pause: std::time::Duration::ZERO, ..Options::default() };
            let mut k = Kiosk::new(src, &mut p, screens, decider, opts);
            let stop = k.stop.clone();
            ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed)).context("installing signal handler")?;
            let summary = k.run(|r| {
                if !quiet {
                    print_frame(r, json)
                }
            });
            out!("{summary}");
            Ok(0)
        }
        Cmd::Demo { model, out } => demo(&model, &out),
        Cmd::Bench { model, image, input_raw, runs, warmup, threads, profile, depthwise, pointwise, compare_depthwise, json, dump_input } => {
            let options = LoadOptions { depthwise: depthwise.policy(), pointwise_f32: pointwise.pointwise_policy(), ..Default::default() };
            bench(&model, image.as_deref(), input_raw.as_deref(), runs, warmup, threads, profile, (options, compare_depthwise), json, dump_input.as_deref())
        }
        Cmd::Record { dir, camera, frames, format, width, height, images, frames_per_image } => {
            let fmt = match format.as_str() {
                "mjpeg" => PixelFormat::Mjpeg,
                "yuyv" => PixelFormat::Yuyv,
                f => bail!("unknown format `{f}` (mjpeg, yuyv)"),
            };
            if !images.is_empty() {
                let mut w = RecordingWriter::create(&dir, fmt, width, height, "petcam record --images")?;
                let mut t = 0;
                for p in image_paths(&images)? {
                    let f = stills::load(&p)?;
                    let rgb = frame::to_rgb(&f).with_context(|| p.display().to_string())?;
                    let scene = letterbox(&rgb, width, height);
                    for _ in 0..frames_per_image {
                        let data = match fmt {
                            PixelFormat::Mjpeg => frame::encode_jpeg(&scene, 85),
                            _ => frame::rgb_to_yuyv(&scene),
                        };
                        w.push(&Frame { format: fmt, width, height, data, timestamp_ms: t })?;
                        t += 100;
                    }
                }
                let n = w.len();
                let path = w.finish()?;
                out!("recorded {n} frames into {}", path.display());
                return Ok(0);
            }
            record_camera(&dir, &camera, frames, fmt, width, height)
        }
        Cmd::Run { model, config: cfg_path, camera, screen, frames } => {
            let file = FileConfig::load_or_default(cfg_path.as_deref())?;
            run_kiosk(&model, camera, &screen, &file, frames)
        }
    }
}

/// One line on how a loaded model runs its 1x1 convolutions.
fn describe_int8(c: &TractClassifier) -> String {
    let (n, precision) = (c.int8_pointwise(), &c.metadata().precision);
    let cpu = match (petcam::classifier::pointwise::has_int8_tile(), petcam::classifier::pointwise::has_dot_product()) {
        (true, true) => "this CPU has the dot product",
        (true, false) => "this aarch64 CPU has no dot product",
        (false, _) => "this CPU has no int8 tile",
    };
    let f32_op = match c.f32_pointwise() {
        0 => "in tract".to_string(),
        m => format!("on petcam's f32 op ({m}, {})", petcam::classifier::pointwise_f32::kernel::Isa::detect().name()),
    };
    if n > 0 {
        format!("{n} in int8 on petcam's op ({}, {} taking the ReLU6 before them; {cpu})", petcam::classifier::pointwise::variant(), c.int8_relu6_inputs())
    } else if precision == "int8" {
        if petcam::classifier::pointwise::has_int8_tile() {
            format!("f32 {f32_op}, on the int8 weights (--int8 none; {cpu})")
        } else {
            format!("f32 {f32_op}, on the int8 weights ({cpu}: int8 arithmetic pays only on aarch64)")
        }
    } else {
        format!("f32 {f32_op} (an f32 model)")
    }
}

/// One line on which depthwise op a loaded model runs.
fn describe_depthwise(d: petcam::classifier::DepthwiseUse) -> String {
    if d.replaced == 0 {
        return "tract's own op (no depthwise convolution taken by petcam's)".into();
    }
    format!("{} convolutions on petcam's op ({} with ReLU6 fused; {})", d.replaced, d.with_relu6, petcam::classifier::depthwise::kernel::variant())
}

#[allow(clippy::too_many_arguments)]
fn bench(
    model: &ModelArg,
    image: Option<&Path>,
    raw: Option<&Path>,
    runs: usize,
    warmup: usize,
    threads: usize,
    profile: bool,
    (options, compare): (LoadOptions, bool),
    json: bool,
    dump: Option<&Path>,
) -> Result<i32> {
    petcam::classifier::set_threads(threads).map_err(anyhow::Error::msg)?;
    let path = config::resolve_model(model.model.as_deref());
    let t = std::time::Instant::now();
    // The model alone (and its locate stage only when --locator names one): load time and
    // inference are what this measures.
    let classifier = TractClassifier::load_with(&path, options)?;
    let no_pet = classifier.metadata().no_pet_index();
    let mut p = match model.locator.as_deref() {
        Some(_) => Pipeline::new(classifier).with_locator(locator_for(&path, no_pet, model.locator.as_deref(), &FileConfig::default())?),
        None => Pipeline::new(classifier),
    };
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let size = p.metadata().input_size;
    let demo_cat = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/images/chelsea.png");
    let picture = || -> Result<image::RgbImage> {
        Ok(match image {
            Some(p) => frame::to_rgb(&stills::load(p)?).with_context(|| p.display().to_string())?,
            None if demo_cat.is_file() => frame::to_rgb(&stills::load(&demo_cat)?)?,
            None => image::RgbImage::from_pixel(size, size, image::Rgb([128, 128, 128])),
        })
    };
    let input: Vec<f32> = match raw {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?;
            let want = 3 * (size * size) as usize;
            if bytes.len() != 4 * want {
                bail!("{}: {} bytes, expected {} (raw f32 [1, 3, {size}, {size}])", p.display(), bytes.len(), 4 * want);
            }
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        None => p.preprocessor().prepare(&picture()?, &mut StageTimes::default()).1.to_vec(),
    };
    let c = p.classifier();
    if let Some(d) = dump {
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(d, bytes).with_context(|| format!("{}: cannot write", d.display()))?;
    }
    let timing = petcam::bench::time_inference(c, &input, warmup, runs)?;
    let logits = c.logits(&input)?;
    let nodes = if profile { c.profile(&input, runs.clamp(1, 50))? } else { vec![] };
    let compared = if compare { Some(petcam::bench::compare(c, &TractClassifier::load_with(&path, LoadOptions { depthwise: Policy::None, ..options })?, &input, warmup, runs)?) } else { None };
    let dw = c.depthwise_use();
    if json {
        out!(
            "{}",
            serde_json::json!({"model": path, "threads": threads, "load_ms": load_ms, "depthwise": dw, "int8_pointwise": c.int8_pointwise(), "int8_relu6_inputs": c.int8_relu6_inputs(), "f32_pointwise": c.f32_pointwise(), "inference": timing, "logits": logits, "profile": nodes, "compare_depthwise": compared})
        );
        return Ok(0);
    }
    out!("model      {} ({size}x{size} input)", path.display());
    out!("load       {load_ms:.0} ms (read, check, optimise)");
    out!("depthwise  {}", describe_depthwise(dw));
    out!("1x1 convs  {}", describe_int8(c));
    out!("inference  median {:.3} ms, p10 {:.3}, p90 {:.3}, min {:.3} over {} runs, {} thread(s)", timing.median_ms, timing.p10_ms, timing.p90_ms, timing.min_ms, timing.runs, threads);
    if let Some(cmp) = &compared {
        out!(
            "compare    this plan {:.3} ms, tract's depthwise op throughout {:.3} ms (medians of {} alternating rounds): tract's / this = {:.2}x; largest logit difference {:.2e}",
            cmp.ours_ms,
            cmp.theirs_ms,
            cmp.rounds,
            cmp.theirs_ms / cmp.ours_ms,
            cmp.max_logit_diff
        );
    }
    if profile {
        let total: f64 = nodes.iter().map(|n| n.seconds).sum();
        let mut by_op: Vec<(String, f64, usize)> = vec![];
        for n in &nodes {
            match by_op.iter_mut().find(|(op, _, _)| *op == n.op) {
                Some(e) => {
                    e.1 += n.seconds;
                    e.2 += 1
                }
                None => by_op.push((n.op.clone(), n.seconds, 1)),
            }
        }
        by_op.sort_by(|a, b| b.1.total_cmp(&a.1));
        out!("\nper operator kind ({:.3} ms per inference in nodes):", total * 1000.0);
        for (op, s, count) in &by_op {
            out!("  {:>8.3} ms {:>5.1}%  {:>3} x {op}", s * 1000.0, 100.0 * s / total, count);
        }
        out!("\nslowest nodes:");
        for n in nodes.iter().take(15) {
            out!("  {:>8.3} ms  {}  {}", n.seconds * 1000.0, n.node, n.detail.chars().take(110).collect::<String>());
        }
    }
    Ok(0)
}

/// Fits `img` into a `w` x `h` grey frame, keeping its aspect ratio.
fn letterbox(img: &image::RgbImage, w: u32, h: u32) -> image::RgbImage {
    let scale = (w as f32 / img.width() as f32).min(h as f32 / img.height() as f32);
    let (nw, nh) = (((img.width() as f32 * scale) as u32).max(1), ((img.height() as f32 * scale) as u32).max(1));
    let small = image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle);
    let mut out = image::RgbImage::from_pixel(w, h, image::Rgb([60, 60, 60]));
    image::imageops::overlay(&mut out, &small, ((w - nw) / 2) as i64, ((h - nh) / 2) as i64);
    out
}

fn demo(model: &ModelArg, out: &Path) -> Result<i32> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/recordings");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .with_context(|| format!("{}: demo recordings not found", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("recording.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("{}: no recordings", root.display());
    }
    let file = FileConfig::default();
    let mut p = load_pipeline(model, &file)?;
    out!("model {} ({}); screens go to {}", p.classifier().path().display(), p.metadata().name, out.display());
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let src = RecordingSource::open(&dir, false)?;
        let note = src.sidecar().note.clone();
        let decider = decider(&p, &file);
        let display = ui::png::PngDisplay::new(&out.join(&name), (240, 240), true)?;
        let mut k = Kiosk::new(src, &mut p, display, decider, Options { error_pause: std::time::Duration::ZERO, ..Options::default() });
        let mut last = String::new();
        out!("\n{name}: {note}");
        let summary = k.run(|r| {
            if r.shown != last {
                out!("  frame {:>3} ({:>5} ms): {}", r.index, r.timestamp_ms.unwrap_or(0), r.shown);
                last = r.shown.clone();
            }
        });
        out!("  -> {last}   [{} frames, classify {:.1} ms/frame, screens in {}]", summary.frames, summary.mean_times.get(Stage::Classify), out.join(&name).display());
    }
    out!("\nOn a device: `petcam run` (camera /dev/video0, display from /etc/petcam.toml); see README.");
    Ok(0)
}

#[cfg(all(feature = "camera", target_os = "linux"))]
fn record_camera(dir: &Path, camera: &Path, frames: usize, fmt: PixelFormat, width: u32, height: u32) -> Result<i32> {
    use petcam::source::camera::{Camera, CameraConfig};
    let (mut cam, err) = Camera::new(CameraConfig { device: camera.to_path_buf(), width, height, format: fmt, ..CameraConfig::default() });
    if let Some(e) = err {
        bail!("{e}");
    }
    let first = cam.next_frame()?;
    let mut w = RecordingWriter::create(dir, first.format, first.width, first.height, &cam.describe())?;
    w.push(&first)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let _ = ctrlc::set_handler(move || s2.store(true, Ordering::Relaxed));
    while w.len() < frames && !stop.load(Ordering::Relaxed) {
        match cam.next_frame() {
            Ok(f) => w.push(&f)?,
            Err(e) => tracing::warn!("{e}"),
        }
    }
    let n = w.len();
    let path = w.finish()?;
    out!("recorded {n} frames into {}", path.display());
    Ok(0)
}

#[cfg(not(all(feature = "camera", target_os = "linux")))]
fn record_camera(_: &Path, _: &Path, _: usize, _: PixelFormat, _: u32, _: u32) -> Result<i32> {
    bail!("this petcam was built without camera support (feature `camera`)")
}

fn run_kiosk(model: &ModelArg, camera: Option<PathBuf>, screen: &ScreenArgs, file: &FileConfig, frames: usize) -> Result<i32> {
    let display = screen_display(screen, file, if cfg!(all(feature = "spi", target_os = "linux")) { "st7789" } else { "png:petcam-screens" })?;
    let model_path = config::resolve_model(model.model.as_deref().or(file.model.as_deref()));
    let classifier = match TractClassifier::load(&model_path) {
        Ok(c) => c,
        Err(e) => {
            // Show the problem on the screen, then exit non-zero so systemd retries.
            let mut d = display;
            let mut canvas = ui::Canvas::new(d.size().0, d.size().1);
            ui::render(&mut canvas, &Screen::Error { title: "Model error".into(), message: e.to_string() }, &Default::default());
            let _ = d.show(&canvas);
            return Err(e.into());
        }
    };
    let locator = locator_for(&model_path, classifier.metadata().no_pet_index(), model.locator.as_deref(), file)?;
    let mut p = Pipeline::new(classifier).with_locator(locator);
    let decider = decider(&p, file);
    let source = open_camera(camera, file)?;
    let opts = Options { max_frames: frames, preview: !screen.no_preview, ..Options::default() };
    let mut k = Kiosk::new(source, &mut p, display, decider, opts);
    let stop = k.stop.clone();
    ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed)).context("installing signal handler")?;
    k.show_screen(&Screen::Starting { model: model_path.display().to_string() });
    sd_notify("READY=1");
    let mut last_ping = std::time::Instant::now();
    let summary = k.run(|r| {
        if last_ping.elapsed() > std::time::Duration::from_secs(2) {
            sd_notify("WATCHDOG=1");
            last_ping = std::time::Instant::now();
        }
        tracing::debug!("{}", r.shown);
    });
    sd_notify("STOPPING=1");
    k.show_screen(&Screen::Error { title: "Stopped".into(), message: "petcam is not running".into() });
    out!("{summary}");
    Ok(0)
}

#[cfg(all(feature = "camera", target_os = "linux"))]
fn open_camera(device: Option<PathBuf>, file: &FileConfig) -> Result<Box<dyn FrameSource>> {
    use petcam::source::camera::{Camera, CameraConfig};
    let d = CameraConfig::default();
    let c = &file.camera;
    let cfg = CameraConfig {
        device: device.or(c.device.clone()).unwrap_or(d.device),
        width: c.width.unwrap_or(d.width),
        height: c.height.unwrap_or(d.height),
        format: c.format.unwrap_or(d.format),
        timeout_ms: c.timeout_ms.unwrap_or(d.timeout_ms),
    };
    let (cam, err) = Camera::new(cfg);
    if let Some(e) = err {
        tracing::error!("{e} (will keep retrying)");
    }
    Ok(Box::new(cam))
}

#[cfg(not(all(feature = "camera", target_os = "linux")))]
fn open_camera(_: Option<PathBuf>, _: &FileConfig) -> Result<Box<dyn FrameSource>> {
    bail!("this petcam was built without camera support (feature `camera`); use `petcam replay`")
}
