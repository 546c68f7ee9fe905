//! A network as plain data: the list of operations and their shapes, with no framework attached.
//!
//! The same [`Arch`] drives three things, so they cannot drift apart: the burn module that trains
//! it ([`super::net`]), the ONNX writer ([`crate::export`]) and the int8 quantiser. Parameters live
//! separately in [`Weights`], one entry per [`Node::Conv`] / [`Node::Dense`], in node order.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Act {
    None,
    Relu,
    /// min(max(x, 0), 6), EfficientNet-Lite's activation.
    Relu6,
}

/// A 2-D convolution with bias (BatchNorm already folded in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvSpec {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    pub groups: usize,
    /// Zero padding (top, left, bottom, right): TensorFlow "SAME" may be asymmetric.
    pub pad: [usize; 4],
    pub act: Act,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// `x * scale + shift` on every value (input normalisation).
    Affine {
        scale: f32,
        shift: f32,
    },
    Conv(ConvSpec),
    /// Remember the current tensor for a later [`Node::AddSaved`].
    Save,
    /// Add the most recently saved tensor (residual connection).
    AddSaved,
    /// 2x2 max pooling, stride 2, no padding (floor).
    MaxPool2,
    /// Global average pooling: `[N, C, H, W]` -> `[N, C]`.
    GlobalAvgPool,
    /// `[N, C, H, W]` -> `[N, C*H*W]` (row-major, like Keras' Flatten on NCHW).
    Flatten,
    /// Dropout with this drop probability during training; identity otherwise.
    Dropout(f32),
    Dense {
        cin: usize,
        cout: usize,
        act: Act,
    },
}

/// Which family an [`Arch`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Family {
    /// EfficientNet-Lite0 with ImageNet weights (the shipped model).
    #[value(name = "effnet-lite0")]
    EffnetLite0,
    /// The student project's small CNN, trained from scratch.
    #[value(name = "seed-cnn")]
    SeedCnn,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::EffnetLite0 => "effnet-lite0",
            Family::SeedCnn => "seed-cnn",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arch {
    pub family: Family,
    pub input_size: usize,
    pub nodes: Vec<Node>,
    /// Index in `nodes` where the classifier head starts (everything before is the backbone).
    pub head_start: usize,
}

/// One parametric layer: weight (OIHW for convs, `[out, in]` for dense) and bias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub shape: Vec<usize>,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Parameters of an [`Arch`], one [`Layer`] per Conv/Dense node in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub layers: Vec<Layer>,
}

impl Arch {
    /// Number of parametric (Conv/Dense) nodes before node `node`.
    pub fn layer_index(&self, node: usize) -> usize {
        self.nodes[..node].iter().filter(|n| matches!(n, Node::Conv(_) | Node::Dense { .. })).count()
    }

