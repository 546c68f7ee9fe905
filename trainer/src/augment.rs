//! Training-time augmentation: every photo is seen differently in every epoch.
//!
//! One inverse-mapped bilinear warp does random resized crop (area and aspect jitter), zoom,
//! rotation and horizontal flip in a single pass; colour jitter (brightness, contrast, saturation,
//! white-balance cast) and sensor noise follow, so photos look more like cheap camera frames.
//!
//! [`scene_into`] makes what the device classifies when a camera frame holds the pet: the square the
//! locate stage cut around it (`petcam::locate`), where the pet fills only part of the square, sits
//! off-centre, may be cut by the square's edge, and has some other scene around it. Pet-free photos
//! get the locator's other habit: a close look at a small part of a scene.

use image::RgbImage;
use rand::Rng;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, clap::Args)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip.
    #[arg(long, default_value_t = 0.5)]
    pub flip: f32,
    /// Largest rotation, degrees either way.
    #[arg(long, default_value_t = 10.0)]
    pub rotation: f32,
    /// Zoom range: the crop is scaled by a factor in [1 - zoom, 1 + zoom].
    #[arg(long, default_value_t = 0.1)]
    pub zoom: f32,
    /// Smallest crop area as a fraction of the photo (random resized crop); 1 disables cropping.
    #[arg(long, default_value_t = 0.35)]
    pub crop_min_area: f32,
    /// Largest aspect-ratio change of a crop (4/3 = up to 33% squashed either way); 1 disables it.
    #[arg(long, default_value_t = 1.333)]
    pub aspect: f32,
    /// Colour jitter strength (brightness, contrast, saturation, white balance), 0 disables.
    #[arg(long, default_value_t = 0.2)]
    pub colour: f32,
    /// Largest standard deviation of added sensor noise (0..1 scale).
    #[arg(long, default_value_t = 0.02)]
    pub noise: f32,
    /// Share of training photos shown as the located square of a camera frame ([`scene_into`]):
    /// the photo at 45-100% of the square's side, anywhere, up to 15% cut off, on a pet-free photo;
    /// half the pet-free photos as a close-up of down to 10% of their area instead. 0 disables.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub scene: f32,
}

impl AugmentConfig {
    /// No augmentation at all (centre square, as at evaluation).
    pub fn none() -> AugmentConfig {
        AugmentConfig { flip: 0.0, rotation: 0.0, zoom: 0.0, crop_min_area: 1.0, aspect: 1.0, colour: 0.0, noise: 0.0, scene: 0.0 }
    }

    /// Scales every strength by `k` (for parameter studies: "augmentation 0.1 vs 0.2"); the share
    /// of scenes stays (it is its own axis).
    pub fn scaled(&self, k: f32) -> AugmentConfig {
        AugmentConfig {
            flip: self.flip,
            rotation: self.rotation * k,
            zoom: self.zoom * k,
            crop_min_area: 1.0 - (1.0 - self.crop_min_area) * k,
            aspect: self.aspect.powf(k),
            colour: self.colour * k,
            noise: self.noise * k,
            scene: self.scene,
        }
    }

    /// The same geometry with no colour change and no noise (applied once to a whole scene).
    fn geometry_only(&self) -> AugmentConfig {
        AugmentConfig { colour: 0.0, noise: 0.0, ..self.clone() }
    }
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |xx: i64, yy: i64| img.get_pixel(xx as u32, yy as u32).0;
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    let mut out = [0.0; 3];
    for k in 0..3 {
        let top = a[k] as f32 * (1.0 - fx) + b[k] as f32 * fx;
        let bot = c[k] as f32 * (1.0 - fx) + d[k] as f32 * fx;
        out[k] = (top * (1.0 - fy) + bot * fy) / 255.0;
    }
    out
}

/// Writes one augmented `size x size` sample of `img` as CHW `[0, 1]` into `out` (len `3*size*size`).
pub fn augment_into(img: &RgbImage, size: u32, cfg: &AugmentConfig, rng: &mut impl Rng, out: &mut [f32]) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    // Random resized crop around a square of the shorter side.
    let area = w.min(h).powi(2) * rng.random_range(cfg.crop_min_area.min(1.0)..=1.0);
    let log_aspect = cfg.aspect.max(1.0).ln();
    let aspect = if log_aspect > 0.0 { rng.random_range(-log_aspect..=log_aspect).exp() } else { 1.0 };
    let zoom = if cfg.zoom > 0.0 { rng.random_range(1.0 - cfg.zoom..=1.0 + cfg.zoom) } else { 1.0 };
    let cw = ((area * aspect).sqrt() / zoom).min(w);
    let ch = ((area / aspect).sqrt() / zoom).min(h);
    // Crops wander over the photo only when cropping is on; otherwise the centre square, as at
    // evaluation.
    let wander = cfg.crop_min_area < 1.0;
    let cx = if wander && w > cw { rng.random_range(cw / 2.0..=w - cw / 2.0) } else { w / 2.0 };
    let cy = if wander && h > ch { rng.random_range(ch / 2.0..=h - ch / 2.0) } else { h / 2.0 };
    let angle = if cfg.rotation > 0.0 { rng.random_range(-cfg.rotation..=cfg.rotation).to_radians() } else { 0.0 };
    let flip = rng.random::<f32>() < cfg.flip;
    let (sin, cos) = angle.sin_cos();
    let (sx, sy) = (cw / size as f32, ch / size as f32);

    let look = Look::draw(cfg, rng);

    let plane = (size * size) as usize;
    let half = size as f32 / 2.0;
    for oy in 0..size {
        for ox in 0..size {
            let mut dx = (ox as f32 + 0.5 - half) * sx;
            let dy = (oy as f32 + 0.5 - half) * sy;
            if flip {
                dx = -dx;
            }
            let x = cx + dx * cos - dy * sin - 0.5;
            let y = cy + dx * sin + dy * cos - 0.5;
            let mut p = bilinear(img, x, y);
            look.apply(&mut p, rng);
            let i = (oy * size + ox) as usize;
            out[i] = p[0];
            out[plane + i] = p[1];
            out[2 * plane + i] = p[2];
        }
    }
}

