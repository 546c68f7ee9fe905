//! The screens, drawn onto a [`Canvas`] of any size. Layout is computed from the canvas size, and
//! text is set in the largest font that fits (wrapping to two lines before shrinking further), so
//! the same code serves a 240x240 ST7789, a 320x240 ILI9341 and an HDMI framebuffer.

use super::canvas::Canvas;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, PrimitiveStyleBuilder, Rectangle};
use image::RgbImage;
use u8g2_fonts::types::{FontColor, HorizontalAlignment, VerticalPosition};
use u8g2_fonts::{fonts, FontRenderer};

/// What to draw. Names are display names ("Beagle"), probabilities in `[0, 1]`.
#[derive(Debug, Clone)]
pub enum Screen {
    Starting { model: String },
    Breed { name: String, probability: f32, top: Vec<(String, f32)> },
    NotSure { top: Vec<(String, f32)> },
    NoPet { confidence: f32 },
    Error { title: String, message: String },
}

/// Extra information shown on every screen.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Camera picture (any size; the whole frame is fitted into the preview box).
    pub preview: Option<RgbImage>,
    /// The region of the preview picture that was classified, outlined on the preview.
    pub region: Option<crate::preprocess::Rect>,
    pub fps: Option<f32>,
}

const BG: Rgb888 = Rgb888::new(12, 14, 20);
const BAR_BG: Rgb888 = Rgb888::new(32, 36, 48);
const TEXT: Rgb888 = Rgb888::new(240, 240, 240);
const DIM: Rgb888 = Rgb888::new(150, 156, 170);
const GOOD: Rgb888 = Rgb888::new(60, 200, 110);
const FAIR: Rgb888 = Rgb888::new(240, 180, 40);
const BAD: Rgb888 = Rgb888::new(230, 70, 60);

fn renderers_big() -> [FontRenderer; 4] {
    [
        FontRenderer::new::<fonts::u8g2_font_helvB24_tr>(),
        FontRenderer::new::<fonts::u8g2_font_helvB18_tr>(),
        FontRenderer::new::<fonts::u8g2_font_helvB14_tr>(),
        FontRenderer::new::<fonts::u8g2_font_helvB12_tr>(),
    ]
}

fn small() -> FontRenderer {
    FontRenderer::new::<fonts::u8g2_font_helvR10_tr>()
}

fn width_of(f: &FontRenderer, text: &str) -> u32 {
    f.get_rendered_dimensions(text, Point::zero(), VerticalPosition::Top).ok().and_then(|d| d.bounding_box).map(|b| b.size.width).unwrap_or(0)
}

fn line_height(f: &FontRenderer) -> i32 {
    f.get_default_line_height() as i32
}

/// Draws `text` centred at `y` (top), in the largest font that fits `max_w` on one line, else on
/// two lines; returns the y below the text.
fn fitted_text(c: &mut Canvas, text: &str, cx: i32, y: i32, max_w: u32, colour: Rgb888) -> i32 {
    let fonts = renderers_big();
    for f in &fonts {
        if width_of(f, text) <= max_w {
            let _ = f.render_aligned(text, Point::new(cx, y), VerticalPosition::Top, HorizontalAlignment::Center, FontColor::Transparent(colour), c);
            return y + line_height(f) + 2;
        }
    }
    // Two lines: split at the space nearest the middle.
    let mid = text.len() / 2;
    let split = text.char_indices().filter(|(_, ch)| *ch == ' ').map(|(i, _)| i).min_by_key(|i| (*i as i32 - mid as i32).abs());
    if let Some(i) = split {
        let (a, b) = (&text[..i], &text[i + 1..]);
        for f in &fonts {
            if width_of(f, a) <= max_w && width_of(f, b) <= max_w {
                let lh = line_height(f);
                for (k, part) in [a, b].iter().enumerate() {
                    let _ = f.render_aligned(*part, Point::new(cx, y + k as i32 * lh), VerticalPosition::Top, HorizontalAlignment::Center, FontColor::Transparent(colour), c);
                }
                return y + 2 * lh + 2;
            }
        }
    }
    let f = &fonts[fonts.len() - 1];
    let _ = f.render_aligned(text, Point::new(cx, y), VerticalPosition::Top, HorizontalAlignment::Center, FontColor::Transparent(colour), c);
    y + line_height(f) + 2
}

fn text_left(c: &mut Canvas, f: &FontRenderer, text: &str, x: i32, y: i32, colour: Rgb888) {
    let _ = f.render(text, Point::new(x, y), VerticalPosition::Top, FontColor::Transparent(colour), c);
}

fn text_right(c: &mut Canvas, f: &FontRenderer, text: &str, x: i32, y: i32, colour: Rgb888) {
    let _ = f.render_aligned(text, Point::new(x, y), VerticalPosition::Top, HorizontalAlignment::Right, FontColor::Transparent(colour), c);
}

