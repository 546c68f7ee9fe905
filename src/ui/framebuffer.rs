//! The Linux framebuffer (`/dev/fb0`), for HDMI kiosks: 16-bit RGB565 and 32-bit XRGB8888.
//!
//! Geometry comes from sysfs (`/sys/class/graphics/fbN/{virtual_size,bits_per_pixel,stride}`).
//! The canvas is drawn at the top-left; a smaller canvas is centred.

use super::{Canvas, Display, DisplayError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct Framebuffer {
    path: PathBuf,
    file: std::fs::File,
    width: u32,
    height: u32,
    bpp: u32,
    stride: u32,
}

fn sysfs(dev: &Path, name: &str) -> Result<String, DisplayError> {
    let base = dev.file_name().and_then(|n| n.to_str()).unwrap_or("fb0");
    let p = PathBuf::from("/sys/class/graphics").join(base).join(name);
    std::fs::read_to_string(&p).map(|s| s.trim().to_string()).map_err(|e| DisplayError { device: p.display().to_string(), message: format!("cannot read framebuffer geometry: {e}") })
}

impl Framebuffer {
    pub fn open(path: &Path) -> Result<Framebuffer, DisplayError> {
        let err = |message: String| DisplayError { device: path.display().to_string(), message };
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| err(format!("cannot open framebuffer: {e}")))?;
        let size = sysfs(path, "virtual_size")?;
        let (w, h) = size.split_once(',').ok_or_else(|| err(format!("odd virtual_size `{size}`")))?;
        let width: u32 = w.parse().map_err(|_| err(format!("odd virtual_size `{size}`")))?;
        let height: u32 = h.parse().map_err(|_| err(format!("odd virtual_size `{size}`")))?;
        let bpp: u32 = sysfs(path, "bits_per_pixel")?.parse().map_err(|_| err("odd bits_per_pixel".into()))?;
        if bpp != 16 && bpp != 32 {
            return Err(err(format!("{bpp} bits per pixel is not supported (RGB565 or XRGB8888 only)")));
        }
        let stride = sysfs(path, "stride").ok().and_then(|s| s.parse().ok()).unwrap_or(width * bpp / 8);
        Ok(Framebuffer { path: path.to_path_buf(), file, width, height, bpp, stride })
    }
}

/// Converts a canvas row to the framebuffer's pixel format (little-endian in memory).
pub fn encode_row(rgb: &[u8], bpp: u32, out: &mut Vec<u8>) {
    out.clear();
    for p in rgb.chunks_exact(3) {
        if bpp == 16 {
            let v = ((p[0] as u16 & 0xF8) << 8) | ((p[1] as u16 & 0xFC) << 3) | (p[2] as u16 >> 3);
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.extend_from_slice(&[p[2], p[1], p[0], 0xFF]);
        }
    }
}

impl Display for Framebuffer {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn show(&mut self, canvas: &Canvas) -> Result<(), DisplayError> {
        let err = |e: std::io::Error| DisplayError { device: self.path.display().to_string(), message: format!("write failed: {e}") };
        let w = canvas.width().min(self.width);
        let h = canvas.height().min(self.height);
        let x0 = (self.width - w) / 2;
        let y0 = (self.height - h) / 2;
        let mut row = Vec::new();
        for y in 0..h {
            let start = (y * canvas.width() * 3) as usize;
            encode_row(&canvas.rgb()[start..start + (w * 3) as usize], self.bpp, &mut row);
            let off = ((y0 + y) * self.stride + x0 * self.bpp / 8) as u64;
            self.file.seek(SeekFrom::Start(off)).map_err(err)?;
            self.file.write_all(&row).map_err(err)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("framebuffer {} ({}x{}, {} bpp)", self.path.display(), self.width, self.height, self.bpp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_formats() {
        let mut out = vec![];
        encode_row(&[255, 0, 0, 0, 0, 255], 16, &mut out);
        assert_eq!(out, vec![0x00, 0xF8, 0x1F, 0x00]);
        encode_row(&[1, 2, 3], 32, &mut out);
        assert_eq!(out, vec![3, 2, 1, 255]);
    }

    #[test]
    fn missing_device_names_the_path() {
        let e = Framebuffer::open(Path::new("/dev/nonexistent-fb9")).err().unwrap().to_string();
        assert!(e.starts_with("/dev/nonexistent-fb9: cannot open framebuffer"), "{e}");
    }
}
