//! petcam's int8 1x1 convolution for tract (issue 19).
//!
//! tract 0.23.9 runs an int8 model's 1x1 convolutions no faster than f32, whatever the form:
//! QDQ pairs stay f32 around the convolution, and `QLinearConv` adds quantise, dequantise and
//! requantise passes around its integer matmul (53.6 M aarch64 instructions per inference on
//! Cortex-A76 against 39.3 M for f32: docs/PERFORMANCE.md). After declutter a 1x1 convolution is
//! an `EinSum` (`IHW,OI->OHW`) with constant weights, an `Add` of the bias and, after an
//! expansion, a `Max(0) -> Min(6)` pair. [`substitute`] swaps that chain for [`PointwiseConv`],
//! which runs [`kernel::Layer`]: per-output-channel int8 weights (the integers an int8 export
//! stored), the input quantised on the fly, int32 accumulation with `sdot` where the CPU has it
//! (`smull`/`sadalp` on an aarch64 CPU without), bias and ReLU6 in the same pass, f32 out. The
//! classifier calls it between `declutter` and `optimize`, for int8 models on aarch64 CPUs
//! ([`Policy::Auto`]).

pub mod chain;
pub mod kernel;
pub mod op;

pub use self::kernel::{has_dot_product, has_int8_tile, variant, Layer, Layout};
use self::op::{Kernel, PointwiseOp};
use super::graph::relu6_before;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// One 1x1 convolution in int8 arithmetic (`PetcamPointwiseI8` in tract's graph).
pub type PointwiseConv = PointwiseOp<Layer>;

impl Kernel for Layer {
    const NAME: &'static str = "PetcamPointwiseI8";
    type Scratch = Vec<i8>;
    fn in_channels(&self) -> usize {
        Layer::in_channels(self)
    }
    fn out_channels(&self) -> usize {
        Layer::out_channels(self)
    }
    fn layout(&self) -> (Layout, Layout) {
        Layer::layout(self)
    }
    fn relu6(&self) -> bool {
        Layer::relu6(self)
    }
    fn variant(&self) -> &'static str {
        variant()
    }
    fn arithmetic(&self) -> DatumType {
        i8::datum_type()
    }
    fn run(&self, x: &[f32], pixels: usize, y: &mut [f32], scratch: &mut Vec<i8>) {
        Layer::run(self, x, pixels, y, scratch)
    }
}

/// Which models' 1x1 convolutions [`substitute`] gives to petcam's int8 op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// int8 models (metadata precision `int8`) on aarch64 CPUs, with or without the dot product
    /// (Pi 5; Pi 4, 3, Zero 2 W), where it measured faster than f32; elsewhere (x86_64, armv7:
    /// the portable tile) their int8 weights run in f32.
    #[default]
    Auto,
    /// Every model, on any CPU (the portable tile off aarch64), every 1x1 convolution: for
    /// measuring.
    All,
    /// The 1x1 convolutions an int8 model stores int8, on any CPU: what an aarch64 CPU runs (the
    /// portable tile elsewhere, same integers), to check a Pi's answers on the build machine.
    StoredInt8,
    /// None: tract runs them all in f32.
    None,
}

impl Policy {
    /// Whether a model of this precision gets the op on this CPU. `Auto` follows
    /// [`set_app_policy`] when the app set one other than `Auto` (`petcam --int8`).
    pub fn takes(self, precision: &str) -> bool {
        match self {
            Policy::Auto => match app_policy() {
                Policy::Auto => precision == "int8" && has_int8_tile(),
                p => p.takes(precision),
            },
            Policy::All => true,
            Policy::StoredInt8 => precision == "int8",
            Policy::None => false,
        }
    }

    /// Whether the op takes only the 1x1 convolutions whose weights the file stores int8
    /// (`Auto`: an int8 model may keep some layers f32 where their rounding costs accuracy), or
    /// every one (`All`, also when the app asked for it: to reproduce int8 arithmetic anywhere).
    pub fn only_int8_weights(self) -> bool {
        match self {
            Policy::Auto => app_policy() != Policy::All,
            Policy::StoredInt8 => true,
            Policy::All | Policy::None => false,
        }
    }
}

