//! The locator head: a 1x1 convolution on the backbone's last feature map that says, for each
//! cell of the kiosk's wide view of a frame, whether the cell is mostly pet.
//!
//! The class-activation map the locator read before is a by-product of the breed classifier: it
//! is trained to name a breed from a whole picture, not to say where the pet ends, and a model
//! taught to reject pasted pet-free photos lights up less for pets. The head is trained for the
//! job on simulated camera frames ([`petcam::scene::Shot`]), where the composite gives the box for
//! free: each cell's target is the share of it covered by the pasted pet photo, and every cell of
//! a pet-free frame (a whole pet-free scene, or a pet-free photo pasted as pets are) is 0. The
//! backbone is the shipped model's, frozen, so the head costs one dot product per cell and the
//! breed classifier does not change.
//!
//! It is a logistic regression on the cells' features, fitted with Adam (1,281 numbers: a convex
//! fit small enough that a plain loop is clearer than a framework's graph), then written into the
//! ONNX file as a `Conv` node whose output, [`HEAD_OUTPUT`], is no graph output: the classifier
//! never runs it, and the locator asks for it by name.

use crate::data::{Sample, Scene, Split, NO_PET_LABEL};
use anyhow::{ensure, Context, Result};
use image::RgbImage;
use petcam::frame::{self, Frame, PixelFormat};
use petcam::locate::activation::{edge_indicators, ActivationConfig, ActivationLocator, Head, HEAD_EDGES, HEAD_OUTPUT};
use petcam::preprocess::Rect;
use petcam::scene::{self, Rng, Shot};
use rayon::prelude::*;
use std::path::Path;
use tract_onnx::pb;

/// Camera frame size (the kiosk's default).
const FRAME: (u32, u32) = petcam::frame::DEFAULT_SIZE;
/// Share of pet-free frames that are a whole pet-free scene (the rest: a pet-free photo pasted
/// into another scene, as the pets are).
const WHOLE_SCENE: f32 = 0.5;
/// Initialiser names of the head in the ONNX file.
const WEIGHT: &str = "locator_head_w";
const BIAS: &str = "locator_head_b";

/// Cells of many frames: features and targets.
#[derive(Debug, Default)]
pub struct Cells {
    pub channels: usize,
    /// `channels` values per cell.
    pub features: Vec<f32>,
    /// Share of each cell covered by a pet (0 on pet-free frames).
    pub targets: Vec<f32>,
    /// Which borders of the view each cell lies on ([`edge_indicators`]).
    pub edges: Vec<[f32; 4]>,
}

impl Cells {
    pub fn len(&self) -> usize {
        self.targets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
    fn cell(&self, i: usize) -> &[f32] {
        &self.features[i * self.channels..(i + 1) * self.channels]
    }
    /// The head's log-odds for cell `i`.
    fn logit(&self, h: &Head, i: usize) -> f32 {
        h.logit(self.cell(i), self.edges[i])
    }
}

/// Share of each cell of a `rows` x `cols` grid (cells `cell` frame pixels, clipped to the `frame`)
/// that `subject` covers, row by row.
pub fn coverage(rows: usize, cols: usize, cell: (f32, f32), frame: (u32, u32), subject: Option<Rect>) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    let Some(s) = subject else { return out };
    let (sx0, sy0, sx1, sy1) = (s.x as f32, s.y as f32, (s.x + s.width) as f32, (s.y + s.height) as f32);
    for i in 0..rows {
        for j in 0..cols {
            let (x0, y0) = (j as f32 * cell.0, i as f32 * cell.1);
            let (x1, y1) = (((j + 1) as f32 * cell.0).min(frame.0 as f32), ((i + 1) as f32 * cell.1).min(frame.1 as f32));
            let area = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
            let ix = (x1.min(sx1) - x0.max(sx0)).max(0.0);
            let iy = (y1.min(sy1) - y0.max(sy0)).max(0.0);
            out[i * cols + j] = if area > 0.0 { (ix * iy / area).min(1.0) } else { 0.0 };
        }
    }
    out
}

fn read(path: &Path) -> Result<RgbImage> {
    Ok(image::open(path).with_context(|| path.display().to_string())?.to_rgb8())
}

