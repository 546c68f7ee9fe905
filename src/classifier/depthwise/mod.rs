//! petcam's own depthwise convolution for tract (issue 19).
//!
//! tract 0.23.9 runs a depthwise convolution (group = input channels = output channels) with a
//! zone-walking kernel that is scalar for strides other than 1 on x86_64 and for 3x3/5x5 stride 2 on
//! aarch64, has no kernel at all on armv7, and applies ReLU6 in a separate pass: half of the
//! inference time for 5% of the multiply-adds (docs/PERFORMANCE.md). [`substitute`] swaps each such
//! `Conv` of a decluttered model, with the `Max(0)`/`Min(6)` pair that follows it where there is
//! one, for [`DepthwiseConv`], which runs a [`kernel::Layer`]: bias and ReLU6 fused, vectorised
//! by the compiler (by hand for the channels-last layers on aarch64). The classifier calls it
//! between `declutter` and `optimize`; nothing else in the app knows.

pub mod kernel;

pub use self::kernel::{Geometry, Layer, Layout, Scheme};
use super::graph::{floats, relu6_after};
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::Conv;
use tract_onnx::tract_core::ops::nn::DataFormat;

/// One depthwise layer with its filters: `[N, C, H, W] -> [N, C, out_h, out_w]`, or without the
/// batch axis (`[C, H, W]`, the form tract's declutter leaves for a batch of one), or channels
/// last (`[N, H, W, C]`, `[H, W, C]`), f32.
#[derive(Debug, Clone)]
pub struct DepthwiseConv {
    /// Whether the tensors have the leading batch axis.
    pub batched: bool,
    /// The geometry, layout, filters and bias, laid out for the layer's [`Scheme`].
    layer: Arc<Layer>,
    /// The filters `[C, kh, kw]` and bias as given, to lay the layer out again when tract moves
    /// the channel axis ([`TypedOp::change_axes`]).
    given: Arc<(Vec<f32>, Vec<f32>)>,
}

/// Whether the op asks tract to move the channel axis last (and accepts the move): where its
/// channel-inner kernel is the fast one (aarch64 NEON; x86_64 AVX-512F / AVX2: 16 channels a
/// block). tract's own depthwise `Conv` asks the same on aarch64, and the 1x1 convolutions
/// around follow the layout.
const PREFERS_CHANNELS_LAST: bool = cfg!(any(target_arch = "aarch64", target_arch = "x86_64"));

/// Whether the channels-last layout comes from petcam's op alone: tract's own depthwise `Conv`
/// asks for it only where tract-linalg has a channel-inner kernel (`depthwise_c_f32`: aarch64,
/// not x86_64), so where the op prefers it and tract does not ask, the graph is decluttered once
/// more after [`substitute`] to carry the op's request through it.
pub fn moves_channels_last_itself() -> bool {
    PREFERS_CHANNELS_LAST && tract_onnx::tract_core::tract_linalg::routines::depthwise_c_f32().is_none()
}

impl DepthwiseConv {
    pub fn new(geometry: Geometry, batched: bool, layout: Layout, weights: Vec<f32>, bias: Vec<f32>, relu6: bool) -> TractResult<DepthwiseConv> {
        ensure!(geometry.is_valid(), "invalid depthwise geometry {geometry:?}");
        ensure!(weights.len() == geometry.channels * geometry.kh * geometry.kw, "depthwise filters: {} values for {geometry:?}", weights.len());
        ensure!(bias.len() == geometry.channels, "depthwise bias: {} values for {} channels", bias.len(), geometry.channels);
        let layer = Layer::new(geometry, Scheme::for_geometry(&geometry, layout), layout, &weights, &bias, relu6);
        Ok(DepthwiseConv { batched, layer: Arc::new(layer), given: Arc::new((weights, bias)) })
    }

    /// The same layer in another layout.
    fn with_layout(&self, layout: Layout) -> TractResult<DepthwiseConv> {
        let (w, b) = &*self.given;
        DepthwiseConv::new(*self.geometry(), self.batched, layout, w.clone(), b.clone(), self.relu6())
    }

