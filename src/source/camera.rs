//! V4L2 cameras through the `v4l` crate: USB webcams, and Raspberry Pi CSI cameras through
//! libcamera's V4L2 compatibility layer (`libcamerify petcam run ...`).
//!
//! The camera picks the requested pixel format if the device offers it (MJPEG at 640x480 by
//! default: small frames over USB, cheap to decode), else YUYV, and streams with memory-mapped
//! buffers. A frame that does not arrive within the timeout is a [`SourceError::Timeout`]. When
//! the device fails or disappears (unplugged), the stream is dropped and reopened on later calls
//! with back-off (250 ms, doubling to at most 1 s: [`next_backoff`]), so the kiosk shows an error screen and then
//! recovers by itself when the camera is plugged back in.

use super::{FrameSource, SourceError};
use crate::frame::{Frame, PixelFormat};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use v4l::buffer::Type;
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture;
use v4l::{Device, FourCC};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CameraConfig {
    /// `/dev/videoN`.
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Preferred format; the other supported one is used if the device lacks it.
    pub format: PixelFormat,
    /// Milliseconds to wait for a frame.
    pub timeout_ms: u64,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig { device: PathBuf::from("/dev/video0"), width: crate::frame::DEFAULT_SIZE.0, height: crate::frame::DEFAULT_SIZE.1, format: PixelFormat::Mjpeg, timeout_ms: 2000 }
    }
}

struct Open {
    // Field order matters: the stream is dropped (stopping capture) before the device.
    stream: MmapStream<'static>,
    _device: Device,
    format: PixelFormat,
    width: u32,
    height: u32,
}

pub struct Camera {
    cfg: CameraConfig,
    open: Option<Open>,
    started: Instant,
    retry_at: Instant,
    backoff: Duration,
}

fn open(cfg: &CameraConfig) -> Result<Open, String> {
    let dev = Device::with_path(&cfg.device).map_err(|e| format!("cannot open camera: {e}"))?;
    let offered: Vec<[u8; 4]> = dev.enum_formats().map_err(|e| format!("cannot list formats: {e}"))?.into_iter().map(|d| d.fourcc.repr).collect();
    let wanted = [cfg.format, PixelFormat::Mjpeg, PixelFormat::Yuyv];
    let chosen = wanted.into_iter().find(|f| offered.contains(&f.fourcc())).ok_or_else(|| {
        let names: Vec<String> = offered.iter().map(|c| String::from_utf8_lossy(c).to_string()).collect();
        format!("offers none of MJPEG/YUYV (offers {})", names.join(", "))
    })?;
    let mut fmt = dev.format().map_err(|e| format!("cannot read format: {e}"))?;
    fmt.width = cfg.width;
    fmt.height = cfg.height;
    fmt.fourcc = FourCC::new(&chosen.fourcc());
    let fmt = dev.set_format(&fmt).map_err(|e| format!("cannot set {chosen} {}x{}: {e}", cfg.width, cfg.height))?;
    let format = PixelFormat::from_fourcc(fmt.fourcc.repr).ok_or_else(|| format!("driver switched to unsupported format {}", fmt.fourcc))?;
    let mut stream = MmapStream::with_buffers(&dev, Type::VideoCapture, 4).map_err(|e| format!("cannot start streaming: {e}"))?;
    stream.set_timeout(Duration::from_millis(cfg.timeout_ms));
    tracing::info!("camera {}: {format} {}x{}", cfg.device.display(), fmt.width, fmt.height);
    Ok(Open { stream, _device: dev, format, width: fmt.width, height: fmt.height })
}

/// Longest wait between two attempts to reopen a missing camera: a camera plugged back in is
/// streaming again within this (plus the kiosk's error pause), well inside 2 seconds. Opening a
/// missing device fails at once, so frequent retries cost nothing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The wait after the next failed attempt: doubling from 250 ms up to [`MAX_BACKOFF`].
pub fn next_backoff(current: Duration) -> Duration {
    (current * 2).clamp(Duration::from_millis(250), MAX_BACKOFF)
}

impl Camera {
    /// Opens the camera now; failure is reported but the camera keeps retrying in `next_frame`.
    pub fn new(cfg: CameraConfig) -> (Camera, Option<SourceError>) {
        let mut cam = Camera { cfg, open: None, started: Instant::now(), retry_at: Instant::now(), backoff: Duration::from_millis(250) };
        let err = cam.try_open().err();
        (cam, err)
    }

    fn device(&self) -> String {
        self.cfg.device.display().to_string()
    }

    fn try_open(&mut self) -> Result<(), SourceError> {
        match open(&self.cfg) {
            Ok(o) => {
                self.open = Some(o);
                self.backoff = Duration::from_millis(250);
                Ok(())
            }
            Err(message) => {
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = next_backoff(self.backoff);
                Err(SourceError::Device { device: self.device(), message })
            }
        }
    }

    /// Stops streaming and closes the device (on shutdown).
    pub fn close(&mut self) {
        if let Some(mut o) = self.open.take() {
            let _ = o.stream.stop();
        }
    }
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        if self.open.is_none() {
            let wait = self.retry_at.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            self.try_open()?;
        }
        let o = self.open.as_mut().expect("opened above");
        match o.stream.next() {
            Ok((buf, meta)) => {
                let used = (meta.bytesused as usize).min(buf.len());
                let data = if used > 0 { buf[..used].to_vec() } else { buf.to_vec() };
                Ok(Frame { format: o.format, width: o.width, height: o.height, data, timestamp_ms: self.started.elapsed().as_millis() as u64 })
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => Err(SourceError::Timeout { device: self.device(), timeout_ms: self.cfg.timeout_ms }),
            Err(e) => {
                // Unplugged (ENODEV) or broken: drop the stream and reopen later.
                self.close();
                self.retry_at = Instant::now() + self.backoff;
                Err(SourceError::Device { device: self.device(), message: format!("capture failed: {e} (will reopen)") })
            }
        }
    }

    fn describe(&self) -> String {
        match &self.open {
            Some(o) => format!("camera {} ({} {}x{})", self.device(), o.format, o.width, o.height),
            None => format!("camera {} (not open)", self.device()),
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_attempts_stay_frequent() {
        let mut b = Duration::from_millis(250);
        let mut waits = vec![];
        for _ in 0..10 {
            waits.push(b);
            b = next_backoff(b);
        }
        assert_eq!(waits[1], Duration::from_millis(500));
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF), "{waits:?}");
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
    }

    #[test]
    fn a_missing_camera_is_an_error_naming_the_device_not_a_panic() {
        let (mut cam, err) = Camera::new(CameraConfig { device: "/dev/petcam-no-such-video".into(), ..CameraConfig::default() });
        assert!(err.unwrap().to_string().contains("/dev/petcam-no-such-video"));
        let e = cam.next_frame().unwrap_err();
        assert!(e.to_string().contains("/dev/petcam-no-such-video"), "{e}");
        assert!(cam.describe().contains("not open"));
    }
}
