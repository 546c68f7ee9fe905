//! Writing a network as ONNX with tract's own protobuf structs (`tract_onnx::pb`) and `prost`.
//!
//! The graph: input `input` `[N, 3, S, S]` f32 RGB in `[0, 1]`, normalisation inside the graph,
//! Conv (BatchNorm folded, TF-"SAME" pads as explicit asymmetric pads), Clip for ReLU6, Add for
//! residuals, GlobalAveragePool + Flatten, Gemm; output `logits` `[N, classes]`. The int8 variant
//! stores weights as per-output-channel symmetric int8 with `DequantizeLinear`, and puts a
//! `QuantizeLinear`/`DequantizeLinear` pair with calibrated scale on every Conv input (QDQ,
//! zero points 0: uint8 after ReLU-family activations, int8 elsewhere). Its `Pointwise` form
//! instead writes every 1x1 convolution as a `QLinearConv` (integer arithmetic in tract: int8
//! weights with one symmetric scale, zero points 0, requantised output, ReLU6 folded into the
//! output's range) and keeps the rest f32 on int8-stored weights.

use crate::model::arch::{Act, Arch, ConvSpec, Node, Weights};
use petcam::metadata::{ModelMetadata, METADATA_KEY};
use prost::Message;
use tract_onnx::pb::{self, attribute_proto::AttributeType, tensor_proto::DataType};

/// A calibrated activation range.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

/// Calibrated ranges of one parametric layer (Conv or Dense): its input, and its output after
/// the layer's activation.
#[derive(Debug, Clone, Copy)]
pub struct LayerRange {
    pub input: Range,
    pub output: Range,
}

impl LayerRange {
    /// Nothing seen yet: [`LayerRange::widen`] starts from here.
    pub const EMPTY: LayerRange = LayerRange { input: Range { min: f32::MAX, max: f32::MIN }, output: Range { min: f32::MAX, max: f32::MIN } };

    /// From `Net::activation_ranges`' `[(min, max) of the input, (min, max) of the output]`.
    pub fn from_pairs([input, output]: [(f32, f32); 2]) -> LayerRange {
        LayerRange { input: Range { min: input.0, max: input.1 }, output: Range { min: output.0, max: output.1 } }
    }

    /// Grows this range to hold `other` too (calibration over several batches).
    pub fn widen(&mut self, other: LayerRange) {
        for (a, b) in [(&mut self.input, other.input), (&mut self.output, other.output)] {
            a.min = a.min.min(b.min);
            a.max = a.max.max(b.max);
        }
    }
}

impl Range {
    /// Quantisation of this range with zero point 0: uint8 when it holds no negative value,
    /// else symmetric int8. (scale, unsigned).
    fn scale(self) -> (f32, bool) {
        if self.min >= 0.0 {
            ((self.max / 255.0).max(1e-8), true)
        } else {
            ((self.min.abs().max(self.max.abs()) / 127.0).max(1e-8), false)
        }
    }
}

pub const OPSET: i64 = 13;

fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}
fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: v, ..Default::default() }
}

fn f32_tensor(name: &str, dims: &[usize], v: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn i8_tensor(name: &str, dims: &[usize], v: &[i8]) -> pb::TensorProto {
    pb::TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: DataType::Int8 as i32, raw_data: v.iter().map(|&x| x as u8).collect(), ..Default::default() }
}

fn u8_tensor(name: &str, dims: &[usize], v: &[u8]) -> pb::TensorProto {
    pb::TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: DataType::Uint8 as i32, raw_data: v.to_vec(), ..Default::default() }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => Value::DimValue(*v as i64),
                None => Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor { elem_type: DataType::Float as i32, shape: Some(pb::TensorShapeProto { dim }) })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct Builder {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    counter: usize,
}