    /// Where the channel axis is, and the rank.
    fn channel_axis(&self) -> (usize, usize) {
        let rank = 3 + self.batched as usize;
        match self.layout() {
            Layout::ChannelsFirst => (self.batched as usize, rank),
            Layout::ChannelsLast => (rank - 1, rank),
        }
    }

    pub fn geometry(&self) -> &Geometry {
        self.layer.geometry()
    }

    pub fn layout(&self) -> Layout {
        self.layer.layout()
    }

    /// Whether the op clamps to `[0, 6]` after the bias.
    pub fn relu6(&self) -> bool {
        self.layer.relu6()
    }

    /// One image's input or output dimensions in the op's layout.
    fn dims(&self, h: usize, w: usize) -> [usize; 3] {
        let c = self.geometry().channels;
        match self.layout() {
            Layout::ChannelsFirst => [c, h, w],
            Layout::ChannelsLast => [h, w, c],
        }
    }

    pub fn scheme(&self) -> Scheme {
        self.layer.scheme()
    }
}

/// Ops are compared when tract deduplicates nodes: the same geometry and the same filters.
impl PartialEq for DepthwiseConv {
    fn eq(&self, other: &Self) -> bool {
        self.batched == other.batched && (Arc::ptr_eq(&self.layer, &other.layer) || self.layer == other.layer)
    }
}
impl Eq for DepthwiseConv {}

