//! Finding the pet with the classifier's own eyes: a class-activation map over the whole frame.
//!
//! The classifier ends in global average pooling and one linear layer, so the same linear layer
//! applied to each cell of the last feature map says what each part of the picture looks like.
//! [`ActivationLocator`] runs the model's backbone on the whole frame, scaled down to a wide view
//! (256 x 192 by default for a 4:3 frame: an 8 x 6 map, one cell per 80 camera pixels), reads every
//! cell's pet log-odds (`logsumexp(breed logits) - no-pet logit`), and frames the square around
//! the cells within `spread` log-odds of the best one, with a margin. The wide pass sees 5.3 times
//! the pixels of a 96 px inference, so it runs every `every` frames and the box in between
//! follows the pet's last speed ([`Track`]); with no pet-like cell the locator answers the centre
//! square, as before.
//!
//! A model may also carry a **locator head** (`petcam-trainer locator-head`): a 1x1 convolution on
//! the same feature map, trained on simulated camera frames to say how much of each cell the pet
//! covers. When it is there the locator reads it instead of the activation map, and frames the
//! pet from its column and row profiles (extent and centre to a fraction of a cell): the square
//! is the pet's shorter extent, less half a cell at each edge inside the frame where the head's
//! coverage bleeds over, so it holds the pet and little of the scene around it.
//! `activation:cam=1` asks for the activation map anyway, for comparison.
//!
//! Each search also says what it saw of the whole frame ([`WideEvidence`], [`Locate::evidence`]):
//! the map's best cell, the class-activation map's best cell, and the classifier's linear layer on
//! the view's mean feature. A model carrying `pet_evidence` weights weighs these into its pet score
//! ([`crate::evidence`]); 49 products of the 38 x 1280 layer per search, each in 8 running sums.
//!
//! The settings were chosen on the validation split of the camera-conditions benchmark
//! (`petcam-trainer camera --split val`, models/MODEL_CARD.md). With the activation map a 224 px
//! view beat 192 px by 10 points of camera top-1 and 256 px gained nothing; once the head read
//! the map, 256 px beat 224 px (val: 81.9% against 79.7% camera top-1, 91.4% against 90.3% of pets
//! at 2% false breeds; it finds more of the small pets) for 4% more instructions per replayed
//! frame on cortex-a72, and 288 px did not beat it on val (three camera seeds). Mirroring the
//! view past its edges, a relative cut, a contrast test and a wider margin did not help.

use super::track::Track;
use super::{CentreCrop, Locate};
use crate::evidence::WideEvidence;
use crate::preprocess::Rect;
use image::RgbImage;
use std::path::Path;
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Why the locator could not be built from a model file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: no class-activation locator: {msg}")]
pub struct ActivationError {
    pub path: std::path::PathBuf,
    pub msg: String,
}

/// Tunables of [`ActivationLocator`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationConfig {
    /// Width of the wide view in pixels (its height keeps the frame's aspect).
    pub view_width: u32,
    /// Run the wide pass every this many frames (1 = every frame).
    pub every: usize,
    /// The best cell must reach these pet log-odds, and stand this far above the median cell,
    /// for the frame to hold a pet.
    pub min_log_odds: f32,
    /// Cells above `best - max(spread, relative * (best - median))` belong to the pet.
    pub spread: f32,
    pub relative: f32,
    /// The best cell must stand this many log-odds above the median cell.
    pub min_contrast: f32,
    /// Mirror the view past its right and bottom edges (else the backbone's zero padding).
    pub mirror: bool,
    /// Extra border around the pet cells, as a share of the square's side.
    pub margin: f32,
    /// Smallest square, as a share of the frame's shorter side.
    pub min_side: f32,
    /// Use the class-activation map even when the model has a trained locator head.
    pub cam: bool,
    /// With the locator head: the square's side as a multiple of the pet's shorter extent.
    pub scale: f32,
    /// With the locator head: cells taken off each edge of the pet that lies inside the frame.
    pub trim: f32,
    /// With the locator head: cells below this probability count as empty, and the rest as
    /// covered by `(p - floor) / (1 - floor)`.
    pub floor: f32,
    /// Say so when nothing in the frame looked like a pet ([`Locate::saw_pet`]), so that the
    /// pipeline answers "no pet" for it whatever the fallback square looks like.
    pub veto: bool,
}

impl Default for ActivationConfig {
    fn default() -> Self {
        ActivationConfig {
            view_width: 256,
            every: 6,
            min_log_odds: 0.0,
            spread: 2.0,
            relative: 0.0,
            min_contrast: 0.0,
            mirror: false,
            margin: 0.15,
            min_side: 0.3,
            cam: false,
            scale: 1.0,
            floor: 0.3,
            trim: 0.5,
            veto: true,
        }
    }
}