impl Builder {
    fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}_{}", self.counter)
    }
    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>, base: &str) -> String {
        let out = self.fresh(base);
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            name: out.clone(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        out
    }
    fn scalar(&mut self, base: &str, v: f32) -> String {
        let name = self.fresh(base);
        self.inits.push(f32_tensor(&name, &[], &[v]));
        name
    }
    /// Fake-quantises `x` with a calibrated range (QuantizeLinear + DequantizeLinear). With
    /// `only_unsigned`, tensors that can be negative (the linear bottlenecks between blocks and the
    /// normalised input) stay f32.
    fn qdq(&mut self, x: &str, r: Range, only_unsigned: bool) -> String {
        if only_unsigned && r.min < 0.0 {
            return x.to_string();
        }
        let (s, z) = self.quant_params(r);
        let q = self.node("QuantizeLinear", &[x, &s, &z], vec![], "q");
        self.node("DequantizeLinear", &[&q, &s, &z], vec![], "dq")
    }
    /// Scale and zero-point initialisers for `r` ([`Range::scale`]).
    fn quant_params(&mut self, r: Range) -> (String, String) {
        let (scale, unsigned) = r.scale();
        let z = self.fresh("zp");
        self.inits.push(if unsigned { u8_tensor(&z, &[], &[0]) } else { i8_tensor(&z, &[], &[0]) });
        (self.scalar("scale", scale), z)
    }
    /// A 1x1 convolution in integer arithmetic: the f32 input quantised with its calibrated
    /// range, int8 weights with one symmetric scale (so tract fuses the requantisation into its
    /// integer matmul), an int32 bias, the output requantised to its calibrated range (a ReLU6
    /// is the uint8 range's own clamp: the range is cut at 6) and dequantised for the f32 layers
    /// after it. Returns the f32 output.
    fn qlinear_pointwise(&mut self, x: &str, shape: &[usize], w: &[f32], bias: &[f32], r: LayerRange, act: Act) -> String {
        let (xs, xz) = self.quant_params(r.input);
        let xq = self.node("QuantizeLinear", &[x, &xs, &xz], vec![], "q");
        // One scale for the whole tensor, so that tract fuses the requantisation.
        let (q, scales) = quantize_per_channel(w, 1);
        let w_scale = scales[0];
        let wn = self.fresh("conv_w_q");
        self.inits.push(i8_tensor(&wn, shape, &q));
        let ws = self.scalar("conv_w_scale", w_scale);
        let wz = self.fresh("conv_w_zp");
        self.inits.push(i8_tensor(&wz, &[], &[0]));
        let bias_scale = r.input.scale().0 * w_scale;
        let bq: Vec<i32> = bias.iter().map(|b| (b / bias_scale).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32).collect();
        let bn = self.fresh("conv_b_q");
        self.inits.push(pb::TensorProto { name: bn.clone(), dims: vec![bias.len() as i64], data_type: DataType::Int32 as i32, int32_data: bq, ..Default::default() });
        let out = match act {
            Act::Relu6 => Range { min: 0.0, max: r.output.max.min(6.0) },
            Act::Relu => Range { min: 0.0, max: r.output.max },
            Act::None => r.output,
        };
        let (ys, yz) = self.quant_params(out);
        let y = self.node(
            "QLinearConv",
            &[&xq, &xs, &xz, &wn, &ws, &wz, &ys, &yz, &bn],
            vec![attr_ints("kernel_shape", &[1, 1]), attr_ints("strides", &[1, 1]), attr_ints("pads", &[0, 0, 0, 0]), attr_ints("dilations", &[1, 1]), attr_int("group", 1)],
            "qconv",
        );
        self.node("DequantizeLinear", &[&y, &ys, &yz], vec![], "dq")
    }
    /// A weight initialiser: plain f32, or per-output-channel int8 + DequantizeLinear.
    fn weight(&mut self, base: &str, shape: &[usize], w: &[f32], int8: bool) -> String {
        if !int8 {
            let name = self.fresh(base);
            self.inits.push(f32_tensor(&name, shape, w));
            return name;
        }
        let (q, scales) = quantize_per_channel(w, shape[0]);
        let qn = self.fresh(&format!("{base}_q"));
        self.inits.push(i8_tensor(&qn, shape, &q));
        let sn = self.fresh(&format!("{base}_scale"));
        self.inits.push(f32_tensor(&sn, &[shape[0]], &scales));
        let zn = self.fresh(&format!("{base}_zp"));
        self.inits.push(i8_tensor(&zn, &[shape[0]], &vec![0; shape[0]]));
        self.node("DequantizeLinear", &[&qn, &sn, &zn], vec![attr_int("axis", 0)], base)
    }
    fn act(&mut self, x: String, a: Act) -> String {
        match a {
            Act::None => x,
            Act::Relu => self.node("Relu", &[&x], vec![], "relu"),
            Act::Relu6 => {
                let lo = self.scalar("zero", 0.0);
                let hi = self.scalar("six", 6.0);
                self.node("Clip", &[&x, &lo, &hi], vec![], "relu6")
            }
        }
    }
}