impl Op for DepthwiseConv {
    fn name(&self) -> StaticName {
        "PetcamDepthwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = self.geometry();
        Ok(vec![format!(
            "{}x{} stride {}x{} pad {}/{} {}x{}x{} -> {}x{}{}, {:?} ({})",
            g.kh,
            g.kw,
            g.stride_h,
            g.stride_w,
            g.pad_top,
            g.pad_left,
            g.channels,
            g.in_h,
            g.in_w,
            g.out_h,
            g.out_w,
            if self.relu6() { ", ReLU6" } else { "" },
            self.scheme(),
            kernel::variant()
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let g = self.geometry();
        let shape = x.shape();
        let chw = self.dims(g.in_h, g.in_w);
        let n = if self.batched { shape.first().copied().unwrap_or(0) } else { 1 };
        let fits = if self.batched { shape.len() == 4 && shape[1..] == chw } else { shape == chw };
        ensure!(fits, "PetcamDepthwise wants {}{chw:?}, got {shape:?}", if self.batched { "N x " } else { "" });
        let out_chw = self.dims(g.out_h, g.out_w);
        let shape_out: TVec<usize> = if self.batched { tvec![n, out_chw[0], out_chw[1], out_chw[2]] } else { out_chw.into_iter().collect() };
        // SAFETY: plain f32 values, every one of which `Layer::run` writes (its tests fill the
        // output with NaN first and compare every value).
        let mut out = unsafe { Tensor::uninitialized::<f32>(&shape_out)? };
        let xs = floats(&x)?;
        let mut view = out.try_as_plain_ram_mut()?;
        let os = view.as_slice_mut::<f32>()?;
        for b in 0..n {
            self.layer.run(&xs[b * g.input_len()..(b + 1) * g.input_len()], &mut os[b * g.output_len()..(b + 1) * g.output_len()]);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for DepthwiseConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = self.geometry();
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type(), "PetcamDepthwise takes one f32 input");
        let chw = self.dims(g.out_h, g.out_w).map(|d| d.to_dim());
        Ok(tvec!(if self.batched { f32::fact([inputs[0].shape[0].clone(), chw[0].clone(), chw[1].clone(), chw[2].clone()]) } else { f32::fact(chw) }))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let g = self.geometry();
        let n = if self.batched { inputs[0].shape[0].clone() } else { 1.to_dim() };
        Ok(tvec!((Cost::FMA(f32::datum_type()), n * (g.output_len() * g.kh * g.kw))))
    }

    /// As tract's depthwise `Conv`: channels last, where the op's channel-inner kernel is the
    /// fast one and a block of 16 channels fills it.
    fn suggested_axis_changes(&self) -> TractResult<TVec<(InOut, AxisOp)>> {
        if !PREFERS_CHANNELS_LAST || self.layout() == Layout::ChannelsLast || self.geometry().channels < kernel::LANES {
            return Ok(tvec!());
        }
        let (c, rank) = self.channel_axis();
        Ok(tvec!((InOut::In(0), AxisOp::Move(c, rank - 1))))
    }

    /// The batch axis added or removed, and (where the op prefers it) the channel axis moved
    /// between first and last: the same change on the input and the output.
    fn change_axes(&self, model: &TypedModel, node: &TypedNode, _io: InOut, change: &AxisOp) -> TractResult<Option<AxisChangeConsequence>> {
        let op = match change {
            AxisOp::Add(0) if !self.batched => DepthwiseConv { batched: true, ..self.clone() },
            AxisOp::Rm(0) if self.batched && model.outlet_fact(node.inputs[0])?.shape[0] == 1.to_dim() => DepthwiseConv { batched: false, ..self.clone() },
            AxisOp::Move(from, to) if PREFERS_CHANNELS_LAST => {
                let (c, rank) = self.channel_axis();
                let other = match self.layout() {
                    Layout::ChannelsFirst if (*from, *to) == (c, rank - 1) => Layout::ChannelsLast,
                    Layout::ChannelsLast if (*from, *to) == (c, self.batched as usize) => Layout::ChannelsFirst,
                    _ => return Ok(None),
                };
                self.with_layout(other)?
            }
            _ => return Ok(None),
        };
        Ok(Some(AxisChangeConsequence { substitute_op: Some(Box::new(op)), wire_changes: tvec!((InOut::In(0), change.clone()), (InOut::Out(0), change.clone())) }))
    }

    as_op!();
}

/// Which depthwise convolutions [`substitute`] gives to petcam's op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Where it measured faster than tract: channels-first layers (tract walks them with its
    /// zone scanner: scalar for stride 2 on x86_64, no kernel at all on armv7), except on aarch64,
    /// where it takes the channels-last layers (its NEON channel-inner kernel against tract's
    /// `depthwise_c_f32`) and leaves the channels-first one to tract's NEON row kernel
    /// (docs/PERFORMANCE.md).
    #[default]
    Auto,
    /// Every depthwise convolution it can run, in either layout (for measuring).
    All,
    /// None: tract runs them all.
    None,
}

impl Policy {
    fn takes(self, layout: Layout) -> bool {
        match self {
            // aarch64: tract's declutter leaves all but the first layer channels last (the
            // input's layout is fixed, so the first stays channels first), where petcam's NEON
            // channel-inner kernel beats tract's `depthwise_c_f32`; the first is left to tract's
            // NEON row kernel, which beats petcam's rows (docs/PERFORMANCE.md).
            Policy::Auto if cfg!(target_arch = "aarch64") => layout == Layout::ChannelsLast,
            Policy::Auto => layout == Layout::ChannelsFirst,
            Policy::All => true,
            Policy::None => false,
        }
    }
}

/// Replaces every f32 depthwise `Conv` of `model` (decluttered, concrete input shape, any data
/// format, constant filters, no dilation) that `policy` gives it with [`DepthwiseConv`], absorbing a
/// following ReLU6. Returns how many convolutions it replaced, and how many of them took their
/// ReLU6 along. Convolutions it cannot or need not take stay with tract.
pub fn substitute(model: &mut TypedModel, policy: Policy) -> TractResult<(usize, usize)> {
    let candidates: Vec<usize> = model.eval_order()?;
    let (mut replaced, mut fused) = (0, 0);
    for id in candidates {
        let Some((op, last)) = plan_for(model, id)?.filter(|(op, _)| policy.takes(op.layout())) else {
            if let Some(conv) = model.nodes()[id].op_as::<Conv>().filter(|c| c.group > 1) {
                tracing::debug!("depthwise-like conv {} stays with tract ({policy:?}): {conv:?} on {:?}", model.nodes()[id].name, model.outlet_fact(model.nodes()[id].inputs[0])?);
            }
            continue;
        };
        let node = &model.nodes()[id];
        let mut patch = TypedModelPatch::new(format!("petcam-depthwise {}", node.name));
        let x = patch.tap_model(model, node.inputs[0])?;
        let relu6 = op.relu6();
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, OutletId::new(last, 0), y)?;
        patch.apply(model)?;
        replaced += 1;
        fused += relu6 as usize;
    }
    Ok((replaced, fused))
}

/// The replacement for node `id` and the last node it covers (the conv, or its `Min(6)`), when
/// node `id` is a depthwise convolution this op can run.
fn plan_for(model: &TypedModel, id: usize) -> TractResult<Option<(DepthwiseConv, usize)>> {
    let node = &model.nodes()[id];
    let Some(conv) = node.op_as::<Conv>() else { return Ok(None) };
    let spec = &conv.pool_spec;
    let x_fact = model.outlet_fact(node.inputs[0])?;
    let depthwise = conv.group > 1 && conv.group == conv.input_channels() && conv.group == conv.output_channels();
    if !depthwise || conv.q_params.is_some() || x_fact.datum_type != f32::datum_type() || spec.rank() != 2 || (0..2).any(|a| spec.dilation(a) != 1) || node.inputs.len() != 3 {
        return Ok(None);
    }
    let (batched, layout) = match spec.data_format {
        DataFormat::NCHW => (true, Layout::ChannelsFirst),
        DataFormat::CHW => (false, Layout::ChannelsFirst),
        DataFormat::NHWC => (true, Layout::ChannelsLast),
        DataFormat::HWC => (false, Layout::ChannelsLast),
    };
    let Some(shape) = x_fact.shape.as_concrete() else { return Ok(None) };
    let (Some(k), Some(b)) = (model.outlet_fact(node.inputs[1])?.konst.clone(), model.outlet_fact(node.inputs[2])?.konst.clone()) else {
        return Ok(None);
    };
    let c = conv.group;
    let (kh, kw) = (spec.kernel_shape[0], spec.kernel_shape[1]);
    let image: &[usize] = if batched && shape.len() == 4 { &shape[1..] } else { shape };
    if image.len() != 3 || k.datum_type() != f32::datum_type() || k.len() != c * kh * kw || b.datum_type() != f32::datum_type() {
        return Ok(None);
    }
    let (in_c, in_h, in_w) = match layout {
        Layout::ChannelsFirst => (image[0], image[1], image[2]),
        Layout::ChannelsLast => (image[2], image[0], image[1]),
    };
    if in_c != c {
        return Ok(None);
    }
    let bias: Vec<f32> = match b.len() {
        1 => vec![floats(&b)?[0]; c],
        n if n == c => floats(&b)?.to_vec(),
        _ => return Ok(None),
    };
    // Whatever the kernel format, as [group = C, 1, kh * kw]: each channel's taps in row order.
    let filters = conv.kernel_fmt.kernel_as_group_o_ihw(&k, c)?;
    let pads = spec.computed_padding(&[in_h, in_w]);
    let geometry = Geometry {
        channels: c,
        in_h,
        in_w,
        kh,
        kw,
        stride_h: spec.stride(0),
        stride_w: spec.stride(1),
        pad_top: pads[0].pad_before,
        pad_left: pads[1].pad_before,
        out_h: pads[0].convoluted,
        out_w: pads[1].convoluted,
    };
    if !geometry.is_valid() {
        return Ok(None);
    }
    let relu6_end = relu6_after(model, id)?;
    let op = DepthwiseConv::new(geometry, batched, layout, floats(&filters)?.to_vec(), bias, relu6_end.is_some())?;
    Ok(Some((op, relu6_end.unwrap_or(id))))
}

#[cfg(test)]
mod tests {
    use super::kernel::test_values;
    use super::*;
    use tract_onnx::tract_core::ops::change_axes::wire_with_rank_broadcast;
    use tract_onnx::tract_core::ops::cnn::{KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math;

    /// TF-"SAME" padding, as the exporter writes it: (before, after) for one axis.
    fn same_pads(n: usize, k: usize, s: usize) -> (usize, usize) {
        let out = n.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(n);
        (total / 2, total - total / 2)
    }

    /// A model of one depthwise `Conv` (`[1, c, h, w]`, TF-SAME padding), optionally followed by
    /// `Max(0)` and `Min(6)` as tract-onnx turns ONNX `Clip(0, 6)` into.
    fn one_layer(c: usize, h: usize, w: usize, k: usize, s: usize, relu6: bool) -> TypedModel {
        one_layer_as(c, h, w, k, s, relu6, false)
    }

    /// As [`one_layer`], channels last (`[1, h, w, c]`) when `nhwc`.
    fn one_layer_as(c: usize, h: usize, w: usize, k: usize, s: usize, relu6: bool, nhwc: bool) -> TypedModel {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact(if nhwc { [1, h, w, c] } else { [1, c, h, w] })).unwrap();
        let kern = Tensor::from_shape(&[c, 1, k, k], &test_values(c * k * k, 7)).unwrap();
        let bias = Tensor::from_shape(&[c], &test_values(c, 8)).unwrap();
        let kern = m.add_const("k", kern).unwrap();
        let bias = m.add_const("b", bias).unwrap();
        let (pt, pb) = same_pads(h, k, s);
        let (pl, pr) = same_pads(w, k, s);
        let pool_spec = PoolSpec {
            data_format: if nhwc { DataFormat::NHWC } else { DataFormat::NCHW },
            kernel_shape: tvec![k, k],
            padding: PaddingSpec::Explicit(tvec![pt, pl], tvec![pb, pr]),
            dilations: None,
            strides: Some(tvec![s, s]),
            input_channels: c,
            output_channels: c,
        };
        let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: c, q_params: None };
        let mut y = m.wire_node("conv", conv, &[x, kern, bias]).unwrap();
        if relu6 {
            let zero = m.add_const("zero", tensor0(0.0f32)).unwrap();
            let six = m.add_const("six", tensor0(6.0f32)).unwrap();
            y = wire_with_rank_broadcast("relu6.min", &mut m, math::max(), &[y[0], zero]).unwrap();
            y = wire_with_rank_broadcast("relu6.max", &mut m, math::min(), &[y[0], six]).unwrap();
        }
        m.select_output_outlets(&y).unwrap();
        m
    }

