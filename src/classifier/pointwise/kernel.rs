//! The int8 1x1 convolution itself, on plain slices: `y = relu6?(s_x * s_w[o] * (W_q x_q)[o] + b[o])`.
//!
//! - Weights: symmetric int8, one scale per output channel (`s_w[o] = max|w[o]| / 127`). A model
//!   whose weights were stored that way (the int8 export) gets back exactly its stored integers.
//! - Input: asymmetric int8 with one scale and zero point per call, over the input's own range
//!   (with 0 in it): `x = s_x (q - z)`, all 256 levels used whether the input is a ReLU6 output
//!   (`[0, 6]`) or a signed residual. "Dynamic" quantisation: no calibrated range to go stale on
//!   camera pictures.
//! - Accumulation in int32, exact, then `- z * sum(w_q[o])` (precomputed); the output stays f32
//!   (no requantisation error), with the bias and an optional ReLU6 applied in the same pass.
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
    /// Where the channels are in the input and in the output (they may differ: tract's graph
    /// changes layout inside an `EinSum`).
    layout: (Layout, Layout),
    relu6: bool,
    /// Clamp the input to `[0, 6]` before quantising it: the ReLU6 of the layer before, taken
    /// into this one (no separate pass over the tensor).
    input_relu6: bool,
    /// Whether quantising the f32 weights lost nothing: they were int8 times a scale per output
    /// channel already (an int8 file's dequantised weights).
    exact: bool,
    /// Packed int8 weights: per block of [`TILE_O`] outputs, per group of 4 input channels, the
    /// 8 outputs' 4 channels (32 bytes).
    w: Vec<i8>,
    /// Per output channel (padded to whole tiles with 0).
    w_scale: Vec<f32>,
    /// Sum of each output channel's int8 weights, for the input's zero point.
    w_sum: Vec<i32>,
    bias: Vec<f32>,
}

impl Layer {
    /// From f32 weights `[out_c, in_c]` (row per output channel), quantised per output channel.
    pub fn new(in_c: usize, out_c: usize, layout: (Layout, Layout), weights: &[f32], bias: &[f32], relu6: bool) -> Layer {
        assert!(in_c > 0 && out_c > 0 && weights.len() == in_c * out_c && bias.len() == out_c, "pointwise layer {in_c} -> {out_c}: {} weights, {} biases", weights.len(), bias.len());
        let (kc, oc) = (in_c.div_ceil(4) * 4, out_c.div_ceil(TILE_O) * TILE_O);
        let mut q = vec![0i8; oc * kc];
        let mut exact = true;
        let mut w_scale = vec![0.0; oc];
        for o in 0..out_c {
            let row = &weights[o * in_c..(o + 1) * in_c];
            let m = row.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let s = if m > 0.0 { m / 127.0 } else { 1.0 };
            w_scale[o] = if m > 0.0 { s } else { 0.0 };
            let (ob, lane) = (o / TILE_O, o % TILE_O);
            for (i, v) in row.iter().enumerate() {
                let (g, k) = (i / 4, i % 4);
                // A dequantised int8 weight comes back within about 3e-5 of its integer.
                exact &= ((v / s).round() - v / s).abs() <= 1e-3;
                q[(ob * (kc / 4) + g) * TILE_O * 4 + lane * 4 + k] = (v / s).round().clamp(-127.0, 127.0) as i8;
            }
        }
        let mut b = bias.to_vec();
        b.resize(oc, 0.0);
        let mut w_sum = vec![0i32; oc];
        for (k, &v) in q.iter().enumerate() {
            // Index (ob * groups + g) * 32 + lane * 4 + k: output ob * 8 + lane.
            let (block, lane) = (k / 32, (k % 32) / 4);
            w_sum[(block / (kc / 4)) * TILE_O + lane] += v as i32;
        }
        Layer { in_c, out_c, layout, relu6, input_relu6: false, exact, w: q, w_scale, w_sum, bias: b }
    }

    /// The same layer reading `relu6(x)` instead of `x`.
    pub fn with_input_relu6(self) -> Layer {
        Layer { input_relu6: true, ..self }
    }

    /// Whether the f32 weights it was made from were int8 times a scale per output channel, so
    /// that its int8 weights are exactly them.
    pub fn weights_were_int8(&self) -> bool {
        self.exact
    }

    /// Whether the input is clamped to `[0, 6]` first.
    pub fn input_relu6(&self) -> bool {
        self.input_relu6
    }

    pub fn in_channels(&self) -> usize {
        self.in_c
    }
    pub fn out_channels(&self) -> usize {
        self.out_c
    }
    /// (input, output) layouts.
    pub fn layout(&self) -> (Layout, Layout) {
        self.layout
    }
    pub fn relu6(&self) -> bool {
        self.relu6
    }

    /// The output's bounds: `[0, 6]` with the ReLU6, none without.
    fn clamp(&self) -> (f32, f32) {
        if self.relu6 {
            (0.0, 6.0)
        } else {
            (f32::NEG_INFINITY, f32::INFINITY)
        }
    }

    /// Input channels rounded up to the 4 of one `sdot` lane.
    fn groups(&self) -> usize {
        self.in_c.div_ceil(4)
    }

    /// Bytes of scratch [`run`](Self::run) needs for `pixels` pixels.
    pub fn scratch_len(&self, pixels: usize) -> usize {
        pixels.div_ceil(TILE_P) * TILE_P * self.groups() * 4
    }

    /// `x`: `pixels x in_c` values in the layer's input layout; `out`: `pixels x out_c` in its
    /// output layout, every value written. `scratch` is resized as needed and may be reused.
    pub fn run(&self, x: &[f32], pixels: usize, out: &mut [f32], scratch: &mut Vec<i8>) {
        assert!(x.len() == pixels * self.in_c && out.len() == pixels * self.out_c, "pointwise {} -> {} on {pixels} pixels: {} in, {} out", self.in_c, self.out_c, x.len(), out.len());
        if pixels == 0 {
            return;
        }
        let (x_scale, x_zero) = self.pack_input(x, pixels, scratch);
        // Per output channel: the scale from int32 to f32, and the zero point's share.
        let scale: Vec<f32> = self.w_scale.iter().map(|w| x_scale * w).collect();
        let zw: Vec<i32> = self.w_sum.iter().map(|w| x_zero * w).collect();
        let order = match self.layout.1 {
            Layout::ChannelsFirst => Order::PixelsInner,
            Layout::ChannelsLast => Order::OutputsInner,
        };
        let dot = has_dot_product();
        // The accumulators' start for the fused tiles: the zero point's share taken off.
        #[cfg(target_arch = "aarch64")]
        let neg_zw: Vec<i32> = zw.iter().map(|z| z.wrapping_neg()).collect();
        #[cfg(target_arch = "aarch64")]
        let clamp = self.clamp();
        let kg = self.groups();
        let mut acc = [0i32; TILE_O * TILE_P];
        for pb in 0..pixels.div_ceil(TILE_P) {
            let xt = &scratch[pb * TILE_P * kg * 4..(pb + 1) * TILE_P * kg * 4];
            // A last block of at most 4 pixels (9 = 8 + 1 at the end of the network, 36 = 32 + 4)
            // runs the half tile: 8 dot products per group instead of 16; a last block of one
            // pixel (9 = 8 + 1), the one-pixel tile: 2.
            let width = match pixels - pb * TILE_P {
                1 => Width::One,
                n if n <= TILE_P / 2 => Width::Half,
                _ => Width::Whole,
            };
            // Whole tiles finish in registers (aarch64, with the dot product or without): every
            // output block but a partial last one, when this pixel block is whole.
            #[cfg_attr(not(target_arch = "aarch64"), allow(unused_mut))]
            let mut first = 0;
            #[cfg(target_arch = "aarch64")]
            if pixels - pb * TILE_P >= TILE_P {
                first = self.out_c / TILE_O;
                // SAFETY: `dot` only where the CPU has the dot product; pixel block `pb` is whole;
                // `neg_zw` and `scale` have one value per (padded) output channel (checked inside).
                unsafe { self.fused_tiles(xt, pb * TILE_P, pixels, (&neg_zw, &scale, clamp), dot, out) };
            }
            for ob in first..self.out_c.div_ceil(TILE_O) {
                let wt = &self.w[ob * kg * TILE_O * 4..(ob + 1) * kg * TILE_O * 4];
                let strides = tile(wt, xt, kg, (order, width), dot, &mut acc);
                self.store(&acc, strides, (ob, pb), pixels, (&scale, &zw), out);
            }
        }
    }

    /// The whole output blocks of pixel block `p0..p0 + 8` (which must be whole), each tile
    /// finished in registers: pointers stepped per block, no slicing or bounds checks inside
    /// the loop (it ran 70 instructions per tile of bookkeeping in Rust).
    ///
    /// # Safety
    /// `dot` only where the CPU has the dot product (the `sdot` tiles; else two halves of 4
    /// outputs on the `smull` tiles).
    #[cfg(target_arch = "aarch64")]
    unsafe fn fused_tiles(&self, xt: &[i8], p0: usize, pixels: usize, (neg_zw, scale, clamp): (&[i32], &[f32], (f32, f32)), dot: bool, out: &mut [f32]) {
        let (kg, blocks) = (self.groups(), self.out_c / TILE_O);
        assert!(p0 + TILE_P <= pixels && out.len() == pixels * self.out_c && xt.len() >= kg * 32);
        assert!(neg_zw.len() >= blocks * TILE_O && scale.len() >= blocks * TILE_O && self.bias.len() >= blocks * TILE_O && self.w.len() >= blocks * kg * 32);
        let (mut o, block_step, stride) = match self.layout.1 {
            Layout::ChannelsFirst => (out.as_mut_ptr().add(p0), TILE_O * pixels, pixels),
            Layout::ChannelsLast => (out.as_mut_ptr().add(p0 * self.out_c), TILE_O, self.out_c),
        };
        let (mut w, mut z, mut s, mut b) = (self.w.as_ptr(), neg_zw.as_ptr(), scale.as_ptr(), self.bias.as_ptr());
        for _ in 0..blocks {
            let p = TileParams { init: z, scale: s, bias: b, clamp };
            // Block `ob`'s weights (`kg` groups of 32 bytes), 8 parameters each, and its 8 rows
            // of 8 outputs (channels first: output rows `pixels` apart from column p0; channels
            // last: pixel rows `out_c` apart from output o0) lie inside the asserted lengths.
            match (dot, self.layout.1) {
                (true, Layout::ChannelsFirst) => tile_sdot_pixels_inner_fused(w, xt.as_ptr(), kg, &p, o, stride),
                (true, Layout::ChannelsLast) => tile_sdot_outputs_inner_fused(w, xt.as_ptr(), kg, &p, o, stride),
                (false, layout) => {
                    // Outputs 4h..4h + 4: weights 16h bytes into each group, parameters 4h on, and
                    // rows (channels first) or columns (channels last) 4h on.
                    for h in 0..2 {
                        let p = TileParams { init: z.add(4 * h), scale: s.add(4 * h), bias: b.add(4 * h), clamp };
                        match layout {
                            Layout::ChannelsFirst => tile_smull_pixels_inner_fused(w.add(16 * h), xt.as_ptr(), kg, &p, o.add(4 * h * stride), stride),
                            Layout::ChannelsLast => tile_smull_outputs_inner_fused(w.add(16 * h), xt.as_ptr(), kg, &p, o.add(4 * h), stride),
                        }
                    }
                }
            }
            w = w.add(kg * 32);
            (z, s, b) = (z.add(TILE_O), s.add(TILE_O), b.add(TILE_O));
            o = o.add(block_step);
        }
    }

    /// Quantises `x` with one scale and zero point into `scratch`, packed per tile of
    /// [`TILE_P`] pixels: per group of 4 channels, each pixel's 4 values. Returns the scale and
    /// the zero point.
    fn pack_input(&self, x: &[f32], pixels: usize, scratch: &mut Vec<i8>) -> (f32, i32) {
        let (lo, hi) = range_with_zero(x);
        // The range of relu6(x): (0, min(hi, 6)), since lo <= 0 <= hi.
        let (lo, hi) = if self.input_relu6 { (0.0, hi.min(6.0)) } else { (lo, hi) };
        // A NaN or infinite input would have no scale: let it through as zeros (f32 tract would
        // propagate it; the classifier checks its outputs).
        let (scale, inv, zero) = if hi > lo && (hi - lo).is_finite() {
            let s = (hi - lo) / 255.0;
            (s, 1.0 / s, (-128.0 - lo / s).round().clamp(-128.0, 127.0))
        } else {
            (0.0, 0.0, 0.0)
        };
        scratch.clear();
        scratch.resize(self.scratch_len(pixels), 0);
        let q = Quantiser { inv, zero: zero as i32, relu6: self.input_relu6 };
        match self.layout.0 {
            Layout::ChannelsFirst => q.pack_channels_first(x, self.in_c, pixels, scratch),
            Layout::ChannelsLast => q.pack_channels_last(x, self.in_c, pixels, scratch),
        }
        (scale, zero as i32)
    }

