//! Turning an RGB picture into the model's input tensor: the one implementation that both the
//! trainer and the edge app use, so training and the device see the same pixels.
//!
//! Contract of a petcam model input:
//! - shape `[1, 3, S, S]` (NCHW), `S` = the model's input size (96 for the shipped model);
//! - channel order R, G, B;
//! - values `pixel / 255` in `[0, 1]`, as `f32`. The model normalises inside its graph (EfficientNet
//!   wants `(x - 0.5) / 0.5`), so no mean or std is applied here.
//!
//! The picture is first cut to the square region the locate stage chose ([`crate::locate`]; the
//! centre square by default) and then resized with a triangle (bilinear, area-aware when
//! shrinking) filter. [`crate::pipeline::Preprocessor`] runs the two in order.

use image::imageops::{self, FilterType};
use image::RgbImage;

/// A rectangle inside an image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// The largest square centred in a `width` x `height` picture.
    pub fn centre_square(width: u32, height: u32) -> Rect {
        let side = width.min(height);
        Rect { x: (width - side) / 2, y: (height - side) / 2, width: side, height: side }
    }
}

/// Cuts `rect` out of `img` and resizes it to `size` x `size` (triangle filter).
///
/// `rect` is clamped to the picture; an empty rectangle yields a black picture rather than a panic.
pub fn crop_resize(img: &RgbImage, rect: Rect, size: u32) -> RgbImage {
    let x = rect.x.min(img.width().saturating_sub(1));
    let y = rect.y.min(img.height().saturating_sub(1));
    let w = rect.width.min(img.width() - x);
    let h = rect.height.min(img.height() - y);
    if w == 0 || h == 0 || size == 0 {
        return RgbImage::new(size, size);
    }
    let view = imageops::crop_imm(img, x, y, w, h);
    if w == size && h == size {
        return view.to_image();
    }
    imageops::resize(&*view, size, size, FilterType::Triangle)
}

/// Centre square crop, resized to `size` x `size`: what the edge app does to every frame.
pub fn centre_crop_resize(img: &RgbImage, size: u32) -> RgbImage {
    crop_resize(img, Rect::centre_square(img.width(), img.height()), size)
}

/// Resizes `img` so that its shorter side is `side` pixels (aspect kept, triangle filter). Pictures
/// already that small are returned unchanged.
pub fn resize_shorter_side(img: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let short = w.min(h);
    if short <= side || short == 0 {
        return img.clone();
    }
    let (nw, nh) = if w < h { (side, (h as u64 * side as u64 / w as u64) as u32) } else { ((w as u64 * side as u64 / h as u64) as u32, side) };
    imageops::resize(img, nw.max(1), nh.max(1), FilterType::Triangle)
}

/// Appends `img` as planar CHW `f32` in `[0, 1]` (R plane, then G, then B) to `out`.
pub fn push_chw(img: &RgbImage, out: &mut Vec<f32>) {
    let plane = (img.width() * img.height()) as usize;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let dst = &mut out[start..];
    for (i, p) in img.pixels().enumerate() {
        dst[i] = p[0] as f32 / 255.0;
        dst[plane + i] = p[1] as f32 / 255.0;
        dst[2 * plane + i] = p[2] as f32 / 255.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn centre_square_of_landscape_and_portrait() {
        assert_eq!(Rect::centre_square(640, 480), Rect { x: 80, y: 0, width: 480, height: 480 });
        assert_eq!(Rect::centre_square(300, 500), Rect { x: 0, y: 100, width: 300, height: 300 });
    }

    #[test]
    fn crop_keeps_only_the_centre() {
        // Left and right bands red, centre square green: the crop must be all green.
        let img = RgbImage::from_fn(640, 480, |x, _| if (80..560).contains(&x) { Rgb([0, 255, 0]) } else { Rgb([255, 0, 0]) });
        let out = centre_crop_resize(&img, 96);
        assert_eq!((out.width(), out.height()), (96, 96));
        assert!(out.pixels().all(|p| p[1] > 250 && p[0] < 5), "red leaked into the crop");
    }

    #[test]
    fn chw_layout_and_scale() {
        let img = RgbImage::from_fn(2, 1, |x, _| if x == 0 { Rgb([255, 0, 51]) } else { Rgb([0, 102, 0]) });
        let mut v = Vec::new();
        push_chw(&img, &mut v);
        let expect = [1.0, 0.0, 0.0, 0.4, 0.2, 0.0];
        for (a, b) in v.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn degenerate_rect_gives_black_not_panic() {
        let img = RgbImage::new(10, 10);
        let out = crop_resize(&img, Rect { x: 50, y: 50, width: 0, height: 0 }, 8);
        assert_eq!(out.dimensions(), (8, 8));
    }
}
