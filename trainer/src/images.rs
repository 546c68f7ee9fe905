//! Decoding the photos once and keeping them in memory, small.
//!
//! Training photos are kept with their shorter side at `1.5 x` the input size (enough for random
//! crops and zoom); evaluation photos are kept exactly as the device would see them: centre crop
//! and resize by the device pipeline ([`Preprocessor`]), so evaluation measures the shipped pipeline.

use crate::data::{Sample, Split};
use anyhow::{bail, Result};
use image::RgbImage;
use petcam::pipeline::Preprocessor;
use petcam::preprocess;
use rayon::prelude::*;

pub struct Loaded {
    pub sample: Sample,
    /// Training: shorter side `1.5 x input`; val/test: the model input picture (`S x S`).
    pub image: RgbImage,
    /// Size of the photo on disk.
    pub original: (u32, u32),
}

pub struct Decoded {
    pub items: Vec<Loaded>,
    pub failed: usize,
}

/// Decodes all samples in parallel. Unreadable files are skipped with one warning line each;
/// more than 5% failures abort.
pub fn decode_all(samples: Vec<Sample>, input_size: u32) -> Result<Decoded> {
    let total = samples.len();
    let cache_side = input_size * 3 / 2;
    let results: Vec<Result<Loaded, String>> = samples
        .into_par_iter()
        .map(|s| {
            let img = image::open(&s.path).map_err(|e| format!("{}: {e}", s.path.display()))?.to_rgb8();
            let original = img.dimensions();
            if original.0 < 8 || original.1 < 8 {
                return Err(format!("{}: image too small ({}x{})", s.path.display(), original.0, original.1));
            }
            let image = match s.split {
                Split::Train => preprocess::resize_shorter_side(&img, cache_side),
                _ => Preprocessor::model_picture(&img, input_size),
            };
            Ok(Loaded { sample: s, image, original })
        })
        .collect();
    let mut items = Vec::with_capacity(total);
    let mut failed = 0;
    for r in results {
        match r {
            Ok(l) => items.push(l),
            Err(e) => {
                tracing::warn!("skipping unreadable image {e}");
                failed += 1;
            }
        }
    }
    if failed * 20 > total {
        bail!("{failed} of {total} images could not be read (more than 5%): check the data roots");
    }
    Ok(Decoded { items, failed })
}
