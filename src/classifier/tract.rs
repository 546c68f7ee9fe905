//! The tract-onnx implementation of [`Classifier`]: load, validate and optimise once, run many.

use super::{Classifier, Scores};
use crate::metadata::{MetadataError, ModelMetadata, METADATA_KEY};
use std::path::{Path, PathBuf};
use tract_onnx::prelude::*;

type Plan = std::sync::Arc<TypedRunnableModel>;

/// Why a model could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: cannot read model: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid ONNX model: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("{path}: {source}")]
    Metadata { path: PathBuf, source: MetadataError },
    #[error("{path}: {msg}")]
    Shape { path: PathBuf, msg: String },
    #[error("{path}: inference failed: {msg}")]
    Run { path: PathBuf, msg: String },
}

pub struct TractClassifier {
    path: PathBuf,
    meta: ModelMetadata,
    plan: Plan,
    no_pet: Option<usize>,
    depthwise: DepthwiseUse,
    int8_pointwise: usize,
    /// How many of those clamp their input (the ReLU6 before them) themselves.
    int8_relu6_inputs: usize,
    /// 1x1 convolutions on petcam's f32 op.
    f32_pointwise: usize,
}

/// How a model is turned into a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Which depthwise convolutions run on petcam's own op ([`super::depthwise`]) instead of
    /// tract's. Other than the default only to compare (`petcam bench --depthwise`).
    pub depthwise: super::depthwise::Policy,
    /// Which models' 1x1 convolutions run on petcam's int8 op ([`super::pointwise`]): by default
    /// int8 models on aarch64 CPUs.
    pub int8: super::pointwise::Policy,
    /// Which f32 1x1 convolutions run on petcam's f32 op ([`super::pointwise_f32`]): by default
    /// all, where the CPU has AVX-512F or AVX2+FMA.
    pub pointwise_f32: super::pointwise_f32::Policy,
}

/// What [`super::depthwise::substitute`] did to a loaded model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DepthwiseUse {
    /// Depthwise convolutions that run on petcam's op.
    pub replaced: usize,
    /// ... of which with their ReLU6 fused in.
    pub with_relu6: usize,
}

impl TractClassifier {
    /// Loads `path`, reads its petcam metadata, fixes the input to `[1, 3, S, S]`, checks the output
    /// has one value per label, and optimises the graph.
    pub fn load(path: &Path) -> Result<TractClassifier, ModelError> {
        Self::load_with(path, LoadOptions::default())
    }

