//! The trainable network: an [`Arch`] plus its parameters as a burn [`Module`].
//!
//! Layers before `frozen_until` run on plain (non-autodiff) tensors: no gradient bookkeeping, no
//! backward pass through them. That is how the backbone is frozen while the head trains, and how
//! the expensive high-resolution early blocks stay fixed during fine-tuning.

use super::arch::{Act, Arch, Layer, Node, Weights};
use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

#[derive(Module, Debug)]
pub struct Net {
    conv_w: Vec<Param<Tensor<4>>>,
    conv_b: Vec<Param<Tensor<1>>>,
    dense_w: Vec<Param<Tensor<2>>>,
    dense_b: Vec<Param<Tensor<1>>>,
    #[module(skip)]
    arch: Arch,
}

enum X {
    Map(Tensor<4>),
    Vec(Tensor<2>),
}

fn act4(x: Tensor<4>, a: Act) -> Tensor<4> {
    match a {
        Act::None => x,
        Act::Relu => relu(x),
        // relu(x) - relu(x - 6) == clamp(x, 0, 6); measured faster than clamp on burn's flex backend.
        Act::Relu6 => relu(x.clone()) - relu(x.sub_scalar(6.0)),
    }
}

fn act2(x: Tensor<2>, a: Act) -> Tensor<2> {
    match a {
        Act::None => x,
        Act::Relu => relu(x),
        Act::Relu6 => relu(x.clone()) - relu(x.sub_scalar(6.0)),
    }
}

/// (min, max) of a tensor's values.
fn extent<const D: usize>(t: &Tensor<D>) -> (f32, f32) {
    (t.clone().min().into_scalar::<f32>(), t.clone().max().into_scalar::<f32>())
}

/// What a calibration pass records for every Conv/Dense layer, in layer order.
#[derive(Debug, Default)]
struct Probe {
    /// (min, max) of the input and of the output (after its activation).
    ranges: Vec<[(f32, f32); 2]>,
    /// Whether to record `tap_sums`.
    taps: bool,
    /// Per-tap input sums and the number of positions summed (see [`Net::add_tap_sums`]).
    tap_sums: Vec<(Vec<f32>, f64)>,
    /// Whether to record `grams`.
    grams: bool,
    /// Per-group Gram matrices of the inputs under the filter and the number of positions
    /// summed (see [`Net::add_input_grams`]).
    gram_sums: Vec<(Vec<f32>, f64)>,
}

/// For a Conv's input `t` `[N, C, H, W]`: the input value under each of the filter's taps at
/// every output position, `[N, C * k * k, OH, OW]` (zero where the tap falls in the padding). A
/// depthwise convolution of `t` with one-hot filters (one output channel per channel and tap)
/// reads exactly those values; a plain 1x1 convolution's taps are its input.
fn conv_taps(t: &Tensor<4>, s: &super::arch::ConvSpec) -> Tensor<4> {
    let [_, ch, _, _] = t.dims();
    let k = s.kernel;
    if k == 1 && s.stride == 1 && s.pad == [0; 4] {
        return t.clone();
    }
    let mut one_hot = vec![0.0f32; ch * k * k * k * k];
    for c in 0..ch {
        for tap in 0..k * k {
            one_hot[(c * k * k + tap) * k * k + tap] = 1.0;
        }
    }
    let filters = Tensor::<4>::from_data(TensorData::new(one_hot, [ch * k * k, 1, k, k]), &t.device());
    let opts = ConvOptions::new_with_padding([s.stride; 2], [(s.pad[0], s.pad[2]), (s.pad[1], s.pad[3])], [1, 1], ch);
    conv2d(t.clone(), filters, None, opts)
}

/// The sum, over the batch and the layer's output positions, of each of [`conv_taps`]'
/// `[C * k * k]` values, and the number of positions.
fn conv_tap_sums(t: &Tensor<4>, s: &super::arch::ConvSpec) -> (Vec<f32>, f64) {
    let taps = conv_taps(t, s);
    let [n, _, oh, ow] = taps.dims();
    let sums = taps.sum_dim(0).sum_dim(2).sum_dim(3).into_data().try_to_vec::<f32>().expect("f32 activations");
    (sums, (n * oh * ow) as f64)
}

