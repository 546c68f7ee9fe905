//! Saving and loading a network (architecture + weights) as one small binary file:
//! `PCW1`, a little-endian u32 header length, the [`Arch`] as JSON, then every layer's weight and
//! bias as little-endian f32 in order. Used for checkpoints and as the export's input.

use super::arch::{Arch, Weights};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 4] = b"PCW1";

pub fn save(path: &Path, arch: &Arch, w: &Weights) -> Result<()> {
    let header = serde_json::to_vec(arch)?;
    let mut buf = Vec::with_capacity(8 + header.len() + 4 * w.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum::<usize>());
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(header.len() as u32).to_le_bytes());
    buf.extend_from_slice(&header);
    for l in &w.layers {
        for v in l.weight.iter().chain(&l.bias) {
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }
    // Write then rename: a crash never leaves a half-written checkpoint behind.
    let tmp = path.with_extension("tmp");
    std::fs::File::create(&tmp).and_then(|mut f| f.write_all(&buf)).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
    Ok(())
}

pub fn load(path: &Path) -> Result<(Arch, Weights)> {
    let mut bytes = vec![];
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).with_context(|| format!("{}: cannot read", path.display()))?;
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        bail!("{}: not a petcam weights file (bad magic)", path.display());
    }
    let hlen = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let header = bytes.get(8..8 + hlen).with_context(|| format!("{}: truncated header", path.display()))?;
    let arch: Arch = serde_json::from_slice(header).with_context(|| format!("{}: bad header", path.display()))?;
    let mut pos = 8 + hlen;
    let mut layers = vec![];
    for (shape, nb) in arch.layer_shapes() {
        let nw: usize = shape.iter().product();
        let end = pos + 4 * (nw + nb);
        let data = bytes.get(pos..end).with_context(|| format!("{}: truncated weights", path.display()))?;
        let v: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        layers.push(super::arch::Layer { shape, weight: v[..nw].to_vec(), bias: v[nw..].to_vec() });
        pos = end;
    }
    if pos != bytes.len() {
        bail!("{}: {} trailing bytes", path.display(), bytes.len() - pos);
    }
    Ok((arch, Weights { layers }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{arch::seed_cnn, init};

    #[test]
    fn round_trip_and_truncation() {
        let arch = seed_cnn(32, 5, 0.1);
        let w = init::random(&arch, 1);
        let p = std::env::temp_dir().join(format!("petcam-store-{}.bin", std::process::id()));
        save(&p, &arch, &w).unwrap();
        let (a2, w2) = load(&p).unwrap();
        assert_eq!((a2, w2), (arch, w));
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(load(&p).unwrap_err().to_string().contains("truncated"));
        std::fs::remove_file(&p).ok();
    }
}