    /// Runs `model` on `x` as tract alone would, and with [`substitute`]; returns both outputs and
    /// what the substitution did.
    fn both_ways(model: TypedModel, x: Tensor) -> (Vec<f32>, Vec<f32>, (usize, usize)) {
        let theirs = model.clone().into_optimized().unwrap().into_runnable().unwrap();
        let mut ours = model.into_decluttered().unwrap();
        let done = substitute(&mut ours, Policy::All).unwrap();
        let ours = ours.into_optimized().unwrap().into_runnable().unwrap();
        let run = |p: &std::sync::Arc<TypedRunnableModel>| p.run(tvec!(x.clone().into())).unwrap()[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        (run(&theirs), run(&ours), done)
    }

    /// Every depthwise layer of EfficientNet-Lite0, as (channels, kernel, stride, index of its
    /// input size in the list of feature-map sizes).
    const LITE0_DEPTHWISE: [(usize, usize, usize, usize); 16] = [
        (32, 3, 1, 1),
        (96, 3, 2, 1),
        (144, 3, 1, 2),
        (144, 5, 2, 2),
        (240, 5, 1, 3),
        (240, 3, 2, 3),
        (480, 3, 1, 4),
        (480, 3, 1, 4),
        (480, 5, 1, 4),
        (672, 5, 1, 4),
        (672, 5, 1, 4),
        (672, 5, 2, 4),
        (1152, 5, 1, 5),
        (1152, 5, 1, 5),
        (1152, 5, 1, 5),
        (1152, 3, 1, 5),
    ];

    #[test]
    fn same_outputs_as_tract_on_every_lite0_layer_at_96_128_and_160() {
        for input in [96usize, 128, 160] {
            // Feature-map sizes: the input, then halved (rounding up) by each stride-2 stage.
            let sizes: Vec<usize> = std::iter::successors(Some(input), |n| Some(n.div_ceil(2))).take(6).collect();
            for (i, &(c, k, s, at)) in LITE0_DEPTHWISE.iter().enumerate() {
                let n = sizes[at];
                let x = Tensor::from_shape(&[1, c, n, n], &test_values(c * n * n, i as u64 + 100).iter().map(|v| v * 5.0).collect::<Vec<_>>()).unwrap();
                let (theirs, ours, done) = both_ways(one_layer(c, n, n, k, s, true), x);
                assert_eq!(done, (1, 1), "layer {i} at {input} px: the conv and its ReLU6 are replaced");
                assert_eq!(theirs.len(), ours.len());
                let worst = theirs.iter().zip(&ours).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(worst < 1e-4, "layer {i} ({c} channels, {k}x{k}, stride {s}, {n}x{n}) at {input} px: differs from tract by {worst}");
            }
        }
    }

    #[test]
    fn odd_sizes_and_no_activation() {
        for (n, k, s) in [(7, 3, 2), (9, 5, 2), (5, 5, 1), (11, 3, 1), (1, 3, 1), (2, 5, 2), (33, 3, 2)] {
            let c = 5;
            let x = Tensor::from_shape(&[1, c, n, n], &test_values(c * n * n, 3)).unwrap();
            let (theirs, ours, done) = both_ways(one_layer(c, n, n, k, s, false), x);
            assert_eq!(done, (1, 0), "{n}x{n} k{k} s{s}: replaced, no ReLU6 to take");
            let worst = theirs.iter().zip(&ours).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{n}x{n} k{k} s{s}: differs from tract by {worst}");
        }
    }

    #[test]
    fn channels_last_layers() {
        for (n, k, s) in [(12, 5, 2), (6, 3, 1), (7, 5, 1), (24, 3, 2)] {
            let c = 48;
            let x = Tensor::from_shape(&[1, n, n, c], &test_values(c * n * n, 9)).unwrap();
            let (theirs, ours, done) = both_ways(one_layer_as(c, n, n, k, s, true, true), x);
            assert_eq!(done, (1, 1), "{n}x{n} k{k} s{s} NHWC: replaced with its ReLU6");
            let worst = theirs.iter().zip(&ours).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{n}x{n} k{k} s{s} NHWC: differs from tract by {worst}");
        }
    }

    /// tract may add or remove the batch axis around the op, and (where the op prefers channels
    /// last: aarch64) move the channel axis; the op it substitutes computes the same layer in
    /// the new layout.
    #[test]
    fn axis_changes_give_the_same_layer_in_the_new_layout() {
        let (c, n) = (16, 7);
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([1, c, n, n])).unwrap();
        let geo = Geometry { channels: c, in_h: n, in_w: n, kh: 3, kw: 3, stride_h: 1, stride_w: 1, pad_top: 1, pad_left: 1, out_h: n, out_w: n };
        let (w, b) = (test_values(c * 9, 3), test_values(c, 4));
        let op = DepthwiseConv::new(geo, true, Layout::ChannelsFirst, w.clone(), b.clone(), true).unwrap();
        let y = m.wire_node("dw", op.clone(), &[x]).unwrap()[0];
        m.select_output_outlets(&[y]).unwrap();
        let node = m.node(y.node);
        let change = |axis: AxisOp| op.change_axes(&m, node, InOut::In(0), &axis).unwrap().map(|c| c.substitute_op.unwrap().downcast_ref::<DepthwiseConv>().unwrap().clone());
        let unbatched = change(AxisOp::Rm(0)).expect("the batch axis of size 1 goes");
        assert!(!unbatched.batched && unbatched.layout() == Layout::ChannelsFirst);
        assert!(change(AxisOp::Rm(1)).is_none(), "no other axis can go");
        let moved = change(AxisOp::Move(1, 3));
        assert_eq!(moved.is_some(), PREFERS_CHANNELS_LAST);
        assert_eq!(op.suggested_axis_changes().unwrap().len(), PREFERS_CHANNELS_LAST as usize);
        if let Some(last) = moved {
            assert!(last.batched && last.layout() == Layout::ChannelsLast);
            assert!(last.suggested_axis_changes().unwrap().is_empty(), "already channels last");
            // The same outputs, transposed.
            let input = test_values(c * n * n, 5);
            let (mut first, mut hwc) = (vec![0.0; c * n * n], vec![0.0; c * n * n]);
            op.layer.run(&input, &mut first);
            let input_hwc: Vec<f32> = (0..n * n).flat_map(|p| (0..c).map(move |ch| (p, ch))).map(|(p, ch)| input[ch * n * n + p]).collect();
            last.layer.run(&input_hwc, &mut hwc);
            for (p, ch) in (0..n * n).flat_map(|p| (0..c).map(move |ch| (p, ch))) {
                assert!((hwc[p * c + ch] - first[ch * n * n + p]).abs() < 1e-5, "point {p} channel {ch}");
            }
        }
    }