/// The backbone's last feature map on a wide view of the frame, and the classifier's linear layer.
pub struct ActivationLocator {
    cfg: ActivationConfig,
    plan: std::sync::Arc<TypedRunnableModel>,
    /// Input size the plan was made for (width, height, padded): frames of another aspect use a new plan.
    view: (usize, usize),
    /// The picture's part of the view (width, height).
    frame_view: (usize, usize),
    proto: std::sync::Arc<pb::ModelProto>,
    feature: String,
    /// `[classes][channels]` weights and biases of the final linear layer.
    weights: Vec<Vec<f32>>,
    bias: Vec<f32>,
    no_pet: usize,
    /// The trained locator head, when the model has one and the settings do not ask for the
    /// class-activation map.
    head: Option<Head>,
    frame: usize,
    /// Where the pet is between searches.
    track: Track,
    /// The last frame's square framed a pet the search found.
    saw: bool,
    /// What the last search saw ([`Locate::evidence`]).
    evidence: Option<WideEvidence>,
}

fn tensor_f32(t: &pb::TensorProto) -> Vec<f32> {
    if !t.float_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }
}

impl ActivationLocator {
    /// Reads the model at `path` (a petcam classifier ending in GlobalAveragePool, Flatten and an
    /// f32 Gemm) and prepares the wide pass for 4:3 frames.
    pub fn load(path: &Path, no_pet: usize, cfg: ActivationConfig) -> Result<ActivationLocator, ActivationError> {
        let err = |msg: String| ActivationError { path: path.into(), msg };
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut proto = tract_onnx::onnx().proto_model_for_read(&mut &bytes[..]).map_err(|e| err(format!("{e:#}")))?;
        if let Some(g) = proto.graph.as_mut() {
            crate::classifier::fold_constant_dequantize(g);
        }
        let graph = proto.graph.as_ref().ok_or_else(|| err("no graph".into()))?;
        let gap = graph.node.iter().find(|n| n.op_type == "GlobalAveragePool").ok_or_else(|| err("the model has no GlobalAveragePool".into()))?;
        let feature = gap.input[0].clone();
        let gemm = graph.node.iter().find(|n| n.op_type == "Gemm").ok_or_else(|| err("the model has no Gemm".into()))?;
        let init = |name: &str| graph.initializer.iter().find(|t| t.name == name);
        let (w, b) = match (gemm.input.get(1).and_then(|n| init(n)), gemm.input.get(2).and_then(|n| init(n))) {
            (Some(w), Some(b)) if w.data_type == 1 && b.data_type == 1 => (w, b),
            _ => return Err(err("the final Gemm's weights are not f32 constants".into())),
        };
        let trans_b = gemm.attribute.iter().find(|a| a.name == "transB").map(|a| a.i).unwrap_or(0) == 1;
        let (rows, cols) = (w.dims[0] as usize, w.dims[1] as usize);
        let flat = tensor_f32(w);
        let bias = tensor_f32(b);
        let (classes, channels) = if trans_b { (rows, cols) } else { (cols, rows) };
        let weights: Vec<Vec<f32>> = (0..classes).map(|c| (0..channels).map(|k| if trans_b { flat[c * cols + k] } else { flat[k * cols + c] }).collect()).collect();
        if bias.len() != classes || no_pet >= classes {
            return Err(err(format!("{classes} classes, {} biases, no-pet index {no_pet}", bias.len())));
        }
        let head = if cfg.cam { None } else { locator_head(graph, &feature).map_err(err)? };
        if let Some(h) = &head {
            if h.weights.len() != channels {
                return Err(err(format!("the locator head `{HEAD_OUTPUT}` reads {} channels, the feature map has {channels}", h.weights.len())));
            }
        }
        let proto = std::sync::Arc::new(proto);
        let view = padded((cfg.view_width as usize, cfg.view_width as usize * 3 / 4), cfg.mirror);
        let plan = Self::plan(&proto, &feature, view).map_err(|e| err(format!("{e:#}")))?;
        Ok(ActivationLocator {
            cfg,
            plan,
            view,
            frame_view: (cfg.view_width as usize, cfg.view_width as usize * 3 / 4),
            proto,
            feature,
            weights,
            bias,
            no_pet,
            head,
            frame: 0,
            track: Track::default(),
            saw: false,
            evidence: None,
        })
    }

