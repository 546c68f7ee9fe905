//! The int8 1x1 convolution itself, on plain slices: `y = relu6?(s_x * s_w[o] * (W_q x_q)[o] + b[o])`.
//!
//! - Weights: symmetric int8, one scale per output channel (`s_w[o] = max|w[o]| / 127`). A model
//!   whose weights were stored that way (the int8 export) gets back exactly its stored integers.
//! - Input: symmetric int8 with one scale per call (`s_x = max|x| / 127`), found on the input
//!   itself ("dynamic" quantisation: no calibrated range to go stale on camera pictures).
//! - Accumulation in int32, exact; the output stays f32 (no requantisation error), with the bias
//!   and an optional ReLU6 applied in the same pass.
//!
//! Both operands are packed so that the reduction runs over groups of 4 input channels held in
//! one 32-bit lane: the layout of the aarch64 `sdot` instruction (16 multiply-adds each, on
//! CPUs with the dot-product extension: Cortex-A76 / Raspberry Pi 5). One tile is [`TILE_O`]
//! outputs x [`TILE_P`] pixels; the portable path computes the same integers with plain loops,
//! so every path gives the same bits.

/// Output channels per tile (two vectors of 4 lanes of packed weights).
pub const TILE_O: usize = 8;
/// Pixels per tile (two vectors of 4 pixels x 4 channels of packed input).
pub const TILE_P: usize = 8;

/// Where the channels are in the input and output: `[C, P]` (channels first) or `[P, C]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    ChannelsFirst,
    ChannelsLast,
}

/// One 1x1 convolution, weights packed for the tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    in_c: usize,
    out_c: usize,
    layout: Layout,
    relu6: bool,
    /// Packed int8 weights: per block of [`TILE_O`] outputs, per group of 4 input channels, the
    /// 8 outputs' 4 channels (32 bytes).
    w: Vec<i8>,
    /// Per output channel (padded to whole tiles with 0).
    w_scale: Vec<f32>,
    bias: Vec<f32>,
}

impl Layer {
    /// From f32 weights `[out_c, in_c]` (row per output channel), quantised per output channel.
    pub fn new(in_c: usize, out_c: usize, layout: Layout, weights: &[f32], bias: &[f32], relu6: bool) -> Layer {
        assert!(in_c > 0 && out_c > 0 && weights.len() == in_c * out_c && bias.len() == out_c, "pointwise layer {in_c} -> {out_c}: {} weights, {} biases", weights.len(), bias.len());
        let (kc, oc) = (in_c.div_ceil(4) * 4, out_c.div_ceil(TILE_O) * TILE_O);
        let mut q = vec![0i8; oc * kc];
        let mut w_scale = vec![0.0; oc];
        for o in 0..out_c {
            let row = &weights[o * in_c..(o + 1) * in_c];
            let m = row.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let s = if m > 0.0 { m / 127.0 } else { 1.0 };
            w_scale[o] = if m > 0.0 { s } else { 0.0 };
            let (ob, lane) = (o / TILE_O, o % TILE_O);
            for (i, v) in row.iter().enumerate() {
                let (g, k) = (i / 4, i % 4);
                q[(ob * (kc / 4) + g) * TILE_O * 4 + lane * 4 + k] = (v / s).round().clamp(-127.0, 127.0) as i8;
            }
        }
        let mut b = bias.to_vec();
        b.resize(oc, 0.0);
        Layer { in_c, out_c, layout, relu6, w: q, w_scale, bias: b }
    }

    pub fn in_channels(&self) -> usize {
        self.in_c
    }
    pub fn out_channels(&self) -> usize {
        self.out_c
    }
    pub fn layout(&self) -> Layout {
        self.layout
    }
    pub fn relu6(&self) -> bool {
        self.relu6
    }

    /// Input channels rounded up to the 4 of one `sdot` lane.
    fn groups(&self) -> usize {
        self.in_c.div_ceil(4)
    }

    /// Bytes of scratch [`run`](Self::run) needs for `pixels` pixels.
    pub fn scratch_len(&self, pixels: usize) -> usize {
        pixels.div_ceil(TILE_P) * TILE_P * self.groups() * 4
    }

