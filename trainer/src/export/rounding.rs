//! How the int8 file's weights are rounded to their per-output-channel int8 grid.
//!
//! `nearest` rounds every weight on its own. `gptq` (Frantar et al., "GPTQ: Accurate Post-Training
//! Quantization for Generative Pre-trained Transformers", 2023, Algorithm 1, one row at a time)
//! rounds a filter's weights in order and spreads each one's rounding error over the weights not
//! yet rounded, weighted by the inverse of the Gram matrix of the inputs that filter reads on the
//! calibration photos: the choice that keeps the layer's *output* closest to f32's, where nearest
//! only keeps each weight closest.
//!
//! Both give f32 weights that lie on the grid the exporter stores (`q * scale`, the scale of each
//! row `max |w| / 127` as [`super::onnx::quantize_per_channel`] computes it, and that row's largest
//! weight kept at +-127), so quantising them again gives the same integers; bias correction then
//! compares them with the f32 weights.

use super::onnx::quantize_per_channel;
use crate::model::arch::{Arch, Node, Weights};
use anyhow::{ensure, Result};

/// How the exporter rounds weights to int8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rounding {
    /// Each weight to its nearest int8 step.
    Nearest,
    /// In order, each rounding error compensated on the rest of the filter through the inverse
    /// Gram matrix of its inputs on the calibration photos (GPTQ).
    Gptq,
}

/// Per Conv/Dense layer, in layer order: the sum over calibration positions of `x x^T` per
/// group (`[groups * n * n]`, `n` = one filter's length) and the number of positions, from
/// [`crate::model::net::Net::add_input_grams`].
pub struct Grams {
    pub sums: Vec<Vec<f64>>,
    pub counts: Vec<f64>,
}

/// `w` rounded to its stored int8 grid (as f32 values) in every layer that `quantised(index,
/// node)` says is stored int8; other layers unchanged. `grams` is needed for [`Rounding::Gptq`].
pub fn round(arch: &Arch, w: &Weights, rounding: Rounding, grams: Option<&Grams>, quantised: impl Fn(usize, &Node) -> bool) -> Result<Weights> {
    let layers: Vec<&Node> = arch.nodes.iter().filter(|n| matches!(n, Node::Conv(_) | Node::Dense { .. })).collect();
    ensure!(layers.len() == w.layers.len(), "rounding: {} layers, {} weight sets", layers.len(), w.layers.len());
    let mut out = w.clone();
    for (i, (node, layer)) in layers.iter().zip(out.layers.iter_mut()).enumerate() {
        if !quantised(i, node) {
            continue;
        }
        let rows = layer.shape[0];
        layer.weight = match rounding {
            Rounding::Nearest => on_grid(&layer.weight, rows),
            Rounding::Gptq => {
                let grams = grams.ok_or_else(|| anyhow::anyhow!("GPTQ rounding needs the calibration inputs' Gram matrices"))?;
                let groups = match node {
                    Node::Conv(c) => c.groups,
                    _ => 1,
                };
                let n = layer.weight.len() / rows;
                let (sum, count) = (&grams.sums[i], grams.counts[i]);
                ensure!(sum.len() == groups * n * n, "rounding: layer {i} {:?}: Gram matrices of {} values, want {groups} x {n} x {n}", layer.shape, sum.len());
                let per_group = rows / groups;
                let mut rounded = Vec::with_capacity(layer.weight.len());
                for g in 0..groups {
                    let h: Vec<f64> = sum[g * n * n..(g + 1) * n * n].iter().map(|v| v / count.max(1.0)).collect();
                    rounded.extend(gptq(&layer.weight[g * per_group * n..(g + 1) * per_group * n], n, &h)?);
                }
                rounded
            }
        };
    }
    Ok(out)
}

/// Each row of `w` (`rows` rows) rounded to nearest on its own grid, as f32.
pub fn on_grid(w: &[f32], rows: usize) -> Vec<f32> {
    let (q, scales) = quantize_per_channel(w, rows);
    let per = w.len() / rows;
    q.iter().enumerate().map(|(i, &v)| v as f32 * scales[i / per]).collect()
}