    /// The backbone up to `feature`, for a `view` (width, height) input.
    fn plan(proto: &pb::ModelProto, feature: &str, view: (usize, usize)) -> TractResult<std::sync::Arc<TypedRunnableModel>> {
        let mut proto = proto.clone();
        if let Some(g) = proto.graph.as_mut() {
            g.output = vec![pb::ValueInfoProto { name: feature.to_string(), ..Default::default() }];
        }
        let model = tract_onnx::onnx().model_for_proto_model(&proto)?;
        let model = model.with_input_fact(0, f32::fact([1, 3, view.1, view.0]).into())?;
        let mut typed = model.into_typed()?.into_decluttered()?;
        // An int8 model's wide pass runs its 1x1 convolutions in int8 where the classifier does.
        let precision = proto.metadata_props.iter().find(|e| e.key == crate::metadata::METADATA_KEY).and_then(|e| crate::metadata::ModelMetadata::from_json(&e.value).ok()).map(|m| m.precision);
        if precision.is_some_and(|p| crate::classifier::pointwise::Policy::Auto.takes(&p)) {
            crate::classifier::pointwise::substitute(&mut typed, crate::classifier::pointwise::Policy::Auto.only_int8_weights())?;
        }
        typed.into_optimized()?.into_runnable()
    }

    /// Whether the pet map comes from a trained locator head (else the class-activation map).
    pub fn has_head(&self) -> bool {
        self.head.is_some()
    }

    /// Pet log-odds per cell of the wide view of `rgb`, for the cells whose centre lies in the
    /// frame: (rows, columns, values row by row). A cell is [`CELL`] view pixels. With a locator
    /// head these are its log-odds that the cell is mostly pet; without, the class-activation
    /// map's `logsumexp(breeds) - no pet`.
    pub fn pet_map(&mut self, rgb: &RgbImage) -> TractResult<(usize, usize, Vec<f32>)> {
        let (rows, cols, channels, features) = self.features(rgb)?;
        Ok((rows, cols, self.map_of(rows, cols, channels, &features)))
    }

    fn map_of(&self, rows: usize, cols: usize, channels: usize, features: &[f32]) -> Vec<f32> {
        features
            .chunks_exact(channels.max(1))
            .enumerate()
            .map(|(k, cell)| match &self.head {
                Some(h) => h.logit(cell, edge_indicators(k / cols, k % cols, rows, cols)),
                None => self.cam_log_odds(cell),
            })
            .collect()
    }

    /// The classifier's pet log-odds (`logsumexp(breed logits) - no-pet logit`) for a vector of
    /// pooled features: one cell's, or the mean over the view.
    fn cam_log_odds(&self, cell: &[f32]) -> f32 {
        let z: Vec<f32> = self.weights.iter().zip(&self.bias).map(|(wc, b)| b + dot(wc, cell)).collect();
        let breeds = z.iter().enumerate().filter(|(c, _)| *c != self.no_pet).map(|(_, v)| *v);
        let m = breeds.clone().fold(f32::NEG_INFINITY, f32::max);
        let lse = m + breeds.map(|v| (v - m).exp()).sum::<f32>().ln();
        lse - z[self.no_pet]
    }

    /// The map of the wide view of `rgb`, and what the view says of a pet ([`WideEvidence`]),
    /// from one pass of the backbone.
    pub fn search(&mut self, rgb: &RgbImage) -> TractResult<(usize, usize, Vec<f32>, WideEvidence)> {
        let (rows, cols, channels, features) = self.features(rgb)?;
        let map = self.map_of(rows, cols, channels, &features);
        let cells = features.chunks_exact(channels.max(1));
        let n = cells.len().max(1) as f32;
        let mut mean = vec![0.0f32; channels];
        for c in cells.clone() {
            mean.iter_mut().zip(c).for_each(|(m, v)| *m += v / n);
        }
        let best = |v: &mut dyn Iterator<Item = f32>| v.fold(f32::NEG_INFINITY, f32::max);
        let cell = best(&mut map.iter().copied());
        // Without a head the map is the class-activation map already.
        let cam_cell = if self.head.is_some() { best(&mut cells.map(|c| self.cam_log_odds(c))) } else { cell };
        Ok((rows, cols, map, WideEvidence { cell, cam_cell, view: self.cam_log_odds(&mean) }))
    }

