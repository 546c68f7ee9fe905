//! Reading the weights back out of an f32 ONNX file that [`crate::export`] wrote, so that a shipped
//! model can be trained further (`train --init models/<name>-f32.onnx`) without the `best.bin` it
//! was exported from.
//!
//! The exporter names every parameter `conv_w_<n>` / `conv_b_<n>` / `fc_w_<n>` / `fc_b_<n>` and
//! writes them in node order, so the initialisers with those prefixes, in file order, are the
//! [`Weights`] layers. The architecture is rebuilt from the model's metadata (family, input size,
//! labels)
//! and every layer's shape is checked against it: a file that is not ours, or an int8 one, fails
//! with its name and the reason.

use super::arch::{self, Arch, Layer, Weights};
use anyhow::{bail, ensure, Context, Result};
use petcam::metadata::{ModelMetadata, METADATA_KEY};
use prost::Message;
use std::path::Path;
use tract_onnx::pb::{self, tensor_proto::DataType};

/// The network (EfficientNet-Lite0 or the seed CNN, from the metadata) and weights stored in `path` (dropout `dropout` for training),
/// and the labels of its outputs.
pub fn from_onnx(path: &Path, dropout: f32) -> Result<(Arch, Weights, Vec<String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let model = pb::ModelProto::decode(bytes.as_slice()).with_context(|| format!("{}: not an ONNX file", path.display()))?;
    let meta_json = model
        .metadata_props
        .iter()
        .find(|p| p.key == METADATA_KEY)
        .map(|p| p.value.as_str())
        .with_context(|| format!("{}: no petcam metadata (not written by petcam-trainer export)", path.display()))?;
    let meta = ModelMetadata::from_json(meta_json).map_err(|e| anyhow::anyhow!("{}: bad petcam metadata: {e}", path.display()))?;
    let graph = model.graph.as_ref().with_context(|| format!("{}: no graph", path.display()))?;
    let (size, classes) = (meta.input_size as usize, meta.labels.len());
    let arch = match meta.architecture.as_str() {
        "effnet-lite0" => arch::effnet_lite0(size, classes, dropout),
        "seed-cnn" => arch::seed_cnn(size, classes, dropout),
        other => bail!("{}: architecture `{other}` is not one the trainer builds (effnet-lite0, seed-cnn)", path.display()),
    };
    let mut params = graph.initializer.iter().filter(|t| ["conv_w_", "conv_b_", "fc_w_", "fc_b_"].iter().any(|p| t.name.starts_with(p)));
    let mut layers = vec![];
    for (i, (shape, nb)) in arch.layer_shapes().into_iter().enumerate() {
        let (Some(w), Some(b)) = (params.next(), params.next()) else {
            bail!("{}: {i} parameter layers, a {} at {size} px has {}", path.display(), meta.architecture, arch.layer_shapes().len());
        };
        let weight = floats(path, w)?;
        let bias = floats(path, b)?;
        let dims: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
        ensure!(dims == shape && bias.len() == nb, "{}: layer {i} ({}) has shape {dims:?} and {} biases, expected {shape:?} and {nb}", path.display(), w.name, bias.len());
        layers.push(Layer { shape, weight, bias });
    }
    ensure!(params.next().is_none(), "{}: more parameter layers than a {} has", path.display(), meta.architecture);
    let weights = Weights { layers };
    arch.check(&weights).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((arch, weights, meta.labels))
}

fn floats(path: &Path, t: &pb::TensorProto) -> Result<Vec<f32>> {
    ensure!(t.data_type == DataType::Float as i32, "{}: {} is not f32 (an int8 model cannot be trained further; use the -f32.onnx file)", path.display(), t.name);
    if !t.float_data.is_empty() {
        return Ok(t.float_data.clone());
    }
    ensure!(t.raw_data.len().is_multiple_of(4), "{}: {} has {} bytes of data, not a whole number of f32", path.display(), t.name, t.raw_data.len());
    Ok(t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::onnx;
    use crate::model::init;

    #[test]
    fn exported_weights_come_back_exactly() {
        let arch = arch::effnet_lite0(32, 5, 0.2);
        let w = init::random(&arch, 7);
        let bytes = onnx::encode(&onnx::build(&arch, &w, &onnx::test_metadata(32, 5), None));
        let p = std::env::temp_dir().join(format!("petcam-import-{}.onnx", std::process::id()));
        std::fs::write(&p, &bytes).unwrap();
        let (a2, w2, labels) = from_onnx(&p, 0.2).unwrap();
        assert_eq!(a2, arch);
        assert_eq!(w2, w);
        assert_eq!(labels, onnx::test_metadata(32, 5).labels);

        // A truncated file and an int8 file are refused with the file's name.
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert!(from_onnx(&p, 0.2).unwrap_err().to_string().contains(&p.display().to_string()));
        let r = onnx::Range { min: 0.0, max: 6.0 };
        let ranges = vec![onnx::LayerRange { input: r, output: r }; w.layers.len()];
        std::fs::write(&p, onnx::encode(&onnx::build(&arch, &w, &onnx::test_metadata(32, 5), Some(&ranges)))).unwrap();
        let err = from_onnx(&p, 0.2).unwrap_err().to_string();
        assert!(err.contains("not f32"), "{err}");
        std::fs::remove_file(&p).ok();
    }
}
