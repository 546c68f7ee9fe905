//! Camera-like frames made from photos, for recordings used in tests and demos.
//!
//! A photo is placed into a 640x480 scene the way a kiosk camera would see a pet: not always
//! centred, not always filling the frame (60-100% of the frame height), over a background picture
//! (an empty room, say), with a white-balance cast, an exposure shift and sensor noise. Everything
//! is driven by a seed, so a recording made twice is identical.

use image::{Rgb, RgbImage};

/// Deterministic xorshift generator (no `rand` dependency in the device crate).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// How a subject sits in the scene.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// Subject height as a fraction of the frame height.
    pub height_frac: f32,
    /// Horizontal centre as a fraction of the frame width.
    pub centre_x: f32,
    /// Vertical centre as a fraction of the frame height.
    pub centre_y: f32,
}

impl Placement {
    /// A random placement like a camera's: 60-100% of the frame height, off-centre.
    pub fn random(rng: &mut Rng) -> Placement {
        let h = rng.range(0.6, 1.0);
        Placement { height_frac: h, centre_x: rng.range(0.35, 0.65), centre_y: rng.range(0.45, 0.55) }
    }
}

/// Camera colour and noise.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub gains: [f32; 3],
    pub exposure: f32,
    pub noise: f32,
}

impl Look {
    pub fn random(rng: &mut Rng) -> Look {
        Look { gains: [rng.range(0.92, 1.08), 1.0, rng.range(0.92, 1.08)], exposure: rng.range(0.85, 1.15), noise: rng.range(1.0, 4.0) }
    }
    pub fn neutral() -> Look {
        Look { gains: [1.0; 3], exposure: 1.0, noise: 0.0 }
    }
}

/// Scales `img` (keeping its aspect) to `out_h` high.
fn scaled(img: &RgbImage, out_h: u32) -> RgbImage {
    let w = ((img.width() as f32 * out_h as f32 / img.height() as f32).round() as u32).max(1);
    image::imageops::resize(img, w, out_h.max(1), image::imageops::FilterType::Triangle)
}

/// The background picture covering the whole `w` x `h` frame (centre crop), or mid grey.
pub fn background(bg: Option<&RgbImage>, w: u32, h: u32) -> RgbImage {
    match bg {
        Some(b) => {
            let scale = (w as f32 / b.width() as f32).max(h as f32 / b.height() as f32);
            let (sw, sh) = (((b.width() as f32 * scale).ceil() as u32).max(w), ((b.height() as f32 * scale).ceil() as u32).max(h));
            let big = image::imageops::resize(b, sw, sh, image::imageops::FilterType::Triangle);
            image::imageops::crop_imm(&big, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
        }
        None => RgbImage::from_pixel(w, h, Rgb([110, 105, 100])),
    }
}

/// Composes one frame: `subject` (if any) placed over `bg`, then the camera look applied.
pub fn compose(bg: &RgbImage, subject: Option<(&RgbImage, Placement)>, look: &Look, rng: &mut Rng) -> RgbImage {
    let mut out = bg.clone();
    let (w, h) = out.dimensions();
    if let Some((s, p)) = subject {
        let sh = (p.height_frac * h as f32) as u32;
        let mut small = scaled(s, sh);
        if small.width() > w {
            small = image::imageops::crop_imm(&small, (small.width() - w) / 2, 0, w, small.height()).to_image();
        }
        let x = (p.centre_x * w as f32 - small.width() as f32 / 2.0).round() as i64;
        let y = (p.centre_y * h as f32 - small.height() as f32 / 2.0).round() as i64;
        image::imageops::overlay(&mut out, &small, x.clamp(0, (w - small.width()) as i64), y.clamp(0, (h - small.height().min(h)) as i64));
    }
    for px in out.pixels_mut() {
        for k in 0..3 {
            let n = if look.noise > 0.0 { rng.range(-look.noise, look.noise) } else { 0.0 };
            px[k] = (px[k] as f32 * look.gains[k] * look.exposure + n).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_lands_where_placed_and_is_deterministic() {
        let bg = background(None, 64, 48);
        let subj = RgbImage::from_pixel(10, 10, Rgb([255, 0, 0]));
        let p = Placement { height_frac: 0.5, centre_x: 0.25, centre_y: 0.5 };
        let a = compose(&bg, Some((&subj, p)), &Look::neutral(), &mut Rng::new(1));
        assert_eq!(a.get_pixel(16, 24)[0], 255);
        assert_eq!(a.get_pixel(50, 24)[0], 110);
        let look = Look { noise: 3.0, ..Look::neutral() };
        assert_eq!(compose(&bg, Some((&subj, p)), &look, &mut Rng::new(7)), compose(&bg, Some((&subj, p)), &look, &mut Rng::new(7)));
    }
}
