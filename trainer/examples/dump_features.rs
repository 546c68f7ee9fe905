//! Study tool: the backbone features (the 1,280 values entering the head) and the logits of every
//! photo of the pets and no-pets sets, centre-cropped as the device sees them, for offline analysis
//! of pet scores computed from the features (`scripts/feature-distance.py`).
//!
//! ```sh
//! cargo run --profile trainer -p petcam-trainer --example dump_features -- \
//!   runs/effnet-np/best.bin ../shared/datasets/pets ../shared/datasets/no-pets /tmp/features
//! ```
//! writes `features.f32` (`[N, 1280]` little-endian), `logits.f32` (`[N, 38]`) and `meta.csv`
//! (split, label, oxford, scene, path) into the output folder. 3 min on the 2-core build machine.
use anyhow::{bail, Context, Result};
use petcam_trainer::{data, images, model::net::Net, model::store, train};
use std::io::Write;
use std::path::PathBuf;

fn main() -> Result<()> {
    let a: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [weights, pets, no_pets, out] = a.as_slice() else {
        bail!("usage: dump_features WEIGHTS.bin PETS_ROOT NO_PETS_ROOT OUT_DIR");
    };
    let mut samples = data::load(std::slice::from_ref(pets), 0.1, 1)?;
    samples.extend(data::load(std::slice::from_ref(no_pets), 0.1, 1)?);
    let (arch, w) = store::load(weights).with_context(|| weights.display().to_string())?;
    let size = arch.input_size as u32;
    let items = images::decode_all(samples, size)?.items;
    let device = burn::tensor::Device::flex();
    let net = Net::new(&arch, &w, &device);
    // Training photos are kept larger for augmentation; crop them as val/test photos are.
    let crops: Vec<image::RgbImage> =
        items.iter().map(|l| if l.image.dimensions() == (size, size) { l.image.clone() } else { petcam::pipeline::Preprocessor::model_picture(&l.image, size) }).collect();
    std::fs::create_dir_all(out)?;
    let mut features = std::io::BufWriter::new(std::fs::File::create(out.join("features.f32"))?);
    let mut logits = std::io::BufWriter::new(std::fs::File::create(out.join("logits.f32"))?);
    let refs: Vec<&image::RgbImage> = crops.iter().collect();
    for chunk in refs.chunks(64) {
        let f = net.features(train::batch_tensor(chunk, size, &device));
        let z = net.head(f.clone(), false).inner();
        for v in f.into_data().try_to_vec::<f32>().unwrap() {
            features.write_all(&v.to_le_bytes())?;
        }
        for v in z.into_data().try_to_vec::<f32>().unwrap() {
            logits.write_all(&v.to_le_bytes())?;
        }
    }
    let mut meta = std::io::BufWriter::new(std::fs::File::create(out.join("meta.csv"))?);
    writeln!(meta, "split,label,oxford,scene,path")?;
    for l in &items {
        let scene = l.sample.scene.map(|s| format!("{s:?}").to_lowercase()).unwrap_or_default();
        writeln!(meta, "{:?},{},{},{},{}", l.sample.split, l.sample.label, l.sample.oxford, scene, l.sample.path.display())?;
    }
    eprintln!("{} photos: {}", items.len(), out.display());
    Ok(())
}