/// For a Conv's input: per group of the convolution, the Gram matrix `sum x x^T` of the
/// vectors `x` one output channel's filter reads (its group's input channels x taps, in the
/// weights' order) over the batch and every output position, `[G * n * n]` with `n` the filter's
/// length, and the number of positions.
fn conv_grams(t: &Tensor<4>, s: &super::arch::ConvSpec) -> (Vec<f32>, f64) {
    let taps = conv_taps(t, s);
    let [n, len, oh, ow] = taps.dims();
    let (g, per) = (s.groups, len / s.groups);
    let m = taps.reshape([n, g, per, oh * ow]).permute([1, 2, 0, 3]).reshape([g, per, n * oh * ow]);
    let gram = m.clone().matmul(m.swap_dims(1, 2));
    (gram.into_data().try_to_vec::<f32>().expect("f32 activations"), (n * oh * ow) as f64)
}

/// Adds a batch's per-layer `(values, count)` to running f64 totals.
fn accumulate(recorded: Vec<(Vec<f32>, f64)>, sums: &mut Vec<Vec<f64>>, counts: &mut Vec<f64>) {
    sums.resize(recorded.len(), vec![]);
    counts.resize(recorded.len(), 0.0);
    for ((acc, count), (s, n)) in sums.iter_mut().zip(counts.iter_mut()).zip(recorded) {
        acc.resize(s.len(), 0.0);
        acc.iter_mut().zip(s).for_each(|(a, v)| *a += v as f64);
        *count += n;
    }
}

impl Net {
    pub fn new(arch: &Arch, w: &Weights, device: &Device) -> Net {
        arch.check(w).expect("weights match architecture");
        let (mut conv_w, mut conv_b, mut dense_w, mut dense_b) = (vec![], vec![], vec![], vec![]);
        let mut layers = w.layers.iter();
        for n in &arch.nodes {
            match n {
                Node::Conv(_) => {
                    let l = layers.next().unwrap();
                    let s = [l.shape[0], l.shape[1], l.shape[2], l.shape[3]];
                    conv_w.push(Param::from_tensor(Tensor::from_data(TensorData::new(l.weight.clone(), s), device)));
                    conv_b.push(Param::from_tensor(Tensor::from_data(TensorData::new(l.bias.clone(), [l.bias.len()]), device)));
                }
                Node::Dense { .. } => {
                    let l = layers.next().unwrap();
                    let s = [l.shape[0], l.shape[1]];
                    dense_w.push(Param::from_tensor(Tensor::from_data(TensorData::new(l.weight.clone(), s), device)));
                    dense_b.push(Param::from_tensor(Tensor::from_data(TensorData::new(l.bias.clone(), [l.bias.len()]), device)));
                }
                _ => {}
            }
        }
        Net { conv_w, conv_b, dense_w, dense_b, arch: arch.clone() }
    }

    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// Current parameters as plain data (for export and checkpoints).
    pub fn weights(&self) -> Weights {
        let mut layers = vec![];
        let (mut c, mut d) = (0, 0);
        let data = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32 weights");
        for n in &self.arch.nodes {
            match n {
                Node::Conv(_) => {
                    let w = self.conv_w[c].val();
                    let shape = w.dims().to_vec();
                    layers.push(Layer { shape, weight: data(w), bias: self.conv_b[c].val().into_data().try_to_vec().unwrap() });
                    c += 1;
                }
                Node::Dense { .. } => {
                    let w = self.dense_w[d].val();
                    let shape = w.dims().to_vec();
                    layers.push(Layer { shape, weight: w.into_data().try_to_vec().unwrap(), bias: self.dense_b[d].val().into_data().try_to_vec().unwrap() });
                    d += 1;
                }
                _ => {}
            }
        }
        Weights { layers }
    }