/// Symmetric per-channel int8: `q = round(w / s)`, `s = max|w| / 127` for each of `channels` rows.
pub fn quantize_per_channel(w: &[f32], channels: usize) -> (Vec<i8>, Vec<f32>) {
    let per = w.len() / channels;
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(channels);
    for c in 0..channels {
        let row = &w[c * per..(c + 1) * per];
        let m = row.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let s = if m > 0.0 { m / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(row.iter().map(|v| (v / s).round().clamp(-127.0, 127.0) as i8));
    }
    (q, scales)
}

/// The parametric-layer indices (into `Weights::layers`) of the convolutions named by `picks`:
/// 0 is the first convolution (the stem), -1 the last (EfficientNet-Lite0's head convolution).
pub fn conv_layers(arch: &Arch, picks: &[i64]) -> anyhow::Result<Vec<usize>> {
    let convs: Vec<usize> = arch.nodes.iter().filter(|n| matches!(n, Node::Conv(_) | Node::Dense { .. })).enumerate().filter(|(_, n)| matches!(n, Node::Conv(_))).map(|(i, _)| i).collect();
    picks
        .iter()
        .map(|&p| {
            let at = if p < 0 { convs.len() as i64 + p } else { p };
            usize::try_from(at)
                .ok()
                .and_then(|a| convs.get(a).copied())
                .ok_or_else(|| anyhow::anyhow!("no convolution {p}: the model has {} (0 to {}, or -1 to -{})", convs.len(), convs.len() - 1, convs.len()))
        })
        .collect()
}

/// How much of the graph's activations the int8 variant quantises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActQuant {
    /// Every Conv input.
    All,
    /// Only Conv inputs that come out of a ReLU/ReLU6 (uint8, zero point 0); the signed linear
    /// bottlenecks stay f32.
    Relu,
    /// Every 1x1 convolution as a `QLinearConv` (integer arithmetic in tract), the rest f32
    /// (slower than f32 in tract: docs/PERFORMANCE.md).
    Pointwise,
    /// No activation quantised in the graph: int8 weights (per output channel) and f32
    /// activations. petcam runs the 1x1 convolutions in int8 on its own op where the CPU has
    /// the dot product, quantising each input as it comes (`petcam::classifier::pointwise`).
    Weights,
}

impl ActQuant {
    /// Whether the int8 file stores the final classifier's (Dense) weights int8: not in the
    /// `Pointwise` and `Weights` forms, where the locate stage reads them as f32.
    pub fn dense_int8(self) -> bool {
        !matches!(self, ActQuant::Pointwise | ActQuant::Weights)
    }

    /// Whether this form writes the convolution `c` as a `QLinearConv` (one weight scale per
    /// tensor) instead of per-output-channel int8 weights: the `Pointwise` form's plain 1x1s.
    pub fn qlinear(self, c: &ConvSpec) -> bool {
        self == ActQuant::Pointwise && c.kernel == 1 && c.groups == 1 && c.stride == 1 && c.pad == [0; 4]
    }
}

/// The ONNX model. `ranges` (one per Conv/Dense, in order) turns on the int8 QDQ variant.
pub fn build(arch: &Arch, w: &Weights, meta: &ModelMetadata, ranges: Option<&[LayerRange]>) -> pb::ModelProto {
    build_with(arch, w, meta, ranges, ActQuant::All, &[])
}

