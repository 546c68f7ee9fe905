//! Camera frames and their conversion to RGB.
//!
//! A [`Frame`] is exactly what a camera delivered: bytes plus format and size. [`to_rgb`] turns it
//! into an RGB picture: YUYV 4:2:2 with BT.601 limited-range coefficients (what UVC webcams send),
//! MJPEG (a JPEG per frame; webcams often omit the Huffman tables, which are then supplied), or
//! packed RGB24. Bad frames are errors, never panics: the kiosk counts and skips them.

use image::RgbImage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// Motion JPEG: each frame is a (possibly DHT-less) JPEG.
    Mjpeg,
    /// YUYV 4:2:2, 2 bytes per pixel: Y0 U Y1 V.
    Yuyv,
    /// Packed RGB, 3 bytes per pixel.
    Rgb24,
}

impl PixelFormat {
    /// V4L2 fourcc code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Rgb24 => *b"RGB3",
        }
    }

    pub fn from_fourcc(code: [u8; 4]) -> Option<PixelFormat> {
        match &code {
            b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
            b"YUYV" => Some(PixelFormat::Yuyv),
            b"RGB3" => Some(PixelFormat::Rgb24),
            _ => None,
        }
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Rgb24 => "RGB24",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    /// Milliseconds since the source started.
    pub timestamp_ms: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("{format} frame of {width}x{height} needs {expected} bytes, got {got}")]
    Length { format: PixelFormat, width: u32, height: u32, expected: usize, got: usize },
    #[error("frame size {width}x{height} is not usable (need 2..=8192 wide and high{even})")]
    Size { width: u32, height: u32, even: &'static str },
    #[error("corrupt MJPEG frame: {0}")]
    Jpeg(String),
    #[error("MJPEG frame decodes to {got_w}x{got_h}, camera said {width}x{height}")]
    JpegSize { width: u32, height: u32, got_w: u32, got_h: u32 },
}

const MAX_SIDE: u32 = 8192;

fn check_size(f: &Frame, even_width: bool) -> Result<(), FrameError> {
    let bad = !(2..=MAX_SIDE).contains(&f.width) || !(2..=MAX_SIDE).contains(&f.height) || (even_width && f.width % 2 == 1);
    if bad {
        return Err(FrameError::Size { width: f.width, height: f.height, even: if even_width { ", width even" } else { "" } });
    }
    Ok(())
}

/// Converts any supported frame to RGB.
pub fn to_rgb(f: &Frame) -> Result<RgbImage, FrameError> {
    match f.format {
        PixelFormat::Yuyv => yuyv_to_rgb(f),
        PixelFormat::Rgb24 => {
            check_size(f, false)?;
            let expected = (f.width * f.height * 3) as usize;
            if f.data.len() != expected {
                return Err(FrameError::Length { format: f.format, width: f.width, height: f.height, expected, got: f.data.len() });
            }
            Ok(RgbImage::from_raw(f.width, f.height, f.data.clone()).expect("length checked"))
        }
        PixelFormat::Mjpeg => mjpeg_to_rgb(f),
    }
}

/// BT.601 limited range (Y 16..235, Cb/Cr 16..240) to RGB, in 8.8 fixed point.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (y as i32 - 16);
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [clamp(c + 409 * e), clamp(c - 100 * d - 208 * e), clamp(c + 516 * d)]
}

fn yuyv_to_rgb(f: &Frame) -> Result<RgbImage, FrameError> {
    check_size(f, true)?;
    let expected = (f.width * f.height * 2) as usize;
    if f.data.len() != expected {
        return Err(FrameError::Length { format: f.format, width: f.width, height: f.height, expected, got: f.data.len() });
    }
    let mut out = vec![0u8; (f.width * f.height * 3) as usize];
    for (src, dst) in f.data.chunks_exact(4).zip(out.chunks_exact_mut(6)) {
        let (y0, u, y1, v) = (src[0], src[1], src[2], src[3]);
        dst[..3].copy_from_slice(&yuv_to_rgb(y0, u, v));
        dst[3..].copy_from_slice(&yuv_to_rgb(y1, u, v));
    }
    Ok(RgbImage::from_raw(f.width, f.height, out).expect("sized above"))
}