    /// The backbone's last feature map on the wide view of `rgb`, for the cells whose centre lies
    /// in the frame: (rows, columns, channels, each cell's channels in turn, row by row). What the
    /// locator head is trained on.
    pub fn features(&mut self, rgb: &RgbImage) -> TractResult<(usize, usize, usize, Vec<f32>)> {
        let (w, h) = rgb.dimensions();
        let vw = self.cfg.view_width as usize;
        let vh = ((vw as u64 * h as u64) / w.max(1) as u64).max(8) as usize;
        let (pw, ph) = padded((vw, vh), self.cfg.mirror);
        if (pw, ph) != self.view {
            self.plan = Self::plan(&self.proto, &self.feature, (pw, ph))?;
            self.view = (pw, ph);
        }
        self.frame_view = (vw, vh);
        let small = image::imageops::resize(rgb, vw as u32, vh as u32, image::imageops::FilterType::Triangle);
        // Mirror the picture past its right and bottom edges to the padded size.
        let view = RgbImage::from_fn(pw as u32, ph as u32, |x, y| {
            let mirror = |v: u32, n: u32| if v < n { v } else { (2 * n).saturating_sub(v + 1).min(n - 1) };
            *small.get_pixel(mirror(x, vw as u32), mirror(y, vh as u32))
        });
        let mut input = Vec::with_capacity(3 * pw * ph);
        crate::preprocess::push_chw(&view, &mut input);
        let t = Tensor::from_shape(&[1, 3, ph, pw], &input)?;
        let out = self.plan.run(tvec!(t.into()))?;
        let f = out[0].to_plain_array_view::<f32>()?;
        let shape = f.shape().to_vec();
        let channels = shape[1];
        // Cells whose centre is inside the picture.
        let rows = (0..shape[2]).take_while(|i| (i * CELL + CELL / 2) < vh).count();
        let cols = (0..shape[3]).take_while(|j| (j * CELL + CELL / 2) < vw).count();
        let mut cells = Vec::with_capacity(rows * cols * channels);
        for i in 0..rows {
            for j in 0..cols {
                cells.extend((0..channels).map(|k| f[[0, k, i, j]]));
            }
        }
        Ok((rows, cols, channels, cells))
    }

    /// Frame-pixel size of one cell of the last [`features`](Self::features) view of a `frame`
    /// (width, height) picture.
    pub fn cell_size(&self, frame: (u32, u32)) -> (f32, f32) {
        (CELL as f32 * frame.0 as f32 / self.frame_view.0 as f32, CELL as f32 * frame.1 as f32 / self.frame_view.1 as f32)
    }

    /// The square (centre x, centre y, side, in frame pixels) the classifier should see, from a
    /// [`pet_map`](Self::pet_map), or `None` when no cell stands out as pet.
    pub fn frame_pet(&self, map: (usize, usize, &[f32]), frame: (u32, u32)) -> Option<[f32; 3]> {
        if map.2.is_empty() {
            return None;
        }
        match self.head {
            Some(_) => self.frame_covered(map, frame),
            None => self.frame_activation(map, frame),
        }
    }

    /// From the locator head's map: each cell's probability reads as the share of it the pet
    /// covers, so the column and row profiles (the most covered cell of each) give the pet's
    /// extent and centre to a fraction of a cell. The square is `scale` times the pet's shorter
    /// extent, centred on it: the pet framed as a photographer frames it, and no more of the
    /// scene than that (the breed classifier was trained on such pictures).
    fn frame_covered(&self, map: (usize, usize, &[f32]), frame: (u32, u32)) -> Option<[f32; 3]> {
        let (rows, cols, v) = map;
        let best = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        if best < self.cfg.min_log_odds {
            return None;
        }
        // Coverage, with the head's floor on empty cells taken off.
        let floor = self.cfg.floor;
        let cover: Vec<f32> = v.iter().map(|&z| ((1.0 / (1.0 + (-z).exp()) - floor) / (1.0 - floor)).max(0.0)).collect();
        // The pet: the box of the cells at least half covered, and one cell around it for the
        // partly covered edges; cells elsewhere (another pet-like patch) do not count.
        let (mut i0, mut i1, mut j0, mut j1) = (rows, 0, cols, 0);
        for (k, &z) in v.iter().enumerate() {
            if z >= self.cfg.min_log_odds {
                (i0, i1, j0, j1) = (i0.min(k / cols), i1.max(k / cols), j0.min(k % cols), j1.max(k % cols));
            }
        }
        // The head's coverage bleeds about half a cell past an edge of the pet inside the frame
        // (none past the frame's own border): `trim` takes that off each inner edge.
        let trim = |lo: usize, hi: usize, n: usize| (self.cfg.trim * ((lo > 0) as u8 as f32), self.cfg.trim * ((hi + 1 < n) as u8 as f32));
        let (trim_x, trim_y) = (trim(j0, j1, cols), trim(i0, i1, rows));
        let (i0, i1, j0, j1) = (i0.saturating_sub(1), (i1 + 1).min(rows - 1), j0.saturating_sub(1), (j1 + 1).min(cols - 1));
        // Along each axis, the most covered cell of each line across it: its extent and centre.
        let profile = |lines: std::ops::RangeInclusive<usize>, across: std::ops::RangeInclusive<usize>, at: &dyn Fn(usize, usize) -> f32| -> (f32, f32) {
            let p: Vec<(usize, f32)> = lines.map(|a| (a, across.clone().map(|b| at(a, b)).fold(0.0, f32::max))).collect();
            let len: f32 = p.iter().map(|(_, c)| c).sum();
            let centre = p.iter().map(|&(a, c)| c * (a as f32 + 0.5)).sum::<f32>() / len.max(1e-6);
            (len, centre)
        };
        let (w, cx) = profile(j0..=j1, i0..=i1, &|j, i| cover[i * cols + j]);
        let (h, cy) = profile(i0..=i1, j0..=j1, &|i, j| cover[i * cols + j]);
        let (w, cx) = ((w - trim_x.0 - trim_x.1).max(0.5), cx + 0.5 * (trim_x.0 - trim_x.1));
        let (h, cy) = ((h - trim_y.0 - trim_y.1).max(0.5), cy + 0.5 * (trim_y.0 - trim_y.1));
        let (cw, ch) = self.cell_size(frame);
        let short = frame.0.min(frame.1) as f32;
        let side = (self.cfg.scale * (w * cw).min(h * ch)).clamp(self.cfg.min_side * short, short);
        Some([(cx * cw).min(frame.0 as f32), (cy * ch).min(frame.1 as f32), side])
    }