    #[test]
    fn a_relu6_with_two_readers_is_left_in_place() {
        // The conv output is also a model output: the ReLU6 cannot be absorbed.
        let mut m = one_layer(4, 8, 8, 3, 1, true);
        let conv = m.node_by_name("conv").unwrap().id;
        let mut outs = m.output_outlets().unwrap().to_vec();
        outs.push(OutletId::new(conv, 0));
        m.select_output_outlets(&outs).unwrap();
        let mut d = m.into_decluttered().unwrap();
        let done = substitute(&mut d, Policy::All).unwrap();
        assert_eq!(done, (1, 0));
    }

    #[test]
    fn grouped_but_not_depthwise_convs_stay_with_tract() {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([1, 4, 6, 6])).unwrap();
        let kern = m.add_const("k", Tensor::from_shape(&[4, 2, 3, 3], &test_values(72, 1)).unwrap()).unwrap();
        let bias = m.add_const("b", Tensor::from_shape(&[4], &[0.0f32; 4]).unwrap()).unwrap();
        let pool_spec = PoolSpec { data_format: DataFormat::NCHW, kernel_shape: tvec![3, 3], padding: PaddingSpec::Valid, dilations: None, strides: None, input_channels: 4, output_channels: 4 };
        let y = m.wire_node("conv", Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: 2, q_params: None }, &[x, kern, bias]).unwrap();
        m.select_output_outlets(&y).unwrap();
        let mut d = m.into_decluttered().unwrap();
        assert_eq!(substitute(&mut d, Policy::All).unwrap(), (0, 0));
    }
}

