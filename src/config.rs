//! Settings of the device program: a TOML file (`/etc/petcam.toml`, or `--config`), overridden by
//! command-line flags. Every field has a default, so an empty file is valid.
//!
//! ```toml
//! model = "/usr/share/petcam/petcam.onnx"   # default: the shipped model
//! display = "st7789"                         # st7789 | ili9341 | fb | fb:/dev/fb1 | png:DIR | none
//!
//! [camera]
//! device = "/dev/video0"
//! width = 640
//! height = 480
//! format = "mjpeg"                           # mjpeg | yuyv
//! timeout_ms = 2000
//!
//! [panel]                                    # SPI panels only (BCM pin numbers)
//! spidev = "/dev/spidev0.0"
//! gpiochip = "/dev/gpiochip0"
//! dc_pin = 25
//! reset_pin = 27
//! backlight_pin = 18
//! rotation = 0
//! spi_hz = 40000000
//!
//! [locate]
//! method = "activation"                      # activation | centre
//! every = 6                                  # frames between two searches for the pet
//!
//! [decision]                                 # defaults come from the model's metadata
//! window = 5
//! pet_margin = 0.1
//! switch_margin = 0.1
//! # pet_threshold = 0.5
//! # confidence_threshold = 0.25
//! ```

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the screens go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayKind {
    St7789,
    Ili9341,
    Framebuffer(PathBuf),
    Png(PathBuf),
    None,
}

impl std::str::FromStr for DisplayKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "st7789" => DisplayKind::St7789,
            "ili9341" => DisplayKind::Ili9341,
            "fb" => DisplayKind::Framebuffer("/dev/fb0".into()),
            "none" => DisplayKind::None,
            _ if s.starts_with("fb:") => DisplayKind::Framebuffer(s[3..].into()),
            _ if s.starts_with("png:") && s.len() > 4 => DisplayKind::Png(s[4..].into()),
            _ => return Err(format!("unknown display `{s}` (st7789, ili9341, fb, fb:/dev/fbN, png:DIR, none)")),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraSection {
    pub device: Option<PathBuf>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<crate::frame::PixelFormat>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionSection {
    pub window: Option<usize>,
    pub pet_threshold: Option<f32>,
    pub pet_margin: Option<f32>,
    pub confidence_threshold: Option<f32>,
    pub switch_margin: Option<f32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelSection {
    pub spidev: Option<String>,
    pub gpiochip: Option<String>,
    pub dc_pin: Option<u32>,
    pub reset_pin: Option<u32>,
    pub backlight_pin: Option<u32>,
    pub rotation: Option<u16>,
    pub spi_hz: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub model: Option<PathBuf>,
    pub display: Option<String>,
    pub camera: CameraSection,
    pub panel: PanelSection,
    pub decision: DecisionSection,
    pub locate: LocateSection,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocateSection {
    /// `activation` or `centre` ([`crate::locate::by_name`]).
    pub method: Option<String>,
    /// The activation locator's wide pass runs every this many frames.
    pub every: Option<usize>,
}

/// The locate stage used when neither `--locator` nor the settings file names one.
pub const DEFAULT_LOCATOR: &str = "activation";

/// A settings file that cannot be used: names the file and, where it can, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: bad config{}: {message}", key.as_ref().map(|k| format!(" at `{k}`")).unwrap_or_default())]
    Invalid { path: PathBuf, key: Option<String>, message: String },
}

impl FileConfig {
    /// The settings file petcam reads when no `--config` is given, if it exists.
    pub const SYSTEM_PATH: &'static str = "/etc/petcam.toml";

    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    /// Parses settings text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let key = e.span().and_then(|span| key_at(text, span.start));
            ConfigError::Invalid { path: path.into(), key, message: e.message().trim().to_string() }
        })
    }

    /// `explicit`, else [`Self::SYSTEM_PATH`] when it exists, else the defaults.
    pub fn load_or_default(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
        match explicit {
            Some(p) => Self::load(p),
            None if Path::new(Self::SYSTEM_PATH).is_file() => Self::load(Path::new(Self::SYSTEM_PATH)),
            None => Ok(FileConfig::default()),
        }
    }
}