    /// Logits `[N, classes]` for input `[N, 3, S, S]` in `[0, 1]`.
    ///
    /// `train` turns dropout on. Nodes before `frozen_until` run without autodiff; the result
    /// carries gradients only for layers from `frozen_until` on (pass 0 to train everything, or
    /// `usize::MAX` for pure inference).
    pub fn forward(&self, input: Tensor<4>, train: bool, frozen_until: usize) -> Tensor<2> {
        self.forward_range(X::Map(input), 0, self.arch.nodes.len(), train, frozen_until, None)
    }

    /// Inference that also records the (min, max) of the input and of the output (after its
    /// activation) of every Conv/Dense layer, in layer order: the activation ranges int8
    /// quantisation needs.
    pub fn activation_ranges(&self, input: Tensor<4>) -> Vec<[(f32, f32); 2]> {
        let mut probe = Probe::default();
        self.forward_range(X::Map(input.inner()), 0, self.arch.nodes.len(), false, usize::MAX, Some(&mut probe));
        probe.ranges
    }

    /// Inference that adds, for every Conv/Dense layer in layer order, the sum of the input value
    /// under each filter tap over the batch and every output position (zero padding included) to
    /// `sums` (`[in_c * k * k]`, Dense `[in]`), and the number of positions to `counts`: the
    /// input means that bias correction weighs each weight's rounding error with.
    pub fn add_tap_sums(&self, input: Tensor<4>, sums: &mut Vec<Vec<f64>>, counts: &mut Vec<f64>) {
        let mut probe = Probe { taps: true, ..Default::default() };
        self.forward_range(X::Map(input.inner()), 0, self.arch.nodes.len(), false, usize::MAX, Some(&mut probe));
        accumulate(probe.tap_sums, sums, counts);
    }

    /// Inference that adds, for every Conv/Dense layer in layer order, the Gram matrices of the
    /// input vectors each filter reads (per group, `[groups * n * n]`, `n` = the filter's length
    /// in the weights' order; Dense one group of its inputs) over the batch and every output
    /// position to `sums`, and the number of positions to `counts`: the second moments that
    /// error-compensating rounding (`export::rounding`) weighs a layer's output error with.
    pub fn add_input_grams(&self, input: Tensor<4>, sums: &mut Vec<Vec<f64>>, counts: &mut Vec<f64>) {
        let mut probe = Probe { grams: true, ..Default::default() };
        self.forward_range(X::Map(input.inner()), 0, self.arch.nodes.len(), false, usize::MAX, Some(&mut probe));
        accumulate(probe.gram_sums, sums, counts);
    }

    /// Backbone features (the tensor entering the head) without autodiff.
    pub fn features(&self, input: Tensor<4>) -> Tensor<2> {
        self.forward_range(X::Map(input.inner()), 0, self.arch.head_start, false, usize::MAX, None)
    }

    /// Runs only the head on precomputed features.
    pub fn head(&self, features: Tensor<2>, train: bool) -> Tensor<2> {
        let a = &self.arch;
        self.forward_range(X::Vec(features.autodiff()), a.head_start, a.nodes.len(), train, 0, None)
    }

