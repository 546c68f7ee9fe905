//! Still images as a frame source (any format the `image` crate reads), one frame each.

use super::{FrameSource, SourceError};
use crate::frame::{Frame, PixelFormat};
use std::path::PathBuf;

pub struct StillsSource {
    paths: Vec<PathBuf>,
    next: usize,
}

impl StillsSource {
    pub fn new(paths: Vec<PathBuf>) -> StillsSource {
        StillsSource { paths, next: 0 }
    }
}

/// Decodes an image file to an RGB24 frame; errors name the file.
pub fn load(path: &std::path::Path) -> Result<Frame, SourceError> {
    let bytes = std::fs::read(path).map_err(|e| SourceError::File { path: path.display().to_string(), message: format!("cannot read image: {e}") })?;
    decode(&bytes, path)
}

/// Decodes image file bytes to an RGB24 frame; `path` is only used in messages.
pub fn decode(bytes: &[u8], path: &std::path::Path) -> Result<Frame, SourceError> {
    let err = |message: String| SourceError::File { path: path.display().to_string(), message };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| err(format!("cannot read image: {e}")))?;
    if reader.format().is_none() {
        return Err(err("not an image (unknown format)".into()));
    }
    let mut reader = reader;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| err(format!("corrupt or unsupported image: {e}")))?.to_rgb8();
    let (width, height) = img.dimensions();
    Ok(Frame { format: PixelFormat::Rgb24, width, height, data: img.into_raw(), timestamp_ms: 0 })
}

impl FrameSource for StillsSource {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let Some(path) = self.paths.get(self.next) else {
            return Err(SourceError::End("still images".into()));
        };
        self.next += 1;
        load(path)
    }

    fn describe(&self) -> String {
        format!("{} still image(s)", self.paths.len())
    }
}
