//! Distillation: a teacher model's predictions on the training photos as soft targets.
//!
//! The teacher is a trained network (a `best.bin`), usually the same architecture at a larger input
//! size: at 128 px it sees detail the 96 px student cannot, and its probabilities say which breeds
//! a photo resembles and how sure one can be, which a one-hot label does not. The targets are
//! computed once, before training ("offline" distillation), on the centre crop and its mirror image
//! of each training photo at the teacher's input size, so training runs at the student's speed.
//! The student's target row is then `(1 - weight) * label + weight * teacher`.

use crate::data::Split;
use crate::images::Loaded;
use crate::metrics::{argmax, softmax};
use crate::model::{net::Net, store};
use anyhow::{ensure, Result};
use burn::tensor::Device;
use image::imageops;
use petcam::pipeline::Preprocessor;
use std::path::Path;

/// The teacher's probabilities for every training photo, by index into the data.
pub struct SoftTargets {
    probs: Vec<Option<Vec<f32>>>,
}

impl SoftTargets {
    /// Runs the teacher in `path` over the training photos of `data`; its probabilities are taken
    /// at `temperature` (above 1 softens them).
    pub fn compute(path: &Path, data: &[Loaded], classes: usize, temperature: f32) -> Result<SoftTargets> {
        ensure!(temperature > 0.0, "distillation temperature {temperature} must be above 0");
        let (arch, w) = store::load(path)?;
        ensure!(arch.num_outputs() == classes, "{}: the teacher has {} outputs, the labels are {classes}", path.display(), arch.num_outputs());
        let size = arch.input_size as u32;
        let device = Device::flex();
        let net = Net::new(&arch, &w, &device);
        let train: Vec<usize> = (0..data.len()).filter(|&i| data[i].sample.split == Split::Train).collect();
        let mut probs = vec![None; data.len()];
        for chunk in train.chunks(64) {
            let crops: Vec<image::RgbImage> = chunk.iter().map(|&i| Preprocessor::model_picture(&data[i].image, size)).collect();
            let mirrored: Vec<image::RgbImage> = crops.iter().map(imageops::flip_horizontal).collect();
            let a = crate::train::predict(&net, &crops.iter().collect::<Vec<_>>(), size, &device);
            let b = crate::train::predict(&net, &mirrored.iter().collect::<Vec<_>>(), size, &device);
            for ((&i, za), zb) in chunk.iter().zip(a).zip(b) {
                probs[i] = Some(average(&softmax(&za, temperature), &softmax(&zb, temperature)));
            }
        }
        Ok(SoftTargets { probs })
    }

    /// The teacher's probabilities for photo `i` of the data (None for photos it did not see).
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        self.probs.get(i).and_then(|p| p.as_deref())
    }

    /// How often the teacher's top class is the photo's label, over the photos it scored.
    pub fn agreement(&self, data: &[Loaded]) -> f32 {
        let (mut n, mut ok) = (0usize, 0usize);
        for (p, l) in self.probs.iter().zip(data) {
            if let Some(p) = p {
                n += 1;
                ok += (argmax(p) == l.sample.label) as usize;
            }
        }
        ok as f32 / n.max(1) as f32
    }
}

fn average(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect()
}

/// The distillation weight (the teacher's share of each target row) must lie in [0, 1].
pub fn check_weight(weight: f32) -> Result<()> {
    ensure!((0.0..=1.0).contains(&weight), "distillation weight {weight} is outside [0, 1]");
    Ok(())
}

/// One target row: the label's row (already smoothed) mixed with the teacher's probabilities.
pub fn mix(label_row: &[f32], teacher: Option<&[f32]>, weight: f32) -> Vec<f32> {
    match teacher {
        Some(t) if weight > 0.0 => label_row.iter().zip(t).map(|(l, t)| (1.0 - weight) * l + weight * t).collect(),
        _ => label_row.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_keeps_a_distribution_and_moves_toward_the_teacher() {
        let label = [0.0, 1.0, 0.0];
        let teacher = [0.2, 0.5, 0.3];
        let m = mix(&label, Some(&teacher), 0.5);
        assert!((m.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(m, vec![0.1, 0.75, 0.15]);
        assert_eq!(mix(&label, Some(&teacher), 0.0), label.to_vec());
        assert_eq!(mix(&label, None, 0.7), label.to_vec());
        assert_eq!(mix(&label, Some(&teacher), 1.0), teacher.to_vec());
    }
}