/// Greedy word wrap of `text` into lines no wider than `max_w`.
fn wrap(f: &FontRenderer, text: &str, max_w: u32) -> Vec<String> {
    let mut lines = vec![];
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let candidate = if cur.is_empty() { word.to_string() } else { format!("{cur} {word}") };
        if width_of(f, &candidate) <= max_w || cur.is_empty() {
            cur = candidate;
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    // A single word wider than the line is cut by characters.
    lines
        .into_iter()
        .flat_map(|l| {
            if width_of(f, &l) <= max_w {
                return vec![l];
            }
            let mut parts = vec![];
            let mut p = String::new();
            for ch in l.chars() {
                p.push(ch);
                if width_of(f, &p) > max_w {
                    p.pop();
                    parts.push(std::mem::take(&mut p));
                    p.push(ch);
                }
            }
            parts.push(p);
            parts
        })
        .collect()
}

fn colour_for(p: f32) -> Rgb888 {
    if p >= 0.7 {
        GOOD
    } else if p >= 0.4 {
        FAIR
    } else {
        BAD
    }
}

fn status_bar(c: &mut Canvas, overlay: &Overlay) -> i32 {
    let w = c.width();
    let f = small();
    let h = line_height(&f) + 6;
    let _ = Rectangle::new(Point::zero(), Size::new(w, h as u32)).into_styled(PrimitiveStyle::with_fill(BAR_BG)).draw(c);
    text_left(c, &f, "petcam", 6, 3, DIM);
    if let Some(fps) = overlay.fps {
        text_right(c, &f, &format!("{fps:.1} fps"), w as i32 - 6, 3, DIM);
    }
    h
}

/// Draws the preview in a square box of side `side` at (x, y); returns whether one was drawn.
fn preview(c: &mut Canvas, overlay: &Overlay, x: i32, y: i32, side: u32) -> bool {
    let Some(img) = &overlay.preview else { return false };
    if side < 8 {
        return false;
    }
    // The whole frame, fitted into the square and centred in it.
    let scale = side as f32 / img.width().max(img.height()).max(1) as f32;
    let (pw, ph) = (((img.width() as f32 * scale).round() as u32).clamp(1, side), ((img.height() as f32 * scale).round() as u32).clamp(1, side));
    let small = image::imageops::resize(img, pw, ph, image::imageops::FilterType::Triangle);
    let (ox, oy) = (x + (side - pw) as i32 / 2, y + (side - ph) as i32 / 2);
    c.blit(&small, ox, oy);
    let _ = Rectangle::new(Point::new(x - 1, y - 1), Size::new(side + 2, side + 2)).into_styled(PrimitiveStyle::with_stroke(DIM, 1)).draw(c);
    if let Some(r) = overlay.region {
        let at = |v: u32| (v as f32 * scale).round() as i32;
        let size = Size::new((r.width as f32 * scale).round().max(3.0) as u32, (r.height as f32 * scale).round().max(3.0) as u32);
        let _ = Rectangle::new(Point::new(ox + at(r.x), oy + at(r.y)), size).into_styled(PrimitiveStyle::with_stroke(FAIR, 2)).draw(c);
    }
    true
}

fn bar(c: &mut Canvas, x: i32, y: i32, w: u32, h: u32, p: f32) {
    let style = PrimitiveStyleBuilder::new().stroke_color(DIM).stroke_width(1).fill_color(BAR_BG).build();
    let _ = Rectangle::new(Point::new(x, y), Size::new(w, h)).into_styled(style).draw(c);
    let filled = ((w.saturating_sub(2)) as f32 * p.clamp(0.0, 1.0)).round() as u32;
    if filled > 0 {
        let _ = Rectangle::new(Point::new(x + 1, y + 1), Size::new(filled, h.saturating_sub(2))).into_styled(PrimitiveStyle::with_fill(colour_for(p))).draw(c);
    }
}

fn percent(p: f32) -> String {
    format!("{:.0}%", (p * 100.0).clamp(0.0, 100.0))
}

fn top_list(c: &mut Canvas, top: &[(String, f32)], x: i32, mut y: i32, w: u32, max_y: i32) {
    let f = small();
    let lh = line_height(&f) + 2;
    for (i, (name, p)) in top.iter().enumerate() {
        if y + lh > max_y {
            break;
        }
        let pct = percent(*p);
        let room = w.saturating_sub(width_of(&f, &pct) + 30);
        let mut label = format!("{}. {name}", i + 1);
        while width_of(&f, &label) > room && label.chars().count() > 4 {
            label.pop();
            label = label.trim_end_matches('.').to_string();
            label.pop();
            label.push_str("..");
        }
        text_left(c, &f, &label, x, y, DIM);
        text_right(c, &f, &pct, x + w as i32, y, DIM);
        y += lh;
    }
}

/// Renders `screen` with `overlay` onto the whole canvas.
pub fn render(c: &mut Canvas, screen: &Screen, overlay: &Overlay) {
    let (w, h) = (c.width() as i32, c.height() as i32);
    let _ = c.clear(BG);
    let top = status_bar(c, overlay) + 6;
    let margin = 8;
    let inner_w = (w - 2 * margin).max(1) as u32;
    let side = ((w.min(h) as f32) * 0.32) as u32;
    let cx = w / 2;
    match screen {
        Screen::Starting { model } => {
            let y = fitted_text(c, "Starting...", cx, h / 3, inner_w, TEXT);
            let f = small();
            for (i, line) in wrap(&f, model, inner_w).iter().take(3).enumerate() {
                let _ = f.render_aligned(line.as_str(), Point::new(cx, y + 6 + i as i32 * (line_height(&f) + 2)), VerticalPosition::Top, HorizontalAlignment::Center, FontColor::Transparent(DIM), c);
            }
        }
        Screen::Breed { name, probability, top: guesses } => {
            // Preview on the left, big percentage on the right.
            let has_preview = preview(c, overlay, margin, top, side);
            let px = if has_preview { margin + side as i32 + 10 } else { margin };
            let pw = (w - px - margin).max(1);
            let big = FontRenderer::new::<fonts::u8g2_font_logisoso32_tn>();
            let _ = big.render_aligned(
                percent(*probability).trim_end_matches('%'),
                Point::new(px + pw / 2 - 8, top + 6),
                VerticalPosition::Top,
                HorizontalAlignment::Center,
                FontColor::Transparent(colour_for(*probability)),
                c,
            );
            let f = FontRenderer::new::<fonts::u8g2_font_helvB18_tr>();
            let _ = f.render(
                "%",
                Point::new(px + pw / 2 + width_of(&big, percent(*probability).trim_end_matches('%')) as i32 / 2 - 6, top + 6),
                VerticalPosition::Top,
                FontColor::Transparent(colour_for(*probability)),
                c,
            );
            text_left(c, &small(), "sure", px + pw / 2 - 12, top + 48, DIM);
            let mut y = top + side.max(60) as i32 + 8;
            y = fitted_text(c, name, cx, y, inner_w, TEXT);
            bar(c, margin, y + 2, inner_w, 12, *probability);
            y += 20;
            let rest: Vec<(String, f32)> = guesses.iter().skip(1).cloned().collect();
            top_list(c, &rest, margin, y, inner_w, h - 2);
        }
        Screen::NotSure { top: guesses } => {
            let has_preview = preview(c, overlay, margin, top, side);
            let px = if has_preview { margin + side as i32 + 8 } else { margin };
            let f = FontRenderer::new::<fonts::u8g2_font_helvB14_tr>();
            text_left(c, &f, "A pet!", px, top + 8, FAIR);
            text_left(c, &small(), "breed unclear", px, top + 8 + line_height(&f) + 4, DIM);
            let mut y = top + side.max(50) as i32 + 8;
            y = fitted_text(c, "Not sure", cx, y, inner_w, FAIR);
            text_left(c, &small(), "Best guesses:", margin, y, DIM);
            top_list(c, guesses, margin, y + line_height(&small()) + 4, inner_w, h - 2);
        }
        Screen::NoPet { confidence } => {
            let has_preview = preview(c, overlay, (w - side as i32) / 2, top, side);
            let mut y = if has_preview { top + side as i32 + 10 } else { h / 3 };
            y = fitted_text(c, "No pet", cx, y, inner_w, TEXT);
            let f = small();
            let lh = line_height(&f) + 2;
            let _ = f.render_aligned(format!("{} sure", percent(*confidence)).as_str(), Point::new(cx, y), VerticalPosition::Top, HorizontalAlignment::Center, FontColor::Transparent(DIM), c);
            for (i, line) in wrap(&f, "Show me a cat or a dog", inner_w).iter().enumerate() {
                if y + lh * (i as i32 + 2) < h {
                    let _ = f.render_aligned(line.as_str(), Point::new(cx, y + lh * (i as i32 + 1) + 4), VerticalPosition::Top, HorizontalAlignment::Center, FontColor::Transparent(DIM), c);
                }
            }
        }
        Screen::Error { title, message } => {
            let _ = Rectangle::new(Point::new(0, top - 6), Size::new(w as u32, (line_height(&renderers_big()[2]) + 16) as u32)).into_styled(PrimitiveStyle::with_fill(BAD)).draw(c);
            let f = &renderers_big()[2];
            let _ = f.render_aligned(title.as_str(), Point::new(cx, top), VerticalPosition::Top, HorizontalAlignment::Center, FontColor::Transparent(TEXT), c);
            let sf = small();
            let lh = line_height(&sf) + 2;
            let mut y = top + line_height(f) + 18;
            for line in wrap(&sf, message, inner_w) {
                if y + lh > h {
                    break;
                }
                text_left(c, &sf, &line, margin, y, TEXT);
                y += lh;
            }
        }
    }
}