    /// From the class-activation map: the square around the cells within `spread` log-odds of
    /// the best one, with a margin.
    fn frame_activation(&self, map: (usize, usize, &[f32]), frame: (u32, u32)) -> Option<[f32; 3]> {
        let (rows, cols, v) = map;
        let best = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sorted = v.to_vec();
        sorted.sort_by(f32::total_cmp);
        let median = sorted[sorted.len() / 2];
        if best < self.cfg.min_log_odds || best - median < self.cfg.min_contrast {
            return None;
        }
        let cut = best - self.cfg.spread.max(self.cfg.relative * (best - median));
        // A cell in frame pixels.
        let (cw, ch) = self.cell_size(frame);
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, 0f32, 0f32);
        let (mut sx, mut sy, mut sw) = (0f32, 0f32, 0f32);
        for i in 0..rows {
            for j in 0..cols {
                let e = v[i * cols + j];
                if e >= cut {
                    x0 = x0.min(j as f32 * cw);
                    y0 = y0.min(i as f32 * ch);
                    x1 = x1.max(((j + 1) as f32 * cw).min(frame.0 as f32));
                    y1 = y1.max(((i + 1) as f32 * ch).min(frame.1 as f32));
                    let wgt = (e - cut).max(0.05);
                    sx += wgt * ((j as f32 + 0.5) * cw).min(frame.0 as f32);
                    sy += wgt * ((i as f32 + 0.5) * ch).min(frame.1 as f32);
                    sw += wgt;
                }
            }
        }
        let short = frame.0.min(frame.1) as f32;
        let side = ((x1 - x0).max(y1 - y0) * (1.0 + self.cfg.margin)).clamp(self.cfg.min_side * short, short);
        // Centre between the weighted centroid and the middle of the pet cells' box.
        let cx = 0.5 * (sx / sw + 0.5 * (x0 + x1));
        let cy = 0.5 * (sy / sw + 0.5 * (y0 + y1));
        Some([cx, cy, side])
    }
}

/// Name of the locator head's output in the ONNX graph: a 1x1 `Conv` on the feature map that
/// the final pooling reads, giving each cell's log-odds of being mostly pet. Written by
/// `petcam-trainer locator-head`; it is no graph output, so the classifier never runs it.
pub const HEAD_OUTPUT: &str = "pet_cells";

/// Name of the head's per-border offsets in the ONNX file: four log-odds added to the cells of
/// the view's first column, last column, first row and last row, where the backbone's zero
/// padding makes the features of a pet cut by the frame's edge weaker.
pub const HEAD_EDGES: &str = "locator_head_edges";

/// The trained locator head.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Offsets for cells on the left, right, top and bottom border of the view.
    pub edges: [f32; 4],
}

impl Head {
    /// Log-odds that a cell with these `features`, on the view's borders `edges`
    /// ([`edge_indicators`]), is mostly pet.
    pub fn logit(&self, features: &[f32], edges: [f32; 4]) -> f32 {
        self.bias + dot(&self.weights, features) + self.edges.iter().zip(edges).map(|(a, b)| a * b).sum::<f32>()
    }
}

/// 1 for each border (left, right, top, bottom) that cell (`i`, `j`) of a `rows` x `cols` map
/// lies on, else 0.
pub fn edge_indicators(i: usize, j: usize, rows: usize, cols: usize) -> [f32; 4] {
    [(j == 0) as u8 as f32, (j + 1 == cols) as u8 as f32, (i == 0) as u8 as f32, (i + 1 == rows) as u8 as f32]
}

/// Whether the ONNX file at `path` carries a locator head ([`HEAD_OUTPUT`]); false for a file
/// that cannot be read or parsed (the classifier's load names those).
pub fn model_has_head(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| tract_onnx::onnx().proto_model_for_read(&mut &b[..]).ok())
        .and_then(|p| p.graph)
        .is_some_and(|g| g.node.iter().any(|n| n.output.iter().any(|o| o == HEAD_OUTPUT)))
}

