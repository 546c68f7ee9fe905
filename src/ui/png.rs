//! Headless display: every shown screen becomes a numbered PNG file in a directory
//! (`screen-000001.png`, ...), and `latest.png` is the most recent one.

use super::{Canvas, Display, DisplayError};
use std::path::{Path, PathBuf};

pub struct PngDisplay {
    dir: PathBuf,
    size: (u32, u32),
    count: usize,
    /// Keep every frame (`true`) or only `latest.png`.
    keep_all: bool,
}

impl PngDisplay {
    pub fn new(dir: &Path, size: (u32, u32), keep_all: bool) -> Result<PngDisplay, DisplayError> {
        std::fs::create_dir_all(dir).map_err(|e| DisplayError { device: dir.display().to_string(), message: format!("cannot create directory: {e}") })?;
        Ok(PngDisplay { dir: dir.to_path_buf(), size, count: 0, keep_all })
    }

    pub fn count(&self) -> usize {
        self.count
    }
}

impl Display for PngDisplay {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn show(&mut self, canvas: &Canvas) -> Result<(), DisplayError> {
        self.count += 1;
        let img = canvas.to_image();
        let latest = self.dir.join("latest.png");
        let tmp = self.dir.join(".latest.png.tmp");
        let err = |p: &Path, e: image::ImageError| DisplayError { device: p.display().to_string(), message: format!("cannot write PNG: {e}") };
        if self.keep_all {
            let p = self.dir.join(format!("screen-{:06}.png", self.count));
            img.save_with_format(&p, image::ImageFormat::Png).map_err(|e| err(&p, e))?;
        }
        img.save_with_format(&tmp, image::ImageFormat::Png).map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, &latest).map_err(|e| DisplayError { device: latest.display().to_string(), message: e.to_string() })?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("PNG files in {} ({}x{})", self.dir.display(), self.size.0, self.size.1)
    }
}