#[cfg(test)]
mod shipped_models {
    use super::kernel::test_values;
    use super::Policy;
    use crate::classifier::{LoadOptions, TractClassifier};
    use std::path::PathBuf;

    /// Every ONNX model in `models/`: each must run all its depthwise convolutions, with their
    /// ReLU6, on petcam's op, and give tract's logits.
    #[test]
    fn every_shipped_model_runs_on_petcams_op_with_tracts_logits() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "onnx") {
                continue;
            }
            let ours = TractClassifier::load(&path).unwrap();
            let all = TractClassifier::load_with(&path, LoadOptions { depthwise: Policy::All, ..Default::default() }).unwrap();
            let theirs = TractClassifier::load_with(&path, LoadOptions { depthwise: Policy::None, ..Default::default() }).unwrap();
            let used = all.depthwise_use();
            assert_eq!((used.replaced, used.with_relu6), (16, 16), "{}: EfficientNet-Lite0 has 16 depthwise convolutions, each followed by ReLU6", path.display());
            // The default takes them all where tract's graph is channels-first (x86_64, armv7);
            // on aarch64 the 15 that tract's declutter turns channels-last, not the first.
            let auto = ours.depthwise_use().replaced;
            assert_eq!(auto, if cfg!(target_arch = "aarch64") { 15 } else { 16 }, "{}: taken by default", path.display());
            assert_eq!(theirs.depthwise_use().replaced, 0);
            let s = crate::classifier::Classifier::metadata(&ours).input_size as usize;
            let input: Vec<f32> = test_values(3 * s * s, 5).iter().map(|v| v * 0.5 + 0.5).collect();
            let (a, b) = (all.logits(&input).unwrap(), theirs.logits(&input).unwrap());
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "{}: logits differ from tract's by {worst}", path.display());
            checked += 1;
        }
        assert!(checked >= 1, "no model in {}", dir.display());
    }
}