    /// `x`: `pixels x in_c` values in the layer's layout; `out`: `pixels x out_c`, every value
    /// written. `scratch` is resized as needed and may be reused across calls.
    pub fn run(&self, x: &[f32], pixels: usize, out: &mut [f32], scratch: &mut Vec<i8>) {
        assert!(x.len() == pixels * self.in_c && out.len() == pixels * self.out_c, "pointwise {} -> {} on {pixels} pixels: {} in, {} out", self.in_c, self.out_c, x.len(), out.len());
        if pixels == 0 {
            return;
        }
        let x_scale = self.pack_input(x, pixels, scratch);
        let kg = self.groups();
        let mut acc = [[0i32; 4]; 16];
        for pb in 0..pixels.div_ceil(TILE_P) {
            let xt = &scratch[pb * TILE_P * kg * 4..(pb + 1) * TILE_P * kg * 4];
            for ob in 0..self.out_c.div_ceil(TILE_O) {
                let wt = &self.w[ob * kg * TILE_O * 4..(ob + 1) * kg * TILE_O * 4];
                tile(wt, xt, kg, &mut acc);
                self.store(&acc, ob, pb, pixels, x_scale, out);
            }
        }
    }

    /// Quantises `x` with one symmetric scale into `scratch`, packed per tile of [`TILE_P`]
    /// pixels: per group of 4 channels, each pixel's 4 values. Returns the scale.
    fn pack_input(&self, x: &[f32], pixels: usize, scratch: &mut Vec<i8>) -> f32 {
        let m = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        // A NaN or infinite input would have no scale: let it through as zeros (f32 tract would
        // propagate it; the classifier checks its outputs).
        let (scale, inv) = if m > 0.0 && m.is_finite() { (m / 127.0, 127.0 / m) } else { (0.0, 0.0) };
        let kg = self.groups();
        scratch.clear();
        scratch.resize(self.scratch_len(pixels), 0);
        let q = |v: f32| (v * inv).round().clamp(-127.0, 127.0) as i8;
        match self.layout {
            Layout::ChannelsFirst => {
                for c in 0..self.in_c {
                    let (g, k) = (c / 4, c % 4);
                    for (p, &v) in x[c * pixels..(c + 1) * pixels].iter().enumerate() {
                        let (pb, j) = (p / TILE_P, p % TILE_P);
                        scratch[((pb * kg + g) * TILE_P + j) * 4 + k] = q(v);
                    }
                }
            }
            Layout::ChannelsLast => {
                for (p, px) in x.chunks_exact(self.in_c).enumerate() {
                    let (pb, j) = (p / TILE_P, p % TILE_P);
                    for (c, &v) in px.iter().enumerate() {
                        scratch[((pb * kg + c / 4) * TILE_P + j) * 4 + c % 4] = q(v);
                    }
                }
            }
        }
        scale
    }

    /// Writes one tile's accumulators: `acc[o * 2 + h]` holds output `ob * 8 + o` for pixels
    /// `pb * 8 + h * 4 ..+ 4`.
    fn store(&self, acc: &[[i32; 4]; 16], ob: usize, pb: usize, pixels: usize, x_scale: f32, out: &mut [f32]) {
        for o in 0..TILE_O {
            let oc = ob * TILE_O + o;
            if oc >= self.out_c {
                break;
            }
            let (s, b) = (x_scale * self.w_scale[oc], self.bias[oc]);
            for j in 0..TILE_P {
                let p = pb * TILE_P + j;
                if p >= pixels {
                    break;
                }
                let mut y = acc[o * 2 + j / 4][j % 4] as f32 * s + b;
                if self.relu6 {
                    y = y.clamp(0.0, 6.0);
                }
                let at = match self.layout {
                    Layout::ChannelsFirst => oc * pixels + p,
                    Layout::ChannelsLast => p * self.out_c + oc,
                };
                out[at] = y;
            }
        }
    }
}

/// One tile: `acc[o * 2 + h][l] = sum over groups g and k < 4 of w[g][o][k] * x[g][h * 4 + l][k]`.
fn tile(w: &[i8], x: &[i8], groups: usize, acc: &mut [[i32; 4]; 16]) {
    #[cfg(target_arch = "aarch64")]
    {
        if has_dot_product() {
            // SAFETY: the CPU has the dot-product extension (checked above); `w` and `x` hold
            // `groups` blocks of 32 bytes each (asserted by the callers' slicing).
            unsafe { tile_sdot(w, x, groups, acc) };
            return;
        }
    }
    tile_portable(w, x, groups, acc)
}

fn tile_portable(w: &[i8], x: &[i8], groups: usize, acc: &mut [[i32; 4]; 16]) {
    *acc = [[0; 4]; 16];
    for g in 0..groups {
        let (wg, xg) = (&w[g * 32..g * 32 + 32], &x[g * 32..g * 32 + 32]);
        for o in 0..TILE_O {
            let wo = &wg[o * 4..o * 4 + 4];
            for j in 0..TILE_P {
                let xj = &xg[j * 4..j * 4 + 4];
                let d: i32 = (0..4).map(|k| wo[k] as i32 * xj[k] as i32).sum();
                acc[o * 2 + j / 4][j % 4] += d;
            }
        }
    }
}