/// GPTQ on the rows (each `n` long) of `w`, which all read inputs with second moment `h`
/// (`n x n`, row-major, the mean of `x x^T`). Returns the rounded rows as f32 on each row's grid.
pub fn gptq(w: &[f32], n: usize, h: &[f64]) -> Result<Vec<f32>> {
    let u = inverse_cholesky_upper(h, n)?;
    let (_, scales) = quantize_per_channel(w, w.len() / n);
    let mut out = Vec::with_capacity(w.len());
    for (row, &s) in w.chunks(n).zip(&scales) {
        if row.iter().all(|&v| v == 0.0) {
            // Nothing to round (and no largest weight to pin): a dead filter stays zero.
            out.extend(row);
            continue;
        }
        // The row's largest weight stays at +-127 steps, so the grid (the scale) is the one
        // quantising the result again finds.
        let top = row.iter().enumerate().fold((0, 0.0f32), |(bi, bv), (i, v)| if v.abs() > bv { (i, v.abs()) } else { (bi, bv) }).0;
        let mut r: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let s = s as f64;
        for i in 0..n {
            let q = if i == top { 127.0 * row[top].signum() as f64 } else { (r[i] / s).round().clamp(-127.0, 127.0) };
            let err = (r[i] - q * s) / u[i * n + i];
            r[i] = q * s;
            for (rj, uij) in r[i + 1..].iter_mut().zip(&u[i * n + i + 1..(i + 1) * n]) {
                *rj -= err * uij;
            }
        }
        out.extend(r.iter().map(|&v| v as f32));
    }
    Ok(out)
}

/// The upper Cholesky factor `U` of `(h + damping)^-1` (`U^T U`), row-major: row `i` right of
/// the diagonal is how the rounding error of weight `i` moves the later ones. A dead input (zero
/// second moment) gets a unit one; the damping is 1% of the mean diagonal, as GPTQ's.
fn inverse_cholesky_upper(h: &[f64], n: usize) -> Result<Vec<f64>> {
    ensure!(h.len() == n * n, "Gram matrix of {} values for filters of {n}", h.len());
    let mut a = h.to_vec();
    let mean_diag = (0..n).map(|i| a[i * n + i]).sum::<f64>() / n as f64;
    let damp = 0.01 * if mean_diag > 0.0 { mean_diag } else { 1.0 };
    for i in 0..n {
        if a[i * n + i] <= 0.0 {
            a[i * n + i] = 1.0;
        }
        a[i * n + i] += damp;
    }
    // h = L L^T, then h^-1 = L^-T L^-1.
    let l = cholesky_lower(&a, n)?;
    let mut linv = vec![0.0; n * n];
    for c in 0..n {
        // Column c of L^-1 by forward substitution on e_c.
        linv[c * n + c] = 1.0 / l[c * n + c];
        for r in c + 1..n {
            let s: f64 = (c..r).map(|k| l[r * n + k] * linv[k * n + c]).sum();
            linv[r * n + c] = -s / l[r * n + r];
        }
    }
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            // (L^-T L^-1)[i][j] = sum_k L^-1[k][i] L^-1[k][j], k >= max(i, j) = i.
            let v: f64 = (i..n).map(|k| linv[k * n + i] * linv[k * n + j]).sum();
            inv[i * n + j] = v;
            inv[j * n + i] = v;
        }
    }
    // h^-1 = M M^T with M lower; U = M^T.
    let m = cholesky_lower(&inv, n)?;
    let mut u = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            u[i * n + j] = m[j * n + i];
        }
    }
    Ok(u)
}