    /// Writes one tile's accumulators: output `o`, pixel `j` is `acc[o * so + j * sj]`.
    fn store(&self, acc: &[i32; TILE_O * TILE_P], (so, sj): (usize, usize), (ob, pb): (usize, usize), pixels: usize, (scale, zw): (&[f32], &[i32]), out: &mut [f32]) {
        let (o0, p0) = (ob * TILE_O, pb * TILE_P);
        let (m, n) = ((self.out_c - o0).min(TILE_O), (pixels - p0).min(TILE_P));
        let clamp = self.clamp();
        let (s, b, z) = (&scale[o0..o0 + TILE_O], &self.bias[o0..o0 + TILE_O], &zw[o0..o0 + TILE_O]);
        // Rows of 8 contiguous sums go out as 8 contiguous values: each output's 8 pixels
        // (channels first), or each pixel's 8 outputs (channels last).
        let rows = match self.layout.1 {
            Layout::ChannelsFirst if sj == 1 && so == TILE_P && n == TILE_P => Some((m, Params::PerRow(z, s, b), (o0 * pixels + p0, pixels))),
            Layout::ChannelsLast if so == 1 && sj == TILE_O && m == TILE_O => Some((n, Params::PerLane(z, s, b), (p0 * self.out_c + o0, self.out_c))),
            _ => None,
        };
        if let Some((count, params, at)) = rows {
            if epilogue::rows(&acc[..count * 8], params, clamp, out, at) {
                return;
            }
        }
        for o in 0..m {
            for j in 0..n {
                let at = match self.layout.1 {
                    Layout::ChannelsFirst => (o0 + o) * pixels + p0 + j,
                    Layout::ChannelsLast => (p0 + j) * self.out_c + o0 + o,
                };
                out[at] = epilogue::one(acc[o * so + j * sj], z[o], s[o], b[o], clamp);
            }
        }
    }
}

/// The zero-point share, int32-to-f32 scale and bias of a tile's rows of 8 values: one per row
/// (a row is one output's pixels) or one per lane (a row is one pixel's outputs).
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
enum Params<'a> {
    PerRow(&'a [i32], &'a [f32], &'a [f32]),
    PerLane(&'a [i32], &'a [f32], &'a [f32]),
}

/// From int32 sums to the layer's f32 outputs: `clamp((acc - z) * s + b)`, the same IEEE
/// operations (no fused multiply-add) on every path, so every path gives the same bits.
mod epilogue {
    use super::Params;

    pub fn one(acc: i32, z: i32, s: f32, b: f32, (lo, hi): (f32, f32)) -> f32 {
        ((acc - z) as f32 * s + b).max(lo).min(hi)
    }

    /// Rows of 8 sums (`acc`, row `r` at `8 r`) into `out`, row `r` at `start + r * stride`,
    /// with NEON where there is a fast path: whether it wrote them.
    pub fn rows(acc: &[i32], params: Params, clamp: (f32, f32), out: &mut [f32], (start, stride): (usize, usize)) -> bool {
        let count = acc.len() / 8;
        let (Params::PerRow(z, s, b) | Params::PerLane(z, s, b)) = params;
        assert!(acc.len().is_multiple_of(8) && z.len() >= 8 && s.len() >= 8 && b.len() >= 8);
        assert!(count == 0 || (stride >= 8 && start + (count - 1) * stride + 8 <= out.len()), "epilogue rows out of bounds");
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: NEON is part of aarch64; the reads stay in `acc` and the 8 parameters, the
            // writes in `out` (asserted above).
            unsafe { rows_neon(acc, params, clamp, out, (start, stride)) };
            true
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            let _ = (clamp, out, start);
            false
        }
    }

    #[cfg(target_arch = "aarch64")]
    unsafe fn rows_neon(acc: &[i32], params: Params, (lo, hi): (f32, f32), out: &mut [f32], (start, stride): (usize, usize)) {
        use core::arch::aarch64::*;
        let (lo, hi) = (vdupq_n_f32(lo), vdupq_n_f32(hi));
        // maxnm/minnm: `f32::max`/`f32::min`'s treatment of NaN, as in `one`.
        let finish = |v: int32x4_t, z: int32x4_t, s: float32x4_t, b: float32x4_t| vminnmq_f32(vmaxnmq_f32(vaddq_f32(vmulq_f32(vcvtq_f32_s32(vsubq_s32(v, z)), s), b), lo), hi);
        let dst = out.as_mut_ptr().add(start);
        match params {
            Params::PerLane(z, s, b) => {
                let (z0, z1) = (vld1q_s32(z.as_ptr()), vld1q_s32(z.as_ptr().add(4)));
                let (s0, s1) = (vld1q_f32(s.as_ptr()), vld1q_f32(s.as_ptr().add(4)));
                let (b0, b1) = (vld1q_f32(b.as_ptr()), vld1q_f32(b.as_ptr().add(4)));
                for r in 0..acc.len() / 8 {
                    let (a, d) = (acc.as_ptr().add(8 * r), dst.add(r * stride));
                    vst1q_f32(d, finish(vld1q_s32(a), z0, s0, b0));
                    vst1q_f32(d.add(4), finish(vld1q_s32(a.add(4)), z1, s1, b1));
                }
            }
            Params::PerRow(z, s, b) => {
                for r in 0..acc.len() / 8 {
                    let (zr, sr, br) = (vdupq_n_s32(z[r]), vdupq_n_f32(s[r]), vdupq_n_f32(b[r]));
                    let (a, d) = (acc.as_ptr().add(8 * r), dst.add(r * stride));
                    vst1q_f32(d, finish(vld1q_s32(a), zr, sr, br));
                    vst1q_f32(d.add(4), finish(vld1q_s32(a.add(4)), zr, sr, br));
                }
            }
        }
    }
}

/// The least and greatest of `x` and 0, NaNs ignored (as `f32::min`/`f32::max` do).
fn range_with_zero(x: &[f32]) -> (f32, f32) {
    let scalar = |x: &[f32], init: (f32, f32)| x.iter().fold(init, |(lo, hi), &v| (lo.min(v), hi.max(v)));
    #[cfg(target_arch = "aarch64")]
    {
        use core::arch::aarch64::*;
        let chunks = x.chunks_exact(4);
        let rest = chunks.remainder();
        // SAFETY: NEON is part of aarch64; the 4-register loads read `16 * steps <= x.len()`
        // values, the rest one whole chunk of 4 each.
        let (lo, hi) = unsafe {
            // Four pairs of accumulators, 16 values a step (one 4-register load).
            let (mut lo, mut hi) = ([vdupq_n_f32(0.0); 4], [vdupq_n_f32(0.0); 4]);
            let steps = x.len() / 16;
            for k in 0..steps {
                let v = vld1q_f32_x4(x.as_ptr().add(16 * k));
                // minnm/maxnm: a NaN lane keeps the other operand, like `f32::min`.
                lo = [vminnmq_f32(lo[0], v.0), vminnmq_f32(lo[1], v.1), vminnmq_f32(lo[2], v.2), vminnmq_f32(lo[3], v.3)];
                hi = [vmaxnmq_f32(hi[0], v.0), vmaxnmq_f32(hi[1], v.1), vmaxnmq_f32(hi[2], v.2), vmaxnmq_f32(hi[3], v.3)];
            }
            for c in chunks.skip(4 * steps) {
                let v = vld1q_f32(c.as_ptr());
                lo[0] = vminnmq_f32(lo[0], v);
                hi[0] = vmaxnmq_f32(hi[0], v);
            }
            let (lo, hi) = (vminnmq_f32(vminnmq_f32(lo[0], lo[1]), vminnmq_f32(lo[2], lo[3])), vmaxnmq_f32(vmaxnmq_f32(hi[0], hi[1]), vmaxnmq_f32(hi[2], hi[3])));
            (vminnmvq_f32(lo), vmaxnmvq_f32(hi))
        };
        scalar(rest, (lo, hi))
    }
    #[cfg(not(target_arch = "aarch64"))]
    scalar(x, (0.0, 0.0))
}

/// `round(v / s) + zero`, saturated to int8: the same integers on every path (the NEON one
/// rounds half away from zero like [`f32::round`]).
struct Quantiser {
    inv: f32,
    zero: i32,
    /// Clamp each value to `[0, 6]` first.
    relu6: bool,
}

impl Quantiser {
    fn one(&self, v: f32) -> i8 {
        // Not `clamp`: a NaN becomes 0 here, as with NEON's maxnm/minnm.
        #[allow(clippy::manual_clamp)]
        let v = if self.relu6 { v.max(0.0).min(6.0) } else { v };
        ((v * self.inv).round() + self.zero as f32).clamp(-128.0, 127.0) as i8
    }

    /// `[in_c, pixels]` into the tiles: for each group of 4 channel rows, 8 pixels at a time.
    fn pack_channels_first(&self, x: &[f32], in_c: usize, pixels: usize, scratch: &mut [i8]) {
        let kg = in_c.div_ceil(4);
        let start = self.pack_channels_first_fast(x, in_c, pixels, scratch);
        for c in 0..in_c {
            let (g, k) = (c / 4, c % 4);
            for (p, &v) in x[c * pixels..(c + 1) * pixels].iter().enumerate().skip(start) {
                let (pb, j) = (p / TILE_P, p % TILE_P);
                scratch[((pb * kg + g) * TILE_P + j) * 4 + k] = self.one(v);
            }
        }
    }

    /// `[pixels, in_c]` into the tiles: each pixel's groups of 4 channels.
    fn pack_channels_last(&self, x: &[f32], in_c: usize, pixels: usize, scratch: &mut [i8]) {
        let kg = in_c.div_ceil(4);
        if self.pack_channels_last_fast(x, in_c, pixels, scratch) {
            return;
        }
        for (p, px) in x.chunks_exact(in_c).enumerate() {
            let (pb, j) = (p / TILE_P, p % TILE_P);
            for (c, &v) in px.iter().enumerate() {
                scratch[((pb * kg + c / 4) * TILE_P + j) * 4 + c % 4] = self.one(v);
            }
        }
    }

    /// The whole tiles of [`pack_channels_first`](Self::pack_channels_first) with NEON where
    /// there is a fast path (aarch64, channels a multiple of 4): how many pixels it packed.
    fn pack_channels_first_fast(&self, x: &[f32], in_c: usize, pixels: usize, scratch: &mut [i8]) -> usize {
        #[cfg(target_arch = "aarch64")]
        if in_c.is_multiple_of(4) {
            // SAFETY: NEON is part of aarch64; the loops stay inside `x` (in_c x pixels) and
            // `scratch` (whole tiles of in_c / 4 groups), as the asserts in `run` and
            // `scratch_len` give.
            unsafe { self.pack_channels_first_neon(x, in_c, pixels, scratch) };
            return pixels / TILE_P * TILE_P;
        }
        let _ = (x, in_c, pixels, scratch);
        0
    }

    /// [`pack_channels_last`](Self::pack_channels_last) with NEON where there is a fast path
    /// (aarch64, channels a multiple of 16): whether it packed everything.
    fn pack_channels_last_fast(&self, x: &[f32], in_c: usize, pixels: usize, scratch: &mut [i8]) -> bool {
        #[cfg(target_arch = "aarch64")]
        if in_c.is_multiple_of(16) {
            // SAFETY: as in `pack_channels_first_fast`.
            unsafe { self.pack_channels_last_neon(x, in_c, pixels, scratch) };
            return true;
        }
        let _ = (x, in_c, pixels, scratch);
        false
    }

    /// Loads 4 values, clamped to `[0, 6]` when the quantiser takes a ReLU6 (maxnm/minnm: as
    /// `f32::max`/`f32::min` in [`one`](Self::one)).
    #[cfg(target_arch = "aarch64")]
    unsafe fn neon_load(&self) -> impl Fn(*const f32) -> core::arch::aarch64::float32x4_t {
        use core::arch::aarch64::*;
        let (relu6, zero, six) = (self.relu6, vdupq_n_f32(0.0), vdupq_n_f32(6.0));
        move |p| {
            let v = vld1q_f32(p);
            if relu6 {
                vminnmq_f32(vmaxnmq_f32(v, zero), six)
            } else {
                v
            }
        }
    }