/// The dotted key (`camera.width`) of the `key = value` line holding byte `offset` of `text`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('['))?;
    let section = before[..line_start].lines().rev().map(str::trim).find(|l| l.starts_with('[')).map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_string(),
    })
}

impl DecisionSection {
    /// The decision settings: this section's values, else the model's calibrated thresholds, else
    /// the defaults.
    pub fn resolve(&self, meta: &crate::metadata::ModelMetadata) -> crate::decision::DecisionConfig {
        let d = crate::decision::DecisionConfig::default();
        crate::decision::DecisionConfig {
            window: self.window.unwrap_or(d.window),
            pet_threshold: self.pet_threshold.unwrap_or(meta.pet_threshold),
            pet_margin: self.pet_margin.unwrap_or(d.pet_margin),
            confidence_threshold: self.confidence_threshold.unwrap_or(meta.confidence_threshold),
            switch_margin: self.switch_margin.unwrap_or(d.switch_margin),
        }
    }
}

/// The f32 model shipped in `models/`: the default where petcam has no fast int8 tile (x86_64,
/// armv7: a Pi running a 32-bit OS).
pub const DEFAULT_MODEL_FILE: &str = "petcam-effnet-lite0-96-f32.onnx";

/// The int8 model shipped beside it: the default on aarch64 (Raspberry Pi 5, 4, 3, Zero 2 W with
/// a 64-bit OS), where petcam runs its 1x1 convolutions in int8 on its own op: `sdot` with the
/// dot product (Cortex-A76, Pi 5: 0.40x f32's instructions per inference), `smull`/`sadalp`
/// without (Cortex-A72, Pi 4), with f32's accuracy on camera frames (models/MODEL_CARD.md, "The
/// int8 file"). Elsewhere it would run in f32 on its int8 weights: no faster, so not chosen.
pub const INT8_MODEL_FILE: &str = "petcam-effnet-lite0-96-int8.onnx";

/// The model files to look for when none is given, best first: on a CPU where the int8 model
/// runs in integer arithmetic (`Policy::Auto.takes("int8")`: aarch64, and not `--int8 none`)
/// the int8 one, then the f32 one; elsewhere the other way round (an install that ships only
/// one of them still finds it).
pub fn default_model_files() -> [&'static str; 2] {
    model_files(crate::classifier::pointwise::Policy::Auto.takes("int8"))
}

fn model_files(int8_first: bool) -> [&'static str; 2] {
    if int8_first {
        [INT8_MODEL_FILE, DEFAULT_MODEL_FILE]
    } else {
        [DEFAULT_MODEL_FILE, INT8_MODEL_FILE]
    }
}

/// Which precision the default model has on this CPU, and why: for the log and `petcam info`.
pub fn default_model_reason() -> &'static str {
    let pointwise = crate::classifier::pointwise::Policy::Auto;
    use crate::classifier::pointwise::{has_dot_product, has_int8_tile};
    match (pointwise.takes("int8"), has_int8_tile(), has_dot_product()) {
        (true, true, true) => "int8 first: this CPU has the dot product, so its 1x1 convolutions run in int8 on sdot (0.40x f32's instructions)",
        (true, true, false) => "int8 first: this aarch64 CPU runs its 1x1 convolutions in int8 on smull/sadalp, without the dot product (0.64x f32's instructions)",
        (true, false, _) => "int8 first: --int8 all runs its 1x1 convolutions in int8 on the portable tile (a Pi's arithmetic, slowly)",
        (false, true, _) => "f32 first: --int8 none keeps int8 arithmetic off",
        (false, false, _) => "f32 first: this CPU has no fast int8 tile (not aarch64), and int8 weights in f32 arithmetic are no faster",
    }
}

/// Where to look for the model when none is given: `$PETCAM_MODEL`, then the system install,
/// next to the executable and the source tree's `models/`, each for [`default_model_files`] in
/// order.
pub fn default_model_candidates() -> Vec<PathBuf> {
    let mut v = vec![];
    if let Some(p) = std::env::var_os("PETCAM_MODEL") {
        v.push(PathBuf::from(p));
    }
    let mut dirs = vec![PathBuf::from("/usr/share/petcam")];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.join("models"));
            dirs.push(dir.join("../share/petcam"));
        }
    }
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    for dir in dirs {
        v.extend(default_model_files().iter().map(|f| dir.join(f)));
    }
    v
}