/// RGB to YUYV (BT.601 limited range), for making test recordings and for fault injection.
pub fn rgb_to_yuyv(img: &RgbImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let mut out = Vec::with_capacity((w * h * 2) as usize);
    let yuv = |p: &image::Rgb<u8>| {
        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
        let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
        let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
        let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
        (y.clamp(0, 255), u.clamp(0, 255), v.clamp(0, 255))
    };
    for row in 0..h {
        for x in (0..w - w % 2).step_by(2) {
            let (y0, u0, v0) = yuv(img.get_pixel(x, row));
            let (y1, u1, v1) = yuv(img.get_pixel(x + 1, row));
            out.extend_from_slice(&[y0 as u8, ((u0 + u1) / 2) as u8, y1 as u8, ((v0 + v1) / 2) as u8]);
        }
    }
    out
}

/// The standard JPEG Huffman tables (ITU T.81 Annex K) as a DHT segment. Many UVC cameras send
/// MJPEG frames without one and expect the decoder to assume these.
const STANDARD_DHT: &[u8] = &[
    0xFF, 0xC4, 0x01, 0xA2, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A,
    0x0B, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x10, 0x00,
    0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7D, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
    0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29,
    0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A,
    0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8,
    0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3,
    0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0x11, 0x00, 0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01,
    0x02, 0x77, 0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33,
    0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46,
    0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85,
    0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA,
    0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6,
    0xF7, 0xF8, 0xF9, 0xFA,
];

/// Inserts the standard Huffman tables before the first SOS marker if the JPEG has no DHT.
fn with_huffman_tables(data: &[u8]) -> Option<Vec<u8>> {
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return None;
        }
        let marker = data[i + 1];
        match marker {
            0xC4 => return None, // has tables
            0xDA => {
                let mut v = Vec::with_capacity(data.len() + STANDARD_DHT.len());
                v.extend_from_slice(&data[..i]);
                v.extend_from_slice(STANDARD_DHT);
                v.extend_from_slice(&data[i..]);
                return Some(v);
            }
            0xD8 | 0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
                i += 2 + len;
            }
        }
    }
    None
}

fn mjpeg_to_rgb(f: &Frame) -> Result<RgbImage, FrameError> {
    if f.data.len() < 4 || f.data[0] != 0xFF || f.data[1] != 0xD8 {
        return Err(FrameError::Jpeg(format!("no JPEG start marker ({} bytes)", f.data.len())));
    }
    let patched = with_huffman_tables(&f.data);
    let bytes = patched.as_deref().unwrap_or(&f.data);
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| FrameError::Jpeg(e.to_string()))?.to_rgb8();
    if f.width != 0 && f.height != 0 && img.dimensions() != (f.width, f.height) {
        return Err(FrameError::JpegSize { width: f.width, height: f.height, got_w: img.width(), got_h: img.height() });
    }
    Ok(img)
}

/// Encodes an RGB picture as a baseline JPEG (for recordings and MJPEG test frames).
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = vec![];
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    enc.encode_image(img).expect("encoding to memory cannot fail");
    out
}

/// The kiosk's default capture size: small MJPEG frames over USB, cheap to decode, and the size
/// the camera-conditions benchmark and the trainer's simulated frames are made at.
pub const DEFAULT_SIZE: (u32, u32) = (640, 480);