/// The app's choice for every model it loads (the classifier's and the locate stage's plans),
/// 0 = `Auto`, 1 = `All`, 2 = `None`, 3 = `StoredInt8`. Process-wide, like tract's thread count.
static APP_POLICY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets what [`Policy::Auto`] means in this process (`petcam --int8`).
pub fn set_app_policy(p: Policy) {
    let v = match p {
        Policy::Auto => 0,
        Policy::All => 1,
        Policy::None => 2,
        Policy::StoredInt8 => 3,
    };
    APP_POLICY.store(v, std::sync::atomic::Ordering::Relaxed);
}

fn app_policy() -> Policy {
    match APP_POLICY.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Policy::All,
        2 => Policy::None,
        3 => Policy::StoredInt8,
        _ => Policy::Auto,
    }
}

/// Replaces every 1x1 convolution of a decluttered `model` (an f32 `EinSum` of a concrete input
/// of at least 2 pixels with constant 2-D weights, channels first or last; with
/// `only_int8_weights`, weights that are int8 times a scale per output channel, as the int8
/// export stores them) with [`PointwiseConv`], taking along the bias `Add` and the ReLU6 that
/// follow, and the ReLU6 before, when nothing else reads them. Returns how many it replaced, and
/// how many of those took the ReLU6 before.
pub fn substitute(model: &mut TypedModel, only_int8_weights: bool) -> TractResult<(usize, usize)> {
    let (mut replaced, mut relu6_inputs) = (0, 0);
    for id in model.eval_order()? {
        let Some((op, last)) = plan_for(model, id)? else { continue };
        if only_int8_weights && !op.layer.weights_were_int8() {
            continue;
        }
        let node = &model.nodes()[id];
        // The ReLU6 before it, when nothing else reads it, is clamped in the op's quantiser: one
        // pass less over the tensor (tract's aarch64 depthwise leaves it separate).
        let (input, op) = match relu6_before(model, node.inputs[0], id)? {
            Some(x) => (x, PointwiseConv { layer: Arc::new((*op.layer).clone().with_input_relu6()), ..op }),
            None => (node.inputs[0], op),
        };
        relu6_inputs += op.layer.input_relu6() as usize;
        let mut patch = TypedModelPatch::new(format!("petcam-pointwise {}", node.name));
        let x = patch.tap_model(model, input)?;
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, OutletId::new(last, 0), y)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok((replaced, relu6_inputs))
}