    /// 8 pixels of 4 channel rows quantised and written interleaved with one `st4`.
    #[cfg(target_arch = "aarch64")]
    unsafe fn pack_channels_first_neon(&self, x: &[f32], in_c: usize, pixels: usize, scratch: &mut [i8]) {
        use core::arch::aarch64::*;
        let kg = in_c / 4;
        let (inv, zero) = (vdupq_n_f32(self.inv), vdupq_n_s32(self.zero));
        let load = self.neon_load();
        let row8 = |p: *const f32| -> int8x8_t {
            let a = vaddq_s32(vcvtaq_s32_f32(vmulq_f32(load(p), inv)), zero);
            let b = vaddq_s32(vcvtaq_s32_f32(vmulq_f32(load(p.add(4)), inv)), zero);
            vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)))
        };
        for g in 0..kg {
            let rows = [0, 1, 2, 3].map(|k| x.as_ptr().add((g * 4 + k) * pixels));
            for pb in 0..pixels / TILE_P {
                let at = pb * TILE_P;
                let v = int8x8x4_t(row8(rows[0].add(at)), row8(rows[1].add(at)), row8(rows[2].add(at)), row8(rows[3].add(at)));
                vst4_s8(scratch.as_mut_ptr().add((pb * kg + g) * TILE_P * 4), v);
            }
        }
    }

    /// 16 channels of one pixel quantised at a time, written as 4 groups of 4 bytes.
    #[cfg(target_arch = "aarch64")]
    unsafe fn pack_channels_last_neon(&self, x: &[f32], in_c: usize, pixels: usize, scratch: &mut [i8]) {
        use core::arch::aarch64::*;
        let kg = in_c / 4;
        let (inv, zero) = (vdupq_n_f32(self.inv), vdupq_n_s32(self.zero));
        let load = self.neon_load();
        let four = |p: *const f32| vaddq_s32(vcvtaq_s32_f32(vmulq_f32(load(p), inv)), zero);
        for p in 0..pixels {
            let (pb, j) = (p / TILE_P, p % TILE_P);
            let src = x.as_ptr().add(p * in_c);
            for g16 in 0..in_c / 16 {
                let s = src.add(g16 * 16);
                let lo = vcombine_s16(vqmovn_s32(four(s)), vqmovn_s32(four(s.add(4))));
                let hi = vcombine_s16(vqmovn_s32(four(s.add(8))), vqmovn_s32(four(s.add(12))));
                let q = vreinterpretq_u32_s8(vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
                let dst = scratch.as_mut_ptr().add(((pb * kg + g16 * 4) * TILE_P + j) * 4) as *mut u32;
                // Consecutive groups of one pixel are a tile row (TILE_P * 4 bytes) apart.
                dst.write_unaligned(vgetq_lane_u32::<0>(q));
                dst.add(TILE_P).write_unaligned(vgetq_lane_u32::<1>(q));
                dst.add(2 * TILE_P).write_unaligned(vgetq_lane_u32::<2>(q));
                dst.add(3 * TILE_P).write_unaligned(vgetq_lane_u32::<3>(q));
            }
        }
    }
}

/// How many pixels of a block a tile computes: all 8, the first 4, or the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    Whole,
    Half,
    One,
}

/// The order of a tile's 64 accumulators: `acc[o * 8 + j]` (each output's 8 pixels together,
/// for channels-first outputs) or `acc[j * 8 + o]` (each pixel's 8 outputs together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    PixelsInner,
    OutputsInner,
}

impl Order {
    /// Where output `o`, pixel `j` of a whole tile is: `acc[o * so + j * sj]`, `(so, sj)`.
    fn strides(self) -> (usize, usize) {
        match self {
            Order::PixelsInner => (TILE_P, 1),
            Order::OutputsInner => (1, TILE_O),
        }
    }
}

/// One tile: for output `o` and pixel `j`, the sum over groups `g` and `k < 4` of
/// `w[g][o][k] * x[g][j][k]`, stored in `order`. `dot`: use `sdot` (the CPU has it); with
/// [`Width::Half`] too, only the first 4 pixels (half the dot products; pixels-inner sums then are
/// `acc[o * 4 + j]`), with [`Width::One`] only the first (`acc[o]`). Returns the strides of `acc`
/// (see [`Order::strides`]).
fn tile(w: &[i8], x: &[i8], groups: usize, (order, width): (Order, Width), dot: bool, acc: &mut [i32; 64]) -> (usize, usize) {
    assert!(groups > 0 && w.len() >= groups * 32 && x.len() >= groups * 32);
    #[cfg(target_arch = "aarch64")]
    if !dot {
        // Without the dot product: two halves of 4 outputs, all 8 pixels (the packed input is
        // zero past the last pixel), or for a narrow block the one-pixel tile per pixel.
        if width != Width::Whole {
            // A block of one pixel, or of at most 4: the one-pixel tile per pixel. Per two groups
            // that is 15 instructions a pixel (60 for 4), where the whole tile runs 106.
            let n = if width == Width::One { 1 } else { TILE_P / 2 };
            for j in 0..n {
                // SAFETY: NEON is part of aarch64; `groups` blocks of 32 bytes in `w` and `x`
                // (asserted above), read from pixel j's 4 bytes; 8 of `acc`'s 64 sums written,
                // from `j * 8`.
                unsafe { tile_smull_one_pixel(w.as_ptr(), x.as_ptr().add(4 * j), groups, acc.as_mut_ptr().add(TILE_O * j)) };
            }
            return (1, TILE_O);
        }
        // SAFETY: NEON is part of aarch64; `w` holds `groups` blocks of 32 bytes, of which each
        // half reads its 16 (from byte 0 or 16), `x` `groups` blocks of 32 (asserted above); each
        // half writes 32 of `acc`'s 64 sums (pixels inner: rows 0-3 or 4-7; outputs inner:
        // columns 0-3 or 4-7 of every row).
        unsafe {
            for h in 0..2 {
                match order {
                    Order::PixelsInner => tile_smull_pixels_inner(w.as_ptr().add(16 * h), x.as_ptr(), groups, acc.as_mut_ptr().add(32 * h)),
                    Order::OutputsInner => tile_smull_outputs_inner(w.as_ptr().add(16 * h), x.as_ptr(), groups, acc.as_mut_ptr().add(4 * h)),
                }
            }
        }
        return order.strides();
    }
    #[cfg(target_arch = "aarch64")]
    if dot {
        // SAFETY: the CPU has the dot-product extension (the caller checked); `w` and `x` hold
        // `groups` blocks of 32 bytes each (asserted above), of which the half tiles read 16.
        unsafe {
            match (order, width) {
                (Order::PixelsInner, Width::Whole) => tile_sdot_pixels_inner(w, x, groups, acc),
                (Order::OutputsInner, Width::Whole) => tile_sdot_outputs_inner(w, x, groups, acc),
                (Order::PixelsInner, Width::Half) => tile_sdot_narrow_pixels_inner(w, x, groups, acc),
                (Order::OutputsInner, Width::Half) => tile_sdot_narrow_outputs_inner(w, x, groups, acc),
                (_, Width::One) => tile_sdot_one_pixel(w, x, groups, acc),
            }
        }
        return match (order, width) {
            (Order::PixelsInner, Width::Half) => (TILE_P / 2, 1),
            // Output `o` of the one pixel at `acc[o]`.
            (_, Width::One) => (1, TILE_O),
            _ => order.strides(),
        };
    }
    let _ = (dot, width);
    tile_portable(w, x, groups, order, acc)
}

fn tile_portable(w: &[i8], x: &[i8], groups: usize, order: Order, acc: &mut [i32; 64]) -> (usize, usize) {
    let mut sums = [0i32; 64];
    for g in 0..groups {
        let (wg, xg) = (&w[g * 32..g * 32 + 32], &x[g * 32..g * 32 + 32]);
        for o in 0..TILE_O {
            for j in 0..TILE_P {
                sums[o * 8 + j] += (0..4).map(|k| wg[o * 4 + k] as i32 * xg[j * 4 + k] as i32).sum::<i32>();
            }
        }
    }
    let (so, sj) = order.strides();
    for o in 0..TILE_O {
        for j in 0..TILE_P {
            acc[o * so + j * sj] = sums[o * 8 + j];
        }
    }
    (so, sj)
}

