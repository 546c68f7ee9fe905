//! SPI TFT panels (ST7789 240x240, ILI9341 320x240) through `linux-embedded-hal` (spidev and the
//! GPIO character device) and `mipidsi`. The bus (spidev + D/C pin) is kept apart from the chip
//! (mipidsi model), as mipidsi does; pins and rotation come from the configuration.
//!
//! Wiring on a Raspberry Pi (BCM numbering, SPI0 CE0): MOSI GPIO10 (pin 19), SCLK GPIO11 (pin 23),
//! CS GPIO8 (pin 24), D/C GPIO25 (pin 22), RST GPIO27 (pin 13), backlight GPIO18 (pin 12) or 3V3.
//! Enable SPI with `dtparam=spi=on` in `/boot/firmware/config.txt`.

use super::{Canvas, Display, DisplayError};
use embedded_graphics::pixelcolor::raw::RawU16;
use embedded_graphics::pixelcolor::Rgb565;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};
use mipidsi::interface::SpiInterface;
use mipidsi::models::{ILI9341Rgb565, ST7789};
use mipidsi::options::{ColorInversion, Orientation, Rotation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelModel {
    /// 240x240 IPS (Adafruit/Waveshare 1.3" and 1.54"); colours inverted.
    St7789,
    /// 320x240 (2.4"/2.8" modules).
    Ili9341,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PanelConfig {
    pub model: PanelModel,
    pub spidev: String,
    pub gpiochip: String,
    /// Data/command pin (BCM number).
    pub dc_pin: u32,
    /// Reset pin (BCM number); none if tied high.
    pub reset_pin: Option<u32>,
    /// Backlight pin switched on at start (BCM number), if wired to a GPIO.
    pub backlight_pin: Option<u32>,
    /// 0, 90, 180 or 270 degrees.
    pub rotation: u16,
    pub spi_hz: u32,
}

impl Default for PanelConfig {
    fn default() -> Self {
        PanelConfig {
            model: PanelModel::St7789,
            spidev: "/dev/spidev0.0".into(),
            gpiochip: "/dev/gpiochip0".into(),
            dc_pin: 25,
            reset_pin: Some(27),
            backlight_pin: Some(18),
            rotation: 0,
            spi_hz: 40_000_000,
        }
    }
}

impl PanelConfig {
    /// Screen size in pixels after rotation.
    pub fn size(&self) -> (u32, u32) {
        match self.model {
            PanelModel::St7789 => (240, 240),
            // Landscape at 0/180 degrees, portrait at 90/270.
            PanelModel::Ili9341 if self.rotation % 180 == 90 => (240, 320),
            PanelModel::Ili9341 => (320, 240),
        }
    }
}

type Spi = SpiInterface<'static, SpidevDevice, CdevPin>;

enum Chip2 {
    St(mipidsi::Display<Spi, ST7789, CdevPin>),
    Ili(mipidsi::Display<Spi, ILI9341Rgb565, CdevPin>),
}

pub struct Panel {
    cfg: PanelConfig,
    chip: Option<Chip2>,
    _backlight: Option<CdevPin>,
}

fn out_pin(chip: &mut Chip, line: u32, value: u8, what: &str, dev: &str) -> Result<CdevPin, DisplayError> {
    let err = |e: String| DisplayError { device: format!("{dev} line {line}"), message: format!("{what} pin: {e}") };
    let handle = chip.get_line(line).map_err(|e| err(e.to_string()))?.request(LineRequestFlags::OUTPUT, value, "petcam").map_err(|e| err(e.to_string()))?;
    CdevPin::new(handle).map_err(|e| err(e.to_string()))
}

impl Panel {
    /// Opens the bus and pins and initialises the controller.
    pub fn open(cfg: PanelConfig) -> Result<Panel, DisplayError> {
        let rotation = match cfg.rotation {
            0 => Rotation::Deg0,
            90 => Rotation::Deg90,
            180 => Rotation::Deg180,
            270 => Rotation::Deg270,
            r => return Err(DisplayError { device: cfg.spidev.clone(), message: format!("rotation {r} is not 0, 90, 180 or 270") }),
        };
        let mut spi = SpidevDevice::open(&cfg.spidev).map_err(|e| DisplayError { device: cfg.spidev.clone(), message: format!("cannot open SPI device: {e}") })?;
        let opts = SpidevOptions::new().bits_per_word(8).max_speed_hz(cfg.spi_hz).mode(SpiModeFlags::SPI_MODE_0).build();
        spi.0.configure(&opts).map_err(|e| DisplayError { device: cfg.spidev.clone(), message: format!("cannot configure SPI: {e}") })?;
        let mut chip = Chip::new(&cfg.gpiochip).map_err(|e| DisplayError { device: cfg.gpiochip.clone(), message: format!("cannot open GPIO chip: {e}") })?;
        let dc = out_pin(&mut chip, cfg.dc_pin, 0, "D/C", &cfg.gpiochip)?;
        let rst = cfg.reset_pin.map(|p| out_pin(&mut chip, p, 1, "reset", &cfg.gpiochip)).transpose()?;
        let backlight = cfg.backlight_pin.map(|p| out_pin(&mut chip, p, 1, "backlight", &cfg.gpiochip)).transpose()?;
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
        let di = SpiInterface::new(spi, dc, buffer);
        let mut delay = Delay;
        let orientation = Orientation::new().rotate(rotation);
        let init_err = |e: String| DisplayError { device: cfg.spidev.clone(), message: format!("panel initialisation failed: {e}") };
        let Some(rst) = rst else {
            return Err(DisplayError { device: cfg.gpiochip.clone(), message: "a reset pin is required by this driver setup (set reset_pin)".into() });
        };
        let chip2 = match cfg.model {
            PanelModel::St7789 => Chip2::St(
                mipidsi::Builder::new(ST7789, di)
                    .display_size(240, 240)
                    .invert_colors(ColorInversion::Inverted)
                    .orientation(orientation)
                    .reset_pin(rst)
                    .init(&mut delay)
                    .map_err(|e| init_err(format!("{e:?}")))?,
            ),
            PanelModel::Ili9341 => Chip2::Ili(
                mipidsi::Builder::new(ILI9341Rgb565, di)
                    .display_size(240, 320)
                    .orientation(orientation.rotate(Rotation::Deg90))
                    .reset_pin(rst)
                    .init(&mut delay)
                    .map_err(|e| init_err(format!("{e:?}")))?,
            ),
        };
        Ok(Panel { cfg, chip: Some(chip2), _backlight: backlight })
    }
}

impl Display for Panel {
    fn size(&self) -> (u32, u32) {
        self.cfg.size()
    }

    fn show(&mut self, canvas: &Canvas) -> Result<(), DisplayError> {
        let (w, h) = self.size();
        let err = |e: String| DisplayError { device: self.cfg.spidev.clone(), message: format!("SPI write failed: {e}") };
        let pixels = canvas.rgb().chunks_exact(3).map(|p| Rgb565::from(RawU16::new(((p[0] as u16 & 0xF8) << 8) | ((p[1] as u16 & 0xFC) << 3) | (p[2] as u16 >> 3))));
        let (ex, ey) = ((w.min(canvas.width()) - 1) as u16, (h.min(canvas.height()) - 1) as u16);
        match self.chip.as_mut() {
            Some(Chip2::St(d)) => d.set_pixels(0, 0, ex, ey, pixels).map_err(|e| err(format!("{e:?}"))),
            Some(Chip2::Ili(d)) => d.set_pixels(0, 0, ex, ey, pixels).map_err(|e| err(format!("{e:?}"))),
            None => Err(err("panel not initialised".into())),
        }
    }

    fn describe(&self) -> String {
        let (w, h) = self.size();
        format!("{:?} panel {w}x{h} on {} (D/C {}, rotation {})", self.cfg.model, self.cfg.spidev, self.cfg.dc_pin, self.cfg.rotation)
    }
}