/// One draw of colour jitter and noise strength, applied pixel by pixel.
struct Look {
    on: bool,
    brightness: f32,
    contrast: f32,
    saturation: f32,
    gains: [f32; 3],
    noise: f32,
}

impl Look {
    fn draw(cfg: &AugmentConfig, rng: &mut impl Rng) -> Look {
        let c = cfg.colour;
        let mut jit = |amount: f32| if amount > 0.0 { rng.random_range(1.0 - amount..=1.0 + amount) } else { 1.0 };
        let brightness = jit(c);
        let contrast = jit(c);
        let saturation = jit(c);
        let gains = [jit(c / 2.0), jit(c / 2.0), jit(c / 2.0)];
        let noise = if cfg.noise > 0.0 { rng.random_range(0.0..cfg.noise) } else { 0.0 };
        Look { on: c > 0.0 || noise > 0.0, brightness, contrast, saturation, gains, noise }
    }

    fn apply(&self, p: &mut [f32; 3], rng: &mut impl Rng) {
        if !self.on {
            return;
        }
        let grey = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        for (c, gain) in p.iter_mut().zip(self.gains) {
            let mut v = grey + (*c - grey) * self.saturation;
            v = (v - 0.5) * self.contrast + 0.5;
            v *= self.brightness * gain;
            if self.noise > 0.0 {
                // Sum of uniforms: cheap, roughly Gaussian.
                v += self.noise * (rng.random::<f32>() + rng.random::<f32>() + rng.random::<f32>() - 1.5) * 2.0;
            }
            *c = v.clamp(0.0, 1.0);
        }
    }
}

/// Smallest share of the square's side a composited pet takes.
const SCENE_MIN_SIDE: f32 = 0.45;
/// Largest share of a composited pet's side that may fall outside the square.
const SCENE_MAX_CUT: f32 = 0.15;
/// Smallest crop area of a pet-free photo's close-up.
const SCENE_CLOSE_UP_AREA: f32 = 0.1;

