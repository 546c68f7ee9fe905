//! Writing a network as ONNX with tract's own protobuf structs (`tract_onnx::pb`) and `prost`.
//!
//! The graph: input `input` `[N, 3, S, S]` f32 RGB in `[0, 1]`, normalisation inside the graph,
//! Conv (BatchNorm folded, TF-"SAME" pads as explicit asymmetric pads), Clip for ReLU6, Add for
//! residuals, GlobalAveragePool + Flatten, Gemm; output `logits` `[N, classes]`. The int8 variant
//! stores weights as per-output-channel symmetric int8 with `DequantizeLinear`, and puts a
//! `QuantizeLinear`/`DequantizeLinear` pair with calibrated scale on every Conv input (QDQ,
//! zero points 0: uint8 after ReLU-family activations, int8 elsewhere).

use crate::model::arch::{Act, Arch, Node, Weights};
use petcam::metadata::{ModelMetadata, METADATA_KEY};
use prost::Message;
use tract_onnx::pb::{self, attribute_proto::AttributeType, tensor_proto::DataType};

/// Activation range at the input of each parametric layer, from calibration.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub min: f32,
    pub max: f32,
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
        let unsigned = r.min >= 0.0;
        let (scale, zp_name) = if unsigned {
            let s = (r.max / 255.0).max(1e-8);
            let z = self.fresh("zp");
            self.inits.push(u8_tensor(&z, &[], &[0]));
            (s, z)
        } else {
            let s = (r.min.abs().max(r.max.abs()) / 127.0).max(1e-8);
            let z = self.fresh("zp");
            self.inits.push(i8_tensor(&z, &[], &[0]));
            (s, z)
        };
        let s = self.scalar("scale", scale);
        let q = self.node("QuantizeLinear", &[x, &s, &zp_name], vec![], "q");
        self.node("DequantizeLinear", &[&q, &s, &zp_name], vec![], "dq")
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

/// The ONNX model. `ranges` (one per Conv/Dense, in order) turns on the int8 QDQ variant.
/// How much of the graph's activations the int8 variant quantises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActQuant {
    /// Every Conv input.
    All,
    /// Only Conv inputs that come out of a ReLU/ReLU6 (uint8, zero point 0); the signed linear
    /// bottlenecks stay f32.
    Relu,
}

pub fn build(arch: &Arch, w: &Weights, meta: &ModelMetadata, ranges: Option<&[Range]>) -> pb::ModelProto {
    build_with(arch, w, meta, ranges, ActQuant::All)
}

pub fn build_with(arch: &Arch, w: &Weights, meta: &ModelMetadata, ranges: Option<&[Range]>, act: ActQuant) -> pb::ModelProto {
    let only_unsigned = act == ActQuant::Relu;
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
            Node::Conv(c) => {
                let l = &w.layers[layer];
                let input = match ranges {
                    Some(r) => b.qdq(&x, r[layer], only_unsigned),
                    None => x.clone(),
                };
                layer += 1;
                let wn = b.weight("conv_w", &l.shape, &l.weight, int8);
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
                let wn = b.weight("fc_w", &l.shape, &l.weight, int8);
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

#[cfg(test)]
mod tests {
    use super::*;

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