/// The ONNX model, int8 (with `ranges`) in the form `quant`, except the parametric layers (indices
/// into `w.layers`) in `f32_layers`, whose weights stay f32.
pub fn build_with(arch: &Arch, w: &Weights, meta: &ModelMetadata, ranges: Option<&[LayerRange]>, quant: ActQuant, f32_layers: &[usize]) -> pb::ModelProto {
    let only_unsigned = quant == ActQuant::Relu;
    let int8 = ranges.is_some();
    let mut b = Builder { nodes: vec![], inits: vec![], counter: 0 };
    let mut x = "input".to_string();
    let mut saved = vec![];
    let mut layer = 0;
    for n in &arch.nodes {
        x = match n {
            Node::Affine { scale, shift } => {
                let s = b.scalar("norm_scale", *scale);
                let t = b.scalar("norm_shift", *shift);
                let y = b.node("Mul", &[&x, &s], vec![], "norm_mul");
                b.node("Add", &[&y, &t], vec![], "norm_add")
            }
            Node::Conv(c) if quant.qlinear(c) && ranges.is_some() && !f32_layers.contains(&layer) => {
                let l = &w.layers[layer];
                let r = ranges.expect("checked")[layer];
                layer += 1;
                b.qlinear_pointwise(&x, &l.shape, &l.weight, &l.bias, r, c.act)
            }
            Node::Conv(c) => {
                let l = &w.layers[layer];
                let input = match ranges {
                    Some(r) if !matches!(quant, ActQuant::Pointwise | ActQuant::Weights) => b.qdq(&x, r[layer].input, only_unsigned),
                    _ => x.clone(),
                };
                let wn = b.weight("conv_w", &l.shape, &l.weight, int8 && !f32_layers.contains(&layer));
                layer += 1;
                let bn = b.fresh("conv_b");
                b.inits.push(f32_tensor(&bn, &[l.bias.len()], &l.bias));
                let k = c.kernel as i64;
                let y = b.node(
                    "Conv",
                    &[&input, &wn, &bn],
                    vec![
                        attr_ints("kernel_shape", &[k, k]),
                        attr_ints("strides", &[c.stride as i64; 2]),
                        attr_ints("pads", &[c.pad[0] as i64, c.pad[1] as i64, c.pad[2] as i64, c.pad[3] as i64]),
                        attr_ints("dilations", &[1, 1]),
                        attr_int("group", c.groups as i64),
                    ],
                    "conv",
                );
                b.act(y, c.act)
            }
            Node::Save => {
                saved.push(x.clone());
                x
            }
            Node::AddSaved => {
                let s = saved.pop().expect("Save before AddSaved");
                b.node("Add", &[&x, &s], vec![], "residual")
            }
            Node::MaxPool2 => b.node("MaxPool", &[&x], vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])], "maxpool"),
            Node::GlobalAvgPool => {
                let y = b.node("GlobalAveragePool", &[&x], vec![], "gap");
                b.node("Flatten", &[&y], vec![attr_int("axis", 1)], "flatten")
            }
            Node::Flatten => b.node("Flatten", &[&x], vec![attr_int("axis", 1)], "flatten"),
            Node::Dropout(_) => x,
            Node::Dense { act, .. } => {
                let l = &w.layers[layer];
                // The classifier's input stays f32 (its weights are int8): quantising the pooled
                // 1280-wide feature vector costs accuracy and saves nothing measurable.
                let input = x.clone();
                layer += 1;
                // The pointwise form keeps them f32 too: the locator reads them for its
                // class-activation map, and they are 1.4% of the weights.
                let wn = b.weight("fc_w", &l.shape, &l.weight, int8 && quant.dense_int8());
                let bn = b.fresh("fc_b");
                b.inits.push(f32_tensor(&bn, &[l.bias.len()], &l.bias));
                let y = b.node("Gemm", &[&input, &wn, &bn], vec![attr_int("transB", 1)], "gemm");
                b.act(y, *act)
            }
        };
    }
    // Name the output `logits`.
    if let Some(last) = b.nodes.last_mut() {
        last.output = vec!["logits".into()];
    }
    let s = arch.input_size;
    let graph = pb::GraphProto {
        name: meta.name.clone(),
        node: b.nodes,
        initializer: b.inits,
        input: vec![value_info("input", &[None, Some(3), Some(s), Some(s)])],
        output: vec![value_info("logits", &[None, Some(arch.num_outputs())])],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "petcam-trainer".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("petcam breed classifier {} ({})", meta.name, meta.precision),
        graph: Some(graph),
        metadata_props: vec![pb::StringStringEntryProto { key: METADATA_KEY.into(), value: meta.to_json() }],
        ..Default::default()
    }
}