/// The locator head, when the graph has one reading `feature`.
fn locator_head(graph: &pb::GraphProto, feature: &str) -> Result<Option<Head>, String> {
    let Some(node) = graph.node.iter().find(|n| n.output.iter().any(|o| o == HEAD_OUTPUT)) else {
        return Ok(None);
    };
    let init = |name: &str| graph.initializer.iter().find(|t| t.name == name);
    if node.op_type != "Conv" || node.input.first().map(String::as_str) != Some(feature) {
        return Err(format!("`{HEAD_OUTPUT}` is not a Conv on the pooled feature map `{feature}`"));
    }
    match (node.input.get(1).and_then(|n| init(n)), node.input.get(2).and_then(|n| init(n))) {
        (Some(w), Some(b)) if w.data_type == 1 && b.data_type == 1 && w.dims.len() == 4 && w.dims[0] == 1 && w.dims[2] == 1 && w.dims[3] == 1 => {
            let (w, b) = (tensor_f32(w), tensor_f32(b));
            let edges = match init(HEAD_EDGES).map(tensor_f32) {
                None => [0.0; 4],
                Some(e) => e.try_into().map_err(|e: Vec<f32>| format!("`{HEAD_EDGES}` has {} values, expected 4", e.len()))?,
            };
            match b.as_slice() {
                [b] => Ok(Some(Head { weights: w, bias: *b, edges })),
                _ => Err(format!("`{HEAD_OUTPUT}` has {} biases, expected 1", b.len())),
            }
        }
        _ => Err(format!("`{HEAD_OUTPUT}` is not a 1x1 Conv to one channel with f32 constant weights and bias")),
    }
}

/// `a . b` over their common length, in 8 running sums: a loop the compiler vectorises (one sum
/// is a chain it must keep in order). The locate stage takes 38 of these per cell of the view.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = a.chunks_exact(8).remainder().iter().zip(b.chunks_exact(8).remainder()).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Side of a feature-map cell in view pixels (EfficientNet-Lite0's output stride).
pub const CELL: usize = 32;

/// `view` grown to whole cells plus one, the margin the mirrored border fills (`mirror`), else as is.
fn padded(view: (usize, usize), mirror: bool) -> (usize, usize) {
    if mirror {
        ((view.0 / CELL + 1) * CELL, (view.1 / CELL + 1) * CELL)
    } else {
        view
    }
}

impl std::str::FromStr for ActivationConfig {
    type Err = String;
    /// `key=value,...` over the defaults: `view` (width), `every`, `spread`, `relative`,
    /// `contrast`, `mirror` (0/1), `margin`, `min-side`, `min-log-odds`, `cam` (0/1), `scale`, `floor`, `trim`,
    /// `veto` (0/1).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = ActivationConfig::default();
        for kv in s.split(',').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| format!("`{kv}` is not key=value"))?;
            let f = || v.parse::<f32>().map_err(|_| format!("`{kv}`: not a number"));
            match k {
                "view" => c.view_width = f()? as u32,
                "every" => c.every = (f()? as usize).max(1),
                "spread" => c.spread = f()?,
                "relative" => c.relative = f()?,
                "contrast" => c.min_contrast = f()?,
                "mirror" => c.mirror = f()? != 0.0,
                "veto" => c.veto = f()? != 0.0,
                "margin" => c.margin = f()?,
                "min-side" => c.min_side = f()?,
                "min-log-odds" => c.min_log_odds = f()?,
                "cam" => c.cam = f()? != 0.0,
                "scale" => c.scale = f()?,
                "floor" => c.floor = f()?.clamp(0.0, 0.95),
                "trim" => c.trim = f()?,
                _ => return Err(format!("unknown activation locator setting `{k}`")),
            }
        }
        if !(64..=640).contains(&c.view_width) {
            return Err(format!("view {} outside 64..640", c.view_width));
        }
        Ok(c)
    }
}

/// The square `[cx, cy, side]` as a pixel rectangle inside a `w` x `h` frame.
pub fn square_in_frame(sq: [f32; 3], w: u32, h: u32) -> Rect {
    let side = (sq[2].round() as u32).clamp(1, w.min(h).max(1));
    let x = (sq[0] - side as f32 / 2.0).round().clamp(0.0, (w - side) as f32) as u32;
    let y = (sq[1] - side as f32 / 2.0).round().clamp(0.0, (h - side) as f32) as u32;
    Rect { x, y, width: side, height: side }
}