    fn forward_range(&self, mut x: X, from: usize, to: usize, train: bool, frozen_until: usize, mut probe: Option<&mut Probe>) -> Tensor<2> {
        let arch = &self.arch;
        let mut saved: Vec<Tensor<4>> = vec![];
        let mut c = arch.nodes[..from].iter().filter(|n| matches!(n, Node::Conv(_))).count();
        let mut d = arch.nodes[..from].iter().filter(|n| matches!(n, Node::Dense { .. })).count();
        if frozen_until == 0 || from >= frozen_until {
            x = match x {
                X::Map(t) => X::Map(t.autodiff()),
                X::Vec(t) => X::Vec(t.autodiff()),
            };
        }
        for (i, node) in arch.nodes.iter().enumerate().take(to).skip(from) {
            let frozen = i < frozen_until;
            if i == frozen_until && i > from {
                x = match x {
                    X::Map(t) => X::Map(t.autodiff()),
                    X::Vec(t) => X::Vec(t.autodiff()),
                };
                saved = saved.into_iter().map(|t| t.autodiff()).collect();
            }
            let p1 = |p: &Param<Tensor<1>>| if frozen { p.val().inner() } else { p.val() };
            x = match (node, x) {
                (Node::Affine { scale, shift }, X::Map(t)) => X::Map(t.mul_scalar(*scale).add_scalar(*shift)),
                (Node::Conv(s), X::Map(t)) => {
                    let input = probe.is_some().then(|| extent(&t));
                    if let Some(p) = probe.as_deref_mut().filter(|p| p.taps) {
                        p.tap_sums.push(conv_tap_sums(&t, s));
                    }
                    if let Some(p) = probe.as_deref_mut().filter(|p| p.grams) {
                        p.gram_sums.push(conv_grams(&t, s));
                    }
                    let w = if frozen { self.conv_w[c].val().inner() } else { self.conv_w[c].val() };
                    let b = p1(&self.conv_b[c]);
                    c += 1;
                    let opts = ConvOptions::new_with_padding([s.stride; 2], [(s.pad[0], s.pad[2]), (s.pad[1], s.pad[3])], [1, 1], s.groups);
                    let y = act4(conv2d(t, w, Some(b), opts), s.act);
                    if let (Some(p), Some(input)) = (probe.as_deref_mut(), input) {
                        p.ranges.push([input, extent(&y)]);
                    }
                    X::Map(y)
                }
                (Node::Save, X::Map(t)) => {
                    saved.push(t.clone());
                    X::Map(t)
                }
                (Node::AddSaved, X::Map(t)) => X::Map(t + saved.pop().expect("Save before AddSaved")),
                (Node::MaxPool2, X::Map(t)) => X::Map(max_pool2d(t, MaxPoolOptions::new([2, 2]))),
                (Node::GlobalAvgPool, X::Map(t)) => {
                    let [n, ch, _, _] = t.dims();
                    X::Vec(t.mean_dim(3).mean_dim(2).reshape([n, ch]))
                }
                (Node::Flatten, X::Map(t)) => {
                    let [n, ch, h, w] = t.dims();
                    X::Vec(t.reshape([n, ch * h * w]))
                }
                (Node::Dropout(p), X::Vec(t)) if train && *p > 0.0 => {
                    let keep = 1.0 - *p as f64;
                    let mask = Tensor::<2>::random(t.dims(), Distribution::Bernoulli(keep), &t.device().inner());
                    X::Vec(t * mask.div_scalar(keep as f32))
                }
                (Node::Dropout(_), x) => x,
                (Node::Dense { act, .. }, X::Vec(t)) => {
                    let input = probe.is_some().then(|| extent(&t));
                    if let Some(p) = probe.as_deref_mut().filter(|p| p.taps) {
                        let [n, _] = t.dims();
                        p.tap_sums.push((t.clone().sum_dim(0).into_data().try_to_vec::<f32>().expect("f32 activations"), n as f64));
                    }
                    if let Some(p) = probe.as_deref_mut().filter(|p| p.grams) {
                        let [n, _] = t.dims();
                        p.gram_sums.push((t.clone().transpose().matmul(t.clone()).into_data().try_to_vec::<f32>().expect("f32 activations"), n as f64));
                    }
                    let w = if frozen { self.dense_w[d].val().inner() } else { self.dense_w[d].val() };
                    let b = p1(&self.dense_b[d]);
                    d += 1;
                    let y = act2(t.matmul(w.transpose()) + b.unsqueeze::<2>(), *act);
                    if let (Some(p), Some(input)) = (probe.as_deref_mut(), input) {
                        p.ranges.push([input, extent(&y)]);
                    }
                    X::Vec(y)
                }
                (n, _) => panic!("node {i} ({n:?}) got a tensor of the wrong rank"),
            };
        }
        match x {
            X::Vec(t) => t,
            X::Map(_) => panic!("network does not end in a vector"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arch::ConvSpec;

    /// The tap sums of a strided, asymmetrically padded convolution, against a plain loop over
    /// the output positions (a tap in the padding reads 0).
    #[test]
    fn tap_sums_are_the_inputs_under_each_tap_over_every_output_position() {
        let (n, ch, h, w, k) = (2, 3, 5, 6, 3);
        let spec = ConvSpec { cin: ch, cout: ch, kernel: k, stride: 2, groups: ch, pad: [0, 1, 1, 0], act: Act::None };
        let x: Vec<f32> = (0..n * ch * h * w).map(|i| ((i * 37) % 11) as f32 - 4.0).collect();
        let device = Device::flex();
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, ch, h, w]), &device);
        let (sums, count) = conv_tap_sums(&t, &spec);
        let (oh, ow) = ((h + spec.pad[0] + spec.pad[2] - k) / 2 + 1, (w + spec.pad[1] + spec.pad[3] - k) / 2 + 1);
        assert_eq!(count, (n * oh * ow) as f64);
        for c in 0..ch {
            for tap in 0..k * k {
                let mut want = 0.0;
                for (b, oy, ox) in (0..n).flat_map(|b| (0..oh).flat_map(move |oy| (0..ow).map(move |ox| (b, oy, ox)))) {
                    let (y, xx) = ((oy * 2 + tap / k) as isize - spec.pad[0] as isize, (ox * 2 + tap % k) as isize - spec.pad[1] as isize);
                    if (0..h as isize).contains(&y) && (0..w as isize).contains(&xx) {
                        want += x[((b * ch + c) * h + y as usize) * w + xx as usize];
                    }
                }
                assert_eq!(sums[c * k * k + tap], want, "channel {c} tap {tap}");
            }
        }
        // A 1x1 convolution: the plain per-channel sums.
        let one = ConvSpec { kernel: 1, stride: 1, pad: [0; 4], groups: 1, ..spec };
        let (sums, count) = conv_tap_sums(&t, &one);
        assert_eq!(count, (n * h * w) as f64);
        let want: f32 = (0..n).flat_map(|b| x[(b * ch + 1) * h * w..(b * ch + 2) * h * w].to_vec()).sum();
        assert_eq!(sums[1], want);
    }

