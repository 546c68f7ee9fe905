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
        let mut r = vec![];
        self.forward_range(X::Map(input.inner()), 0, self.arch.nodes.len(), false, usize::MAX, Some(&mut r));
        r
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

    fn forward_range(&self, mut x: X, from: usize, to: usize, train: bool, frozen_until: usize, mut ranges: Option<&mut Vec<[(f32, f32); 2]>>) -> Tensor<2> {
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
                    let input = ranges.is_some().then(|| extent(&t));
                    let w = if frozen { self.conv_w[c].val().inner() } else { self.conv_w[c].val() };
                    let b = p1(&self.conv_b[c]);
                    c += 1;
                    let opts = ConvOptions::new_with_padding([s.stride; 2], [(s.pad[0], s.pad[2]), (s.pad[1], s.pad[3])], [1, 1], s.groups);
                    let y = act4(conv2d(t, w, Some(b), opts), s.act);
                    if let (Some(r), Some(input)) = (ranges.as_deref_mut(), input) {
                        r.push([input, extent(&y)]);
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
                    let input = ranges.is_some().then(|| extent(&t));
                    let w = if frozen { self.dense_w[d].val().inner() } else { self.dense_w[d].val() };
                    let b = p1(&self.dense_b[d]);
                    d += 1;
                    let y = act2(t.matmul(w.transpose()) + b.unsqueeze::<2>(), *act);
                    if let (Some(r), Some(input)) = (ranges.as_deref_mut(), input) {
                        r.push([input, extent(&y)]);
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
