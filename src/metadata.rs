//! What a petcam model says about itself, stored in the ONNX file's `metadata_props`.
//!
//! A model is self-describing: the edge app needs nothing but the `.onnx` file. The trainer writes
//! one `metadata_props` entry, key [`METADATA_KEY`], whose value is this struct as JSON. Unknown
//! JSON fields are ignored so newer trainers can add fields without breaking older devices.

use serde::{Deserialize, Serialize};

/// The `metadata_props` key holding the JSON document.
pub const METADATA_KEY: &str = "petcam";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Everything the edge app needs to run and interpret a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub format_version: u32,
    /// Short name, e.g. `effnet-lite0-96-int8`.
    pub name: String,
    /// Architecture family (`effnet-lite0`, `seed-cnn`).
    pub architecture: String,
    /// `f32` or `int8`.
    pub precision: String,
    /// Output `i` of the model is `labels[i]`. May end with [`crate::labels::NO_PET`].
    pub labels: Vec<String>,
    /// Side of the square input in pixels (input shape `[1, 3, input_size, input_size]`).
    pub input_size: u32,
    /// Always `NCHW RGB f32 0..1` for this format version (see [`crate::preprocess`]).
    pub input_format: String,
    /// Normalisation the graph applies to its input, as (mean, std) per channel; informative.
    pub normalisation: (f32, f32),
    /// Softmax temperature fitted on the validation split: probabilities are `softmax(logits / T)`.
    pub temperature: f32,
    /// Pet score below which the answer is "no pet": `1 - P(no pet)` of the crop, or the combined
    /// score when the model has [`pet_evidence`](Self::pet_evidence). In `[0, 1]`.
    pub pet_threshold: f32,
    /// Breed probability below which a pet is shown as "not sure" instead of a breed. In `[0, 1]`.
    pub confidence_threshold: f32,
    /// Weights that combine the crop's pet score with the locate stage's wide view
    /// ([`crate::evidence`]); `pet_threshold` then applies to the combined score. Absent in
    /// models made before version 3.3: the crop's score alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pet_evidence: Option<crate::evidence::PetEvidence>,
    /// Free-form summary of the training run (data, command line, time).
    #[serde(default)]
    pub training: serde_json::Value,
    /// Test-split figures measured at export time.
    #[serde(default)]
    pub metrics: serde_json::Value,
}

impl ModelMetadata {
    /// Index of the "no pet" output, if the model has one.
    pub fn no_pet_index(&self) -> Option<usize> {
        self.labels.iter().position(|l| l == crate::labels::NO_PET)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("metadata is always serialisable")
    }

    pub fn from_json(text: &str) -> Result<Self, MetadataError> {
        let meta: ModelMetadata = serde_json::from_str(text).map_err(MetadataError::Json)?;
        meta.validate()?;
        Ok(meta)
    }

    /// Checks the invariants the edge app relies on.
    pub fn validate(&self) -> Result<(), MetadataError> {
        if self.format_version != FORMAT_VERSION {
            return Err(MetadataError::Invalid(format!("format version {} (this petcam reads {FORMAT_VERSION})", self.format_version)));
        }
        if self.labels.len() < 2 {
            return Err(MetadataError::Invalid(format!("{} labels, need at least 2", self.labels.len())));
        }
        if !(8..=1024).contains(&self.input_size) {
            return Err(MetadataError::Invalid(format!("input size {} outside 8..=1024", self.input_size)));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(MetadataError::Invalid(format!("temperature {} is not positive", self.temperature)));
        }
        for (name, v) in [("pet_threshold", self.pet_threshold), ("confidence_threshold", self.confidence_threshold)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(MetadataError::Invalid(format!("{name} {v} outside 0..1")));
            }
        }
        if let Some(e) = &self.pet_evidence {
            e.validate().map_err(MetadataError::Invalid)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("no `{METADATA_KEY}` entry in metadata_props (not a petcam model?)")]
    Missing,
    #[error("metadata is not valid JSON: {0}")]
    Json(serde_json::Error),
    #[error("metadata is invalid: {0}")]
    Invalid(String),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> ModelMetadata {
        ModelMetadata {
            format_version: FORMAT_VERSION,
            name: "t".into(),
            architecture: "seed-cnn".into(),
            precision: "f32".into(),
            labels: vec!["beagle".into(), "pug".into(), "no_pet".into()],
            input_size: 96,
            input_format: "NCHW RGB f32 0..1".into(),
            normalisation: (0.5, 0.5),
            temperature: 1.3,
            pet_threshold: 0.5,
            confidence_threshold: 0.3,
            pet_evidence: None,
            training: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
        }
    }

    #[test]
    fn json_round_trip() {
        let m = sample();
        assert_eq!(ModelMetadata::from_json(&m.to_json()).unwrap(), m);
        assert_eq!(m.no_pet_index(), Some(2));
    }

    #[test]
    fn rejects_bad_values() {
        let mut m = sample();
        m.temperature = 0.0;
        assert!(ModelMetadata::from_json(&m.to_json()).is_err());
        let mut m = sample();
        m.labels.truncate(1);
        assert!(ModelMetadata::from_json(&m.to_json()).is_err());
        assert!(matches!(ModelMetadata::from_json("{"), Err(MetadataError::Json(_))));
    }
}