    /// As [`load`](Self::load), with non-default options.
    pub fn load_with(path: &Path, options: LoadOptions) -> Result<TractClassifier, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: path.into(), source })?;
        Self::from_bytes_with(&bytes, path, options)
    }

    /// As [`load`](Self::load), from bytes in memory; `path` is only used in messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<TractClassifier, ModelError> {
        Self::from_bytes_with(bytes, path, LoadOptions::default())
    }

    /// As [`from_bytes`](Self::from_bytes), with non-default options.
    pub fn from_bytes_with(bytes: &[u8], path: &Path, options: LoadOptions) -> Result<TractClassifier, ModelError> {
        let p = || path.to_path_buf();
        let parse = |e: TractError| ModelError::Parse { path: p(), msg: format!("{e:#}") };
        let onnx = tract_onnx::onnx();
        let mut proto = onnx.proto_model_for_read(&mut &bytes[..]).map_err(parse)?;
        // An int8 file's weights, dequantised in one pass here rather than by tract's operators.
        if let Some(g) = proto.graph.as_mut() {
            super::dequantize::fold_constants(g);
        }
        let json = proto.metadata_props.iter().find(|e| e.key == METADATA_KEY).map(|e| e.value.clone()).ok_or(ModelError::Metadata { path: p(), source: MetadataError::Missing })?;
        let meta = ModelMetadata::from_json(&json).map_err(|source| ModelError::Metadata { path: p(), source })?;
        let s = meta.input_size as usize;
        let model = onnx.model_for_proto_model(&proto).map_err(parse)?;
        let shape_err = |e: TractError| ModelError::Shape { path: p(), msg: format!("does not accept a [1, 3, {s}, {s}] input: {e:#}") };
        let model = model.with_input_fact(0, f32::fact([1, 3, s, s]).into()).map_err(shape_err)?;
        let typed = model.into_typed().map_err(shape_err)?;
        let out_fact = typed.output_fact(0).map_err(shape_err)?.clone();
        let out_shape: Vec<usize> = out_fact.shape.as_concrete().map(|s| s.to_vec()).unwrap_or_default();
        if out_shape.iter().product::<usize>() != meta.labels.len() {
            return Err(ModelError::Shape { path: p(), msg: format!("output shape {out_shape:?} does not match its {} labels", meta.labels.len()) });
        }
        let mut typed = typed.into_decluttered().map_err(parse)?;
        let (replaced, with_relu6) = super::depthwise::substitute(&mut typed, options.depthwise).map_err(parse)?;
        let depthwise = DepthwiseUse { replaced, with_relu6 };
        if replaced > 0 && super::depthwise::moves_channels_last_itself() {
            typed.declutter().map_err(parse)?;
        }
        let (int8_pointwise, int8_relu6_inputs) = if options.int8.takes(&meta.precision) { super::pointwise::substitute(&mut typed, options.int8.only_int8_weights()).map_err(parse)? } else { (0, 0) };
        let f32_pointwise = super::pointwise_f32::substitute(&mut typed, options.pointwise_f32).map_err(parse)?;
        let plan = typed.into_optimized().and_then(|m| m.into_runnable()).map_err(parse)?;
        let no_pet = meta.no_pet_index();
        Ok(TractClassifier { path: p(), meta, plan, no_pet, depthwise, int8_pointwise, int8_relu6_inputs, f32_pointwise })
    }

    /// How many depthwise convolutions run on petcam's own op.
    pub fn depthwise_use(&self) -> DepthwiseUse {
        self.depthwise
    }

    /// How many 1x1 convolutions run in int8 on petcam's op (0: the model runs in f32).
    pub fn int8_pointwise(&self) -> usize {
        self.int8_pointwise
    }

    /// How many 1x1 convolutions run on petcam's f32 op.
    pub fn f32_pointwise(&self) -> usize {
        self.f32_pointwise
    }

    /// How many of the int8 1x1 convolutions took the ReLU6 before them into their quantiser.
    pub fn int8_relu6_inputs(&self) -> usize {
        self.int8_relu6_inputs
    }

    /// The same model read at another softmax temperature (for benchmarks that fit one; the
    /// file is not changed). `t` must be positive and finite.
    pub fn with_temperature(mut self, t: f32) -> TractClassifier {
        debug_assert!(t.is_finite() && t > 0.0, "temperature {t}");
        self.meta.temperature = t;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw logits for a batch of one.
    pub fn logits(&self, input: &[f32]) -> Result<Vec<f32>, ModelError> {
        let s = self.meta.input_size as usize;
        if input.len() != 3 * s * s {
            return Err(ModelError::Shape { path: self.path.clone(), msg: format!("input has {} values, model wants 3x{s}x{s}", input.len()) });
        }
        let t = Tensor::from_shape(&[1, 3, s, s], input).map_err(|e| ModelError::Run { path: self.path.clone(), msg: format!("{e:#}") })?;
        let out = self.plan.run(tvec!(t.into())).map_err(|e| ModelError::Run { path: self.path.clone(), msg: format!("{e:#}") })?;
        let view = out[0].to_plain_array_view::<f32>().map_err(|e| ModelError::Run { path: self.path.clone(), msg: format!("{e:#}") })?;
        Ok(view.iter().cloned().collect())
    }

    /// Runs `input` `runs` times and adds up the time spent in each node of the optimised graph:
    /// where tract's time goes. One row per node, slowest first.
    pub fn profile(&self, input: &[f32], runs: usize) -> Result<Vec<NodeTime>, ModelError> {
        let s = self.meta.input_size as usize;
        let run_err = |e: TractError| ModelError::Run { path: self.path.clone(), msg: format!("{e:#}") };
        let t = Tensor::from_shape(&[1, 3, s, s], input).map_err(run_err)?;
        let model = self.plan.model();
        let mut rows: Vec<NodeTime> = model.nodes().iter().map(|n| NodeTime { node: n.name.clone(), op: n.op().name().to_string(), detail: format!("{}", n.op), seconds: 0.0 }).collect();
        let mut state = self.plan.spawn().map_err(run_err)?;
        for _ in 0..runs.max(1) {
            state
                .run_plan_with_eval(tvec!(t.clone().into()), |ctx, op_state, node, inputs| {
                    let start = std::time::Instant::now();
                    let r = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    rows[node.id].seconds += start.elapsed().as_secs_f64() / runs.max(1) as f64;
                    r
                })
                .map_err(run_err)?;
        }
        rows.retain(|r| r.seconds > 0.0);
        rows.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        Ok(rows)
    }
}

/// Mean time per inference spent in one node of the optimised graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeTime {
    pub node: String,
    /// Operator kind, e.g. `Conv`, `OptMatMulPack`.
    pub op: String,
    /// The operator with its parameters, as tract prints it.
    pub detail: String,
    pub seconds: f64,
}

/// Lets tract's matrix products use `n` threads (1 = the calling thread only, tract's default).
/// Process-wide: affects every model. More than 1 needs the `threads` feature.
pub fn set_threads(n: usize) -> Result<(), String> {
    #[cfg(feature = "threads")]
    {
        use tract_onnx::prelude::multithread::{set_default_executor, Executor};
        set_default_executor(if n <= 1 { Executor::SingleThread } else { Executor::multithread(n) });
        Ok(())
    }
    #[cfg(not(feature = "threads"))]
    {
        if n > 1 {
            return Err(format!("{n} threads: this petcam was built without the `threads` feature (cargo build --features threads)"));
        }
        Ok(())
    }
}

impl Classifier for TractClassifier {
    type Error = ModelError;

    fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    fn classify(&mut self, input: &[f32]) -> Result<Scores, ModelError> {
        let z = self.logits(input)?;
        Ok(Scores::from_logits(&z, self.meta.temperature, self.no_pet))
    }
}
