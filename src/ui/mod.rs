//! What the user sees: [`screens`] draw onto a [`canvas::Canvas`]; a [`Display`] shows a finished
//! canvas: PNG files ([`png`]), the Linux framebuffer ([`framebuffer`]) or an SPI TFT panel
//! ([`panel`], feature `spi`).

pub mod canvas;
pub mod framebuffer;
#[cfg(all(feature = "spi", target_os = "linux"))]
pub mod panel;
pub mod png;
pub mod screens;

pub use canvas::Canvas;
pub use screens::{render, Overlay, Screen};

#[derive(Debug, thiserror::Error)]
#[error("{device}: {message}")]
pub struct DisplayError {
    pub device: String,
    pub message: String,
}

/// Something that can show a canvas. `show` failing is reported and retried by the kiosk; it never
/// stops classification.
pub trait Display {
    /// Pixel size of the screen.
    fn size(&self) -> (u32, u32);
    fn show(&mut self, canvas: &Canvas) -> Result<(), DisplayError>;
    fn describe(&self) -> String;
}

impl<D: Display + ?Sized> Display for Box<D> {
    fn size(&self) -> (u32, u32) {
        (**self).size()
    }
    fn show(&mut self, canvas: &Canvas) -> Result<(), DisplayError> {
        (**self).show(canvas)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A display that shows nothing (`--display none`).
pub struct NullDisplay {
    pub size: (u32, u32),
}

impl Display for NullDisplay {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn show(&mut self, _: &Canvas) -> Result<(), DisplayError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "no display".into()
    }
}

/// A display that (re)initialises itself: when opening fails, or showing fails, it logs, drops
/// the device and tries to open it again at most every `retry` interval. Classification never
/// waits for it.
pub struct Reopening<D, F> {
    open: F,
    display: Option<D>,
    size: (u32, u32),
    name: String,
    retry: std::time::Duration,
    next_try: std::time::Instant,
}

impl<D: Display, F: FnMut() -> Result<D, DisplayError>> Reopening<D, F> {
    pub fn new(name: &str, size: (u32, u32), retry: std::time::Duration, mut open: F) -> Self {
        let display = match open() {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!("display: {e} (will retry every {:?})", retry);
                None
            }
        };
        Reopening { open, display, size, name: name.into(), retry, next_try: std::time::Instant::now() + retry }
    }

    pub fn is_open(&self) -> bool {
        self.display.is_some()
    }
}

impl<D: Display, F: FnMut() -> Result<D, DisplayError>> Display for Reopening<D, F> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn show(&mut self, canvas: &Canvas) -> Result<(), DisplayError> {
        if self.display.is_none() {
            if std::time::Instant::now() < self.next_try {
                return Err(DisplayError { device: self.name.clone(), message: "not available (retrying)".into() });
            }
            self.next_try = std::time::Instant::now() + self.retry;
            match (self.open)() {
                Ok(d) => {
                    tracing::info!("display {} is back", self.name);
                    self.display = Some(d);
                }
                Err(e) => return Err(e),
            }
        }
        let r = self.display.as_mut().expect("opened above").show(canvas);
        if r.is_err() {
            self.display = None;
            self.next_try = std::time::Instant::now() + self.retry;
        }
        r
    }

    fn describe(&self) -> String {
        match &self.display {
            Some(d) => d.describe(),
            None => format!("{} (not available)", self.name),
        }
    }
}