/// The tile with `sdot`: 2 loads and 16 dot products (256 multiply-adds) per group of 4 channels.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "dotprod")]
unsafe fn tile_sdot(w: &[i8], x: &[i8], groups: usize, acc: &mut [[i32; 4]; 16]) {
    assert!(groups > 0 && w.len() >= groups * 32 && x.len() >= groups * 32);
    // v0, v1: outputs 0-3 and 4-7, 4 channels each; v2, v3: pixels 0-3 and 4-7, 4 channels each.
    // Accumulator v(16 + 2o + h): output o, pixels 4h..4h+4.
    core::arch::asm!(
        "movi v16.4s, #0", "movi v17.4s, #0", "movi v18.4s, #0", "movi v19.4s, #0",
        "movi v20.4s, #0", "movi v21.4s, #0", "movi v22.4s, #0", "movi v23.4s, #0",
        "movi v24.4s, #0", "movi v25.4s, #0", "movi v26.4s, #0", "movi v27.4s, #0",
        "movi v28.4s, #0", "movi v29.4s, #0", "movi v30.4s, #0", "movi v31.4s, #0",
        "2:",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1 {{v2.16b, v3.16b}}, [{x}], #32",
        "sdot v16.4s, v2.16b, v0.4b[0]", "sdot v17.4s, v3.16b, v0.4b[0]",
        "sdot v18.4s, v2.16b, v0.4b[1]", "sdot v19.4s, v3.16b, v0.4b[1]",
        "sdot v20.4s, v2.16b, v0.4b[2]", "sdot v21.4s, v3.16b, v0.4b[2]",
        "sdot v22.4s, v2.16b, v0.4b[3]", "sdot v23.4s, v3.16b, v0.4b[3]",
        "sdot v24.4s, v2.16b, v1.4b[0]", "sdot v25.4s, v3.16b, v1.4b[0]",
        "sdot v26.4s, v2.16b, v1.4b[1]", "sdot v27.4s, v3.16b, v1.4b[1]",
        "sdot v28.4s, v2.16b, v1.4b[2]", "sdot v29.4s, v3.16b, v1.4b[2]",
        "sdot v30.4s, v2.16b, v1.4b[3]", "sdot v31.4s, v3.16b, v1.4b[3]",
        "subs {n}, {n}, #1",
        "b.ne 2b",
        "st1 {{v16.4s, v17.4s, v18.4s, v19.4s}}, [{acc}], #64",
        "st1 {{v20.4s, v21.4s, v22.4s, v23.4s}}, [{acc}], #64",
        "st1 {{v24.4s, v25.4s, v26.4s, v27.4s}}, [{acc}], #64",
        "st1 {{v28.4s, v29.4s, v30.4s, v31.4s}}, [{acc}], #64",
        w = inout(reg) w.as_ptr() => _,
        x = inout(reg) x.as_ptr() => _,
        n = inout(reg) groups => _,
        acc = inout(reg) acc.as_mut_ptr() => _,
        out("v0") _, out("v1") _, out("v2") _, out("v3") _,
        out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
        out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
        options(nostack),
    );
}

/// Whether this CPU runs the `sdot` tile (aarch64 with the dot-product extension: Cortex-A76 /
/// Raspberry Pi 5, not the Pi 4's Cortex-A72).
pub fn has_dot_product() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        false
    }
}