/// Features and targets of `frames` pet frames and as many pet-free frames, made from the photos
/// of `split` (pets: every photo of the split, Oxford and extra; backgrounds: pet-free photos that
/// are not animals), through the device's MJPEG decode and the locator's wide view of `model`.
pub fn collect(samples: &[Sample], split: Split, frames: usize, seed: u64, model: &Path, no_pet: usize) -> Result<Cells> {
    let pick = |v: Vec<&Sample>| -> Vec<Sample> {
        let step = v.len().div_ceil(frames.max(1)).max(1);
        v.into_iter().step_by(step).take(frames).cloned().collect()
    };
    let pets = pick(samples.iter().filter(|x| x.split == split && x.label != NO_PET_LABEL).collect());
    let pet_free: Vec<&Sample> = samples.iter().filter(|x| x.split == split && x.label == NO_PET_LABEL).collect();
    let backgrounds: Vec<Sample> = pet_free.iter().filter(|x| x.scene != Some(Scene::Animal)).map(|x| (*x).clone()).collect();
    ensure!(!pets.is_empty(), "no pet photos in the {split:?} split (--data)");
    ensure!(!backgrounds.is_empty(), "no pet-free photos in the {split:?} split for backgrounds (--no-pets)");
    let subjects: Vec<Sample> = pets.iter().cloned().chain((0..pets.len()).map(|i| pet_free[(i * 7919) % pet_free.len()].clone())).collect();
    let pb = indicatif::ProgressBar::new(subjects.len() as u64).with_message("locator frames");
    let per_frame: Vec<Result<Cells>> = subjects
        .par_iter()
        .enumerate()
        .map_init(
            || ActivationLocator::load(model, no_pet, ActivationConfig { cam: true, ..Default::default() }),
            |locator, (i, sample)| {
                let locator = locator.as_mut().map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
                let photo = read(&sample.path)?;
                let shot = Shot::random(&mut rng);
                let bg = &backgrounds[(rng.next_u64() % backgrounds.len() as u64) as usize];
                let pet = sample.label != NO_PET_LABEL;
                let (pixels, subject) = if !pet && rng.range(0.0, 1.0) < WHOLE_SCENE {
                    (scene::compose(&scene::background(Some(&photo), FRAME.0, FRAME.1), None, &shot.look, &mut rng), None)
                } else {
                    let (pixels, footprint) = shot.compose(&scene::background(Some(&read(&bg.path)?), FRAME.0, FRAME.1), &photo, &mut rng);
                    (pixels, pet.then_some(footprint))
                };
                let f = Frame { format: PixelFormat::Mjpeg, width: FRAME.0, height: FRAME.1, data: frame::encode_jpeg(&pixels, shot.jpeg_quality), timestamp_ms: 0 };
                let rgb = frame::to_rgb(&f).map_err(|e| anyhow::anyhow!("simulated frame of {}: {e}", sample.path.display()))?;
                let (rows, cols, channels, features) = locator.features(&rgb)?;
                let targets = coverage(rows, cols, locator.cell_size(FRAME), FRAME, subject);
                let edges = (0..rows * cols).map(|k| edge_indicators(k / cols, k % cols, rows, cols)).collect();
                pb.inc(1);
                Ok(Cells { channels, features, targets, edges })
            },
        )
        .collect();
    pb.finish_and_clear();
    let mut cells = Cells::default();
    for r in per_frame {
        let frame = r?;
        cells.channels = frame.channels;
        cells.features.extend(frame.features);
        cells.targets.extend(frame.targets);
        cells.edges.extend(frame.edges);
    }
    Ok(cells)
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Mean binary cross-entropy of the head on `cells` (soft targets).
pub fn loss(cells: &Cells, h: &Head) -> f32 {
    let total: f64 = (0..cells.len())
        .into_par_iter()
        .map(|i| {
            let z = cells.logit(h, i);
            let t = cells.targets[i];
            // log(1 + e^z) - t z, written to stay finite for large |z|.
            (z.max(0.0) + (-z.abs()).exp().ln_1p() - t * z) as f64
        })
        .sum();
    (total / cells.len().max(1) as f64) as f32
}

/// Fitting settings.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
    pub seed: u64,
}

impl Default for Fit {
    fn default() -> Self {
        Fit { epochs: 12, batch: 256, lr: 3e-3, l2: 1e-4, seed: 7 }
    }
}

