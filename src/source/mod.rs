//! Where frames come from. [`FrameSource`] has one method, [`FrameSource::next_frame`]; the kiosk
//! pulls frames at its own pace. Implementations: a V4L2 camera ([`camera`], feature `camera`), a
//! recording made by `petcam record` ([`recording`]), and still images ([`stills`]).
//!
//! A source reports trouble as a [`SourceError`] and stays usable: the camera reopens itself with
//! back-off, so the caller just keeps asking. [`SourceError::End`] means a finite source is done.

#[cfg(all(feature = "camera", target_os = "linux"))]
pub mod camera;
pub mod recording;
pub mod stills;

use crate::frame::Frame;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A finite source (recording, stills) has no more frames.
    #[error("end of {0}")]
    End(String),
    /// No frame within the timeout; the device may come back.
    #[error("{device}: no frame within {timeout_ms} ms")]
    Timeout { device: String, timeout_ms: u64 },
    /// The device is gone or failed; the source will try to reopen it on the next call.
    #[error("{device}: {message}")]
    Device { device: String, message: String },
    /// A file of a recording or a still image could not be used.
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

impl SourceError {
    /// Whether the source has ended for good (as opposed to a transient fault).
    pub fn is_end(&self) -> bool {
        matches!(self, SourceError::End(_))
    }
}

pub trait FrameSource {
    /// The next frame. Errors other than [`SourceError::End`] are transient: call again.
    fn next_frame(&mut self) -> Result<Frame, SourceError>;
    /// Human-readable description (device path, recording directory, ...).
    fn describe(&self) -> String;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        (**self).next_frame()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}