pub fn encode(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Metadata of an effnet-lite0 test model with `classes` outputs, the last one "no pet".
#[cfg(test)]
pub(crate) fn test_metadata(size: u32, classes: usize) -> ModelMetadata {
    let mut labels: Vec<String> = (0..classes - 1).map(|i| format!("breed{i}")).collect();
    labels.push(petcam::labels::NO_PET.into());
    ModelMetadata {
        format_version: petcam::metadata::FORMAT_VERSION,
        name: "t".into(),
        architecture: "effnet-lite0".into(),
        precision: "f32".into(),
        labels,
        input_size: size,
        input_format: "NCHW RGB f32 0..1".into(),
        normalisation: (0.5, 0.5),
        temperature: 1.0,
        pet_threshold: 0.5,
        confidence_threshold: 0.3,
        pet_evidence: None,
        training: serde_json::Value::Null,
        metrics: serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{arch, init, net::Net};
    use petcam::classifier::TractClassifier;

    /// The pointwise int8 form: every 1x1 convolution of EfficientNet-Lite0 becomes a
    /// `QLinearConv` (no f32 1x1 `Conv` is left), tract loads and runs it, the file is smaller,
    /// and its logits follow the f32 file's on pictures like the calibration ones.
    #[test]
    fn pointwise_int8_runs_every_1x1_convolution_as_qlinearconv() {
        let size = 32;
        let a = arch::effnet_lite0(size, 5, 0.0);
        let w = init::random(&a, 5);
        let device = burn::tensor::Device::flex();
        let net = Net::new(&a, &w, &device);
        let pictures: Vec<image::RgbImage> =
            (0..4u32).map(|k| image::RgbImage::from_fn(size as u32, size as u32, |x, y| image::Rgb([(x * 7 + k * 40) as u8, (y * 5 + k * 20) as u8, ((x + y) * 3) as u8]))).collect();
        let refs: Vec<&image::RgbImage> = pictures.iter().collect();
        let ranges: Vec<LayerRange> = net.activation_ranges(crate::train::batch_tensor(&refs, size as u32, &device)).into_iter().map(LayerRange::from_pairs).collect();
        assert_eq!(ranges.len(), w.layers.len());
        assert!(ranges.iter().all(|r| r.input.min <= r.input.max && r.output.min <= r.output.max));

        let meta = test_metadata(size as u32, 5);
        let f32_model = build(&a, &w, &meta, None);
        let q = build_with(&a, &w, &meta, Some(&ranges), ActQuant::Pointwise, &[]);
        let nodes = &q.graph.as_ref().unwrap().node;
        let pointwise = a.nodes.iter().filter(|n| matches!(n, Node::Conv(c) if c.kernel == 1 && c.groups == 1)).count();
        assert_eq!(nodes.iter().filter(|n| n.op_type == "QLinearConv").count(), pointwise);
        let kernel = |n: &pb::NodeProto| n.attribute.iter().find(|x| x.name == "kernel_shape").map(|x| x.ints.clone());
        assert!(!nodes.iter().any(|n| n.op_type == "Conv" && kernel(n) == Some(vec![1, 1])), "an f32 1x1 Conv is left");
        let (f32_bytes, q_bytes) = (encode(&f32_model), encode(&q));
        assert!(q_bytes.len() * 3 < f32_bytes.len(), "int8 file {} bytes, f32 {}", q_bytes.len(), f32_bytes.len());

        let c32 = TractClassifier::from_bytes(&f32_bytes, std::path::Path::new("t-f32.onnx")).unwrap();
        let c8 = TractClassifier::from_bytes(&q_bytes, std::path::Path::new("t-int8.onnx")).unwrap();
        for p in &pictures {
            let input = petcam::pipeline::Preprocessor::new(size as u32).prepare(p, &mut Default::default()).1.to_vec();
            let (z32, z8) = (c32.logits(&input).unwrap(), c8.logits(&input).unwrap());
            let spread = z32.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = z32.iter().zip(&z8).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff < 0.1 * spread.max(1.0), "int8 logits {z8:?} drift from f32 {z32:?}");
        }
    }

    #[test]
    fn weights_only_int8_keeps_activations_f32_and_runs_on_petcams_int8_op() {
        use petcam::classifier::{pointwise::Policy, LoadOptions, TractClassifier};
        let a = arch::effnet_lite0(96, 38, 0.0);
        let size = a.input_size;
        let w = init::random(&a, 6);
        let ranges: Vec<LayerRange> = vec![LayerRange::EMPTY; w.layers.len()];
        let meta = test_metadata(size as u32, 38);
        let (f32_bytes, q_bytes) = (encode(&build(&a, &w, &meta, None)), encode(&build_with(&a, &w, &meta, Some(&ranges), ActQuant::Weights, &[])));
        let q = pb::ModelProto::decode(&q_bytes[..]).unwrap();
        let nodes = &q.graph.as_ref().unwrap().node;
        assert!(!nodes.iter().any(|n| n.op_type == "QuantizeLinear" || n.op_type == "QLinearConv"), "an activation is quantised");
        let convs = nodes.iter().filter(|n| n.op_type == "Conv").count();
        assert_eq!(nodes.iter().filter(|n| n.op_type == "DequantizeLinear").count(), convs, "every conv's weights int8");
        assert!(q_bytes.len() * 3 < f32_bytes.len(), "int8 file {} bytes, f32 {}", q_bytes.len(), f32_bytes.len());
        let pointwise = a.nodes.iter().filter(|n| matches!(n, Node::Conv(c) if c.kernel == 1 && c.groups == 1)).count();
        let c32 = TractClassifier::from_bytes(&f32_bytes, std::path::Path::new("t-f32.onnx")).unwrap();
        let on = |int8| TractClassifier::from_bytes_with(&q_bytes, std::path::Path::new("t-int8.onnx"), LoadOptions { int8, ..Default::default() }).unwrap();
        let (c8, c8_f32) = (on(Policy::All), on(Policy::None));
        assert_eq!((c8.int8_pointwise(), c8_f32.int8_pointwise()), (pointwise, 0));
        let picture = image::RgbImage::from_fn(size as u32, size as u32, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]));
        let input = petcam::pipeline::Preprocessor::new(size as u32).prepare(&picture, &mut Default::default()).1.to_vec();
        let z32 = c32.logits(&input).unwrap();
        let spread = z32.iter().fold(0f32, |m, v| m.max(v.abs()));
        for c in [&c8, &c8_f32] {
            let z = c.logits(&input).unwrap();
            let diff = z32.iter().zip(&z).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff < 0.1 * spread.max(1.0), "int8 logits {z:?} drift from f32 {z32:?} ({} convs in int8)", c.int8_pointwise());
        }
    }

    #[test]
    fn per_channel_quantisation_round_trips_within_half_a_step() {
        let w: Vec<f32> = (0..20).map(|i| (i as f32 - 7.0) * if i < 10 { 0.01 } else { 1.0 }).collect();
        let (q, s) = quantize_per_channel(&w, 2);
        assert_eq!(s.len(), 2);
        for (i, (&qi, &wi)) in q.iter().zip(&w).enumerate() {
            let back = qi as f32 * s[i / 10];
            assert!((back - wi).abs() <= s[i / 10] / 2.0 + 1e-7, "{i}: {wi} -> {back}");
        }
        assert_eq!(q.iter().map(|v| v.unsigned_abs()).max(), Some(127));
    }
}
