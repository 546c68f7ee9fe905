//! Where in the frame the pet is: the stage between [`frame`](crate::frame) and
//! [`preprocess`](crate::preprocess).
//!
//! A [`Locate`] looks at the whole RGB frame and answers with the square [`Rect`] the classifier
//! should see; [`preprocess`](crate::preprocess) then cuts that square out and scales it to the
//! model's input size. A locator may keep state between frames (a pet moves slowly, so a tracker
//! need not look everywhere on every frame); [`Locate::reset`] forgets it when the stream breaks.
//!
//! [`CentreCrop`], the largest square in the middle of the frame, is the first implementation and
//! the fallback of every later one.

use crate::preprocess::Rect;
use image::RgbImage;

/// Chooses the square region of a frame that the classifier sees.
pub trait Locate: Send {
    /// The region of `rgb` to classify: a square inside the picture, at least 1 x 1 for a
    /// non-empty picture.
    fn locate(&mut self, rgb: &RgbImage) -> Rect;
    /// Short name for logs and `petcam info` (e.g. `centre`).
    fn name(&self) -> &'static str;
    /// Forgets what earlier frames said (after a camera fault or between recordings).
    fn reset(&mut self) {}
}

/// The largest square centred in the frame: what petcam did before it could locate pets.
#[derive(Debug, Clone, Copy, Default)]
pub struct CentreCrop;

impl Locate for CentreCrop {
    fn locate(&mut self, rgb: &RgbImage) -> Rect {
        Rect::centre_square(rgb.width(), rgb.height())
    }
    fn name(&self) -> &'static str {
        "centre"
    }
}

impl<L: Locate + ?Sized> Locate for Box<L> {
    fn locate(&mut self, rgb: &RgbImage) -> Rect {
        (**self).locate(rgb)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_crop_is_the_middle_square() {
        let mut l = CentreCrop;
        assert_eq!(l.locate(&RgbImage::new(640, 480)), Rect { x: 80, y: 0, width: 480, height: 480 });
        assert_eq!(l.locate(&RgbImage::new(3, 7)), Rect { x: 0, y: 2, width: 3, height: 3 });
    }
}