/// Parses a size written `WxH` (`640x480`: a camera frame's, or a screen's), each side 64 to
/// 4096 pixels.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("size `{s}` is not WxH"))?;
    let w: u32 = w.parse().map_err(|_| format!("size `{s}` is not WxH"))?;
    let h: u32 = h.parse().map_err(|_| format!("size `{s}` is not WxH"))?;
    if !(64..=4096).contains(&w) || !(64..=4096).contains(&h) {
        return Err(format!("size `{s}` outside 64..4096"));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn frame(format: PixelFormat, w: u32, h: u32, data: Vec<u8>) -> Frame {
        Frame { format, width: w, height: h, data, timestamp_ms: 0 }
    }

    #[test]
    fn yuv_reference_values() {
        // Values from the BT.601 limited-range equations, computed independently:
        // black, white, and the 75% colour bars red/green/blue (Y, Cb, Cr) -> RGB.
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(yuv_to_rgb(126, 128, 128), [128, 128, 128]);
        let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() <= 1);
        assert!(near(yuv_to_rgb(65, 100, 212), [191, 0, 0]), "{:?}", yuv_to_rgb(65, 100, 212));
        assert!(near(yuv_to_rgb(112, 72, 58), [0, 191, 0]), "{:?}", yuv_to_rgb(112, 72, 58));
        assert!(near(yuv_to_rgb(35, 212, 114), [0, 0, 191]), "{:?}", yuv_to_rgb(35, 212, 114));
    }

    #[test]
    fn yuyv_round_trip_is_close() {
        let img = RgbImage::from_fn(64, 8, |x, y| Rgb([(x * 4) as u8, (y * 30) as u8, 200 - x as u8]));
        let f = frame(PixelFormat::Yuyv, 64, 8, rgb_to_yuyv(&img));
        let back = to_rgb(&f).unwrap();
        let worst = img.pixels().zip(back.pixels()).flat_map(|(a, b)| (0..3).map(move |k| (a[k] as i32 - b[k] as i32).abs())).max().unwrap();
        assert!(worst <= 12, "max channel error {worst}");
    }

    #[test]
    fn truncated_and_odd_frames_are_errors() {
        let e = to_rgb(&frame(PixelFormat::Yuyv, 640, 480, vec![0; 1000])).unwrap_err();
        assert_eq!(e.to_string(), "YUYV frame of 640x480 needs 614400 bytes, got 1000");
        assert!(matches!(to_rgb(&frame(PixelFormat::Yuyv, 3, 2, vec![0; 12])), Err(FrameError::Size { .. })));
        assert!(matches!(to_rgb(&frame(PixelFormat::Rgb24, 0, 0, vec![])), Err(FrameError::Size { .. })));
        assert!(matches!(to_rgb(&frame(PixelFormat::Mjpeg, 8, 8, vec![1, 2, 3])), Err(FrameError::Jpeg(_))));
    }

    #[test]
    fn mjpeg_decodes_and_truncation_is_an_error() {
        let img = RgbImage::from_pixel(32, 24, Rgb([200, 40, 40]));
        let jpeg = encode_jpeg(&img, 90);
        let rgb = to_rgb(&frame(PixelFormat::Mjpeg, 32, 24, jpeg.clone())).unwrap();
        let p = rgb.get_pixel(10, 10);
        assert!((p[0] as i32 - 200).abs() < 6 && (p[1] as i32 - 40).abs() < 6, "{p:?}");
        assert!(to_rgb(&frame(PixelFormat::Mjpeg, 32, 24, jpeg[..jpeg.len() / 3].to_vec())).is_err());
        assert!(matches!(to_rgb(&frame(PixelFormat::Mjpeg, 64, 48, jpeg)), Err(FrameError::JpegSize { .. })));
    }

    #[test]
    fn mjpeg_without_huffman_tables_decodes() {
        let img = RgbImage::from_fn(32, 32, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 90]));
        let jpeg = encode_jpeg(&img, 85);
        // Strip every DHT segment, as many UVC cameras do.
        let mut stripped = jpeg[..2].to_vec();
        let mut i = 2;
        while i < jpeg.len() {
            let marker = jpeg[i + 1];
            if marker == 0xDA {
                stripped.extend_from_slice(&jpeg[i..]);
                break;
            }
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            if marker != 0xC4 {
                stripped.extend_from_slice(&jpeg[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        assert!(stripped.len() < jpeg.len());
        let out = to_rgb(&frame(PixelFormat::Mjpeg, 32, 32, stripped)).unwrap();
        assert_eq!(out.dimensions(), (32, 32));
    }

    #[test]
    fn frame_sizes_parse_and_refuse_with_the_text() {
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        assert!(parse_size("640").unwrap_err().contains("`640` is not WxH"));
        assert!(parse_size("640xabc").is_err());
        assert!(parse_size("10x10").unwrap_err().contains("outside"));
    }
}
