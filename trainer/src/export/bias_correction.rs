//! Bias correction for int8 weights (Nagel et al., "Data-Free Quantization", 2019, section 4.2,
//! with the input means measured on calibration photos instead of derived from BatchNorm).
//!
//! Rounding a layer's weights to int8 moves each output channel's mean by
//! `sum over inputs and taps of (w_int8 - w) * E[x under that tap]`: a bias the network never saw
//! in training, and it adds up through 30-odd layers. Subtracting it from the layer's bias makes
//! every output channel's mean what it was in f32, for the cost of a calibration pass. The stored
//! int8 weights do not change; only the f32 biases beside them do.

use crate::model::arch::{Arch, Node, Weights};
use anyhow::{ensure, Result};

/// Per Conv/Dense layer, in layer order: the mean input value under each filter tap
/// (`[in_c * k * k]` for a Conv, `[in]` for a Dense), from [`crate::model::net::Net::add_tap_sums`].
pub struct TapMeans(pub Vec<Vec<f32>>);

impl TapMeans {
    pub fn from_sums(sums: &[Vec<f64>], counts: &[f64]) -> TapMeans {
        TapMeans(sums.iter().zip(counts).map(|(s, &n)| s.iter().map(|v| (v / n.max(1.0)) as f32).collect()).collect())
    }
}

/// `rounded` (the f32 weights `w` rounded to their int8 grid by [`super::rounding::round`]) with
/// the bias of every layer corrected for how far its weights moved; a layer left f32 (the same
/// weights in both) keeps its bias.
pub fn correct(arch: &Arch, w: &Weights, rounded: &Weights, means: &TapMeans) -> Result<Weights> {
    let layers: Vec<&Node> = arch.nodes.iter().filter(|n| matches!(n, Node::Conv(_) | Node::Dense { .. })).collect();
    ensure!(
        layers.len() == w.layers.len() && rounded.layers.len() == w.layers.len() && means.0.len() == w.layers.len(),
        "bias correction: {} layers, {} weight sets, {} rounded, {} input means",
        layers.len(),
        w.layers.len(),
        rounded.layers.len(),
        means.0.len()
    );
    let mut out = rounded.clone();
    for (((node, layer), original), m) in layers.iter().zip(out.layers.iter_mut()).zip(&w.layers).zip(&means.0) {
        if layer.weight == original.weight {
            continue;
        }
        let out_c = layer.shape[0];
        // Inputs per output channel x taps, and the group structure.
        let per_out = layer.weight.len() / out_c;
        let (groups, taps) = match node {
            Node::Conv(c) => (c.groups, c.kernel * c.kernel),
            _ => (1, 1),
        };
        let in_per_group = per_out / taps;
        ensure!(m.len() == in_per_group * groups * taps, "bias correction: layer {:?} has {} input means, want {}", layer.shape, m.len(), in_per_group * groups * taps);
        for (o, bias) in layer.bias.iter_mut().enumerate() {
            let first_input = (o / (out_c / groups)) * in_per_group;
            let row = o * per_out..(o + 1) * per_out;
            let shift: f64 = layer.weight[row.clone()].iter().zip(&original.weight[row]).zip(&m[first_input * taps..]).map(|((&r, &w), &mean)| (r - w) as f64 * mean as f64).sum();
            *bias -= shift as f32;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::onnx::quantize_per_channel;
    use super::super::rounding::{round, Rounding};
    use super::*;
    use crate::model::arch::{Act, ConvSpec, Family, Layer};

    fn nearest(arch: &Arch, w: &Weights, means: &TapMeans) -> Weights {
        correct(arch, w, &round(arch, w, Rounding::Nearest, None, |_, _| true).unwrap(), means).unwrap()
    }

    /// A 1x1 convolution whose inputs all have mean 2: after correction, the int8 weights with
    /// the new bias give the f32 layer's output for an input at its mean, exactly.
    #[test]
    fn corrected_bias_restores_the_output_at_the_input_mean() {
        let conv = ConvSpec { cin: 3, cout: 2, kernel: 1, stride: 1, groups: 1, pad: [0; 4], act: Act::None };
        let arch = Arch { nodes: vec![Node::Conv(conv)], family: Family::SeedCnn, input_size: 4, head_start: 1 };
        let weight = vec![0.5, -0.301, 0.1234, 1.0, 0.0021, -0.77];
        let w = Weights { layers: vec![Layer { shape: vec![2, 3, 1, 1], weight: weight.clone(), bias: vec![0.1, -0.2] }] };
        let means = TapMeans(vec![vec![2.0, 2.0, 2.0]]);
        let fixed = nearest(&arch, &w, &means);
        let (q, s) = quantize_per_channel(&weight, 2);
        for o in 0..2 {
            let f32_out: f32 = (0..3).map(|i| weight[o * 3 + i] * 2.0).sum::<f32>() + w.layers[0].bias[o];
            let int8_out: f32 = (0..3).map(|i| q[o * 3 + i] as f32 * s[o] * 2.0).sum::<f32>() + fixed.layers[0].bias[o];
            let plain: f32 = (0..3).map(|i| q[o * 3 + i] as f32 * s[o] * 2.0).sum::<f32>() + w.layers[0].bias[o];
            assert!((int8_out - f32_out).abs() < 1e-5, "output {o}: corrected {int8_out}, f32 {f32_out}");
            assert!(o == 0 || (plain - f32_out).abs() > 1e-5, "the rounding should have moved output {o}");
        }
    }

    /// Depthwise: each output channel reads its own input channel's taps.
    #[test]
    fn depthwise_layers_use_their_own_channels_means() {
        let conv = ConvSpec { cin: 2, cout: 2, kernel: 2, stride: 1, groups: 2, pad: [0; 4], act: Act::None };
        let arch = Arch { nodes: vec![Node::Conv(conv)], family: Family::SeedCnn, input_size: 4, head_start: 1 };
        let weight = vec![0.3, 0.011, -0.5, 0.25, 0.9, -0.0133, 0.4, 0.2];
        let w = Weights { layers: vec![Layer { shape: vec![2, 1, 2, 2], weight: weight.clone(), bias: vec![0.0, 0.0] }] };
        // Channel 0's taps have means 1, 2, 3, 4; channel 1's are zero: its bias must not move.
        let means = TapMeans(vec![vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]]);
        let fixed = nearest(&arch, &w, &means);
        let (q, s) = quantize_per_channel(&weight, 2);
        let want: f32 = -(0..4).map(|t| (q[t] as f32 * s[0] - weight[t]) * (t + 1) as f32).sum::<f32>();
        assert!((fixed.layers[0].bias[0] - want).abs() < 1e-6 && want != 0.0, "bias {} want {want}", fixed.layers[0].bias[0]);
        assert_eq!(fixed.layers[0].bias[1], 0.0);
        // A layer left f32 keeps its bias.
        assert_eq!(correct(&arch, &w, &w, &means).unwrap().layers[0].bias, vec![0.0, 0.0]);
    }
}