/// Writes the square the locate stage would cut from a camera frame, as CHW `[0, 1]` into `out`:
/// with `background`, `img` augmented as by [`augment_into`] and pasted at a random scale and place
/// on an augmented crop of `background` (a pet-free photo); without, `img` (a pet-free photo) as a
/// close-up. Colour and noise are drawn once for the whole square, as a camera does. Pass a
/// background for pet-free photos too (some of the time), or "pasted" becomes a sign of a pet.
pub fn scene_into(img: &RgbImage, background: Option<&RgbImage>, size: u32, cfg: &AugmentConfig, rng: &mut impl Rng, out: &mut [f32]) {
    let geometry = cfg.geometry_only();
    match background {
        None => {
            let close_up = AugmentConfig { crop_min_area: SCENE_CLOSE_UP_AREA.min(cfg.crop_min_area), ..geometry };
            augment_into(img, size, &close_up, rng, out);
        }
        Some(bg) => {
            augment_into(bg, size, &geometry, rng, out);
            let side = ((size as f32 * rng.random_range(SCENE_MIN_SIDE..=1.0)).round() as u32).clamp(1, size);
            let mut pet = vec![0.0; 3 * (side * side) as usize];
            augment_into(img, side, &geometry, rng, &mut pet);
            let cut = (side as f32 * SCENE_MAX_CUT) as i64;
            let lo = -cut;
            let hi = size as i64 - side as i64 + cut;
            let x0 = rng.random_range(lo..=hi);
            let y0 = rng.random_range(lo..=hi);
            let (plane, pet_plane) = ((size * size) as usize, (side * side) as usize);
            for py in 0..side as i64 {
                let y = y0 + py;
                if !(0..size as i64).contains(&y) {
                    continue;
                }
                for px in 0..side as i64 {
                    let x = x0 + px;
                    if !(0..size as i64).contains(&x) {
                        continue;
                    }
                    let (o, i) = ((y * size as i64 + x) as usize, (py * side as i64 + px) as usize);
                    for k in 0..3 {
                        out[k * plane + o] = pet[k * pet_plane + i];
                    }
                }
            }
        }
    }
    let look = Look::draw(cfg, rng);
    let plane = (size * size) as usize;
    for i in 0..plane {
        let mut p = [out[i], out[plane + i], out[2 * plane + i]];
        look.apply(&mut p, rng);
        out[i] = p[0];
        out[plane + i] = p[1];
        out[2 * plane + i] = p[2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use rand::SeedableRng;

    #[test]
    fn no_augmentation_reproduces_the_centre_square() {
        let img = RgbImage::from_fn(48, 32, |x, y| Rgb([(x * 5) as u8, (y * 7) as u8, 100]));
        let mut out = vec![0.0; 3 * 32 * 32];
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        augment_into(&img, 32, &AugmentConfig::none(), &mut rng, &mut out);
        // Pixel (0,0) of the output is source pixel (8,0); blue plane constant.
        assert!((out[0] - 40.0 / 255.0).abs() < 1e-3, "{}", out[0]);
        assert!(out[2 * 1024..].iter().all(|v| (v - 100.0 / 255.0).abs() < 1e-3));
    }

    #[test]
    fn flip_mirrors() {
        let img = RgbImage::from_fn(32, 32, |x, _| if x < 16 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
        let cfg = AugmentConfig { flip: 1.0, ..AugmentConfig::none() };
        let mut out = vec![0.0; 3 * 32 * 32];
        augment_into(&img, 32, &cfg, &mut rand::rngs::StdRng::seed_from_u64(1), &mut out);
        assert!(out[0] < 0.01 && out[2 * 1024] > 0.99, "left edge should be blue after flip");
    }

    #[test]
    fn a_scene_puts_the_pet_on_the_background_at_a_random_place_and_scale() {
        let pet = RgbImage::from_pixel(40, 40, Rgb([255, 0, 0]));
        let bg = RgbImage::from_pixel(50, 40, Rgb([0, 0, 255]));
        let cfg = AugmentConfig { scene: 1.0, ..AugmentConfig::none() };
        let size = 32;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut shares, mut centres) = (vec![], vec![]);
        for _ in 0..40 {
            let mut out = vec![0.0; 3 * size * size];
            scene_into(&pet, Some(&bg), size as u32, &cfg, &mut rng, &mut out);
            let red: Vec<usize> = (0..size * size).filter(|&i| out[i] > 0.5).collect();
            // Every pixel is pet or background, and the pet never covers less than what survives
            // the largest cut of the smallest pet.
            assert!((0..size * size).all(|i| (out[i] > 0.5) != (out[2 * size * size + i] > 0.5)));
            let least = (SCENE_MIN_SIDE * (1.0 - SCENE_MAX_CUT) * size as f32).floor().powi(2) as usize;
            assert!(red.len() >= least.min(size * size) / 2, "{} pet pixels", red.len());
            shares.push(red.len() as f32 / (size * size) as f32);
            centres.push(red.iter().map(|i| i % size).sum::<usize>() as f32 / red.len() as f32);
        }
        let spread = |v: &[f32]| v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread(&shares) > 0.3, "pet size should vary: {shares:?}");
        assert!(spread(&centres) > 6.0, "pet place should vary: {centres:?}");
        assert!(shares.iter().any(|&s| s < 0.5), "some pets should be small: {shares:?}");
    }

    #[test]
    fn a_pet_free_scene_is_a_close_up_of_the_photo() {
        // Left half black, right half white: a close-up is often mostly one colour, the plain
        // view (the whole square) never.
        let img = RgbImage::from_fn(64, 64, |x, _| if x < 32 { Rgb([0, 0, 0]) } else { Rgb([255, 255, 255]) });
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut one_sided = |scene: f32| {
            let cfg = AugmentConfig { scene, crop_min_area: 0.35, ..AugmentConfig::none() };
            (0..40)
                .filter(|_| {
                    let mut out = vec![0.0; 3 * 16 * 16];
                    if scene > 0.0 {
                        scene_into(&img, None, 16, &cfg, &mut rng, &mut out);
                    } else {
                        augment_into(&img, 16, &cfg, &mut rng, &mut out);
                    }
                    let dark = out.iter().filter(|&&v| v < 0.5).count() as f32 / out.len() as f32;
                    !(0.2..=0.8).contains(&dark)
                })
                .count()
        };
        let (close_ups, crops) = (one_sided(1.0), one_sided(0.0));
        assert!(close_ups >= 4 && close_ups >= crops + 3, "{close_ups} of 40 close-ups and {crops} of 40 ordinary crops were mostly one colour");
    }

    #[test]
    fn strong_augmentation_stays_in_range() {
        let img = RgbImage::from_fn(60, 40, |x, y| Rgb([(x * 4) as u8, (y * 6) as u8, 255]));
        let cfg = AugmentConfig { colour: 0.5, noise: 0.1, rotation: 30.0, ..AugmentConfig::none().scaled(1.0) };
        let mut out = vec![0.0; 3 * 24 * 24];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..20 {
            augment_into(&img, 24, &cfg, &mut rng, &mut out);
            assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}
