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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    /// A panel whose `show` fails while `broken` is set.
    struct Panel {
        broken: Rc<Cell<bool>>,
    }

    impl Display for Panel {
        fn size(&self) -> (u32, u32) {
            (8, 8)
        }
        fn show(&mut self, _: &Canvas) -> Result<(), DisplayError> {
            if self.broken.get() {
                Err(DisplayError { device: "/dev/spidev0.0".into(), message: "write failed".into() })
            } else {
                Ok(())
            }
        }
        fn describe(&self) -> String {
            "test panel".into()
        }
    }

    /// `open` fails while `failing` is above zero (counting down), and counts its calls.
    fn opener(failing: Rc<Cell<u32>>, calls: Rc<Cell<u32>>, broken: Rc<Cell<bool>>) -> impl FnMut() -> Result<Panel, DisplayError> {
        move || {
            calls.set(calls.get() + 1);
            if failing.get() > 0 {
                failing.set(failing.get() - 1);
                Err(DisplayError { device: "/dev/spidev0.0".into(), message: "no such device".into() })
            } else {
                Ok(Panel { broken: broken.clone() })
            }
        }
    }

    #[test]
    fn a_panel_that_fails_to_open_is_retried_until_it_works() {
        let (failing, calls, broken) = (Rc::new(Cell::new(2)), Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
        let mut d = Reopening::new("/dev/spidev0.0", (8, 8), Duration::ZERO, opener(failing.clone(), calls.clone(), broken.clone()));
        let canvas = Canvas::new(8, 8);
        assert!(!d.is_open(), "first open failed");
        assert_eq!(d.describe(), "/dev/spidev0.0 (not available)");
        let e = d.show(&canvas).unwrap_err().to_string();
        assert!(e.contains("/dev/spidev0.0") && e.contains("no such device"), "{e}");
        assert!(d.show(&canvas).is_ok(), "third open works and the canvas is shown");
        assert!(d.is_open());
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_panel_that_fails_while_showing_is_dropped_and_reopened_after_the_retry_interval() {
        let (failing, calls, broken) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)), Rc::new(Cell::new(true)));
        let mut d = Reopening::new("/dev/spidev0.0", (8, 8), Duration::from_millis(50), opener(failing, calls.clone(), broken.clone()));
        let canvas = Canvas::new(8, 8);
        assert!(d.is_open());
        assert!(d.show(&canvas).is_err(), "the write fails");
        assert!(!d.is_open(), "the failed device is dropped");
        // Within the retry interval nothing is reopened: show answers at once.
        let e = d.show(&canvas).unwrap_err().to_string();
        assert!(e.contains("retrying"), "{e}");
        assert_eq!(calls.get(), 1);
        broken.set(false);
        std::thread::sleep(Duration::from_millis(60));
        assert!(d.show(&canvas).is_ok(), "reopened after the interval");
        assert_eq!(calls.get(), 2);
    }
}