/// A whole tile of a channels-first output with its epilogue in registers (no accumulator
/// store and reload): the accumulators start at `-z * sum(w)` instead of 0, and each output's 8
/// pixels leave as `clamp(acc * s + b)` (`scvtf`, `fmul`, `fadd`, `fmaxnm`, `fminnm`: the same
/// IEEE operations as `epilogue::one`, so the same bits), output `o` at `out + o * stride`
/// (floats).
///
/// # Safety
/// The CPU has the dot product; `w` and `x` point to `groups` blocks of 32 bytes, `p`'s pointers
/// to 8 values each; the 8 rows of 8 floats from `out` are writable.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "dotprod")]
unsafe fn tile_sdot_pixels_inner_fused(w: *const i8, x: *const i8, groups: usize, p: &TileParams, out: *mut f32, stride: usize) {
    core::arch::asm!(
        "ld1 {{v4.4s, v5.4s}}, [{init}]",
        "dup v16.4s, v4.s[0]",
        "dup v17.4s, v4.s[0]",
        "dup v18.4s, v4.s[1]",
        "dup v19.4s, v4.s[1]",
        "dup v20.4s, v4.s[2]",
        "dup v21.4s, v4.s[2]",
        "dup v22.4s, v4.s[3]",
        "dup v23.4s, v4.s[3]",
        "dup v24.4s, v5.s[0]",
        "dup v25.4s, v5.s[0]",
        "dup v26.4s, v5.s[1]",
        "dup v27.4s, v5.s[1]",
        "dup v28.4s, v5.s[2]",
        "dup v29.4s, v5.s[2]",
        "dup v30.4s, v5.s[3]",
        "dup v31.4s, v5.s[3]",
        // An odd group first, then two groups per turn of the loop.
        "tbz {n}, #0, 3f",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1 {{v2.16b, v3.16b}}, [{x}], #32",
        "sdot v16.4s, v2.16b, v0.4b[0]",
        "sdot v17.4s, v3.16b, v0.4b[0]",
        "sdot v18.4s, v2.16b, v0.4b[1]",
        "sdot v19.4s, v3.16b, v0.4b[1]",
        "sdot v20.4s, v2.16b, v0.4b[2]",
        "sdot v21.4s, v3.16b, v0.4b[2]",
        "sdot v22.4s, v2.16b, v0.4b[3]",
        "sdot v23.4s, v3.16b, v0.4b[3]",
        "sdot v24.4s, v2.16b, v1.4b[0]",
        "sdot v25.4s, v3.16b, v1.4b[0]",
        "sdot v26.4s, v2.16b, v1.4b[1]",
        "sdot v27.4s, v3.16b, v1.4b[1]",
        "sdot v28.4s, v2.16b, v1.4b[2]",
        "sdot v29.4s, v3.16b, v1.4b[2]",
        "sdot v30.4s, v2.16b, v1.4b[3]",
        "sdot v31.4s, v3.16b, v1.4b[3]",
        "3:",
        "lsr {n}, {n}, #1",
        "cbz {n}, 4f",
        "2:",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1 {{v2.16b, v3.16b}}, [{x}], #32",
        "sdot v16.4s, v2.16b, v0.4b[0]",
        "sdot v17.4s, v3.16b, v0.4b[0]",
        "sdot v18.4s, v2.16b, v0.4b[1]",
        "sdot v19.4s, v3.16b, v0.4b[1]",
        "sdot v20.4s, v2.16b, v0.4b[2]",
        "sdot v21.4s, v3.16b, v0.4b[2]",
        "sdot v22.4s, v2.16b, v0.4b[3]",
        "sdot v23.4s, v3.16b, v0.4b[3]",
        "sdot v24.4s, v2.16b, v1.4b[0]",
        "sdot v25.4s, v3.16b, v1.4b[0]",
        "sdot v26.4s, v2.16b, v1.4b[1]",
        "sdot v27.4s, v3.16b, v1.4b[1]",
        "sdot v28.4s, v2.16b, v1.4b[2]",
        "sdot v29.4s, v3.16b, v1.4b[2]",
        "sdot v30.4s, v2.16b, v1.4b[3]",
        "sdot v31.4s, v3.16b, v1.4b[3]",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1 {{v2.16b, v3.16b}}, [{x}], #32",
        "sdot v16.4s, v2.16b, v0.4b[0]",
        "sdot v17.4s, v3.16b, v0.4b[0]",
        "sdot v18.4s, v2.16b, v0.4b[1]",
        "sdot v19.4s, v3.16b, v0.4b[1]",
        "sdot v20.4s, v2.16b, v0.4b[2]",
        "sdot v21.4s, v3.16b, v0.4b[2]",
        "sdot v22.4s, v2.16b, v0.4b[3]",
        "sdot v23.4s, v3.16b, v0.4b[3]",
        "sdot v24.4s, v2.16b, v1.4b[0]",
        "sdot v25.4s, v3.16b, v1.4b[0]",
        "sdot v26.4s, v2.16b, v1.4b[1]",
        "sdot v27.4s, v3.16b, v1.4b[1]",
        "sdot v28.4s, v2.16b, v1.4b[2]",
        "sdot v29.4s, v3.16b, v1.4b[2]",
        "sdot v30.4s, v2.16b, v1.4b[3]",
        "sdot v31.4s, v3.16b, v1.4b[3]",
        "subs {n}, {n}, #1",
        "b.ne 2b",
        "4:",
        "ld1 {{v4.4s, v5.4s}}, [{s}]",
        "ld1 {{v6.4s, v7.4s}}, [{b}]",
        "dup v0.4s, {lo:w}",
        "dup v1.4s, {hi:w}",
        "scvtf v16.4s, v16.4s",
        "scvtf v17.4s, v17.4s",
        "fmul v16.4s, v16.4s, v4.s[0]",
        "fmul v17.4s, v17.4s, v4.s[0]",
        "dup v2.4s, v6.s[0]",
        "fadd v16.4s, v16.4s, v2.4s",
        "fadd v17.4s, v17.4s, v2.4s",
        "fmaxnm v16.4s, v16.4s, v0.4s",
        "fmaxnm v17.4s, v17.4s, v0.4s",
        "fminnm v16.4s, v16.4s, v1.4s",
        "fminnm v17.4s, v17.4s, v1.4s",
        "st1 {{v16.4s, v17.4s}}, [{out}], {stride}",
        "scvtf v18.4s, v18.4s",
        "scvtf v19.4s, v19.4s",
        "fmul v18.4s, v18.4s, v4.s[1]",
        "fmul v19.4s, v19.4s, v4.s[1]",
        "dup v2.4s, v6.s[1]",
        "fadd v18.4s, v18.4s, v2.4s",
        "fadd v19.4s, v19.4s, v2.4s",
        "fmaxnm v18.4s, v18.4s, v0.4s",
        "fmaxnm v19.4s, v19.4s, v0.4s",
        "fminnm v18.4s, v18.4s, v1.4s",
        "fminnm v19.4s, v19.4s, v1.4s",
        "st1 {{v18.4s, v19.4s}}, [{out}], {stride}",
        "scvtf v20.4s, v20.4s",
        "scvtf v21.4s, v21.4s",
        "fmul v20.4s, v20.4s, v4.s[2]",
        "fmul v21.4s, v21.4s, v4.s[2]",
        "dup v2.4s, v6.s[2]",
        "fadd v20.4s, v20.4s, v2.4s",
        "fadd v21.4s, v21.4s, v2.4s",
        "fmaxnm v20.4s, v20.4s, v0.4s",
        "fmaxnm v21.4s, v21.4s, v0.4s",
        "fminnm v20.4s, v20.4s, v1.4s",
        "fminnm v21.4s, v21.4s, v1.4s",
        "st1 {{v20.4s, v21.4s}}, [{out}], {stride}",
        "scvtf v22.4s, v22.4s",
        "scvtf v23.4s, v23.4s",
        "fmul v22.4s, v22.4s, v4.s[3]",
        "fmul v23.4s, v23.4s, v4.s[3]",
        "dup v2.4s, v6.s[3]",
        "fadd v22.4s, v22.4s, v2.4s",
        "fadd v23.4s, v23.4s, v2.4s",
        "fmaxnm v22.4s, v22.4s, v0.4s",
        "fmaxnm v23.4s, v23.4s, v0.4s",
        "fminnm v22.4s, v22.4s, v1.4s",
        "fminnm v23.4s, v23.4s, v1.4s",
        "st1 {{v22.4s, v23.4s}}, [{out}], {stride}",
        "scvtf v24.4s, v24.4s",
        "scvtf v25.4s, v25.4s",
        "fmul v24.4s, v24.4s, v5.s[0]",
        "fmul v25.4s, v25.4s, v5.s[0]",
        "dup v2.4s, v7.s[0]",
        "fadd v24.4s, v24.4s, v2.4s",
        "fadd v25.4s, v25.4s, v2.4s",
        "fmaxnm v24.4s, v24.4s, v0.4s",
        "fmaxnm v25.4s, v25.4s, v0.4s",
        "fminnm v24.4s, v24.4s, v1.4s",
        "fminnm v25.4s, v25.4s, v1.4s",
        "st1 {{v24.4s, v25.4s}}, [{out}], {stride}",
        "scvtf v26.4s, v26.4s",
        "scvtf v27.4s, v27.4s",
        "fmul v26.4s, v26.4s, v5.s[1]",
        "fmul v27.4s, v27.4s, v5.s[1]",
        "dup v2.4s, v7.s[1]",
        "fadd v26.4s, v26.4s, v2.4s",
        "fadd v27.4s, v27.4s, v2.4s",
        "fmaxnm v26.4s, v26.4s, v0.4s",
        "fmaxnm v27.4s, v27.4s, v0.4s",
        "fminnm v26.4s, v26.4s, v1.4s",
        "fminnm v27.4s, v27.4s, v1.4s",
        "st1 {{v26.4s, v27.4s}}, [{out}], {stride}",
        "scvtf v28.4s, v28.4s",
        "scvtf v29.4s, v29.4s",
        "fmul v28.4s, v28.4s, v5.s[2]",
        "fmul v29.4s, v29.4s, v5.s[2]",
        "dup v2.4s, v7.s[2]",
        "fadd v28.4s, v28.4s, v2.4s",
        "fadd v29.4s, v29.4s, v2.4s",
        "fmaxnm v28.4s, v28.4s, v0.4s",
        "fmaxnm v29.4s, v29.4s, v0.4s",
        "fminnm v28.4s, v28.4s, v1.4s",
        "fminnm v29.4s, v29.4s, v1.4s",
        "st1 {{v28.4s, v29.4s}}, [{out}], {stride}",
        "scvtf v30.4s, v30.4s",
        "scvtf v31.4s, v31.4s",
        "fmul v30.4s, v30.4s, v5.s[3]",
        "fmul v31.4s, v31.4s, v5.s[3]",
        "dup v2.4s, v7.s[3]",
        "fadd v30.4s, v30.4s, v2.4s",
        "fadd v31.4s, v31.4s, v2.4s",
        "fmaxnm v30.4s, v30.4s, v0.4s",
        "fmaxnm v31.4s, v31.4s, v0.4s",
        "fminnm v30.4s, v30.4s, v1.4s",
        "fminnm v31.4s, v31.4s, v1.4s",
        "st1 {{v30.4s, v31.4s}}, [{out}], {stride}",
        w = inout(reg) w => _,
        x = inout(reg) x => _,
        n = inout(reg) groups => _,
        init = in(reg) p.init,
        s = in(reg) p.scale,
        b = in(reg) p.bias,
        lo = in(reg) p.clamp.0.to_bits(),
        hi = in(reg) p.clamp.1.to_bits(),
        out = inout(reg) out => _,
        stride = in(reg) stride * 4,
        out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
        out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
        out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
        options(nostack),
    );
}