/// The model to use: explicit path, else the first default candidate that exists (else the
/// source tree's copy of the first default file, so the error names a sensible path).
pub fn resolve_model(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let c = default_model_candidates();
    c.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(default_model_files()[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On aarch64 (an int8 tile) the int8 model first, else the f32 one, with the other as the
    /// fallback in every place the app looks; the source tree's copy resolves.
    #[test]
    fn the_default_model_is_int8_where_the_cpu_has_an_int8_tile_else_f32() {
        let dot = crate::classifier::pointwise::has_int8_tile();
        let (first, second) = if dot { (INT8_MODEL_FILE, DEFAULT_MODEL_FILE) } else { (DEFAULT_MODEL_FILE, INT8_MODEL_FILE) };
        assert_eq!(default_model_files(), [first, second]);
        assert_eq!((model_files(true), model_files(false)), ([INT8_MODEL_FILE, DEFAULT_MODEL_FILE], [DEFAULT_MODEL_FILE, INT8_MODEL_FILE]));
        assert!(default_model_reason().starts_with(if dot { "int8 first" } else { "f32 first" }));
        let c = default_model_candidates();
        let at = c.iter().rposition(|p| p.ends_with(first)).unwrap();
        assert!(c[at + 1].ends_with(second) && c[at + 1].parent() == c[at].parent(), "{c:?}");
        if std::env::var_os("PETCAM_MODEL").is_none() && !std::path::Path::new("/usr/share/petcam").exists() {
            assert!(resolve_model(None).ends_with(first));
        }
    }

    #[test]
    fn display_kinds_parse() {
        assert_eq!("png:out".parse::<DisplayKind>(), Ok(DisplayKind::Png("out".into())));
        assert_eq!("fb".parse::<DisplayKind>(), Ok(DisplayKind::Framebuffer("/dev/fb0".into())));
        assert!("hdmi".parse::<DisplayKind>().unwrap_err().contains("unknown display `hdmi`"));
    }

    #[test]
    fn config_file_errors_name_the_file() {
        let p = std::env::temp_dir().join(format!("petcam-cfg-{}.toml", std::process::id()));
        std::fs::write(&p, "display = \"png:x\"\n[camera]\nwidth = 320\n").unwrap();
        let c = FileConfig::load(&p).unwrap();
        assert_eq!(c.camera.width, Some(320));
        std::fs::write(&p, "[camera]\nwidht = 320\n").unwrap();
        let e = FileConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains(&p.display().to_string()) && e.contains("widht"), "{e}");
        std::fs::remove_file(&p).ok();
    }

    #[test]
    fn a_bad_value_names_the_file_and_the_dotted_key() {
        let e = FileConfig::parse("display = \"none\"\n[camera]\ndevice = \"/dev/video0\"\nwidth = \"wide\"\n", Path::new("/etc/petcam.toml")).unwrap_err().to_string();
        assert!(e.starts_with("/etc/petcam.toml: bad config at `camera.width`:"), "{e}");
        let e = FileConfig::parse("[decision]\nwindow = -3\n", Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.contains("at `decision.window`"), "{e}");
        let e = FileConfig::load(Path::new("/nonexistent/petcam.toml")).unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/petcam.toml: cannot read config:"), "{e}");
    }

    #[test]
    fn decision_settings_fall_back_to_the_model_then_the_defaults() {
        let meta = crate::metadata::tests::sample();
        let file = DecisionSection { window: Some(9), ..Default::default() };
        let d = file.resolve(&meta);
        assert_eq!(d.window, 9);
        assert_eq!((d.pet_threshold, d.confidence_threshold), (meta.pet_threshold, meta.confidence_threshold));
        assert_eq!(d.switch_margin, crate::decision::DecisionConfig::default().switch_margin);
    }
}
