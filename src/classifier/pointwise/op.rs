//! The tract op around a 1x1 convolution kernel: both of petcam's (int8, [`super::kernel::Layer`];
//! f32 on x86_64, [`crate::classifier::pointwise_f32::kernel::Layer`]) run as a [`PointwiseOp`],
//! which checks the input, allocates the output and names itself in `petcam bench --profile`.

use crate::classifier::graph::floats;
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// What the op needs of a kernel.
pub trait Kernel: std::fmt::Debug + Clone + PartialEq + Send + Sync + 'static {
    /// The op's name in tract's graph (and so in `petcam bench --profile`).
    const NAME: &'static str;
    /// Working memory kept between tiles of one call.
    type Scratch: Default;
    fn in_channels(&self) -> usize;
    fn out_channels(&self) -> usize;
    /// (input, output) layouts.
    fn layout(&self) -> (super::Layout, super::Layout);
    fn relu6(&self) -> bool;
    /// Which code runs it on this CPU, for the op's info.
    fn variant(&self) -> &'static str;
    /// The element type of its multiply-adds, for tract's cost model.
    fn arithmetic(&self) -> DatumType;
    /// `y = relu6?(W x + b)` over `pixels` pixels, every output written.
    fn run(&self, x: &[f32], pixels: usize, y: &mut [f32], scratch: &mut Self::Scratch);
}

/// One 1x1 convolution: f32 `[in_c, pixels]` (or `[pixels, in_c]`, possibly with leading axes of
/// size 1) to f32 `out_shape`.
#[derive(Debug, Clone)]
pub struct PointwiseOp<K: Kernel> {
    pub(crate) layer: Arc<K>,
    pub(crate) pixels: usize,
    pub(crate) out_shape: TVec<usize>,
}

impl<K: Kernel> PointwiseOp<K> {
    pub fn new(layer: K, pixels: usize, out_shape: TVec<usize>) -> PointwiseOp<K> {
        PointwiseOp { layer: Arc::new(layer), pixels, out_shape }
    }

    pub fn layer(&self) -> &K {
        &self.layer
    }
}

/// Ops are compared when tract deduplicates nodes.
impl<K: Kernel> PartialEq for PointwiseOp<K> {
    fn eq(&self, other: &Self) -> bool {
        self.pixels == other.pixels && self.out_shape == other.out_shape && (Arc::ptr_eq(&self.layer, &other.layer) || self.layer == other.layer)
    }
}
impl<K: Kernel> Eq for PointwiseOp<K> {}

impl<K: Kernel> Op for PointwiseOp<K> {
    fn name(&self) -> StaticName {
        K::NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let l = &self.layer;
        let (a, b) = l.layout();
        Ok(vec![format!("{} -> {} on {} pixels, {a:?} -> {b:?}{} ({})", l.in_channels(), l.out_channels(), self.pixels, if l.relu6() { ", ReLU6" } else { "" }, l.variant())])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl<K: Kernel> EvalOp for PointwiseOp<K> {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let xs = floats(&x)?;
        ensure!(xs.len() == self.pixels * self.layer.in_channels(), "{} wants {} values, got {:?}", K::NAME, self.pixels * self.layer.in_channels(), x.shape());
        // SAFETY: plain f32 values, every one of which `Kernel::run` writes (the kernels' tests
        // fill the output with NaN first and compare every value).
        let mut out = unsafe { Tensor::uninitialized::<f32>(&self.out_shape)? };
        let mut view = out.try_as_plain_ram_mut()?;
        let mut scratch = K::Scratch::default();
        self.layer.run(xs, self.pixels, view.as_slice_mut::<f32>()?, &mut scratch);
        Ok(tvec!(out.into_tvalue()))
    }
}

impl<K: Kernel> TypedOp for PointwiseOp<K> {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type(), "{} takes one f32 input", K::NAME);
        Ok(tvec!(f32::fact(self.out_shape.iter().map(|d| d.to_dim()).collect::<TVec<_>>())))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((Cost::FMA(self.layer.arithmetic()), (self.pixels * self.layer.in_channels() * self.layer.out_channels()).to_dim())))
    }

    as_op!();
}