/// As [`tile_sdot_pixels_inner_fused`] for a channels-last output: pixel `j`'s 8 outputs at
/// `out + j * stride`.
///
/// # Safety
/// As [`tile_sdot_pixels_inner_fused`].
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "dotprod")]
unsafe fn tile_sdot_outputs_inner_fused(w: *const i8, x: *const i8, groups: usize, p: &TileParams, out: *mut f32, stride: usize) {
    core::arch::asm!(
        "ld1 {{v4.4s, v5.4s}}, [{init}]",
        "mov v16.16b, v4.16b",
        "mov v17.16b, v5.16b",
        "mov v18.16b, v4.16b",
        "mov v19.16b, v5.16b",
        "mov v20.16b, v4.16b",
        "mov v21.16b, v5.16b",
        "mov v22.16b, v4.16b",
        "mov v23.16b, v5.16b",
        "mov v24.16b, v4.16b",
        "mov v25.16b, v5.16b",
        "mov v26.16b, v4.16b",
        "mov v27.16b, v5.16b",
        "mov v28.16b, v4.16b",
        "mov v29.16b, v5.16b",
        "mov v30.16b, v4.16b",
        "mov v31.16b, v5.16b",
        // An odd group first, then two groups per turn of the loop.
        "tbz {n}, #0, 3f",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1 {{v2.16b, v3.16b}}, [{x}], #32",
        "sdot v16.4s, v0.16b, v2.4b[0]",
        "sdot v17.4s, v1.16b, v2.4b[0]",
        "sdot v18.4s, v0.16b, v2.4b[1]",
        "sdot v19.4s, v1.16b, v2.4b[1]",
        "sdot v20.4s, v0.16b, v2.4b[2]",
        "sdot v21.4s, v1.16b, v2.4b[2]",
        "sdot v22.4s, v0.16b, v2.4b[3]",
        "sdot v23.4s, v1.16b, v2.4b[3]",
        "sdot v24.4s, v0.16b, v3.4b[0]",
        "sdot v25.4s, v1.16b, v3.4b[0]",
        "sdot v26.4s, v0.16b, v3.4b[1]",
        "sdot v27.4s, v1.16b, v3.4b[1]",
        "sdot v28.4s, v0.16b, v3.4b[2]",
        "sdot v29.4s, v1.16b, v3.4b[2]",
        "sdot v30.4s, v0.16b, v3.4b[3]",
        "sdot v31.4s, v1.16b, v3.4b[3]",
        "3:",
        "lsr {n}, {n}, #1",
        "cbz {n}, 4f",
        "2:",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1 {{v2.16b, v3.16b}}, [{x}], #32",
        "sdot v16.4s, v0.16b, v2.4b[0]",
        "sdot v17.4s, v1.16b, v2.4b[0]",
        "sdot v18.4s, v0.16b, v2.4b[1]",
        "sdot v19.4s, v1.16b, v2.4b[1]",
        "sdot v20.4s, v0.16b, v2.4b[2]",
        "sdot v21.4s, v1.16b, v2.4b[2]",
        "sdot v22.4s, v0.16b, v2.4b[3]",
        "sdot v23.4s, v1.16b, v2.4b[3]",
        "sdot v24.4s, v0.16b, v3.4b[0]",
        "sdot v25.4s, v1.16b, v3.4b[0]",
        "sdot v26.4s, v0.16b, v3.4b[1]",
        "sdot v27.4s, v1.16b, v3.4b[1]",
        "sdot v28.4s, v0.16b, v3.4b[2]",
        "sdot v29.4s, v1.16b, v3.4b[2]",
        "sdot v30.4s, v0.16b, v3.4b[3]",
        "sdot v31.4s, v1.16b, v3.4b[3]",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1 {{v2.16b, v3.16b}}, [{x}], #32",
        "sdot v16.4s, v0.16b, v2.4b[0]",
        "sdot v17.4s, v1.16b, v2.4b[0]",
        "sdot v18.4s, v0.16b, v2.4b[1]",
        "sdot v19.4s, v1.16b, v2.4b[1]",
        "sdot v20.4s, v0.16b, v2.4b[2]",
        "sdot v21.4s, v1.16b, v2.4b[2]",
        "sdot v22.4s, v0.16b, v2.4b[3]",
        "sdot v23.4s, v1.16b, v2.4b[3]",
        "sdot v24.4s, v0.16b, v3.4b[0]",
        "sdot v25.4s, v1.16b, v3.4b[0]",
        "sdot v26.4s, v0.16b, v3.4b[1]",
        "sdot v27.4s, v1.16b, v3.4b[1]",
        "sdot v28.4s, v0.16b, v3.4b[2]",
        "sdot v29.4s, v1.16b, v3.4b[2]",
        "sdot v30.4s, v0.16b, v3.4b[3]",
        "sdot v31.4s, v1.16b, v3.4b[3]",
        "subs {n}, {n}, #1",
        "b.ne 2b",
        "4:",
        "ld1 {{v4.4s, v5.4s}}, [{s}]",
        "ld1 {{v6.4s, v7.4s}}, [{b}]",
        "dup v0.4s, {lo:w}",
        "dup v1.4s, {hi:w}",
        "scvtf v16.4s, v16.4s",
        "scvtf v17.4s, v17.4s",
        "fmul v16.4s, v16.4s, v4.4s",
        "fmul v17.4s, v17.4s, v5.4s",
        "fadd v16.4s, v16.4s, v6.4s",
        "fadd v17.4s, v17.4s, v7.4s",
        "fmaxnm v16.4s, v16.4s, v0.4s",
        "fmaxnm v17.4s, v17.4s, v0.4s",
        "fminnm v16.4s, v16.4s, v1.4s",
        "fminnm v17.4s, v17.4s, v1.4s",
        "st1 {{v16.4s, v17.4s}}, [{out}], {stride}",
        "scvtf v18.4s, v18.4s",
        "scvtf v19.4s, v19.4s",
        "fmul v18.4s, v18.4s, v4.4s",
        "fmul v19.4s, v19.4s, v5.4s",
        "fadd v18.4s, v18.4s, v6.4s",
        "fadd v19.4s, v19.4s, v7.4s",
        "fmaxnm v18.4s, v18.4s, v0.4s",
        "fmaxnm v19.4s, v19.4s, v0.4s",
        "fminnm v18.4s, v18.4s, v1.4s",
        "fminnm v19.4s, v19.4s, v1.4s",
        "st1 {{v18.4s, v19.4s}}, [{out}], {stride}",
        "scvtf v20.4s, v20.4s",
        "scvtf v21.4s, v21.4s",
        "fmul v20.4s, v20.4s, v4.4s",
        "fmul v21.4s, v21.4s, v5.4s",
        "fadd v20.4s, v20.4s, v6.4s",
        "fadd v21.4s, v21.4s, v7.4s",
        "fmaxnm v20.4s, v20.4s, v0.4s",
        "fmaxnm v21.4s, v21.4s, v0.4s",
        "fminnm v20.4s, v20.4s, v1.4s",
        "fminnm v21.4s, v21.4s, v1.4s",
        "st1 {{v20.4s, v21.4s}}, [{out}], {stride}",
        "scvtf v22.4s, v22.4s",
        "scvtf v23.4s, v23.4s",
        "fmul v22.4s, v22.4s, v4.4s",
        "fmul v23.4s, v23.4s, v5.4s",
        "fadd v22.4s, v22.4s, v6.4s",
        "fadd v23.4s, v23.4s, v7.4s",
        "fmaxnm v22.4s, v22.4s, v0.4s",
        "fmaxnm v23.4s, v23.4s, v0.4s",
        "fminnm v22.4s, v22.4s, v1.4s",
        "fminnm v23.4s, v23.4s, v1.4s",
        "st1 {{v22.4s, v23.4s}}, [{out}], {stride}",
        "scvtf v24.4s, v24.4s",
        "scvtf v25.4s, v25.4s",
        "fmul v24.4s, v24.4s, v4.4s",
        "fmul v25.4s, v25.4s, v5.4s",
        "fadd v24.4s, v24.4s, v6.4s",
        "fadd v25.4s, v25.4s, v7.4s",
        "fmaxnm v24.4s, v24.4s, v0.4s",
        "fmaxnm v25.4s, v25.4s, v0.4s",
        "fminnm v24.4s, v24.4s, v1.4s",
        "fminnm v25.4s, v25.4s, v1.4s",
        "st1 {{v24.4s, v25.4s}}, [{out}], {stride}",
        "scvtf v26.4s, v26.4s",
        "scvtf v27.4s, v27.4s",
        "fmul v26.4s, v26.4s, v4.4s",
        "fmul v27.4s, v27.4s, v5.4s",
        "fadd v26.4s, v26.4s, v6.4s",
        "fadd v27.4s, v27.4s, v7.4s",
        "fmaxnm v26.4s, v26.4s, v0.4s",
        "fmaxnm v27.4s, v27.4s, v0.4s",
        "fminnm v26.4s, v26.4s, v1.4s",
        "fminnm v27.4s, v27.4s, v1.4s",
        "st1 {{v26.4s, v27.4s}}, [{out}], {stride}",
        "scvtf v28.4s, v28.4s",
        "scvtf v29.4s, v29.4s",
        "fmul v28.4s, v28.4s, v4.4s",
        "fmul v29.4s, v29.4s, v5.4s",
        "fadd v28.4s, v28.4s, v6.4s",
        "fadd v29.4s, v29.4s, v7.4s",
        "fmaxnm v28.4s, v28.4s, v0.4s",
        "fmaxnm v29.4s, v29.4s, v0.4s",
        "fminnm v28.4s, v28.4s, v1.4s",
        "fminnm v29.4s, v29.4s, v1.4s",
        "st1 {{v28.4s, v29.4s}}, [{out}], {stride}",
        "scvtf v30.4s, v30.4s",
        "scvtf v31.4s, v31.4s",
        "fmul v30.4s, v30.4s, v4.4s",
        "fmul v31.4s, v31.4s, v5.4s",
        "fadd v30.4s, v30.4s, v6.4s",
        "fadd v31.4s, v31.4s, v7.4s",
        "fmaxnm v30.4s, v30.4s, v0.4s",
        "fmaxnm v31.4s, v31.4s, v0.4s",
        "fminnm v30.4s, v30.4s, v1.4s",
        "fminnm v31.4s, v31.4s, v1.4s",
        "st1 {{v30.4s, v31.4s}}, [{out}], {stride}",
        w = inout(reg) w => _,
        x = inout(reg) x => _,
        n = inout(reg) groups => _,
        init = in(reg) p.init,
        s = in(reg) p.scale,
        b = in(reg) p.bias,
        lo = in(reg) p.clamp.0.to_bits(),
        hi = in(reg) p.clamp.1.to_bits(),
        out = inout(reg) out => _,
        stride = in(reg) stride * 4,
        out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
        out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
        out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
        options(nostack),
    );
}

/// The per-output parameters of one fused tile: where the accumulators' start (`-z * sum(w)`),
/// the int32-to-f32 scales and the biases of its 8 outputs are (8 values each), and the clamp.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
struct TileParams {
    init: *const i32,
    scale: *const f32,
    bias: *const f32,
    clamp: (f32, f32),
}