impl Locate for ActivationLocator {
    fn locate(&mut self, rgb: &RgbImage) -> Rect {
        let (w, h) = rgb.dimensions();
        if w == 0 || h == 0 {
            self.saw = false;
            return CentreCrop.locate(rgb);
        }
        if self.frame.is_multiple_of(self.cfg.every.max(1)) {
            let target = match self.search(rgb) {
                Ok((rows, cols, map, evidence)) => {
                    self.evidence = Some(evidence);
                    self.frame_pet((rows, cols, &map), (w, h))
                }
                Err(e) => {
                    tracing::warn!("locator: {e:#}");
                    self.evidence = None;
                    None
                }
            };
            self.track.correct(target);
        }
        self.frame += 1;
        let square = self.track.square();
        self.saw = square.is_some();
        self.track.advance(w, h);
        match square {
            Some(sq) => square_in_frame(sq, w, h),
            None => CentreCrop.locate(rgb),
        }
    }

    fn name(&self) -> &'static str {
        "activation"
    }

    fn saw_pet(&self) -> Option<bool> {
        self.cfg.veto.then_some(self.saw)
    }

    fn evidence(&self) -> Option<WideEvidence> {
        self.evidence
    }

    fn reset(&mut self) {
        self.frame = 0;
        self.saw = false;
        self.evidence = None;
        self.track.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locator() -> ActivationLocator {
        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(crate::config::DEFAULT_MODEL_FILE);
        ActivationLocator::load(&model, 37, ActivationConfig { every: 3, ..Default::default() }).unwrap()
    }

    /// The demo cat (a 451 x 300 photo) shrunk to `height` pixels and pasted at (x, y) on a grey
    /// 640 x 480 frame; returns the frame and the cat's centre.
    fn cat_at(x: u32, y: u32, height: u32) -> (RgbImage, (u32, u32)) {
        let cat = image::open(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/images/chelsea.png")).unwrap().to_rgb8();
        let w = cat.width() * height / cat.height();
        let small = image::imageops::resize(&cat, w, height, image::imageops::FilterType::Triangle);
        let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([120, 118, 112]));
        image::imageops::overlay(&mut frame, &small, x as i64, y as i64);
        (frame, (x + w / 2, y + height / 2))
    }

    #[test]
    fn finds_a_small_cat_in_a_corner_and_follows_it() {
        let mut l = locator();
        let (frame, (cx, cy)) = cat_at(440, 20, 150);
        let r = l.locate(&frame);
        assert!((r.x..r.x + r.width).contains(&cx) && (r.y..r.y + r.height).contains(&cy), "{r:?} misses the cat at {cx},{cy}");
        assert!(r.width < 400, "a small cat gets a small square: {r:?}");
        // It stays put between searches, then follows the cat to the other corner.
        assert_eq!(l.locate(&frame), r);
        let (moved, (mx, my)) = cat_at(20, 300, 150);
        l.locate(&moved);
        let r2 = l.locate(&moved);
        assert!((r2.x..r2.x + r2.width).contains(&mx) && (r2.y..r2.y + r2.height).contains(&my), "{r2:?} misses the moved cat at {mx},{my}");
    }

    #[test]
    fn it_says_whether_it_saw_a_pet_unless_told_not_to_veto() {
        let mut l = locator();
        let grey = RgbImage::from_pixel(640, 480, image::Rgb([120, 118, 112]));
        assert_eq!(l.locate(&grey), Rect::centre_square(640, 480));
        assert_eq!(l.saw_pet(), Some(false));
        let on_grey = l.evidence().expect("a search saw the grey frame");
        l.reset();
        assert_eq!(l.evidence(), None, "reset forgets the last search");
        let cat = cat_at(440, 20, 150).0;
        l.locate(&cat);
        assert_eq!(l.saw_pet(), Some(true));
        // What the wide view saw: the cat's frame is more pet-like on every count, and the
        // best cell is the map's own.
        let on_cat = l.evidence().unwrap();
        assert!(on_cat.cell > on_grey.cell && on_cat.cam_cell > on_grey.cam_cell && on_cat.view > on_grey.view, "{on_cat:?} vs {on_grey:?}");
        assert!(on_cat.cell > 0.0 && on_grey.cell < 0.0, "{on_cat:?} vs {on_grey:?}");
        let (_, _, map) = l.pet_map(&cat).unwrap();
        assert_eq!(on_cat.cell, map.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
        // Between searches the last search's evidence stands.
        l.locate(&grey);
        assert_eq!(l.evidence(), Some(on_cat));
        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(crate::config::DEFAULT_MODEL_FILE);
        let mut quiet = ActivationLocator::load(&model, 37, "veto=0".parse().unwrap()).unwrap();
        quiet.locate(&grey);
        assert_eq!(quiet.saw_pet(), None);
    }

    #[test]
    fn no_pet_like_cell_frames_nothing_and_any_frame_size_works() {
        let mut l = locator();
        let grey = RgbImage::from_pixel(640, 480, image::Rgb([120, 118, 112]));
        let (rows, cols, map) = l.pet_map(&grey).unwrap();
        assert_eq!((rows, cols), (6, 8), "a 256 x 192 view of a 4:3 frame");
        // A map with no cell at pet log-odds >= 0 frames nothing.
        let negative: Vec<f32> = map.iter().map(|_| -3.0).collect();
        assert_eq!(l.frame_pet((rows, cols, &negative), (640, 480)), None);
        // Odd frame sizes and aspect ratios work too (a new plan for the new view).
        let tall = RgbImage::from_pixel(300, 500, image::Rgb([10, 200, 30]));
        let r = l.locate(&tall);
        assert!(r.width == r.height && r.x + r.width <= 300 && r.y + r.height <= 500, "{r:?}");
    }

    #[test]
    fn the_head_map_frames_the_covered_cells_to_a_fraction_of_a_cell() {
        let l = locator();
        assert!(l.has_head(), "the shipped model carries a locator head");
        let (cw, ch) = l.cell_size((640, 480));
        let (trim, scale) = (l.cfg.trim, l.cfg.scale);
        let pet = |cols: std::ops::Range<usize>| -> Vec<f32> { (0..35).map(|k| if (1..4).contains(&(k / 7)) && cols.contains(&(k % 7)) { 20.0 } else { -20.0 }).collect() };
        // A pet covering columns 1-4 of rows 1-3 of the 5 x 7 map: `trim` comes off each edge.
        let mut map = pet(1..5);
        let [cx, cy, side] = l.frame_pet((5, 7, &map), (640, 480)).unwrap();
        assert!((cx - 3.0 * cw).abs() < 0.5 && (cy - 2.5 * ch).abs() < 0.5, "{cx} {cy}");
        let want = scale * ((4.0 - 2.0 * trim) * cw).min((3.0 - 2.0 * trim) * ch);
        assert!((side - want).abs() < 0.5, "{side} vs {want}");
        // Column 5 half covered: the pet is half a cell wider and its centre a quarter cell
        // further right (the profile's centroid).
        let p = l.cfg.floor + (1.0 - l.cfg.floor) * 0.5;
        for i in 1..4 {
            map[i * 7 + 5] = (p / (1.0 - p)).ln();
        }
        let [cx, _, _] = l.frame_pet((5, 7, &map), (640, 480)).unwrap();
        let centroid = (1.5 + 2.5 + 3.5 + 4.5 + 0.5 * 5.5) / 4.5;
        assert!((cx - centroid * cw).abs() < 0.5, "{cx} vs {}", centroid * cw);
        // A pet cut by the frame's left border keeps that edge: only the inner one is trimmed.
        let [cx, _, _] = l.frame_pet((5, 7, &pet(0..3)), (640, 480)).unwrap();
        assert!((cx - (1.5 - 0.5 * trim) * cw).abs() < 0.5, "{cx}");
        // Nothing covered: no pet.
        assert_eq!(l.frame_pet((5, 7, &[-20.0; 35]), (640, 480)), None);
    }

    #[test]
    fn dot_products_of_any_length() {
        let a: Vec<f32> = (0..21).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..21).map(|i| 1.0 - 0.5 * i as f32).collect();
        for n in [0, 1, 7, 8, 9, 16, 21] {
            let want: f32 = a[..n].iter().zip(&b[..n]).map(|(x, y)| x * y).sum();
            assert!((dot(&a[..n], &b[..n]) - want).abs() < 1e-3, "{n}");
        }
        assert_eq!(dot(&a, &b[..3]), dot(&a[..3], &b[..3]), "the common length");
    }

    #[test]
    fn settings_parse_over_the_defaults() {
        let c: ActivationConfig = "view=256,every=4,mirror=1".parse().unwrap();
        assert_eq!((c.view_width, c.every, c.mirror, c.spread), (256, 4, true, ActivationConfig::default().spread));
        assert!("view=10".parse::<ActivationConfig>().is_err());
        assert!("zoom=2".parse::<ActivationConfig>().unwrap_err().contains("zoom"));
        let c: ActivationConfig = "cam=1,scale=0.9,floor=0.2,trim=0".parse().unwrap();
        assert_eq!((c.cam, c.scale, c.floor, c.trim), (true, 0.9, 0.2, 0.0));
    }

    #[test]
    fn squares_stay_inside_the_frame() {
        assert_eq!(square_in_frame([20.0, 20.0, 100.0], 640, 480), Rect { x: 0, y: 0, width: 100, height: 100 });
        assert_eq!(square_in_frame([630.0, 470.0, 100.0], 640, 480), Rect { x: 540, y: 380, width: 100, height: 100 });
        assert_eq!(square_in_frame([320.0, 240.0, 900.0], 640, 480), Rect { x: 80, y: 0, width: 480, height: 480 });
        assert_eq!(square_in_frame([320.0, 240.0, 0.2], 640, 480).width, 1);
    }
}
