//! Change a shipped model's pet threshold without re-exporting it: the weights stay byte for byte,
//! only the `petcam` metadata entry is rewritten. For a threshold set again after the device
//! pipeline changed (e.g. the locate stage's view), measured on the camera benchmark's val split.
//!
//! The file keeps a record: `training.pet_threshold_history` gains `{from, to, reason}`, and the
//! export-time `metrics` (measured at the old threshold) get `pet_threshold` so that nobody reads
//! them as figures at the new one.

use anyhow::{bail, Context};
use petcam::metadata::{ModelMetadata, METADATA_KEY};
use tract_onnx::pb;

/// Sets the pet threshold in `proto`'s metadata; returns the threshold it held before.
pub fn set_pet_threshold(proto: &mut pb::ModelProto, threshold: f32, reason: &str) -> anyhow::Result<f32> {
    let entry = proto.metadata_props.iter_mut().find(|e| e.key == METADATA_KEY).with_context(|| format!("no `{METADATA_KEY}` metadata entry (not a petcam model?)"))?;
    let mut meta = ModelMetadata::from_json(&entry.value).context("its metadata")?;
    if meta.no_pet_index().is_none() {
        bail!("model `{}` has no no-pet output, so a pet threshold means nothing to it", meta.name);
    }
    let old = meta.pet_threshold;
    meta.pet_threshold = threshold;
    if let serde_json::Value::Object(m) = &mut meta.metrics {
        m.entry("pet_threshold").or_insert(serde_json::json!(short(old)));
    }
    if !meta.training.is_object() {
        meta.training = serde_json::json!({});
    }
    let history = meta.training.as_object_mut().expect("made an object above").entry("pet_threshold_history").or_insert(serde_json::json!([]));
    match history.as_array_mut() {
        Some(h) => h.push(serde_json::json!({ "from": short(old), "to": short(threshold), "reason": reason })),
        None => bail!("`training.pet_threshold_history` is not a list"),
    }
    meta.validate()?; // the threshold's range, among the rest
    entry.value = meta.to_json();
    Ok(old)
}

/// `v` as JSON shows it to a reader: 0.9589, not the f32's 0.958899974822998 widened to f64.
pub fn short(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::onnx::test_metadata;

    fn proto(meta: &ModelMetadata) -> pb::ModelProto {
        pb::ModelProto { metadata_props: vec![pb::StringStringEntryProto { key: METADATA_KEY.into(), value: meta.to_json() }], ..Default::default() }
    }

    fn read(p: &pb::ModelProto) -> ModelMetadata {
        ModelMetadata::from_json(&p.metadata_props[0].value).unwrap()
    }

    #[test]
    fn sets_the_threshold_and_keeps_a_record() {
        let mut m = test_metadata(96, 4);
        m.metrics = serde_json::json!({ "pet_recall": 0.9 });
        let mut p = proto(&m);
        assert_eq!(set_pet_threshold(&mut p, 0.96, "val 2% point").unwrap(), 0.5);
        assert_eq!(set_pet_threshold(&mut p, 0.97, "again").unwrap(), 0.96);
        let got = read(&p);
        assert_eq!(got.pet_threshold, 0.97);
        // The export-time metrics say which threshold they were measured at: the first one.
        assert_eq!(got.metrics["pet_threshold"], serde_json::json!(0.5));
        let h = got.training["pet_threshold_history"].as_array().unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0]["reason"], "val 2% point");
        assert_eq!(h[1]["from"], serde_json::json!(0.96));
        // Everything else is as it was.
        assert_eq!(ModelMetadata { pet_threshold: m.pet_threshold, training: m.training.clone(), metrics: m.metrics.clone(), ..got }, m);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let mut p = proto(&test_metadata(96, 4));
        assert!(set_pet_threshold(&mut p, 1.5, "").is_err());
        let mut no_pet_less = test_metadata(96, 4);
        no_pet_less.labels[3] = "breed3".into();
        assert!(set_pet_threshold(&mut proto(&no_pet_less), 0.9, "").unwrap_err().to_string().contains("no no-pet output"));
        assert!(set_pet_threshold(&mut pb::ModelProto::default(), 0.9, "").unwrap_err().to_string().contains("not a petcam model"));
        // A refused change leaves the file as it was.
        assert_eq!(read(&p).pet_threshold, 0.5);
    }
}