/// Which tile runs here, for `petcam info` and the logs.
pub fn variant() -> &'static str {
    if has_dot_product() {
        "aarch64 sdot"
    } else {
        "portable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 20001) as f32 / 10000.0 - 1.0
            })
            .collect()
    }

    /// The textbook f32 1x1 convolution, channels first.
    fn reference(x: &[f32], w: &[f32], b: &[f32], in_c: usize, out_c: usize, pixels: usize, relu6: bool) -> Vec<f32> {
        let mut y = vec![0.0; out_c * pixels];
        for o in 0..out_c {
            for p in 0..pixels {
                let mut s = b[o];
                for i in 0..in_c {
                    s += w[o * in_c + i] * x[i * pixels + p];
                }
                y[o * pixels + p] = if relu6 { s.clamp(0.0, 6.0) } else { s };
            }
        }
        y
    }

    fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols).flat_map(|c| (0..rows).map(move |r| (r, c))).map(|(r, c)| v[r * cols + c]).collect()
    }

    #[test]
    fn it_matches_f32_within_the_quantisation_error_for_every_shape_and_layout() {
        // Shapes of EfficientNet-Lite0's 1x1 layers at 96 px, and odd ones (channels not a
        // multiple of 4, outputs not of 8, pixels not of 8, a single pixel).
        for &(in_c, out_c, pixels) in &[(32, 16, 2304), (16, 96, 2304), (24, 144, 576), (192, 1152, 9), (320, 1280, 9), (3, 5, 7), (5, 9, 1), (7, 17, 13), (1, 1, 1)] {
            for relu6 in [false, true] {
                let x: Vec<f32> = values(in_c * pixels, 1).iter().map(|v| 3.0 * v).collect();
                let w = values(in_c * out_c, 2);
                let b = values(out_c, 3);
                let want = reference(&x, &w, &b, in_c, out_c, pixels, relu6);
                // Each product's error is at most half a step of either operand: bound the sum.
                let (sx, sw) = (3.0 / 127.0, 1.0 / 127.0);
                let tol = in_c as f32 * (0.5 * sx * 1.0 + 0.5 * sw * 3.0 + 0.25 * sx * sw) + 1e-4;
                let mut scratch = vec![];
                let cf = Layer::new(in_c, out_c, Layout::ChannelsFirst, &w, &b, relu6);
                let mut got = vec![f32::NAN; out_c * pixels];
                cf.run(&x, pixels, &mut got, &mut scratch);
                let worst = want.iter().zip(&got).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(worst <= tol, "{in_c}->{out_c} x {pixels}, relu6 {relu6}: off by {worst} (bound {tol})");
                // Channels last: the same numbers, transposed.
                let cl = Layer::new(in_c, out_c, Layout::ChannelsLast, &w, &b, relu6);
                let mut got_cl = vec![f32::NAN; out_c * pixels];
                cl.run(&transpose(&x, in_c, pixels), pixels, &mut got_cl, &mut scratch);
                assert_eq!(got_cl, transpose(&got, out_c, pixels), "{in_c}->{out_c} x {pixels}: layouts disagree");
            }
        }
    }

    #[test]
    fn int8_weights_come_back_exactly_and_integers_accumulate_exactly() {
        // Weights that are int8 times a per-channel scale (each row reaching 127, as the int8
        // export stores them) and an input on the int8 grid of its own maximum: the integers are
        // recovered and accumulate exactly, so only the final f32 scaling rounds.
        let (in_c, out_c, pixels) = (12, 8, 10);
        let scales: Vec<f32> = (0..out_c).map(|o| 0.01 * (o + 1) as f32).collect();
        let wq: Vec<i32> = (0..in_c * out_c).map(|i| if i % in_c == 0 { 127 } else { (i as i32 * 37 % 255) - 127 }).collect();
        let w: Vec<f32> = wq.iter().enumerate().map(|(i, &q)| q as f32 * scales[i / in_c]).collect();
        let xq: Vec<i32> = (0..in_c * pixels).map(|i| if i == 0 { -127 } else { (i as i32 * 53 % 255) - 127 }).collect();
        let x: Vec<f32> = xq.iter().map(|&q| q as f32 * 0.5).collect();
        let layer = Layer::new(in_c, out_c, Layout::ChannelsFirst, &w, &vec![0.0; out_c], false);
        let mut got = vec![0.0; out_c * pixels];
        layer.run(&x, pixels, &mut got, &mut vec![]);
        for o in 0..out_c {
            for p in 0..pixels {
                let dot: i32 = (0..in_c).map(|i| wq[o * in_c + i] * xq[i * pixels + p]).sum();
                let want = dot as f32 * 0.5 * scales[o];
                let got = got[o * pixels + p];
                assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "o {o} p {p}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn zero_and_non_finite_inputs_give_the_bias() {
        let layer = Layer::new(4, 3, Layout::ChannelsFirst, &values(12, 4), &[1.0, -2.0, 7.5], true);
        for v in [0.0, f32::NAN, f32::INFINITY] {
            let mut out = vec![f32::NAN; 6];
            layer.run(&[v; 8], 2, &mut out, &mut vec![]);
            assert_eq!(out, [1.0, 1.0, 0.0, 0.0, 6.0, 6.0], "input {v}");
        }
    }

    #[test]
    fn the_sdot_tile_and_the_portable_one_agree() {
        // On a CPU with dot product both run; elsewhere this checks the portable tile against
        // itself through `tile`, which is what runs there.
        let groups = 5;
        let w: Vec<i8> = (0..groups * 32).map(|i| ((i * 73) % 255) as i32 - 127).map(|v| v as i8).collect();
        let x: Vec<i8> = (0..groups * 32).map(|i| ((i * 31) % 255) as i32 - 127).map(|v| v as i8).collect();
        let (mut a, mut b) = ([[0; 4]; 16], [[1; 4]; 16]);
        tile_portable(&w, &x, groups, &mut a);
        tile(&w, &x, groups, &mut b);
        assert_eq!(a, b, "tile variant {}", variant());
        assert_ne!(a, [[0; 4]; 16]);
    }
}