    /// Expected weight shape of each parametric layer.
    pub fn layer_shapes(&self) -> Vec<(Vec<usize>, usize)> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Conv(c) => Some((vec![c.cout, c.cin / c.groups, c.kernel, c.kernel], c.cout)),
                Node::Dense { cin, cout, .. } => Some((vec![*cout, *cin], *cout)),
                _ => None,
            })
            .collect()
    }

    /// Number of outputs of the final layer.
    pub fn num_outputs(&self) -> usize {
        self.nodes
            .iter()
            .rev()
            .find_map(|n| match n {
                Node::Dense { cout, .. } => Some(*cout),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Multiply-accumulates of one forward pass (convolutions and dense layers).
    pub fn macs(&self) -> u64 {
        let mut size = self.input_size;
        let mut total = 0u64;
        for n in &self.nodes {
            match n {
                Node::Conv(c) => {
                    size = (size + c.pad[0] + c.pad[2] - c.kernel) / c.stride + 1;
                    total += (size * size * c.cout * (c.cin / c.groups) * c.kernel * c.kernel) as u64;
                }
                Node::MaxPool2 => size /= 2,
                Node::Dense { cin, cout, .. } => total += (cin * cout) as u64,
                _ => {}
            }
        }
        total
    }

    /// Checks that `w` has one layer of the right shape per parametric node.
    pub fn check(&self, w: &Weights) -> Result<(), String> {
        let shapes = self.layer_shapes();
        if shapes.len() != w.layers.len() {
            return Err(format!("{} layers in weights, architecture has {}", w.layers.len(), shapes.len()));
        }
        for (i, ((shape, nb), l)) in shapes.iter().zip(&w.layers).enumerate() {
            let n: usize = shape.iter().product();
            if &l.shape != shape || l.weight.len() != n || l.bias.len() != *nb {
                return Err(format!("layer {i}: weights {:?}/{}/{}, expected {shape:?}/{n}/{nb}", l.shape, l.weight.len(), l.bias.len()));
            }
        }
        Ok(())
    }
}

/// TensorFlow "SAME" padding for one spatial axis: (before, after).
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// EfficientNet-Lite0: stem, 16 MBConv blocks (no squeeze-excite), 1280-wide head, `classes` outputs.
pub fn effnet_lite0(input_size: usize, classes: usize, dropout: f32) -> Arch {
    // (repeats, kernel, stride, expand, out channels) per stage, from the reference implementation.
    const STAGES: [(usize, usize, usize, usize, usize); 7] = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)];
    let mut nodes = vec![Node::Affine { scale: 2.0, shift: -1.0 }];
    let mut size = input_size;
    let conv = |nodes: &mut Vec<Node>, size: &mut usize, cin, cout, k, s, groups, act| {
        let (a, b) = same_padding(*size, k, s);
        nodes.push(Node::Conv(ConvSpec { cin, cout, kernel: k, stride: s, groups, pad: [a, a, b, b], act }));
        *size = size.div_ceil(s);
    };
    conv(&mut nodes, &mut size, 3, 32, 3, 2, 1, Act::Relu6);
    let mut cin = 32;
    for (repeats, k, stride, expand, cout) in STAGES {
        for r in 0..repeats {
            let s = if r == 0 { stride } else { 1 };
            let residual = s == 1 && cin == cout;
            if residual {
                nodes.push(Node::Save);
            }
            let mid = cin * expand;
            if expand != 1 {
                conv(&mut nodes, &mut size, cin, mid, 1, 1, 1, Act::Relu6);
            }
            conv(&mut nodes, &mut size, mid, mid, k, s, mid, Act::Relu6);
            conv(&mut nodes, &mut size, mid, cout, 1, 1, 1, Act::None);
            if residual {
                nodes.push(Node::AddSaved);
            }
            cin = cout;
        }
    }
    conv(&mut nodes, &mut size, cin, 1280, 1, 1, 1, Act::Relu6);
    nodes.push(Node::GlobalAvgPool);
    let head_start = nodes.len();
    nodes.push(Node::Dropout(dropout));
    nodes.push(Node::Dense { cin: 1280, cout: classes, act: Act::None });
    Arch { family: Family::EffnetLite0, input_size, nodes, head_start }
}

/// The student project's CNN: Conv 32/64/64 (3x3, valid, ReLU) with two 2x2 max pools, dropout,
/// Dense 64 (ReLU), Dense `classes`. (Its `Rescaling(1/255)` is our input contract already.)
pub fn seed_cnn(input_size: usize, classes: usize, dropout: f32) -> Arch {
    let c = |cin, cout| Node::Conv(ConvSpec { cin, cout, kernel: 3, stride: 1, groups: 1, pad: [0; 4], act: Act::Relu });
    let s1 = (input_size - 2) / 2;
    let s2 = (s1 - 2) / 2;
    let s3 = s2 - 2;
    let nodes = vec![
        c(3, 32),
        Node::MaxPool2,
        c(32, 64),
        Node::MaxPool2,
        c(64, 64),
        Node::Flatten,
        Node::Dropout(dropout),
        Node::Dense { cin: 64 * s3 * s3, cout: 64, act: Act::Relu },
        Node::Dense { cin: 64, cout: classes, act: Act::None },
    ];
    Arch { family: Family::SeedCnn, input_size, nodes, head_start: 5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(same_padding(96, 3, 2), (0, 1));
        assert_eq!(same_padding(96, 5, 2), (1, 2));
        assert_eq!(same_padding(24, 5, 1), (2, 2));
        assert_eq!(same_padding(7, 3, 2), (1, 1));
    }

    #[test]
    fn lite0_has_the_reference_shape() {
        let a = effnet_lite0(224, 1000, 0.2);
        let convs = a.nodes.iter().filter(|n| matches!(n, Node::Conv(_))).count();
        // stem + 16 blocks (block 0 has no expansion: 2 convs, others 3) + head
        assert_eq!(convs, 1 + 2 + 15 * 3 + 1);
        let params: usize = a.layer_shapes().iter().map(|(s, b)| s.iter().product::<usize>() + b).sum();
        assert!((4_600_000..4_700_000).contains(&params), "{params}");
        // ~400 M multiply-adds at 224 (published figure: 407 M)
        assert!((380_000_000..420_000_000).contains(&a.macs()), "{}", a.macs());
    }

    #[test]
    fn seed_cnn_matches_the_student_model() {
        let a = seed_cnn(96, 37, 0.2);
        let params: usize = a.layer_shapes().iter().map(|(s, b)| s.iter().product::<usize>() + b).sum();
        assert_eq!(params, 896 + 18_496 + 36_928 + 25_600 * 64 + 64 + 64 * 37 + 37);
    }
}