/// Logistic regression of the targets on the features and the border indicators, by mini-batch
/// Adam.
pub fn fit(cells: &Cells, s: Fit) -> Head {
    let c = cells.channels;
    // Parameters: c weights, 4 border offsets, the bias.
    let n = c + 5;
    let mean_t = (cells.targets.iter().sum::<f32>() / cells.len().max(1) as f32).clamp(1e-3, 1.0 - 1e-3);
    let mut h = Head { weights: vec![0f32; c], bias: (mean_t / (1.0 - mean_t)).ln(), edges: [0.0; 4] };
    let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut order: Vec<usize> = (0..cells.len()).collect();
    let mut rng = Rng::new(s.seed);
    let mut step = 0i32;
    let mut g = vec![0f32; n];
    for _ in 0..s.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        for batch in order.chunks(s.batch.max(1)) {
            g.iter_mut().for_each(|x| *x = 0.0);
            for &i in batch {
                let d = sigmoid(cells.logit(&h, i)) - cells.targets[i];
                g[..c].iter_mut().zip(cells.cell(i)).for_each(|(gk, xk)| *gk += d * xk);
                g[c..c + 4].iter_mut().zip(&cells.edges[i]).for_each(|(gk, xk)| *gk += d * xk);
                g[c + 4] += d;
            }
            let nb = batch.len() as f32;
            step += 1;
            let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
            for k in 0..n {
                let p = if k < c {
                    &mut h.weights[k]
                } else if k < c + 4 {
                    &mut h.edges[k - c]
                } else {
                    &mut h.bias
                };
                let grad = g[k] / nb + if k < c { s.l2 * *p } else { 0.0 };
                m[k] = b1 * m[k] + (1.0 - b1) * grad;
                v[k] = b2 * v[k] + (1.0 - b2) * grad * grad;
                *p -= s.lr * (m[k] / c1) / ((v[k] / c2).sqrt() + eps);
            }
        }
    }
    h
}

/// The best head that ignores the features: the log-odds of the mean target.
pub fn constant(cells: &Cells) -> Head {
    let m = (cells.targets.iter().sum::<f32>() / cells.len().max(1) as f32).clamp(1e-3, 1.0 - 1e-3);
    Head { weights: vec![0.0; cells.channels], bias: (m / (1.0 - m)).ln(), edges: [0.0; 4] }
}

/// Share of cells whose head answer (p >= 0.5) matches the target (>= 0.5), and the same for the
/// cells that are mostly pet alone (recall).
pub fn accuracy(cells: &Cells, h: &Head) -> (f32, f32) {
    let (mut right, mut pets, mut found) = (0usize, 0usize, 0usize);
    for i in 0..cells.len() {
        let z = cells.logit(h, i);
        let (said, truth) = (z >= 0.0, cells.targets[i] >= 0.5);
        right += (said == truth) as usize;
        pets += truth as usize;
        found += (said && truth) as usize;
    }
    (right as f32 / cells.len().max(1) as f32, found as f32 / pets.max(1) as f32)
}

