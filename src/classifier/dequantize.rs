//! Constant `DequantizeLinear` nodes folded into f32 initialisers before tract reads a model.
//!
//! An int8 model stores each weight tensor as int8 + scale (+ zero point) and a
//! `DequantizeLinear` node. tract folds those at load too, but through its generic operator
//! evaluation: loading the int8 file took 4x as long as the f32 one (x86) and 2.2 G more aarch64
//! instructions. Doing it here, in one pass over the bytes, gives the same f32 values
//! (`(q - zero) * scale`, as ONNX defines it) for a fraction of that.

use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{self, tensor_proto::DataType};

/// Replaces every `DequantizeLinear` of `graph` whose inputs are all initialisers (int8 or uint8
/// values, f32 scales, a scalar or one per slice along `axis`) with an f32 initialiser named as its
/// output, and drops the integer initialisers nothing reads any more. Anything else (other types,
/// external data, a computed input) is left to tract. Returns how many nodes it folded.
pub fn fold_constants(graph: &mut pb::GraphProto) -> usize {
    let by_name: HashMap<&str, &pb::TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut folded = HashSet::new();
    let mut made = vec![];
    for (i, node) in graph.node.iter().enumerate() {
        if node.op_type != "DequantizeLinear" || !(node.domain.is_empty() || node.domain == "ai.onnx") || node.output.len() != 1 {
            continue;
        }
        let input = |k: usize| node.input.get(k).filter(|n| !n.is_empty()).map(|n| by_name.get(n.as_str()).copied());
        let (Some(Some(x)), Some(Some(scale))) = (input(0), input(1)) else { continue };
        let zero = match input(2) {
            None => None,
            Some(Some(z)) => Some(z),
            Some(None) => continue,
        };
        let axis = node.attribute.iter().find(|a| a.name == "axis").map(|a| a.i).unwrap_or(1);
        let Some(values) = dequantize(x, scale, zero, axis) else { continue };
        made.push(pb::TensorProto {
            name: node.output[0].clone(),
            dims: x.dims.clone(),
            data_type: DataType::Float as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        folded.insert(i);
    }
    if folded.is_empty() {
        return 0;
    }
    let inputs_of_folded: HashSet<String> = folded.iter().flat_map(|&i| graph.node[i].input.iter().cloned()).collect();
    let mut i = 0;
    graph.node.retain(|_| {
        i += 1;
        !folded.contains(&(i - 1))
    });
    // The folded nodes' inputs that nothing else reads go (and only those: a model may keep
    // initialisers no node reads, as the locator head's `pet_cells_edges`).
    let read: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).chain(graph.output.iter().map(|o| o.name.clone())).collect();
    graph.initializer.retain(|t| read.contains(&t.name) || !inputs_of_folded.contains(&t.name));
    graph.initializer.extend(made);
    folded.len()
}

/// `(x - zero) * scale`, per slice along `axis` when the scale has one value per slice.
fn dequantize(x: &pb::TensorProto, scale: &pb::TensorProto, zero: Option<&pb::TensorProto>, axis: i64) -> Option<Vec<f32>> {
    let q = integers(x)?;
    let s = floats(scale)?;
    let z = match zero {
        Some(z) if z.data_type == x.data_type => integers(z)?,
        Some(_) => return None,
        None => vec![0; s.len()],
    };
    let dims: Vec<usize> = x.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    if q.len() != dims.iter().product::<usize>() || z.len() != s.len() || s.is_empty() {
        return None;
    }
    if s.len() == 1 {
        return Some(q.iter().map(|&v| (v - z[0]) as f32 * s[0]).collect());
    }
    let axis = usize::try_from(if axis < 0 { axis + dims.len() as i64 } else { axis }).ok().filter(|&a| a < dims.len())?;
    if dims[axis] != s.len() {
        return None;
    }
    let inner: usize = dims[axis + 1..].iter().product();
    Some((0..q.len()).map(|i| (i / inner) % s.len()).zip(&q).map(|(c, &v)| (v - z[c]) as f32 * s[c]).collect())
}

fn integers(t: &pb::TensorProto) -> Option<Vec<i32>> {
    if !t.external_data.is_empty() {
        return None;
    }
    let from_raw = !t.raw_data.is_empty();
    match DataType::try_from(t.data_type).ok()? {
        DataType::Int8 if from_raw => Some(t.raw_data.iter().map(|&b| b as i8 as i32).collect()),
        DataType::Uint8 if from_raw => Some(t.raw_data.iter().map(|&b| b as i32).collect()),
        DataType::Int8 | DataType::Uint8 => Some(t.int32_data.clone()),
        _ => None,
    }
}

fn floats(t: &pb::TensorProto) -> Option<Vec<f32>> {
    if t.data_type != DataType::Float as i32 || !t.external_data.is_empty() {
        return None;
    }
    if t.raw_data.is_empty() {
        return Some(t.float_data.clone());
    }
    t.raw_data.len().is_multiple_of(4).then(|| t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tensor(name: &str, dims: &[i64], data_type: DataType, raw: Vec<u8>) -> pb::TensorProto {
        pb::TensorProto { name: name.into(), dims: dims.to_vec(), data_type: data_type as i32, raw_data: raw, ..Default::default() }
    }

    #[test]
    fn per_axis_and_per_tensor_scales_and_zero_points_follow_the_onnx_definition() {
        let q = tensor("q", &[2, 3], DataType::Int8, [-128i8, -1, 0, 1, 2, 127].iter().map(|&v| v as u8).collect());
        let s = tensor("s", &[2], DataType::Float, [0.5f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect());
        let z = tensor("z", &[2], DataType::Int8, vec![0, 1]);
        assert_eq!(dequantize(&q, &s, Some(&z), 0).unwrap(), vec![-64.0, -0.5, 0.0, 0.0, 2.0, 252.0]);
        // Along the last axis: one scale per column.
        let s3 = tensor("s", &[3], DataType::Float, [1.0f32, 10.0, 100.0].iter().flat_map(|v| v.to_le_bytes()).collect());
        assert_eq!(dequantize(&q, &s3, None, -1).unwrap(), vec![-128.0, -10.0, 0.0, 1.0, 20.0, 12700.0]);
        let one = tensor("s", &[], DataType::Float, 0.25f32.to_le_bytes().to_vec());
        let u = tensor("u", &[2], DataType::Uint8, vec![0, 255]);
        let uz = tensor("uz", &[], DataType::Uint8, vec![128]);
        assert_eq!(dequantize(&u, &one, Some(&uz), 1).unwrap(), vec![-32.0, 31.75]);
        // Scales that match no axis, or a zero point of another type, are left alone.
        assert!(dequantize(&q, &s3, None, 0).is_none());
        assert!(dequantize(&q, &s, Some(&uz), 0).is_none());
    }

    /// The shipped int8 model: every weight's `DequantizeLinear` folds, its integers go, and the
    /// folded model gives the same logits as tract's own folding.
    #[test]
    fn the_int8_model_folds_to_the_same_answers() {
        use tract_onnx::prelude::*;
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(crate::config::INT8_MODEL_FILE);
        let bytes = std::fs::read(&path).unwrap();
        let proto = tract_onnx::onnx().proto_model_for_read(&mut &bytes[..]).unwrap();
        let mut folded = proto.clone();
        let graph = folded.graph.as_mut().unwrap();
        let before = graph.node.iter().filter(|n| n.op_type == "DequantizeLinear").count();
        assert!(before >= 33, "{before} DequantizeLinear nodes");
        assert_eq!(fold_constants(graph), before);
        assert!(graph.node.iter().all(|n| n.op_type != "DequantizeLinear"));
        assert!(graph.initializer.iter().all(|t| t.data_type == DataType::Float as i32), "an integer initialiser is left");
        // Initialisers no node reads stay (the locator head's edges).
        let edges = crate::locate::activation::HEAD_EDGES;
        assert!(proto.graph.as_ref().unwrap().initializer.iter().any(|t| t.name == edges), "the test model has no `{edges}`");
        assert!(graph.initializer.iter().any(|t| t.name == edges), "`{edges}` was dropped");
        let run = |p: &pb::ModelProto| -> Vec<f32> {
            let m = tract_onnx::onnx().model_for_proto_model(p).unwrap().with_input_fact(0, f32::fact([1, 3, 96, 96]).into()).unwrap();
            let plan = m.into_optimized().unwrap().into_runnable().unwrap();
            let input: Vec<f32> = (0..3 * 96 * 96).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect();
            let out = plan.run(tvec!(Tensor::from_shape(&[1, 3, 96, 96], &input).unwrap().into())).unwrap();
            out[0].to_plain_array_view::<f32>().unwrap().iter().cloned().collect()
        };
        let (want, got) = (run(&proto), run(&folded));
        assert_eq!(want.len(), 38);
        assert_eq!(got, want, "folded logits differ from tract's own folding");
    }
}
