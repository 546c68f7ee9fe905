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
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read config: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: bad config: {}", path.display(), e.to_string().trim()))
    }
}

/// The model file name shipped in `models/`.
pub const DEFAULT_MODEL_FILE: &str = "petcam-effnet-lite0-96-f32.onnx";

/// Where to look for the model when none is given: `$PETCAM_MODEL`, the system install, next to
/// the executable, and the source tree's `models/`.
pub fn default_model_candidates() -> Vec<PathBuf> {
    let mut v = vec![];
    if let Some(p) = std::env::var_os("PETCAM_MODEL") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("/usr/share/petcam").join(DEFAULT_MODEL_FILE));
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            v.push(dir.join("models").join(DEFAULT_MODEL_FILE));
            v.push(dir.join("../share/petcam").join(DEFAULT_MODEL_FILE));
        }
    }
    v.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(DEFAULT_MODEL_FILE));
    v
}

/// The model to use: explicit path, else the first default candidate that exists (else the last
/// candidate, so the error names a sensible path).
pub fn resolve_model(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let c = default_model_candidates();
    c.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| c.last().cloned().expect("non-empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = FileConfig::load(&p).unwrap_err();
        assert!(e.contains(&p.display().to_string()) && e.contains("widht"), "{e}");
        std::fs::remove_file(&p).ok();
    }
}