/// Writes the head into `model` (replacing any earlier one): initialisers [`WEIGHT`], [`BIAS`]
/// and [`HEAD_EDGES`], and a 1x1 `Conv` from the feature map the final `GlobalAveragePool` reads
/// to [`HEAD_OUTPUT`] (the border offsets are the locator's to add).
pub fn install(model: &mut pb::ModelProto, h: &Head) -> Result<()> {
    let graph = model.graph.as_mut().context("no graph")?;
    let feature = graph.node.iter().find(|n| n.op_type == "GlobalAveragePool").and_then(|n| n.input.first().cloned()).context("no GlobalAveragePool: not a petcam classifier")?;
    graph.node.retain(|n| !n.output.iter().any(|o| o == HEAD_OUTPUT));
    graph.initializer.retain(|t| t.name != WEIGHT && t.name != BIAS && t.name != HEAD_EDGES);
    let tensor = |name: &str, dims: Vec<i64>, v: &[f32]| pb::TensorProto { name: name.into(), dims, data_type: pb::tensor_proto::DataType::Float as i32, float_data: v.to_vec(), ..Default::default() };
    graph.initializer.push(tensor(WEIGHT, vec![1, h.weights.len() as i64, 1, 1], &h.weights));
    graph.initializer.push(tensor(BIAS, vec![1], &[h.bias]));
    graph.initializer.push(tensor(HEAD_EDGES, vec![4], &h.edges));
    graph.node.push(pb::NodeProto { name: "locator_head".into(), op_type: "Conv".into(), input: vec![feature, WEIGHT.into(), BIAS.into()], output: vec![HEAD_OUTPUT.into()], ..Default::default() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_the_share_of_each_cell_under_the_subject() {
        // A 2 x 3 grid of 10 x 10 cells over a 30 x 18 frame (the last row clipped to 8 rows).
        let c = coverage(2, 3, (10.0, 10.0), (30, 18), Some(Rect { x: 5, y: 0, width: 10, height: 18 }));
        assert_eq!(c, vec![0.5, 0.5, 0.0, 0.5, 0.5, 0.0]);
        let full = coverage(2, 3, (10.0, 10.0), (30, 18), Some(Rect { x: 0, y: 0, width: 30, height: 18 }));
        assert!(full.iter().all(|&v| v == 1.0), "{full:?}");
        assert!(coverage(2, 3, (10.0, 10.0), (30, 18), None).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn the_fit_separates_what_a_feature_tells() {
        // Channel 0 tells pet from not; channel 1 is noise.
        // Channel 0 tells pet from not, except on the right border, where pets read 2 lower.
        let mut cells = Cells { channels: 2, ..Default::default() };
        let mut rng = Rng::new(3);
        for i in 0..3000 {
            let (pet, right) = (i % 3 == 0, i % 5 == 0);
            let x = if pet { rng.range(2.5, 6.0) } else { rng.range(0.0, 1.5) } - if right && pet { 2.0 } else { 0.0 };
            cells.features.extend([x.max(0.0), rng.range(0.0, 6.0)]);
            cells.targets.push(if pet { 1.0 } else { 0.0 });
            cells.edges.push([0.0, right as u8 as f32, 0.0, 0.0]);
        }
        let before = loss(&cells, &constant(&cells));
        let h = fit(&cells, Fit { epochs: 30, batch: 32, lr: 0.01, ..Default::default() });
        assert!(loss(&cells, &h) < 0.25 * before, "{} vs {before}", loss(&cells, &h));
        assert!(h.weights[0] > 5.0 * h.weights[1].abs(), "{h:?}");
        assert!(h.edges[1] > 1.0 && h.edges[0].abs() < 0.5, "the right border's offset is learnt: {:?}", h.edges);
        let (acc, recall) = accuracy(&cells, &h);
        assert!(acc > 0.95 && recall > 0.9, "{acc} {recall}");
    }

    /// A head written into the shipped model is what the locator reads, the classifier's answers
    /// do not change, a second install replaces the first, and the trainer can still read the
    /// weights back for further training.
    #[test]
    fn an_installed_head_is_read_by_the_locator_and_ignored_by_the_classifier() {
        use petcam::classifier::TractClassifier;
        use prost::Message;
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(petcam::config::DEFAULT_MODEL_FILE);
        let mut proto = pb::ModelProto::decode(std::fs::read(&shipped).unwrap().as_slice()).unwrap();
        let channels = 1280;
        let w: Vec<f32> = (0..channels).map(|k| ((k * 37 % 101) as f32 - 50.0) / 500.0).collect();
        install(&mut proto, &Head { weights: vec![9.0; channels], bias: 1.0, edges: [0.0; 4] }).unwrap();
        let edges = [0.25, 0.5, 1.0, 2.0];
        install(&mut proto, &Head { weights: w.clone(), bias: -0.5, edges }).unwrap();
        let graph = proto.graph.as_ref().unwrap();
        assert_eq!(graph.node.iter().filter(|n| n.output.iter().any(|o| o == HEAD_OUTPUT)).count(), 1, "one head after two installs");
        assert!(!graph.output.iter().any(|o| o.name == HEAD_OUTPUT), "the head is no graph output");
        let path = std::env::temp_dir().join(format!("petcam-head-{}.onnx", std::process::id()));
        std::fs::write(&path, crate::export::onnx::encode(&proto)).unwrap();

        let mut with = ActivationLocator::load(&path, 37, ActivationConfig::default()).unwrap();
        assert!(with.has_head());
        let mut cam = ActivationLocator::load(&path, 37, ActivationConfig { cam: true, ..Default::default() }).unwrap();
        assert!(!cam.has_head(), "cam=1 asks for the class-activation map");
        let frame = RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8]));
        let (rows, cols, ch, features) = with.features(&frame).unwrap();
        assert_eq!((rows, cols, ch), (6, 8, channels), "the default 256 x 192 view of a 4:3 frame");
        let (_, _, map) = with.pet_map(&frame).unwrap();
        for (k, (cell, got)) in features.chunks_exact(ch).zip(&map).enumerate() {
            let border: f32 = edges.iter().zip(edge_indicators(k / cols, k % cols, rows, cols)).map(|(a, b)| a * b).sum();
            let want = -0.5 + border + w.iter().zip(cell).map(|(a, b)| a * b).sum::<f32>();
            assert!((want - got).abs() < 1e-3 * (1.0 + want.abs()), "{want} vs {got}");
        }
        assert_ne!(cam.pet_map(&frame).unwrap().2, map, "the class-activation map is another map");

        let input: Vec<f32> = (0..3 * 96 * 96).map(|i| (i % 97) as f32 / 97.0).collect();
        let before = TractClassifier::load(&shipped).unwrap().logits(&input).unwrap();
        let after = TractClassifier::load(&path).unwrap().logits(&input).unwrap();
        assert_eq!(before, after);
        let (_, weights, labels) = crate::model::import::from_onnx(&path, 0.0).unwrap();
        assert_eq!((weights.layers.len(), labels.len()), (crate::model::import::from_onnx(&shipped, 0.0).unwrap().1.layers.len(), 38));
        let _ = std::fs::remove_file(&path);
    }
}
