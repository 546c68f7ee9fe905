//! Finding a 1x1 convolution in a decluttered tract graph: after declutter tract holds one as an
//! `EinSum` (`IHW,OI->OHW`, or with the channel axes moved last: `IHW,OI->HWO`, `HWI,OI->OHW`,
//! `HWI,OI->HWO`) with constant weights, followed by the bias `Add` and, after an expansion, a
//! `Max(0) -> Min(6)` pair. Both of petcam's 1x1 ops (int8, [`super::PointwiseConv`]; f32,
//! [`crate::classifier::pointwise_f32`]) take that chain.

use super::kernel::Layout;
use crate::classifier::graph::{floats, relu6_after, sole_reader};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// One 1x1 convolution with what follows it.
#[derive(Debug, Clone)]
pub struct Chain {
    pub in_c: usize,
    pub out_c: usize,
    /// Pixels per call (the input's size over `in_c`).
    pub pixels: usize,
    /// Where the channels are in the input and in the output.
    pub layout: (Layout, Layout),
    /// `[out_c, in_c]`.
    pub weights: Vec<f32>,
    /// `[out_c]`: the following `Add`'s, or zeros.
    pub bias: Vec<f32>,
    /// Whether a ReLU6 follows (after the bias).
    pub relu6: bool,
    pub out_shape: TVec<usize>,
    /// The last node of the chain (the `EinSum`, its `Add` or its `Min(6)`).
    pub last: usize,
}

/// The chain starting at node `id`, when node `id` is an f32 `EinSum` of a concrete input with
/// constant 2-D weights, channels first or last.
pub fn at(model: &TypedModel, id: usize) -> TractResult<Option<Chain>> {
    let node = &model.nodes()[id];
    let Some(einsum) = node.op_as::<EinSum>() else { return Ok(None) };
    tracing::debug!("einsum {}: {} on {:?}", node.name, einsum.axes, model.outlet_fact(node.inputs[0])?.shape);
    if einsum.q_params.is_some() || einsum.operating_dt != f32::datum_type() || node.inputs.len() != 2 {
        return Ok(None);
    }
    let x_fact = model.outlet_fact(node.inputs[0])?;
    let Some(k) = model.outlet_fact(node.inputs[1])?.konst.clone() else { return Ok(None) };
    let out_fact = model.outlet_fact(OutletId::new(id, 0))?;
    let (Some(x_shape), Some(out_shape)) = (x_fact.shape.as_concrete(), out_fact.shape.as_concrete()) else { return Ok(None) };
    if x_fact.datum_type != f32::datum_type() || k.datum_type() != f32::datum_type() || k.rank() != 2 {
        return Ok(None);
    }
    let (ins, outs) = einsum.axes.to_strs();
    let (Some(xa), Some(wa), Some(ya)) = (ins.first(), ins.get(1), outs.first()) else { return Ok(None) };
    let (xa, wa, ya): (Vec<char>, Vec<char>, Vec<char>) = (xa.chars().collect(), wa.chars().collect(), ya.chars().collect());
    if xa.len() != x_shape.len() || ya.len() != out_shape.len() || wa.len() != 2 {
        return Ok(None);
    }
    // The weights: one axis in the output (O), one contracted with the input (I).
    let (o_at, i_at) = if ya.contains(&wa[0]) && xa.contains(&wa[1]) && !ya.contains(&wa[1]) {
        (0, 1)
    } else if ya.contains(&wa[1]) && xa.contains(&wa[0]) && !ya.contains(&wa[0]) {
        (1, 0)
    } else {
        return Ok(None);
    };
    let (o, i) = (wa[o_at], wa[i_at]);
    let (out_c, in_c) = (k.shape()[o_at], k.shape()[i_at]);
    // The input without size-1 axes the output drops; the rest must be I plus the output's own
    // spatial axes in the same order, I first or last, and likewise O in the output.
    let x_kept: Vec<char> = xa.iter().zip(x_shape).filter(|(c, &d)| !(d == 1 && **c != i && !ya.contains(c))).map(|(c, _)| *c).collect();
    let y_kept: Vec<char> = ya.iter().zip(out_shape).filter(|(c, &d)| !(d == 1 && **c != o && !xa.contains(c))).map(|(c, _)| *c).collect();
    let x_space: Vec<char> = x_kept.iter().copied().filter(|c| *c != i).collect();
    let y_space: Vec<char> = y_kept.iter().copied().filter(|c| *c != o).collect();
    if x_space != y_space || x_space.iter().any(|c| wa.contains(c)) || x_kept.len() != x_space.len() + 1 || y_kept.len() != y_space.len() + 1 {
        return Ok(None);
    }
    let side = |kept: &[char], c: char| {
        if kept.first() == Some(&c) {
            Some(Layout::ChannelsFirst)
        } else if kept.last() == Some(&c) {
            Some(Layout::ChannelsLast)
        } else {
            None
        }
    };
    let (Some(in_layout), Some(out_layout)) = (side(&x_kept, i), side(&y_kept, o)) else { return Ok(None) };
    let layout = (in_layout, out_layout);
    let pixels: usize = x_shape.iter().product::<usize>() / in_c.max(1);
    if pixels == 0 || in_c == 0 || out_c == 0 || pixels * in_c != x_shape.iter().product::<usize>() || pixels * out_c != out_shape.iter().product::<usize>() {
        return Ok(None);
    }
    // Weights as [out_c, in_c].
    let kv = floats(&k)?;
    let weights: Vec<f32> = if o_at == 0 { kv.to_vec() } else { (0..out_c).flat_map(|oc| (0..in_c).map(move |ic| (oc, ic))).map(|(oc, ic)| kv[ic * out_c + oc]).collect() };
    let o_axis = ya.iter().position(|c| *c == o).unwrap_or(0);
    let (bias, after_bias) = match bias_after(model, id, out_c, o_axis, out_shape)? {
        Some((b, add)) => (b, add),
        None => (vec![0.0; out_c], id),
    };
    let relu6_end = relu6_after(model, after_bias)?;
    Ok(Some(Chain { in_c, out_c, pixels, layout, weights, bias, relu6: relu6_end.is_some(), out_shape: out_shape.into(), last: relu6_end.unwrap_or(after_bias) }))
}

/// The bias `Add` that is the only reader of node `id`: its per-output-channel values and its
/// node id, when the other input is a constant that broadcasts one value per output channel
/// along axis `o_axis` of the output.
fn bias_after(model: &TypedModel, id: usize, out_c: usize, o_axis: usize, out_shape: &[usize]) -> TractResult<Option<(Vec<f32>, usize)>> {
    let Some(add) = sole_reader(model, id) else { return Ok(None) };
    if add.op.name() != "Add" || add.inputs.len() != 2 {
        return Ok(None);
    }
    let other = if add.inputs[0].node == id { add.inputs[1] } else { add.inputs[0] };
    let Some(b) = model.outlet_fact(other)?.konst.clone() else { return Ok(None) };
    let (r, rb) = (out_shape.len(), b.rank());
    if b.datum_type() != f32::datum_type() || b.len() != out_c || rb > r || model.outlet_fact(OutletId::new(add.id, 0))?.shape.as_concrete() != Some(out_shape) {
        return Ok(None);
    }
    // Right-aligned broadcasting: the constant's axes are the output's last `rb`.
    let along_channels = b.shape().iter().enumerate().all(|(a, &d)| if r - rb + a == o_axis { d == out_c } else { d == 1 });
    if !along_channels && out_c != 1 {
        return Ok(None);
    }
    Ok(Some((floats(&b)?.to_vec(), add.id)))
}