/// The replacement for node `id` and the last node it covers, when node `id` is a 1x1
/// convolution's `EinSum`.
fn plan_for(model: &TypedModel, id: usize) -> TractResult<Option<(PointwiseConv, usize)>> {
    let Some(c) = chain::at(model, id)? else { return Ok(None) };
    // A matrix-vector product (the final classifier on the pooled features) gains nothing
    // measurable from int8 and would put the quantisation error straight into the logits.
    if c.pixels < 2 {
        return Ok(None);
    }
    let layer = Layer::new(c.in_c, c.out_c, c.layout, &c.weights, &c.bias, c.relu6);
    Ok(Some((PointwiseConv::new(layer, c.pixels, c.out_shape), c.last)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{Classifier, LoadOptions, TractClassifier};
    use std::path::PathBuf;

    /// Every ONNX model in `models/`: with the op forced on, all 32 of EfficientNet-Lite0's 1x1
    /// convolutions (15 expansions, 16 projections, the head) run on it, the final classifier
    /// stays f32, and the logits stay near f32's with the same top class on the demo pictures.
    #[test]
    fn every_shipped_model_runs_its_1x1_convolutions_in_int8_close_to_f32() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let pictures: Vec<image::RgbImage> = ["chelsea.png", "coffee.png"].iter().map(|f| image::open(root.join("demo/images").join(f)).unwrap().to_rgb8()).collect();
        let mut checked = 0;
        for entry in std::fs::read_dir(root.join("models")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "onnx") {
                continue;
            }
            let int8 = TractClassifier::load_with(&path, LoadOptions { int8: Policy::All, ..Default::default() }).unwrap();
            let f32 = TractClassifier::load_with(&path, LoadOptions { int8: Policy::None, ..Default::default() }).unwrap();
            assert_eq!((int8.int8_pointwise(), f32.int8_pointwise()), (32, 0), "{}", path.display());
            let default = TractClassifier::load(&path).unwrap();
            let expect = if default.metadata().precision == "int8" && has_int8_tile() { 32 } else { 0 };
            assert_eq!(default.int8_pointwise(), expect, "{}: by default", path.display());
            let mut pre = crate::pipeline::Preprocessor::new(int8.metadata().input_size);
            for p in &pictures {
                let input = pre.prepare(p, &mut Default::default()).1.to_vec();
                let (a, b) = (int8.logits(&input).unwrap(), f32.logits(&input).unwrap());
                let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                let argmax = |z: &[f32]| z.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).map(|x| x.0);
                assert!(worst < 1.0, "{}: int8 logits differ from f32 by {worst}", path.display());
                assert_eq!(argmax(&a), argmax(&b), "{}: int8 {a:?}, f32 {b:?}", path.display());
            }
            checked += 1;
        }
        assert!(checked >= 1);
    }

    /// With tract's own depthwise op (the aarch64 default), each of the 16 projections takes the
    /// ReLU6 that tract leaves after the depthwise convolution into its quantiser; with petcam's
    /// depthwise op the ReLU6 is already fused there. The answers match f32 either way.
    #[test]
    fn the_projections_take_the_relu6_tract_leaves_before_them() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let path = root.join("models/petcam-effnet-lite0-96-int8.onnx");
        let picture = image::open(root.join("demo/images/chelsea.png")).unwrap().to_rgb8();
        let load = |int8, depthwise| TractClassifier::load_with(&path, LoadOptions { int8, depthwise, ..Default::default() }).unwrap();
        let (ours, tracts) = (load(Policy::All, crate::classifier::depthwise::Policy::All), load(Policy::All, crate::classifier::depthwise::Policy::None));
        assert_eq!((ours.int8_pointwise(), ours.int8_relu6_inputs()), (32, 0));
        assert_eq!((tracts.int8_pointwise(), tracts.int8_relu6_inputs()), (32, 16));
        let f32 = load(Policy::None, crate::classifier::depthwise::Policy::None);
        let input = crate::pipeline::Preprocessor::new(f32.metadata().input_size).prepare(&picture, &mut Default::default()).1.to_vec();
        let want = f32.logits(&input).unwrap();
        let argmax = |z: &[f32]| z.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).map(|x| x.0);
        for c in [&ours, &tracts] {
            let got = c.logits(&input).unwrap();
            let worst = got.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1.0, "int8 logits differ from f32 by {worst}");
            assert_eq!(argmax(&got), argmax(&want));
        }
        // The two int8 plans differ only where the depthwise ops' f32 rounding moves a value
        // across a quantisation step.
        let (a, b) = (ours.logits(&input).unwrap(), tracts.logits(&input).unwrap());
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 0.2) && argmax(&a) == argmax(&b), "{a:?} vs {b:?}");
    }

    /// As the app loads an int8 model (`Auto`), the op takes only the 1x1 convolutions whose
    /// weights the file stores int8: all 32 of the shipped int8 file, none of the f32 file.
    #[test]
    fn by_default_the_op_takes_only_weights_stored_int8() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        for (file, want) in [(crate::config::INT8_MODEL_FILE, 32), (crate::config::DEFAULT_MODEL_FILE, 0)] {
            let model = tract_onnx::onnx().model_for_path(root.join("models").join(file)).unwrap();
            let model = model.with_input_fact(0, f32::fact([1, 3, 96, 96]).into()).unwrap();
            let mut typed = model.into_typed().unwrap().into_decluttered().unwrap();
            assert_eq!(substitute(&mut typed.clone(), Policy::Auto.only_int8_weights()).unwrap().0, want, "{file}");
            assert_eq!(substitute(&mut typed, Policy::All.only_int8_weights()).unwrap().0, 32, "{file}");
        }
    }

    #[test]
    fn the_app_takes_the_op_only_for_int8_models_where_the_cpu_has_an_int8_tile() {
        assert_eq!(Policy::Auto.takes("int8"), has_int8_tile());
        assert_eq!(has_int8_tile(), cfg!(target_arch = "aarch64"));
        assert!(!Policy::Auto.takes("f32"));
        assert!(Policy::All.takes("f32") && !Policy::None.takes("int8"));
        assert!(Policy::StoredInt8.takes("int8") && !Policy::StoredInt8.takes("f32"));
        assert!(Policy::StoredInt8.only_int8_weights() && !Policy::All.only_int8_weights());
    }
}