/// An `sdot` tile function. Zero the accumulators, then per group of 4 input channels load the
/// 32 bytes of weights (v0: outputs 0-3, v1: outputs 4-7) and the group's input (`$load`: all 32
/// bytes into v2 (pixels 0-3) and v3 (pixels 4-7), or the first 16 into v2), run the given dot
/// products (16 multiply-adds each), and store the accumulators in register order.
#[cfg(target_arch = "aarch64")]
macro_rules! sdot_tile {
    ($(#[$doc:meta])* $name:ident, zero [$($zero:literal),+], load $load:literal, dot [$($sdot:literal),+], store [$($store:literal),+]) => {
        $(#[$doc])*
        #[target_feature(enable = "dotprod")]
        unsafe fn $name(w: &[i8], x: &[i8], groups: usize, acc: &mut [i32; 64]) {
            core::arch::asm!(
                $($zero,)+
                "2:",
                "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
                $load,
                $($sdot,)+
                "subs {n}, {n}, #1",
                "b.ne 2b",
                $($store,)+
                w = inout(reg) w.as_ptr() => _,
                x = inout(reg) x.as_ptr() => _,
                n = inout(reg) groups => _,
                acc = inout(reg) acc.as_mut_ptr() => _,
                step = in(reg) 32usize,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
                out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
                options(nostack),
            );
        }
    };
    // The whole tile: 8 outputs x 8 pixels in v16-v31.
    ($(#[$doc:meta])* $name:ident, $($sdot:literal),+) => {
        sdot_tile!(
            $(#[$doc])* $name,
            zero [
                "movi v16.4s, #0", "movi v17.4s, #0", "movi v18.4s, #0", "movi v19.4s, #0",
                "movi v20.4s, #0", "movi v21.4s, #0", "movi v22.4s, #0", "movi v23.4s, #0",
                "movi v24.4s, #0", "movi v25.4s, #0", "movi v26.4s, #0", "movi v27.4s, #0",
                "movi v28.4s, #0", "movi v29.4s, #0", "movi v30.4s, #0", "movi v31.4s, #0"
            ],
            load "ld1 {{v2.16b, v3.16b}}, [{x}], {step}",
            dot [$($sdot),+],
            store [
                "st1 {{v16.4s, v17.4s, v18.4s, v19.4s}}, [{acc}], #64",
                "st1 {{v20.4s, v21.4s, v22.4s, v23.4s}}, [{acc}], #64",
                "st1 {{v24.4s, v25.4s, v26.4s, v27.4s}}, [{acc}], #64",
                "st1 {{v28.4s, v29.4s, v30.4s, v31.4s}}, [{acc}], #64"
            ]
        );
    };
}

#[cfg(target_arch = "aarch64")]
sdot_tile!(
    /// The first pixel only: outputs 0-3 in v16, 4-7 in v17 (a block of one pixel: the 9-pixel
    /// maps at the end of the network are 8 + 1). 2 dot products per group where the half tile
    /// runs 8.
    tile_sdot_one_pixel,
    zero ["movi v16.4s, #0", "movi v17.4s, #0"],
    load "ld1 {{v2.s}}[0], [{x}], {step}",
    dot ["sdot v16.4s, v0.16b, v2.4b[0]", "sdot v17.4s, v1.16b, v2.4b[0]"],
    store ["st1 {{v16.4s, v17.4s}}, [{acc}]"]
);

/// A half tile: 8 outputs x the first 4 pixels of each group's input, in v16-v23.
#[cfg(target_arch = "aarch64")]
macro_rules! sdot_half_tile {
    ($(#[$doc:meta])* $name:ident, $($sdot:literal),+) => {
        sdot_tile!(
            $(#[$doc])* $name,
            zero [
                "movi v16.4s, #0", "movi v17.4s, #0", "movi v18.4s, #0", "movi v19.4s, #0",
                "movi v20.4s, #0", "movi v21.4s, #0", "movi v22.4s, #0", "movi v23.4s, #0"
            ],
            load "ld1 {{v2.16b}}, [{x}], {step}",
            dot [$($sdot),+],
            store [
                "st1 {{v16.4s, v17.4s, v18.4s, v19.4s}}, [{acc}], #64",
                "st1 {{v20.4s, v21.4s, v22.4s, v23.4s}}, [{acc}], #64"
            ]
        );
    };
}

#[cfg(target_arch = "aarch64")]
sdot_tile!(
    /// Each output's pixels together: accumulator v(16 + 2o + h) is output `o`, pixels 4h..4h+4.
    tile_sdot_pixels_inner,
    "sdot v16.4s, v2.16b, v0.4b[0]", "sdot v17.4s, v3.16b, v0.4b[0]",
    "sdot v18.4s, v2.16b, v0.4b[1]", "sdot v19.4s, v3.16b, v0.4b[1]",
    "sdot v20.4s, v2.16b, v0.4b[2]", "sdot v21.4s, v3.16b, v0.4b[2]",
    "sdot v22.4s, v2.16b, v0.4b[3]", "sdot v23.4s, v3.16b, v0.4b[3]",
    "sdot v24.4s, v2.16b, v1.4b[0]", "sdot v25.4s, v3.16b, v1.4b[0]",
    "sdot v26.4s, v2.16b, v1.4b[1]", "sdot v27.4s, v3.16b, v1.4b[1]",
    "sdot v28.4s, v2.16b, v1.4b[2]", "sdot v29.4s, v3.16b, v1.4b[2]",
    "sdot v30.4s, v2.16b, v1.4b[3]", "sdot v31.4s, v3.16b, v1.4b[3]"
);

#[cfg(target_arch = "aarch64")]
sdot_tile!(
    /// Each pixel's outputs together: accumulator v(16 + 2j + h) is pixel `j`, outputs 4h..4h+4.
    tile_sdot_outputs_inner,
    "sdot v16.4s, v0.16b, v2.4b[0]", "sdot v17.4s, v1.16b, v2.4b[0]",
    "sdot v18.4s, v0.16b, v2.4b[1]", "sdot v19.4s, v1.16b, v2.4b[1]",
    "sdot v20.4s, v0.16b, v2.4b[2]", "sdot v21.4s, v1.16b, v2.4b[2]",
    "sdot v22.4s, v0.16b, v2.4b[3]", "sdot v23.4s, v1.16b, v2.4b[3]",
    "sdot v24.4s, v0.16b, v3.4b[0]", "sdot v25.4s, v1.16b, v3.4b[0]",
    "sdot v26.4s, v0.16b, v3.4b[1]", "sdot v27.4s, v1.16b, v3.4b[1]",
    "sdot v28.4s, v0.16b, v3.4b[2]", "sdot v29.4s, v1.16b, v3.4b[2]",
    "sdot v30.4s, v0.16b, v3.4b[3]", "sdot v31.4s, v1.16b, v3.4b[3]"
);

#[cfg(target_arch = "aarch64")]
sdot_half_tile!(
    /// Each output's pixels together: accumulator v(16 + o) is output `o`, pixels 0-3.
    tile_sdot_narrow_pixels_inner,
    "sdot v16.4s, v2.16b, v0.4b[0]", "sdot v17.4s, v2.16b, v0.4b[1]",
    "sdot v18.4s, v2.16b, v0.4b[2]", "sdot v19.4s, v2.16b, v0.4b[3]",
    "sdot v20.4s, v2.16b, v1.4b[0]", "sdot v21.4s, v2.16b, v1.4b[1]",
    "sdot v22.4s, v2.16b, v1.4b[2]", "sdot v23.4s, v2.16b, v1.4b[3]"
);

#[cfg(target_arch = "aarch64")]
sdot_half_tile!(
    /// Each pixel's outputs together: accumulator v(16 + 2j + h) is pixel `j`, outputs 4h..4h+4.
    tile_sdot_narrow_outputs_inner,
    "sdot v16.4s, v0.16b, v2.4b[0]", "sdot v17.4s, v1.16b, v2.4b[0]",
    "sdot v18.4s, v0.16b, v2.4b[1]", "sdot v19.4s, v1.16b, v2.4b[1]",
    "sdot v20.4s, v0.16b, v2.4b[2]", "sdot v21.4s, v1.16b, v2.4b[2]",
    "sdot v22.4s, v0.16b, v2.4b[3]", "sdot v23.4s, v1.16b, v2.4b[3]"
);

/// A tile without the dot product (aarch64 NEON on Cortex-A72 / A53: Raspberry Pi 4, 3 and Zero
/// 2 W): 4 outputs x 8 pixels, the outputs `w` points to (the tile's first 4 or last 4: `w` is
/// the block's weights plus 0 or 16 bytes). Per group, `ld4r` repeats each output's 4 int8
/// weights across a register; `smull`/`smull2` multiply them with 2 pixels' 4 channels each (8
/// products in int16), `smlal`/`smlal2` add the next group's (two products of at most 127 x 128
/// in magnitude fit in int16: the weights are never -128), and `sadalp` adds neighbouring pairs
/// into int32: 16 multiply-adds in 3 instructions, against `fmla`'s 4 in one. Accumulator
/// v(16 + 4o + 2q + r) holds output `o`, pixels `4q + 2r` and `4q + 2r + 1`, two channel pairs
/// each; `addp` folds them at the end, and `$finish` stores the 4 x 8 sums.
#[cfg(target_arch = "aarch64")]
macro_rules! smull_tile {
    // A fused tile: the epilogue's parameters, the output and its row stride (floats).
    ($(#[$doc:meta])* fn $name:ident, finish [$($finish:literal),+ $(,)?], fused) => {
        smull_tile!(
            $(#[$doc])* fn $name(p: &TileParams, out: *mut f32, stride: usize),
            finish [$($finish),+],
            operands [
                init = in(reg) p.init,
                s = in(reg) p.scale,
                b = in(reg) p.bias,
                lo = in(reg) p.clamp.0.to_bits(),
                hi = in(reg) p.clamp.1.to_bits(),
                out = inout(reg) out => _,
                stride = in(reg) stride * 4,
            ]
        );
    };
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*), finish [$($finish:literal),+ $(,)?], operands [$($operands:tt)*]) => {
        $(#[$doc])*
        unsafe fn $name(w: *const i8, x: *const i8, groups: usize, $($arg: $ty),*) {
            core::arch::asm!(
                "movi v16.4s, #0", "movi v17.4s, #0", "movi v18.4s, #0", "movi v19.4s, #0",
                "movi v20.4s, #0", "movi v21.4s, #0", "movi v22.4s, #0", "movi v23.4s, #0",
                "movi v24.4s, #0", "movi v25.4s, #0", "movi v26.4s, #0", "movi v27.4s, #0",
                "movi v28.4s, #0", "movi v29.4s, #0", "movi v30.4s, #0", "movi v31.4s, #0",
                // An odd group count: one group alone first.
                "tbz {n}, #0, 3f",
                "ld1 {{v8.16b, v9.16b}}, [{x}], #32",
                "ld4r {{v0.4s, v1.4s, v2.4s, v3.4s}}, [{w}], {step}",
                "smull v12.8h, v8.8b, v0.8b",
                "smull2 v13.8h, v8.16b, v0.16b",
                "sadalp v16.4s, v12.8h",
                "sadalp v17.4s, v13.8h",
                "smull v14.8h, v9.8b, v0.8b",
                "smull2 v15.8h, v9.16b, v0.16b",
                "sadalp v18.4s, v14.8h",
                "sadalp v19.4s, v15.8h",
                "smull v12.8h, v8.8b, v1.8b",
                "smull2 v13.8h, v8.16b, v1.16b",
                "sadalp v20.4s, v12.8h",
                "sadalp v21.4s, v13.8h",
                "smull v14.8h, v9.8b, v1.8b",
                "smull2 v15.8h, v9.16b, v1.16b",
                "sadalp v22.4s, v14.8h",
                "sadalp v23.4s, v15.8h",
                "smull v12.8h, v8.8b, v2.8b",
                "smull2 v13.8h, v8.16b, v2.16b",
                "sadalp v24.4s, v12.8h",
                "sadalp v25.4s, v13.8h",
                "smull v14.8h, v9.8b, v2.8b",
                "smull2 v15.8h, v9.16b, v2.16b",
                "sadalp v26.4s, v14.8h",
                "sadalp v27.4s, v15.8h",
                "smull v12.8h, v8.8b, v3.8b",
                "smull2 v13.8h, v8.16b, v3.16b",
                "sadalp v28.4s, v12.8h",
                "sadalp v29.4s, v13.8h",
                "smull v14.8h, v9.8b, v3.8b",
                "smull2 v15.8h, v9.16b, v3.16b",
                "sadalp v30.4s, v14.8h",
                "sadalp v31.4s, v15.8h",
                "sub {n}, {n}, #1",
                "3:",
                "cbz {n}, 5f",
                // Two groups a turn: v8/v9 and v0-v3 the first, v10/v11 and v4-v7 the second.
                "4:",
                "ld1 {{v8.16b, v9.16b, v10.16b, v11.16b}}, [{x}], #64",
                "ld4r {{v0.4s, v1.4s, v2.4s, v3.4s}}, [{w}], {step}",
                "ld4r {{v4.4s, v5.4s, v6.4s, v7.4s}}, [{w}], {step}",
                "smull v12.8h, v8.8b, v0.8b",
                "smlal v12.8h, v10.8b, v4.8b",
                "smull2 v13.8h, v8.16b, v0.16b",
                "smlal2 v13.8h, v10.16b, v4.16b",
                "sadalp v16.4s, v12.8h",
                "sadalp v17.4s, v13.8h",
                "smull v14.8h, v9.8b, v0.8b",
                "smlal v14.8h, v11.8b, v4.8b",
                "smull2 v15.8h, v9.16b, v0.16b",
                "smlal2 v15.8h, v11.16b, v4.16b",
                "sadalp v18.4s, v14.8h",
                "sadalp v19.4s, v15.8h",
                "smull v12.8h, v8.8b, v1.8b",
                "smlal v12.8h, v10.8b, v5.8b",
                "smull2 v13.8h, v8.16b, v1.16b",
                "smlal2 v13.8h, v10.16b, v5.16b",
                "sadalp v20.4s, v12.8h",
                "sadalp v21.4s, v13.8h",
                "smull v14.8h, v9.8b, v1.8b",
                "smlal v14.8h, v11.8b, v5.8b",
                "smull2 v15.8h, v9.16b, v1.16b",
                "smlal2 v15.8h, v11.16b, v5.16b",
                "sadalp v22.4s, v14.8h",
                "sadalp v23.4s, v15.8h",
                "smull v12.8h, v8.8b, v2.8b",
                "smlal v12.8h, v10.8b, v6.8b",
                "smull2 v13.8h, v8.16b, v2.16b",
                "smlal2 v13.8h, v10.16b, v6.16b",
                "sadalp v24.4s, v12.8h",
                "sadalp v25.4s, v13.8h",
                "smull v14.8h, v9.8b, v2.8b",
                "smlal v14.8h, v11.8b, v6.8b",
                "smull2 v15.8h, v9.16b, v2.16b",
                "smlal2 v15.8h, v11.16b, v6.16b",
                "sadalp v26.4s, v14.8h",
                "sadalp v27.4s, v15.8h",
                "smull v12.8h, v8.8b, v3.8b",
                "smlal v12.8h, v10.8b, v7.8b",
                "smull2 v13.8h, v8.16b, v3.16b",
                "smlal2 v13.8h, v10.16b, v7.16b",
                "sadalp v28.4s, v12.8h",
                "sadalp v29.4s, v13.8h",
                "smull v14.8h, v9.8b, v3.8b",
                "smlal v14.8h, v11.8b, v7.8b",
                "smull2 v15.8h, v9.16b, v3.16b",
                "smlal2 v15.8h, v11.16b, v7.16b",
                "sadalp v30.4s, v14.8h",
                "sadalp v31.4s, v15.8h",
                "subs {n}, {n}, #2",
                "b.ne 4b",
                "5:",
                // Output o's pixels 0-3 into v(16 + 2o), 4-7 into v(17 + 2o).
                "addp v16.4s, v16.4s, v17.4s", "addp v17.4s, v18.4s, v19.4s",
                "addp v18.4s, v20.4s, v21.4s", "addp v19.4s, v22.4s, v23.4s",
                "addp v20.4s, v24.4s, v25.4s", "addp v21.4s, v26.4s, v27.4s",
                "addp v22.4s, v28.4s, v29.4s", "addp v23.4s, v30.4s, v31.4s",
                $($finish,)+
                w = inout(reg) w => _,
                x = inout(reg) x => _,
                n = inout(reg) groups => _,
                step = in(reg) 32usize,
                $($operands)*
                out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _, out("v15") _,
                out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
                out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
                options(nostack),
            );
        }
    };
}

#[cfg(target_arch = "aarch64")]
smull_tile!(
    /// Each output's 8 pixels together: output `o` at `acc[o * 8..o * 8 + 8]`.
    ///
    /// # Safety
    /// `w` points to `groups` blocks of 32 bytes (read: 16 of each), `x` to `groups` blocks of 32;
    /// 32 `i32` from `acc` are writable.
    fn tile_smull_pixels_inner(acc: *mut i32),
    finish ["st1 {{v16.4s, v17.4s, v18.4s, v19.4s}}, [{acc}], #64", "st1 {{v20.4s, v21.4s, v22.4s, v23.4s}}, [{acc}]"],
    operands [acc = inout(reg) acc => _,]
);

#[cfg(target_arch = "aarch64")]
smull_tile!(
    /// Each pixel's 4 outputs together: pixel `j` at `acc[j * 8..j * 8 + 4]` (the 4x4 blocks
    /// transposed with `trn1`/`trn2`).
    ///
    /// # Safety
    /// As [`tile_smull_pixels_inner`], with `acc[j * 8..j * 8 + 4]` writable for `j < 8`.
    fn tile_smull_outputs_inner(acc: *mut i32),
    finish [
        "trn1 v0.4s, v16.4s, v18.4s", "trn2 v1.4s, v16.4s, v18.4s", "trn1 v2.4s, v20.4s, v22.4s", "trn2 v3.4s, v20.4s, v22.4s",
        "trn1 v4.2d, v0.2d, v2.2d", "trn1 v5.2d, v1.2d, v3.2d", "trn2 v6.2d, v0.2d, v2.2d", "trn2 v7.2d, v1.2d, v3.2d",
        "trn1 v12.4s, v17.4s, v19.4s", "trn2 v13.4s, v17.4s, v19.4s", "trn1 v14.4s, v21.4s, v23.4s", "trn2 v15.4s, v21.4s, v23.4s",
        "trn1 v8.2d, v12.2d, v14.2d", "trn1 v9.2d, v13.2d, v15.2d", "trn2 v10.2d, v12.2d, v14.2d", "trn2 v11.2d, v13.2d, v15.2d",
        "str q4, [{acc}]", "str q5, [{acc}, #32]", "str q6, [{acc}, #64]", "str q7, [{acc}, #96]",
        "str q8, [{acc}, #128]", "str q9, [{acc}, #160]", "str q10, [{acc}, #192]", "str q11, [{acc}, #224]"
    ],
    operands [acc = in(reg) acc,]
);

#[cfg(target_arch = "aarch64")]
smull_tile!(
    /// [`tile_smull_pixels_inner`] with the epilogue in registers, for a channels-first output:
    /// each output's 8 sums plus `p.init` (`-z * sum(w)`), then `scvtf`, `fmul`, `fadd`,
    /// `fmaxnm`, `fminnm` (the IEEE operations of `epilogue::one`, so the same bits), output `o`
    /// at `out + o * stride` (floats). `p`'s pointers are the half's 4 outputs.
    ///
    /// # Safety
    /// As [`tile_smull_pixels_inner`]; `p`'s pointers to 4 values each; the 4 rows of 8 floats
    /// from `out`, `stride` apart, are writable.
    fn tile_smull_pixels_inner_fused,
    finish [
        "ld1 {{v0.4s}}, [{init}]", "ld1 {{v1.4s}}, [{s}]", "ld1 {{v2.4s}}, [{b}]", "dup v3.4s, {lo:w}", "dup v4.4s, {hi:w}",
        "dup v5.4s, v0.s[0]",
        "add v16.4s, v16.4s, v5.4s",
        "add v17.4s, v17.4s, v5.4s",
        "scvtf v16.4s, v16.4s",
        "scvtf v17.4s, v17.4s",
        "fmul v16.4s, v16.4s, v1.s[0]",
        "fmul v17.4s, v17.4s, v1.s[0]",
        "dup v6.4s, v2.s[0]",
        "fadd v16.4s, v16.4s, v6.4s",
        "fadd v17.4s, v17.4s, v6.4s",
        "fmaxnm v16.4s, v16.4s, v3.4s",
        "fmaxnm v17.4s, v17.4s, v3.4s",
        "fminnm v16.4s, v16.4s, v4.4s",
        "fminnm v17.4s, v17.4s, v4.4s",
        "st1 {{v16.4s, v17.4s}}, [{out}], {stride}",
        "dup v5.4s, v0.s[1]",
        "add v18.4s, v18.4s, v5.4s",
        "add v19.4s, v19.4s, v5.4s",
        "scvtf v18.4s, v18.4s",
        "scvtf v19.4s, v19.4s",
        "fmul v18.4s, v18.4s, v1.s[1]",
        "fmul v19.4s, v19.4s, v1.s[1]",
        "dup v6.4s, v2.s[1]",
        "fadd v18.4s, v18.4s, v6.4s",
        "fadd v19.4s, v19.4s, v6.4s",
        "fmaxnm v18.4s, v18.4s, v3.4s",
        "fmaxnm v19.4s, v19.4s, v3.4s",
        "fminnm v18.4s, v18.4s, v4.4s",
        "fminnm v19.4s, v19.4s, v4.4s",
        "st1 {{v18.4s, v19.4s}}, [{out}], {stride}",
        "dup v5.4s, v0.s[2]",
        "add v20.4s, v20.4s, v5.4s",
        "add v21.4s, v21.4s, v5.4s",
        "scvtf v20.4s, v20.4s",
        "scvtf v21.4s, v21.4s",
        "fmul v20.4s, v20.4s, v1.s[2]",
        "fmul v21.4s, v21.4s, v1.s[2]",
        "dup v6.4s, v2.s[2]",
        "fadd v20.4s, v20.4s, v6.4s",
        "fadd v21.4s, v21.4s, v6.4s",
        "fmaxnm v20.4s, v20.4s, v3.4s",
        "fmaxnm v21.4s, v21.4s, v3.4s",
        "fminnm v20.4s, v20.4s, v4.4s",
        "fminnm v21.4s, v21.4s, v4.4s",
        "st1 {{v20.4s, v21.4s}}, [{out}], {stride}",
        "dup v5.4s, v0.s[3]",
        "add v22.4s, v22.4s, v5.4s",
        "add v23.4s, v23.4s, v5.4s",
        "scvtf v22.4s, v22.4s",
        "scvtf v23.4s, v23.4s",
        "fmul v22.4s, v22.4s, v1.s[3]",
        "fmul v23.4s, v23.4s, v1.s[3]",
        "dup v6.4s, v2.s[3]",
        "fadd v22.4s, v22.4s, v6.4s",
        "fadd v23.4s, v23.4s, v6.4s",
        "fmaxnm v22.4s, v22.4s, v3.4s",
        "fmaxnm v23.4s, v23.4s, v3.4s",
        "fminnm v22.4s, v22.4s, v4.4s",
        "fminnm v23.4s, v23.4s, v4.4s",
        "st1 {{v22.4s, v23.4s}}, [{out}], {stride}",
    ],
    fused
);

#[cfg(target_arch = "aarch64")]
smull_tile!(
    /// [`tile_smull_outputs_inner`] with the epilogue in registers, for a channels-last output:
    /// pixel `j`'s 4 outputs at `out + j * stride` (floats), as
    /// [`tile_smull_pixels_inner_fused`] computes them.
    ///
    /// # Safety
    /// As [`tile_smull_pixels_inner`]; `p`'s pointers to 4 values each; 8 rows of 4 floats from
    /// `out`, `stride` apart, are writable.
    fn tile_smull_outputs_inner_fused,
    finish [
        "trn1 v0.4s, v16.4s, v18.4s", "trn2 v1.4s, v16.4s, v18.4s", "trn1 v2.4s, v20.4s, v22.4s", "trn2 v3.4s, v20.4s, v22.4s",
        "trn1 v4.2d, v0.2d, v2.2d", "trn1 v5.2d, v1.2d, v3.2d", "trn2 v6.2d, v0.2d, v2.2d", "trn2 v7.2d, v1.2d, v3.2d",
        "trn1 v12.4s, v17.4s, v19.4s", "trn2 v13.4s, v17.4s, v19.4s", "trn1 v14.4s, v21.4s, v23.4s", "trn2 v15.4s, v21.4s, v23.4s",
        "trn1 v8.2d, v12.2d, v14.2d", "trn1 v9.2d, v13.2d, v15.2d", "trn2 v10.2d, v12.2d, v14.2d", "trn2 v11.2d, v13.2d, v15.2d",
        "ld1 {{v0.4s}}, [{init}]", "ld1 {{v1.4s}}, [{s}]", "ld1 {{v2.4s}}, [{b}]", "dup v3.4s, {lo:w}", "dup v12.4s, {hi:w}",
        "add v4.4s, v4.4s, v0.4s",
        "scvtf v4.4s, v4.4s",
        "fmul v4.4s, v4.4s, v1.4s",
        "fadd v4.4s, v4.4s, v2.4s",
        "fmaxnm v4.4s, v4.4s, v3.4s",
        "fminnm v4.4s, v4.4s, v12.4s",
        "st1 {{v4.4s}}, [{out}], {stride}",
        "add v5.4s, v5.4s, v0.4s",
        "scvtf v5.4s, v5.4s",
        "fmul v5.4s, v5.4s, v1.4s",
        "fadd v5.4s, v5.4s, v2.4s",
        "fmaxnm v5.4s, v5.4s, v3.4s",
        "fminnm v5.4s, v5.4s, v12.4s",
        "st1 {{v5.4s}}, [{out}], {stride}",
        "add v6.4s, v6.4s, v0.4s",
        "scvtf v6.4s, v6.4s",
        "fmul v6.4s, v6.4s, v1.4s",
        "fadd v6.4s, v6.4s, v2.4s",
        "fmaxnm v6.4s, v6.4s, v3.4s",
        "fminnm v6.4s, v6.4s, v12.4s",
        "st1 {{v6.4s}}, [{out}], {stride}",
        "add v7.4s, v7.4s, v0.4s",
        "scvtf v7.4s, v7.4s",
        "fmul v7.4s, v7.4s, v1.4s",
        "fadd v7.4s, v7.4s, v2.4s",
        "fmaxnm v7.4s, v7.4s, v3.4s",
        "fminnm v7.4s, v7.4s, v12.4s",
        "st1 {{v7.4s}}, [{out}], {stride}",
        "add v8.4s, v8.4s, v0.4s",
        "scvtf v8.4s, v8.4s",
        "fmul v8.4s, v8.4s, v1.4s",
        "fadd v8.4s, v8.4s, v2.4s",
        "fmaxnm v8.4s, v8.4s, v3.4s",
        "fminnm v8.4s, v8.4s, v12.4s",
        "st1 {{v8.4s}}, [{out}], {stride}",
        "add v9.4s, v9.4s, v0.4s",
        "scvtf v9.4s, v9.4s",
        "fmul v9.4s, v9.4s, v1.4s",
        "fadd v9.4s, v9.4s, v2.4s",
        "fmaxnm v9.4s, v9.4s, v3.4s",
        "fminnm v9.4s, v9.4s, v12.4s",
        "st1 {{v9.4s}}, [{out}], {stride}",
        "add v10.4s, v10.4s, v0.4s",
        "scvtf v10.4s, v10.4s",
        "fmul v10.4s, v10.4s, v1.4s",
        "fadd v10.4s, v10.4s, v2.4s",
        "fmaxnm v10.4s, v10.4s, v3.4s",
        "fminnm v10.4s, v10.4s, v12.4s",
        "st1 {{v10.4s}}, [{out}], {stride}",
        "add v11.4s, v11.4s, v0.4s",
        "scvtf v11.4s, v11.4s",
        "fmul v11.4s, v11.4s, v1.4s",
        "fadd v11.4s, v11.4s, v2.4s",
        "fmaxnm v11.4s, v11.4s, v3.4s",
        "fminnm v11.4s, v11.4s, v12.4s",
        "st1 {{v11.4s}}, [{out}], {stride}",
    ],
    fused
);

/// One pixel, without the dot product: outputs 0-7 at `acc[0..8]`, for blocks of one pixel (the
/// 9-pixel maps at the end of the network are 8 + 1, and the whole tile would do 8 times the
/// work) or of four (36 = 32 + 4), once per pixel (`x` offset by 4 bytes a pixel). `ld1r`
/// repeats the pixel's 4 channels across a register; weights and the int16 pairing as in
/// [`smull_tile`]: v16-v19 hold outputs (0, 1), (2, 3), (4, 5), (6, 7).
///
/// # Safety
/// `w` points to `groups` blocks of 32 bytes, `x` to `groups` blocks of 32 (read: the first 4 of
/// each); 8 `i32` from `acc` are writable.
#[cfg(target_arch = "aarch64")]
unsafe fn tile_smull_one_pixel(w: *const i8, x: *const i8, groups: usize, acc: *mut i32) {
    core::arch::asm!(
        "movi v16.4s, #0", "movi v17.4s, #0", "movi v18.4s, #0", "movi v19.4s, #0",
        "tbz {n}, #0, 3f",
        "ld1 {{v0.16b, v1.16b}}, [{w}], #32",
        "ld1r {{v8.4s}}, [{x}], {step}",
        "smull v12.8h, v0.8b, v8.8b", "smull2 v13.8h, v0.16b, v8.16b",
        "smull v14.8h, v1.8b, v8.8b", "smull2 v15.8h, v1.16b, v8.16b",
        "sadalp v16.4s, v12.8h", "sadalp v17.4s, v13.8h", "sadalp v18.4s, v14.8h", "sadalp v19.4s, v15.8h",
        "sub {n}, {n}, #1",
        "3:",
        "cbz {n}, 5f",
        "4:",
        "ld1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{w}], #64",
        "ld1r {{v8.4s}}, [{x}], {step}",
        "ld1r {{v9.4s}}, [{x}], {step}",
        "smull v12.8h, v0.8b, v8.8b", "smlal v12.8h, v2.8b, v9.8b",
        "smull2 v13.8h, v0.16b, v8.16b", "smlal2 v13.8h, v2.16b, v9.16b",
        "smull v14.8h, v1.8b, v8.8b", "smlal v14.8h, v3.8b, v9.8b",
        "smull2 v15.8h, v1.16b, v8.16b", "smlal2 v15.8h, v3.16b, v9.16b",
        "sadalp v16.4s, v12.8h", "sadalp v17.4s, v13.8h", "sadalp v18.4s, v14.8h", "sadalp v19.4s, v15.8h",
        "subs {n}, {n}, #2",
        "b.ne 4b",
        "5:",
        "addp v16.4s, v16.4s, v17.4s", "addp v17.4s, v18.4s, v19.4s",
        "st1 {{v16.4s, v17.4s}}, [{acc}]",
        w = inout(reg) w => _,
        x = inout(reg) x => _,
        n = inout(reg) groups => _,
        acc = in(reg) acc,
        step = in(reg) 32usize,
        out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v8") _, out("v9") _,
        out("v12") _, out("v13") _, out("v14") _, out("v15") _, out("v16") _, out("v17") _, out("v18") _, out("v19") _,
        options(nostack),
    );
}

/// Whether this CPU has a fast int8 tile, so that an int8 model's 1x1 convolutions pay on petcam's
/// op: every aarch64 CPU (the `sdot` tile with the dot product, Cortex-A76 / Raspberry Pi 5; the
/// `smull` tile without, Cortex-A72 and A53 / Pi 4, Pi 3, Zero 2 W). Elsewhere the tile is
/// portable Rust, slower than tract's f32 matmul kernels.
pub fn has_int8_tile() -> bool {
    cfg!(target_arch = "aarch64")
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
    } else if has_int8_tile() {
        "aarch64 NEON smull"
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
                let cf = Layer::new(in_c, out_c, (Layout::ChannelsFirst, Layout::ChannelsFirst), &w, &b, relu6);
                // Random weights are not int8 times a scale (a single weight per row always is).
                assert_eq!(cf.weights_were_int8(), in_c == 1, "{in_c}->{out_c}");
                let mut got = vec![f32::NAN; out_c * pixels];
                cf.run(&x, pixels, &mut got, &mut scratch);
                let worst = want.iter().zip(&got).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(worst <= tol, "{in_c}->{out_c} x {pixels}, relu6 {relu6}: off by {worst} (bound {tol})");
                // Channels last in, out or both: the same numbers, transposed.
                let x_cl = transpose(&x, in_c, pixels);
                for (lin, lout) in [(Layout::ChannelsLast, Layout::ChannelsLast), (Layout::ChannelsFirst, Layout::ChannelsLast), (Layout::ChannelsLast, Layout::ChannelsFirst)] {
                    let l = Layer::new(in_c, out_c, (lin, lout), &w, &b, relu6);
                    let mut y = vec![f32::NAN; out_c * pixels];
                    l.run(if lin == Layout::ChannelsLast { &x_cl } else { &x }, pixels, &mut y, &mut scratch);
                    let y = if lout == Layout::ChannelsLast { transpose(&y, pixels, out_c) } else { y };
                    assert_eq!(y, got, "{in_c}->{out_c} x {pixels}: {lin:?} -> {lout:?} disagrees");
                }
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
        // -128 and 127 both present: the range is 255 steps of 0.5 with zero point 0.
        let xq: Vec<i32> = (0..in_c * pixels)
            .map(|i| match i {
                0 => -128,
                1 => 127,
                _ => (i as i32 * 53 % 255) - 127,
            })
            .collect();
        let x: Vec<f32> = xq.iter().map(|&q| q as f32 * 0.5).collect();
        let layer = Layer::new(in_c, out_c, (Layout::ChannelsFirst, Layout::ChannelsFirst), &w, &vec![0.0; out_c], false);
        assert!(layer.weights_were_int8());
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
    fn a_layer_taking_the_relu6_before_it_equals_one_reading_relu6_of_its_input() {
        for &(in_c, out_c, pixels) in &[(16, 24, 36), (96, 24, 9), (5, 9, 13)] {
            for layout in [(Layout::ChannelsFirst, Layout::ChannelsFirst), (Layout::ChannelsLast, Layout::ChannelsLast)] {
                // Values from -8 to 8: both sides of the clamp.
                let x: Vec<f32> = values(in_c * pixels, 7).iter().map(|v| 8.0 * v).collect();
                let clamped: Vec<f32> = x.iter().map(|v| v.clamp(0.0, 6.0)).collect();
                let plain = Layer::new(in_c, out_c, layout, &values(in_c * out_c, 8), &values(out_c, 9), false);
                let taking = plain.clone().with_input_relu6();
                let (mut want, mut got) = (vec![f32::NAN; out_c * pixels], vec![f32::NAN; out_c * pixels]);
                plain.run(&clamped, pixels, &mut want, &mut vec![]);
                taking.run(&x, pixels, &mut got, &mut vec![]);
                assert_eq!(got, want, "{in_c}->{out_c} x {pixels} {layout:?}");
                assert!(taking.input_relu6() && !plain.input_relu6());
            }
        }
    }

    #[test]
    fn zero_and_non_finite_inputs_give_the_bias() {
        let layer = Layer::new(4, 3, (Layout::ChannelsFirst, Layout::ChannelsFirst), &values(12, 4), &[1.0, -2.0, 7.5], true);
        for v in [0.0, f32::NAN, f32::INFINITY] {
            let mut out = vec![f32::NAN; 6];
            layer.run(&[v; 8], 2, &mut out, &mut vec![]);
            assert_eq!(out, [1.0, 1.0, 0.0, 0.0, 6.0, 6.0], "input {v}");
        }
    }

    #[test]
    fn the_sdot_tile_and_the_portable_one_agree() {
        // On a CPU with dot product both run; elsewhere `tile` is the portable one, and the two
        // orders must hold the same sums transposed.
        // Weights from -127 to 127 (a layer's are never -128), inputs -128 to 127, with the
        // extremes in the first three groups (the single one and the first pair): the int16
        // sums of the smull tile at their largest.
        let groups = 5;
        let mut w: Vec<i8> = (0..groups * 32).map(|i| ((i * 73) % 255) as i32 - 127).map(|v| v as i8).collect();
        let mut x: Vec<i8> = (0..groups * 32).map(|i| ((i * 31) % 256) as i32 - 128).map(|v| v as i8).collect();
        w[..96].fill(-127);
        x[..96].fill(-128);
        for order in [Order::PixelsInner, Order::OutputsInner] {
            let mut a = [0; 64];
            tile_portable(&w, &x, groups, order, &mut a);
            assert_ne!(a, [0; 64]);
            // Without the dot product (the smull tile on aarch64) and with it where the CPU has it,
            // and 1 to 6 groups (odd and even counts).
            for dot in [false, has_dot_product()] {
                for g in 1..=groups {
                    let (mut a, mut b) = ([0; 64], [1; 64]);
                    tile_portable(&w, &x, g, order, &mut a);
                    tile(&w, &x, g, (order, Width::Whole), dot, &mut b);
                    assert_eq!(a, b, "tile variant {}, dot {dot}, {g} groups, {order:?}", variant());
                }
            }
        }
        // The half tile: the first 4 pixels' sums, wherever its strides put them.
        for order in [Order::PixelsInner, Order::OutputsInner] {
            let mut full = [0; 64];
            let (so, sj) = tile_portable(&w, &x, groups, Order::PixelsInner, &mut full);
            for dot in [false, has_dot_product()] {
                let mut half = [-1; 64];
                let (ho, hj) = tile(&w, &x, groups, (order, Width::Half), dot, &mut half);
                for (o, j) in (0..TILE_O).flat_map(|o| (0..4).map(move |j| (o, j))) {
                    assert_eq!(half[o * ho + j * hj], full[o * so + j * sj], "half tile, dot {dot}, {order:?}, output {o} pixel {j}");
                }
            }
            // The one-pixel tile: the first pixel's sums, with and without the dot product, odd
            // and even group counts.
            for (dot, g) in [false, has_dot_product()].into_iter().flat_map(|d| (1..=groups).map(move |g| (d, g))) {
                let (mut full, mut one) = ([0; 64], [-1; 64]);
                tile_portable(&w, &x, g, Order::PixelsInner, &mut full);
                let (oo, _) = tile(&w, &x, g, (order, Width::One), dot, &mut one);
                for o in 0..TILE_O {
                    assert_eq!(one[o * oo], full[o * so], "one-pixel tile, dot {dot}, {g} groups, {order:?}, output {o}");
                }
            }
        }
        let (mut p, mut o) = ([0; 64], [0; 64]);
        tile_portable(&w, &x, groups, Order::PixelsInner, &mut p);
        tile_portable(&w, &x, groups, Order::OutputsInner, &mut o);
        assert!((0..64).all(|k| p[k] == o[(k % 8) * 8 + k / 8]));
    }

    /// The tiles with the epilogue in registers write what the portable tile and
    /// `epilogue::one` give, bit for bit, at their place in a larger output (rows `stride`
    /// apart), with and without the clamp: the `smull` tiles on any aarch64 CPU, the `sdot` ones
    /// where the CPU has the dot product (CI: qemu cortex-a72 and cortex-a76). There is nothing
    /// to compare elsewhere.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn the_fused_tiles_write_the_epilogues_bits() {
        // One group, two, an even count and an odd one (the loops take two groups a turn).
        for groups in [1, 2, 6, 7] {
            fused_tiles_case(groups, false);
            if has_dot_product() {
                fused_tiles_case(groups, true);
            }
        }
    }

    /// One fused tile of 8 outputs x 8 pixels at output index 3 of rows `stride` apart: the
    /// `sdot` one, or the two `smull` halves of 4 outputs.
    #[cfg(target_arch = "aarch64")]
    unsafe fn fused_tile(dot: bool, layout: Layout, (w, x, groups): (&[i8], &[i8], usize), p: &TileParams, out: &mut [f32], stride: usize) {
        let (w, x, o) = (w.as_ptr(), x.as_ptr(), out.as_mut_ptr().add(3));
        match (dot, layout) {
            (true, Layout::ChannelsFirst) => tile_sdot_pixels_inner_fused(w, x, groups, p, o, stride),
            (true, Layout::ChannelsLast) => tile_sdot_outputs_inner_fused(w, x, groups, p, o, stride),
            (false, _) => {
                for h in 0..2 {
                    let ph = TileParams { init: p.init.add(4 * h), scale: p.scale.add(4 * h), bias: p.bias.add(4 * h), clamp: p.clamp };
                    match layout {
                        Layout::ChannelsFirst => tile_smull_pixels_inner_fused(w.add(16 * h), x, groups, &ph, o.add(4 * h * stride), stride),
                        Layout::ChannelsLast => tile_smull_outputs_inner_fused(w.add(16 * h), x, groups, &ph, o.add(4 * h), stride),
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "aarch64")]
    fn fused_tiles_case(groups: usize, dot: bool) {
        let w: Vec<i8> = (0..groups * 32).map(|i| ((i * 73) % 255) as i32 - 127).map(|v| v as i8).collect();
        let x: Vec<i8> = (0..groups * 32).map(|i| ((i * 31) % 256) as i32 - 128).map(|v| v as i8).collect();
        let init: Vec<i32> = (0..8).map(|o| 1000 * o - 3500).collect();
        let scale: Vec<f32> = (0..8).map(|o| 1e-4 * (o as f32 + 1.0)).collect();
        let bias: Vec<f32> = values(8, 3);
        let mut sums = [0; 64];
        let (so, sj) = tile_portable(&w, &x, groups, Order::PixelsInner, &mut sums);
        for clamp in [(0.0, 6.0), (f32::NEG_INFINITY, f32::INFINITY)] {
            let params = TileParams { init: init.as_ptr(), scale: scale.as_ptr(), bias: bias.as_ptr(), clamp };
            let stride = 11;
            let want = |o: usize, j: usize| epilogue::one(sums[o * so + j * sj], -init[o], scale[o], bias[o], clamp);
            for layout in [Layout::ChannelsFirst, Layout::ChannelsLast] {
                let mut out = vec![f32::NAN; 8 * stride + 8];
                // SAFETY: dot product checked by the caller where `dot`; `groups` blocks of 32
                // bytes; 8 rows of 8 from index 3 with rows 11 apart end at 3 + 7 * 11 + 8 <= 96.
                unsafe { fused_tile(dot, layout, (&w, &x, groups), &params, &mut out, stride) };
                for (o, j) in (0..8).flat_map(|o| (0..8).map(move |j| (o, j))) {
                    let at = match layout {
                        Layout::ChannelsFirst => 3 + o * stride + j,
                        Layout::ChannelsLast => 3 + j * stride + o,
                    };
                    assert_eq!(out[at].to_bits(), want(o, j).to_bits(), "dot {dot}, {layout:?}, {groups} groups, output {o} pixel {j}, clamp {clamp:?}");
                }
            }
        }
    }
}
