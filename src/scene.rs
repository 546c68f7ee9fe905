//! Camera-like frames made from photos, for recordings used in tests and demos, and for the
//! trainer's camera-conditions benchmark.
//!
//! A photo is placed into a 640x480 scene the way a kiosk camera would see a pet: not always
//! centred, not always filling the frame, over a background picture (an empty room, say), with a
//! white-balance cast, an exposure shift and sensor noise. [`Shot`] goes further for the
//! benchmark: the subject anywhere at 35-100% of the frame height, possibly cut by the frame edge,
//! its aspect stretched a little, gamma, defocus blur and MJPEG-grade JPEG quality. Everything is
//! driven by a seed, so a recording or a benchmark made twice is identical.

use crate::preprocess::Rect;
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
    /// White balance: per-channel gains.
    pub gains: [f32; 3],
    pub exposure: f32,
    /// Tone curve exponent on `[0, 1]` values (1 = linear).
    pub gamma: f32,
    /// Uniform sensor noise amplitude in 8-bit steps.
    pub noise: f32,
}

impl Look {
    pub fn random(rng: &mut Rng) -> Look {
        Look { gains: [rng.range(0.92, 1.08), 1.0, rng.range(0.92, 1.08)], exposure: rng.range(0.85, 1.15), gamma: 1.0, noise: rng.range(1.0, 4.0) }
    }
    /// A cheap camera's range: stronger cast, exposure and gamma, more noise.
    pub fn cheap_camera(rng: &mut Rng) -> Look {
        Look { gains: [rng.range(0.85, 1.15), 1.0, rng.range(0.85, 1.15)], exposure: rng.range(0.75, 1.25), gamma: rng.range(0.8, 1.25), noise: rng.range(1.0, 6.0) }
    }
    pub fn neutral() -> Look {
        Look { gains: [1.0; 3], exposure: 1.0, gamma: 1.0, noise: 0.0 }
    }
}

/// One camera-conditions frame's recipe (see the module docs). The subject's centre may lie
/// anywhere that keeps about 70% of its width and height in the frame.
#[derive(Debug, Clone, Copy)]
pub struct Shot {
    /// Subject height as a fraction of the frame height (35-100%).
    pub height_frac: f32,
    /// Horizontal stretch of the subject (0.85-1.15).
    pub aspect: f32,
    /// Where the subject's centre is, as fractions of the frame.
    pub centre_x: f32,
    pub centre_y: f32,
    pub look: Look,
    /// Defocus: Gaussian blur sigma in pixels (0 = sharp).
    pub blur: f32,
    /// JPEG quality of the delivered MJPEG frame (50-80).
    pub jpeg_quality: u8,
}

impl Shot {
    pub fn random(rng: &mut Rng) -> Shot {
        Shot::random_in(rng, 0.35, 1.0)
    }

    /// [`Shot::random`] with the subject's height drawn from `lo..hi` of the frame height (the
    /// same draws otherwise: `random_in(rng, 0.35, 1.0)` is `random(rng)`).
    pub fn random_in(rng: &mut Rng, lo: f32, hi: f32) -> Shot {
        let height_frac = rng.range(lo, hi);
        // Up to 30% of the subject may fall outside the frame on each axis (its width taken as
        // about its height, i.e. 3/4 of it in frame widths).
        let width_frac = 0.75 * height_frac;
        Shot {
            height_frac,
            aspect: rng.range(0.85, 1.15),
            centre_x: rng.range(0.2 * width_frac, 1.0 - 0.2 * width_frac),
            centre_y: rng.range(0.2 * height_frac, 1.0 - 0.2 * height_frac),
            look: Look::cheap_camera(rng),
            blur: if rng.range(0.0, 1.0) < 0.5 { 0.0 } else { rng.range(0.3, 1.2) },
            jpeg_quality: rng.range(50.0, 80.99) as u8,
        }
    }

    /// The frame as the camera delivers its pixels (before JPEG), and where the subject's pixels
    /// landed (clipped to the frame).
    pub fn compose(&self, bg: &RgbImage, subject: &RgbImage, rng: &mut Rng) -> (RgbImage, Rect) {
        let mut out = bg.clone();
        let (w, h) = out.dimensions();
        let sh = ((self.height_frac * h as f32) as u32).max(1);
        let sw = ((subject.width() as f32 * sh as f32 / subject.height() as f32 * self.aspect).round() as u32).max(1);
        let small = image::imageops::resize(subject, sw, sh, image::imageops::FilterType::Triangle);
        let x = (self.centre_x * w as f32 - sw as f32 / 2.0).round() as i64;
        let y = (self.centre_y * h as f32 - sh as f32 / 2.0).round() as i64;
        image::imageops::overlay(&mut out, &small, x, y);
        let (x0, y0) = (x.clamp(0, w as i64) as u32, y.clamp(0, h as i64) as u32);
        let (x1, y1) = ((x + sw as i64).clamp(0, w as i64) as u32, (y + sh as i64).clamp(0, h as i64) as u32);
        if self.blur > 0.0 {
            out = image::imageops::blur(&out, self.blur);
        }
        apply_look(&mut out, &self.look, rng);
        (out, Rect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 })
    }
}

/// Colour cast, exposure, gamma and noise, in place.
fn apply_look(img: &mut RgbImage, look: &Look, rng: &mut Rng) {
    let curve: Vec<f32> = (0..256).map(|v| if look.gamma == 1.0 { v as f32 } else { 255.0 * (v as f32 / 255.0).powf(look.gamma) }).collect();
    for px in img.pixels_mut() {
        for k in 0..3 {
            let n = if look.noise > 0.0 { rng.range(-look.noise, look.noise) } else { 0.0 };
            px[k] = (curve[px[k] as usize] * look.gains[k] * look.exposure + n).clamp(0.0, 255.0) as u8;
        }
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
    apply_look(&mut out, look, rng);
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

    #[test]
    fn a_shot_reports_where_the_subject_landed_even_when_cut_by_the_edge() {
        let bg = background(None, 640, 480);
        let subj = RgbImage::from_pixel(100, 100, Rgb([255, 0, 0]));
        let shot = Shot { height_frac: 0.5, aspect: 1.0, centre_x: 0.0, centre_y: 0.5, look: Look::neutral(), blur: 0.0, jpeg_quality: 80 };
        let (img, f) = shot.compose(&bg, &subj, &mut Rng::new(1));
        assert_eq!(f, Rect { x: 0, y: 120, width: 120, height: 240 });
        assert_eq!(img.get_pixel(60, 240)[0], 255);
        assert_eq!(img.get_pixel(200, 240)[0], 110);
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let s = Shot::random(&mut rng);
            assert!((0.35..=1.0).contains(&s.height_frac) && (50..=80).contains(&s.jpeg_quality), "{s:?}");
            let (_, f) = s.compose(&bg, &subj, &mut Rng::new(1));
            assert!(f.width > 0 && f.height as f32 >= 0.55 * s.height_frac * 480.0, "{s:?} {f:?}");
        }
    }
}
