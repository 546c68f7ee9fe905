//! An in-memory RGB888 drawing surface. Screens are drawn here, then a display backend copies the
//! whole picture out (PNG file, framebuffer, SPI panel) in one go: no tearing, one code path.

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use image::RgbImage;

#[derive(Clone, PartialEq)]
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Canvas {
        Canvas { width, height, pixels: vec![0; (width * height * 3) as usize] }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Packed RGB888 rows, top to bottom.
    pub fn rgb(&self) -> &[u8] {
        &self.pixels
    }

    pub fn to_image(&self) -> RgbImage {
        RgbImage::from_raw(self.width, self.height, self.pixels.clone()).expect("sized at creation")
    }

    /// Copies `img` with its top-left corner at (x, y), clipped to the canvas.
    pub fn blit(&mut self, img: &RgbImage, x: i32, y: i32) {
        for (ix, iy, p) in img.enumerate_pixels() {
            let (cx, cy) = (x + ix as i32, y + iy as i32);
            if cx >= 0 && cy >= 0 && (cx as u32) < self.width && (cy as u32) < self.height {
                let i = ((cy as u32 * self.width + cx as u32) * 3) as usize;
                self.pixels[i..i + 3].copy_from_slice(&p.0);
            }
        }
    }

    /// The picture as big-endian RGB565 (what ST7789/ILI9341 and 16-bit framebuffers take).
    pub fn to_rgb565_be(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.width * self.height * 2) as usize);
        for p in self.pixels.chunks_exact(3) {
            let v = ((p[0] as u16 & 0xF8) << 8) | ((p[1] as u16 & 0xFC) << 3) | (p[2] as u16 >> 3);
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(pt, c) in pixels {
            if pt.x >= 0 && pt.y >= 0 && (pt.x as u32) < self.width && (pt.y as u32) < self.height {
                let i = ((pt.y as u32 * self.width + pt.x as u32) * 3) as usize;
                self.pixels[i] = c.r();
                self.pixels[i + 1] = c.g();
                self.pixels[i + 2] = c.b();
            }
        }
        Ok(())
    }

    fn clear(&mut self, c: Self::Color) -> Result<(), Self::Error> {
        for p in self.pixels.chunks_exact_mut(3) {
            p.copy_from_slice(&[c.r(), c.g(), c.b()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};

    #[test]
    fn draws_clip_and_convert() {
        let mut c = Canvas::new(4, 2);
        Rectangle::new(Point::new(-2, 0), Size::new(4, 1)).into_styled(PrimitiveStyle::with_fill(Rgb888::RED)).draw(&mut c).unwrap();
        assert_eq!(&c.rgb()[..6], &[255, 0, 0, 255, 0, 0]);
        assert_eq!(&c.rgb()[6..9], &[0, 0, 0]);
        let be = c.to_rgb565_be();
        assert_eq!(&be[..2], &[0xF8, 0x00]);
    }
}