    /// The Gram matrices of a grouped, strided, padded convolution's filter inputs, against a
    /// plain loop that gathers each output position's vector (channel-major, then tap).
    #[test]
    fn grams_are_sums_of_outer_products_of_each_filters_inputs() {
        let (n, ch, h, w, k, groups) = (2, 4, 5, 4, 3, 2);
        let spec = ConvSpec { cin: ch, cout: ch, kernel: k, stride: 2, groups, pad: [1, 0, 1, 1], act: Act::None };
        let x: Vec<f32> = (0..n * ch * h * w).map(|i| ((i * 29) % 13) as f32 - 6.0).collect();
        let device = Device::flex();
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, ch, h, w]), &device);
        let (grams, count) = conv_grams(&t, &spec);
        let (oh, ow) = ((h + spec.pad[0] + spec.pad[2] - k) / 2 + 1, (w + spec.pad[1] + spec.pad[3] - k) / 2 + 1);
        assert_eq!(count, (n * oh * ow) as f64);
        let per = ch / groups * k * k;
        assert_eq!(grams.len(), groups * per * per);
        let mut want = vec![0.0f32; groups * per * per];
        for (b, oy, ox) in (0..n).flat_map(|b| (0..oh).flat_map(move |oy| (0..ow).map(move |ox| (b, oy, ox)))) {
            for g in 0..groups {
                let v: Vec<f32> = (0..per)
                    .map(|i| {
                        let (c, tap) = (g * ch / groups + i / (k * k), i % (k * k));
                        let (y, xx) = ((oy * 2 + tap / k) as isize - spec.pad[0] as isize, (ox * 2 + tap % k) as isize - spec.pad[1] as isize);
                        if (0..h as isize).contains(&y) && (0..w as isize).contains(&xx) {
                            x[((b * ch + c) * h + y as usize) * w + xx as usize]
                        } else {
                            0.0
                        }
                    })
                    .collect();
                for i in 0..per {
                    for j in 0..per {
                        want[(g * per + i) * per + j] += v[i] * v[j];
                    }
                }
            }
        }
        assert_eq!(grams, want);
        assert!(want.iter().any(|&v| v != 0.0));
    }
}