/// `L` lower triangular with `a = L L^T` (row-major); an error when `a` is not positive definite.
fn cholesky_lower(a: &[f64], n: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                ensure!(d > 0.0, "Gram matrix not positive definite at {i} of {n}");
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no `rand` in this crate's dev path).
    fn noise(seed: u64, len: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn cholesky_inverse_factor_multiplies_back_to_the_damped_inverse() {
        let n = 5;
        let x = noise(3, 40 * n);
        let mut h = vec![0.0f64; n * n];
        for v in x.chunks(n) {
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += (v[i] * v[j]) as f64 / 40.0;
                }
            }
        }
        let u = inverse_cholesky_upper(&h, n).unwrap();
        // (U^T U) (h + damping) = I.
        let damp = 0.01 * (0..n).map(|i| h[i * n + i]).sum::<f64>() / n as f64;
        for i in 0..n {
            for j in 0..n {
                let v: f64 = (0..n).map(|k| (0..n).map(|m| u[m * n + i] * u[m * n + k]).sum::<f64>() * (h[k * n + j] + if k == j { damp } else { 0.0 })).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9, "[{i}][{j}] = {v}");
            }
            assert!((0..i).all(|j| u[i * n + j] == 0.0), "U not upper triangular");
        }
    }

    /// On correlated inputs, GPTQ's rows give a smaller output error than rounding to nearest,
    /// stay on the grid the exporter stores (quantising them again changes nothing), and keep
    /// each row's largest weight at 127 steps.
    #[test]
    fn gptq_beats_nearest_on_the_output_and_stays_on_the_stored_grid() {
        let (n, rows, samples) = (24, 6, 400);
        // Inputs with a shared component (correlated, as a convolution's neighbouring taps are).
        let base = noise(1, samples);
        let own = noise(2, samples * n);
        let x: Vec<f32> = (0..samples * n).map(|i| base[i / n] + 0.3 * own[i] + 0.5).collect();
        let mut h = vec![0.0f64; n * n];
        for v in x.chunks(n) {
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += (v[i] * v[j]) as f64 / samples as f64;
                }
            }
        }
        let w: Vec<f32> = noise(4, rows * n).iter().map(|v| v * 0.2).collect();
        let near = on_grid(&w, rows);
        let g = gptq(&w, n, &h).unwrap();
        let err = |r: &[f32]| -> f64 { x.chunks(n).map(|v| (0..rows).map(|o| (0..n).map(|i| ((r[o * n + i] - w[o * n + i]) * v[i]) as f64).sum::<f64>().powi(2)).sum::<f64>()).sum() };
        assert!(err(&g) < 0.7 * err(&near), "GPTQ output error {} vs nearest {}", err(&g), err(&near));
        for (rounded, name) in [(&g, "gptq"), (&near, "nearest")] {
            let (q, s) = quantize_per_channel(rounded, rows);
            let back: Vec<f32> = q.iter().enumerate().map(|(i, &v)| v as f32 * s[i / n]).collect();
            for (a, b) in back.iter().zip(rounded.iter()) {
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{name}: {b} is not on its grid ({a})");
            }
            assert!(q.chunks(n).all(|r| r.iter().any(|v| v.unsigned_abs() == 127)), "{name}: a row lost its 127");
            let (_, s0) = quantize_per_channel(&w, rows);
            assert!(s.iter().zip(&s0).all(|(a, b)| (a - b).abs() <= 1e-6 * b), "{name}: scales moved");
        }
    }

    /// A filter of zeros stays zeros (there is no largest weight to keep at 127 steps).
    #[test]
    fn a_zero_filter_stays_zero() {
        let n = 4;
        let h: Vec<f64> = (0..n * n).map(|i| if i % (n + 1) == 0 { 2.0 } else { 0.5 }).collect();
        let w = [0.0, 0.0, 0.0, 0.0, 0.3, -0.2, 0.05, 0.1];
        let g = gptq(&w, n, &h).unwrap();
        assert_eq!(&g[..4], &[0.0; 4]);
        assert!(g[4..].iter().any(|&v| v != 0.0));
    }

    /// A depthwise layer: each channel's filter is rounded with its own group's Gram matrix,
    /// and a layer the exporter keeps f32 is untouched.
    #[test]
    fn round_uses_each_groups_gram_and_skips_f32_layers() {
        use crate::model::arch::{Act, ConvSpec, Family, Layer};
        let conv = ConvSpec { cin: 2, cout: 2, kernel: 2, stride: 1, groups: 2, pad: [0; 4], act: Act::None };
        let arch = Arch { nodes: vec![Node::Conv(conv)], family: Family::SeedCnn, input_size: 4, head_start: 1 };
        let weight = vec![0.3, 0.011, -0.5, 0.25, 0.9, -0.0133, 0.4, 0.2];
        let w = Weights { layers: vec![Layer { shape: vec![2, 1, 2, 2], weight: weight.clone(), bias: vec![0.0, 0.0] }] };
        // Group 0 sees independent inputs (GPTQ = nearest); group 1 strongly correlated ones.
        let mut sums = vec![0.0f64; 2 * 16];
        for i in 0..4 {
            sums[i * 4 + i] = 10.0;
            for j in 0..4 {
                sums[16 + i * 4 + j] = if i == j { 10.0 } else { 9.5 };
            }
        }
        let grams = Grams { sums: vec![sums], counts: vec![10.0] };
        let g = round(&arch, &w, Rounding::Gptq, Some(&grams), |_, _| true).unwrap();
        let near = on_grid(&weight, 2);
        assert_eq!(&g.layers[0].weight[..4], &near[..4]);
        let sum = |r: &[f32]| r.iter().map(|&v| v as f64).sum::<f64>();
        // Correlated inputs: what matters is the filter's sum, which GPTQ keeps closer.
        assert!((sum(&g.layers[0].weight[4..]) - sum(&weight[4..])).abs() <= (sum(&near[4..]) - sum(&weight[4..])).abs() + 1e-9);
        assert_eq!(round(&arch, &w, Rounding::Gptq, Some(&grams), |_, _| false).unwrap().layers[0].weight, weight);
        assert!(round(&arch, &w, Rounding::Gptq, None, |_, _| true).is_err());
    }
}
