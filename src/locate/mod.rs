//! Where in the frame the pet is: the stage between [`frame`](crate::frame) and
//! [`preprocess`](crate::preprocess).
//!
//! A [`Locate`] looks at the whole RGB frame and answers with the square [`Rect`] the classifier
//! should see; [`preprocess`](crate::preprocess) then cuts that square out and scales it to the
//! model's input size. A locator may keep state between frames (a pet moves slowly, so a tracker
//! need not look everywhere on every frame); [`Locate::reset`] forgets it when the stream breaks.
//!
//! [`CentreCrop`], the largest square in the middle of the frame, is the first implementation and
//! the fallback of every later one. [`activation::ActivationLocator`] finds the pet with the
//! classifier's class-activation map over the whole frame (or the model's locator head);
//! [`track::Track`] carries its square, at the pet's last speed, between searches.

pub mod activation;
pub mod track;

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
    /// Whether the last [`Locate::locate`] framed a pet it found: `Some(false)` when nothing in
    /// the frame looked like a pet and the square is the fallback, `None` when this locator
    /// cannot tell (it frames the same square whatever the picture holds). The pipeline gives a
    /// frame answered `Some(false)` pet score 0.
    fn saw_pet(&self) -> Option<bool> {
        None
    }
    /// What the last search of the whole frame saw of a pet ([`crate::evidence`]), for the
    /// frames since; `None` when this locator does not search the frame.
    fn evidence(&self) -> Option<crate::evidence::WideEvidence> {
        None
    }
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

/// The locate stages by name, as `--locator` takes them: `centre`, or `activation` (built from the
/// model file at `model`, whose no-pet output is label `no_pet`; `activation:key=value,...` sets
/// its [`activation::ActivationConfig`]).
/// `every` overrides how often the activation locator searches (frames).
pub fn by_name(name: &str, model: &std::path::Path, no_pet: Option<usize>, every: Option<usize>) -> Result<Box<dyn Locate>, String> {
    match name {
        "centre" | "center" => Ok(Box::new(CentreCrop)),
        _ if name == "activation" || name.starts_with("activation:") => {
            let no_pet = no_pet.ok_or_else(|| format!("{}: the activation locator needs a model with a no-pet output", model.display()))?;
            let mut cfg: activation::ActivationConfig = name.strip_prefix("activation:").unwrap_or("").parse()?;
            cfg.every = every.unwrap_or(cfg.every).max(1);
            Ok(Box::new(activation::ActivationLocator::load(model, no_pet, cfg).map_err(|e| e.to_string())?))
        }
        _ => Err(format!("unknown locator `{name}` (centre, activation, activation:key=value,...)")),
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
    fn saw_pet(&self) -> Option<bool> {
        (**self).saw_pet()
    }
    fn evidence(&self) -> Option<crate::evidence::WideEvidence> {
        (**self).evidence()
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
