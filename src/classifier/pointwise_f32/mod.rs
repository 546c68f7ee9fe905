//! petcam's f32 1x1 convolution for tract (issue 19, x86_64).
//!
//! On x86_64 tract 0.23.9 runs a 1x1 convolution as a packing pass (`OptMatMulPack`) and a
//! matrix product (`OptMatMul`, bias and ReLU6 fused): with petcam's depthwise op, two thirds of
//! an f32 inference. [`substitute`] swaps the chain a decluttered model holds for each one
//! ([`super::pointwise::chain`]) for [`PointwiseF32`], which runs [`kernel::Layer`]: weights
//! packed once at load, the input packed a register tile at a time inside the op, AVX-512F or
//! AVX2+FMA tiles, bias and ReLU6 in registers, either layout in and out. The classifier calls
//! it between `declutter` and `optimize` for f32 weights, where the CPU has one of those
//! instruction sets ([`Policy::Auto`]); int8 weights on aarch64 go to petcam's int8 op first.

pub mod kernel;

use self::kernel::{Isa, Layer};
use super::pointwise::chain;
use super::pointwise::op::PointwiseOp;
use tract_onnx::prelude::*;

/// One f32 1x1 convolution (`PetcamPointwiseF32` in tract's graph).
pub type PointwiseF32 = PointwiseOp<Layer>;

/// Which f32 1x1 convolutions [`substitute`] gives to the op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Every one (of at least 2 pixels) where the CPU has AVX-512F or AVX2+FMA: x86_64, where it
    /// measured faster than tract's packing and matrix product (docs/PERFORMANCE.md).
    #[default]
    Auto,
    /// Every one of at least 2 pixels, on any CPU (the portable tile elsewhere): for testing.
    All,
    /// None: tract runs them.
    None,
}

impl Policy {
    /// The instruction set the op runs on under this policy, if it runs.
    pub fn isa(self) -> Option<Isa> {
        let isa = Isa::detect();
        match self {
            Policy::Auto => (isa != Isa::Portable).then_some(isa),
            Policy::All => Some(isa),
            Policy::None => None,
        }
    }
}

/// Replaces every f32 1x1 convolution chain of a decluttered `model` of at least 2 pixels (the
/// final classifier, one pixel, stays with tract) with [`PointwiseF32`]. Returns how many.
pub fn substitute(model: &mut TypedModel, policy: Policy) -> TractResult<usize> {
    let Some(isa) = policy.isa() else { return Ok(0) };
    let mut replaced = 0;
    for id in model.eval_order()? {
        let Some(c) = chain::at(model, id)?.filter(|c| c.pixels >= 2) else { continue };
        let layer = Layer::new(c.in_c, c.out_c, c.layout, &c.weights, &c.bias, c.relu6, isa, c.pixels);
        let op = PointwiseF32::new(layer, c.pixels, c.out_shape);
        let node = &model.nodes()[id];
        let mut patch = TypedModelPatch::new(format!("petcam-pointwise-f32 {}", node.name));
        let x = patch.tap_model(model, node.inputs[0])?;
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, OutletId::new(c.last, 0), y)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{Classifier, LoadOptions, TractClassifier};
    use std::path::PathBuf;

    /// Every ONNX model in `models/`, with the op forced on (the portable tile where the CPU has
    /// neither AVX-512F nor AVX2): the 32 1x1 convolutions of EfficientNet-Lite0 run on it (an
    /// int8 file's weights in f32, as off aarch64), and the logits are tract's own within float
    /// rounding on the demo pictures.
    #[test]
    fn every_shipped_model_runs_its_1x1_convolutions_on_the_op_with_tracts_logits() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let pictures: Vec<image::RgbImage> = ["chelsea.png", "coffee.png"].iter().map(|f| image::open(root.join("demo/images").join(f)).unwrap().to_rgb8()).collect();
        let mut checked = 0;
        for entry in std::fs::read_dir(root.join("models")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "onnx") {
                continue;
            }
            let none = crate::classifier::pointwise::Policy::None;
            let ours = TractClassifier::load_with(&path, LoadOptions { pointwise_f32: Policy::All, int8: none, ..Default::default() }).unwrap();
            let tracts = TractClassifier::load_with(&path, LoadOptions { pointwise_f32: Policy::None, int8: none, ..Default::default() }).unwrap();
            assert_eq!((ours.f32_pointwise(), tracts.f32_pointwise()), (32, 0), "{}", path.display());
            let mut pre = crate::pipeline::Preprocessor::new(ours.metadata().input_size);
            for p in &pictures {
                let input = pre.prepare(p, &mut Default::default()).1.to_vec();
                let (a, b) = (ours.logits(&input).unwrap(), tracts.logits(&input).unwrap());
                let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                assert!(worst < 1e-3, "{}: logits differ from tract's by {worst}", path.display());
            }
            checked += 1;
        }
        assert!(checked >= 1);
    }

    /// The app's default takes the op exactly where the CPU has a fast tile.
    #[test]
    fn the_default_takes_the_op_where_the_cpu_has_a_fast_tile() {
        assert_eq!(Policy::Auto.isa().is_some(), Isa::detect() != Isa::Portable);
        assert_eq!(Policy::None.isa(), None);
        assert_eq!(Policy::All.isa(), Some(Isa::detect()));
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(Policy::Auto.isa(), None);
    }
}
