//! The depthwise convolution itself, on plain slices (NCHW, batch of one, one channel at a time),
//! with the bias and an optional ReLU6 fused in.
//!
//! The scheme (the "flat" kernel of issue 19's micro-benchmark): each input channel is copied once
//! into a zero-padded scratch plane, split by column phase for strides above 1 (plane `p` holds
//! the padded columns `p, p + s, p + 2s, ...`). Every tap then reads a contiguous run of its phase
//! plane, so one output row is `bias + sum over taps of w * row-slice`, a straight multiply-add over
//! [`LANES`] output columns at a time that the compiler vectorises: no border zones, no stride
//! special cases, no second pass for the activation. The scratch rows are wide enough that the
//! last block of a row may compute past the output's width; those columns are never stored.
//!
//! Vector width comes from the compiler: the same code is built with AVX-512F and with AVX2 + FMA
//! (chosen at run time on x86_64: [`crate::classifier::simd`]) and once for the target's
//! baseline (SSE2 on x86_64, NEON with fused multiply-add on aarch64, scalar VFP on armv7, where
//! rustc's target has no NEON). The exceptions are [`Scheme::ChannelInner`]'s points, the scheme
//! of a channels-last graph: hand-written with NEON on aarch64 (`mod neon`: two output points
//! per filter load) and with AVX-512F / AVX2 intrinsics on x86_64 (`mod x86`: the filters loaded
//! once per block of channels).

pub use crate::classifier::simd::Level;

/// Output columns computed together: two AVX registers, four NEON or SSE registers, held in
/// registers across all the taps of one block.
pub const LANES: usize = 16;

/// The shape of one depthwise layer: every channel has its own `kh x kw` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    /// Zero rows above and columns left of the input (those below and right follow from the
    /// output size).
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Geometry {
    /// Whether every size is at least 1 (outputs that read only padding are allowed: they get
    /// the bias).
    pub fn is_valid(&self) -> bool {
        self.channels > 0 && self.kh > 0 && self.kw > 0 && self.stride_h > 0 && self.stride_w > 0 && self.out_h > 0 && self.out_w > 0 && self.in_h > 0 && self.in_w > 0
    }
    pub fn input_len(&self) -> usize {
        self.channels * self.in_h * self.in_w
    }
    pub fn output_len(&self) -> usize {
        self.channels * self.out_h * self.out_w
    }
    /// Output columns rounded up to whole [`LANES`] blocks.
    fn padded_out_w(&self) -> usize {
        self.out_w.div_ceil(LANES) * LANES
    }
    /// Rows of the padded plane that any output reads.
    fn plane_rows(&self) -> usize {
        (self.out_h - 1) * self.stride_h + self.kh
    }
    /// Width of one phase plane: the widest tap offset plus a whole number of blocks.
    fn plane_cols(&self) -> usize {
        self.padded_out_w() + (self.kw - 1) / self.stride_w
    }
}

/// How a layer is computed. [`Scheme::for_geometry`] picks per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Channel by channel, [`LANES`] output columns at a time: for rows at least [`LANES`] wide.
    Rows,
    /// [`LANES`] channels at a time at every output point, through channel-last copies of the
    /// input and output: for the small late feature maps (12x12 down to 3x3 at 96 px), where a
    /// row would fill a fraction of a vector and where the channels are many.
    ChannelInner,
}

/// Where the channel axis of the layer's input and output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `[C, H, W]`: what the ONNX model gives.
    ChannelsFirst,
    /// `[H, W, C]`: what tract's declutter may turn a convolution chain into on some CPUs.
    ChannelsLast,
}

impl Scheme {
    /// [`Scheme::Rows`] for wide channels-first maps, else [`Scheme::ChannelInner`].
    pub fn for_geometry(geo: &Geometry, layout: Layout) -> Scheme {
        if layout == Layout::ChannelsFirst && geo.out_w >= LANES {
            Scheme::Rows
        } else {
            Scheme::ChannelInner
        }
    }
}

/// One depthwise layer ready to run: its geometry, scheme, and filters laid out for the scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    geo: Geometry,
    scheme: Scheme,
    layout: Layout,
    /// `[C, kh, kw]` for [`Scheme::Rows`]; `[kh, kw, Cp]` (channels padded to whole blocks) for
    /// [`Scheme::ChannelInner`].
    weights: Vec<f32>,
    /// `[C]`, or `[Cp]` for [`Scheme::ChannelInner`].
    bias: Vec<f32>,
    relu6: bool,
}

impl Layer {
    /// `weights` is `[C, kh, kw]`, `bias` `[C]`; `relu6` clamps the output to `[0, 6]`.
    ///
    /// # Panics
    /// When `geo` is invalid, a length does not match it, or `scheme` is [`Scheme::Rows`] with
    /// [`Layout::ChannelsLast`] (the tract op checks before).
    pub fn new(geo: Geometry, scheme: Scheme, layout: Layout, weights: &[f32], bias: &[f32], relu6: bool) -> Layer {
        assert!(geo.is_valid(), "invalid depthwise geometry {geo:?}");
        assert!(!(scheme == Scheme::Rows && layout == Layout::ChannelsLast), "the row scheme reads channels-first maps");
        let taps = geo.kh * geo.kw;
        assert_eq!(weights.len(), geo.channels * taps, "depthwise weights length");
        assert_eq!(bias.len(), geo.channels, "depthwise bias length");
        let (weights, bias) = match scheme {
            Scheme::Rows => (weights.to_vec(), bias.to_vec()),
            Scheme::ChannelInner => {
                let cp = geo.padded_channels();
                let mut w = vec![0.0; taps * cp];
                for c in 0..geo.channels {
                    for t in 0..taps {
                        w[t * cp + c] = weights[c * taps + t];
                    }
                }
                let mut b = bias.to_vec();
                b.resize(cp, 0.0);
                (w, b)
            }
        };
        Layer { geo, scheme, layout, weights, bias, relu6 }
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether the output is clamped to `[0, 6]`.
    pub fn relu6(&self) -> bool {
        self.relu6
    }

    /// Whether [`Scheme::ChannelInner`] accumulates straight into the caller's output (channels
    /// last, no padding channels) instead of a channel-last copy.
    fn writes_in_place(&self) -> bool {
        self.layout == Layout::ChannelsLast && self.geo.padded_channels() == self.geo.channels
    }

    /// The zero-padded copy [`Scheme::ChannelInner`] reads, for a channels-last input without
    /// padding channels: each value written once (whole input rows copied, the padding zeroed),
    /// not a zeroed buffer filled point by point.
    fn padded_channels_last(&self, x: &[f32]) -> Vec<f32> {
        let geo = &self.geo;
        let (c, cols, rows) = (geo.channels, geo.hwc_cols(), geo.plane_rows());
        let (top, left) = (geo.pad_top.min(rows), geo.pad_left.min(cols));
        let (rows_in, cols_in) = (geo.in_h.min(rows - top), geo.in_w.min(cols - left));
        let mut v = Vec::with_capacity(rows * cols * c);
        v.resize(top * cols * c, 0.0);
        for iy in 0..rows_in {
            v.resize(v.len() + left * c, 0.0);
            v.extend_from_slice(&x[iy * geo.in_w * c..(iy * geo.in_w + cols_in) * c]);
            v.resize((top + iy + 1) * cols * c, 0.0);
        }
        v.resize(rows * cols * c, 0.0);
        v
    }

    /// Floats of scratch memory [`run`](Self::run) uses.
    pub fn scratch_len(&self) -> usize {
        match self.scheme {
            Scheme::Rows => self.geo.stride_w * self.geo.plane_rows() * self.geo.plane_cols(),
            Scheme::ChannelInner => (self.geo.plane_rows() * self.geo.hwc_cols() + if self.writes_in_place() { 0 } else { self.geo.out_h * self.geo.out_w }) * self.geo.padded_channels(),
        }
    }

    /// `out = act(depthwise(x) + bias)` for one image: `x` is `[C, in_h, in_w]`, `out`
    /// `[C, out_h, out_w]` (or `[H, W, C]` for [`Layout::ChannelsLast`]).
    ///
    /// # Panics
    /// When a length does not match the geometry.
    pub fn run(&self, x: &[f32], out: &mut [f32]) {
        self.run_at(crate::classifier::simd::level(), x, out)
    }

    /// [`run`](Self::run) with the code for `level` of x86_64 vector extensions (at most what
    /// the CPU has: [`crate::classifier::simd::detected`]; lower levels for the tests).
    pub fn run_at(&self, level: Level, x: &[f32], out: &mut [f32]) {
        assert_eq!(x.len(), self.geo.input_len(), "depthwise input length");
        assert_eq!(out.len(), self.geo.output_len(), "depthwise output length");
        assert!(level <= crate::classifier::simd::detected(), "{level:?} is more than this CPU has");
        let mut scratch = if self.writes_in_place() { self.padded_channels_last(x) } else { vec![0.0f32; self.scratch_len()] };
        match level {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX-512F and FMA (asserted above).
            Level::Avx512 => unsafe { run_avx512(self, x, out, &mut scratch) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX2 and FMA (asserted above).
            Level::Avx2Fma => unsafe { run_avx2_fma(self, x, out, &mut scratch) },
            _ => run_with::<Baseline, { Level::Baseline as u8 }>(self, x, out, &mut scratch),
        }
    }
}

impl Geometry {
    /// Channels rounded up to whole [`LANES`] blocks.
    fn padded_channels(&self) -> usize {
        self.channels.div_ceil(LANES) * LANES
    }
    /// Width of the padded channel-last input.
    fn hwc_cols(&self) -> usize {
        (self.out_w - 1) * self.stride_w + self.kw
    }
}

/// `out = act(depthwise(x, weights) + bias)` for one image with the layer's own scheme: a
/// [`Layer`] made and run once (tests).
#[cfg(test)]
fn depthwise(geo: &Geometry, x: &[f32], weights: &[f32], bias: &[f32], relu6: bool, out: &mut [f32]) {
    Layer::new(*geo, Scheme::for_geometry(geo, Layout::ChannelsFirst), Layout::ChannelsFirst, weights, bias, relu6).run(x, out)
}

/// Which variant [`Layer::run`] uses on this CPU, for `petcam info` and the benchmarks.
pub fn variant() -> &'static str {
    crate::classifier::simd::level().name()
}

/// `a * b + c`: fused where the instruction set has a vector FMA, two operations elsewhere
/// (`f32::mul_add` without hardware FMA is a library call, which would stop vectorisation).
trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// The target's baseline: fused on aarch64 (NEON `fmla`), separate elsewhere.
struct Baseline;
impl MulAdd for Baseline {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        if cfg!(target_arch = "aarch64") {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }
}

#[cfg(target_arch = "x86_64")]
struct Fused;
#[cfg(target_arch = "x86_64")]
impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2_fma(layer: &Layer, x: &[f32], out: &mut [f32], scratch: &mut [f32]) {
    run_with::<Fused, { Level::Avx2Fma as u8 }>(layer, x, out, scratch)
}

/// The same code with 16-lane vectors: one register per block of [`LANES`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn run_avx512(layer: &Layer, x: &[f32], out: &mut [f32], scratch: &mut [f32]) {
    run_with::<Fused, { Level::Avx512 as u8 }>(layer, x, out, scratch)
}

#[inline(always)]
fn run_with<M: MulAdd, const L: u8>(layer: &Layer, x: &[f32], out: &mut [f32], scratch: &mut [f32]) {
    match (layer.scheme, layer.relu6) {
        (Scheme::Rows, true) => rows::<M, true>(layer, x, out, scratch),
        (Scheme::Rows, false) => rows::<M, false>(layer, x, out, scratch),
        (Scheme::ChannelInner, true) => channel_inner::<M, L, true>(layer, x, out, scratch),
        (Scheme::ChannelInner, false) => channel_inner::<M, L, false>(layer, x, out, scratch),
    }
}

#[inline(always)]
fn activate<const RELU6: bool>(acc: &mut [f32; LANES]) {
    if RELU6 {
        for a in acc {
            // max/min rather than clamp: one vector instruction each (fmaxnm/fminnm, maxps/minps)
            // where clamp's NaN rule costs a compare and a select per bound.
            #[allow(clippy::manual_clamp)]
            {
                *a = a.max(0.0).min(6.0);
            }
        }
    }
}

/// [`Scheme::Rows`]: each channel copied into zero-padded phase planes, then every output row
/// [`LANES`] columns at a time, all taps accumulated in registers.
#[inline(always)]
fn rows<M: MulAdd, const RELU6: bool>(layer: &Layer, x: &[f32], out: &mut [f32], scratch: &mut [f32]) {
    let geo = &layer.geo;
    let (in_plane, out_plane, taps) = (geo.in_h * geo.in_w, geo.out_h * geo.out_w, geo.kh * geo.kw);
    let (rows, cols, s) = (geo.plane_rows(), geo.plane_cols(), geo.stride_w);
    let plane = rows * cols;
    // Where each tap reads, relative to the block's first output column in its first row.
    let offsets: Vec<usize> = (0..taps).map(|t| (t % geo.kw % s) * plane + (t / geo.kw) * cols + t % geo.kw / s).collect();
    for c in 0..geo.channels {
        fill_phase_planes(geo, &x[c * in_plane..(c + 1) * in_plane], scratch);
        let w = &layer.weights[c * taps..(c + 1) * taps];
        let o = &mut out[c * out_plane..(c + 1) * out_plane];
        for oy in 0..geo.out_h {
            let out_row = &mut o[oy * geo.out_w..(oy + 1) * geo.out_w];
            for x0 in (0..geo.out_w).step_by(LANES) {
                let mut acc = [layer.bias[c]; LANES];
                let block = oy * geo.stride_h * cols + x0;
                for (k, off) in w.iter().zip(&offsets) {
                    let start = block + off;
                    let src: &[f32; LANES] = scratch[start..start + LANES].try_into().expect("a block lies inside its plane");
                    for i in 0..LANES {
                        acc[i] = M::mul_add(src[i], *k, acc[i]);
                    }
                }
                activate::<RELU6>(&mut acc);
                let n = LANES.min(geo.out_w - x0);
                out_row[x0..x0 + n].copy_from_slice(&acc[..n]);
            }
        }
    }
}

/// Copies one input channel into the zero-padded phase planes of [`Scheme::Rows`].
#[inline(always)]
fn fill_phase_planes(geo: &Geometry, x: &[f32], scratch: &mut [f32]) {
    scratch.fill(0.0);
    let (rows, cols, s) = (geo.plane_rows(), geo.plane_cols(), geo.stride_w);
    let plane = rows * cols;
    for iy in 0..geo.in_h {
        let py = iy + geo.pad_top;
        if py >= rows {
            break;
        }
        let src = &x[iy * geo.in_w..(iy + 1) * geo.in_w];
        if s == 2 {
            // Input columns 2j and 2j + 1 land in the two planes at fixed offsets: a
            // deinterleaving copy the compiler vectorises.
            let (p0, p1) = scratch.split_at_mut(plane);
            let row = py * cols..(py + 1) * cols;
            let (even, odd) = (&mut p0[row.clone()], &mut p1[row]);
            let (first, second) = if geo.pad_left.is_multiple_of(2) { (even, odd) } else { (odd, even) };
            let (at_a, at_b) = (geo.pad_left / 2, geo.pad_left.div_ceil(2));
            if at_b >= cols {
                continue;
            }
            let pairs = src.chunks_exact(2);
            let n = pairs.len().min(cols - at_b);
            for ((a, b), ab) in first[at_a..at_a + n].iter_mut().zip(&mut second[at_b..at_b + n]).zip(pairs) {
                *a = ab[0];
                *b = ab[1];
            }
            // An odd width's last column, or the first plane's last column of a clipped row.
            let mut j = n;
            while at_a + j < cols && 2 * j < src.len() {
                first[at_a + j] = src[2 * j];
                j += 1;
            }
            continue;
        }
        // Phase p holds padded columns p, p + s, ...: input columns p - pad_left + j * s.
        for p in 0..s {
            let (first_j, first_ix) = match p.checked_sub(geo.pad_left) {
                Some(ix) => (0, ix),
                None => {
                    let j = (geo.pad_left - p).div_ceil(s);
                    (j, j * s + p - geo.pad_left)
                }
            };
            if first_j >= cols || first_ix >= geo.in_w {
                continue;
            }
            let dst = &mut scratch[p * plane + py * cols + first_j..p * plane + (py + 1) * cols];
            for (d, v) in dst.iter_mut().zip(src[first_ix..].iter().step_by(s)) {
                *d = *v;
            }
        }
    }
}

/// [`Scheme::ChannelInner`]: the input copied channel-last into a zero-padded `[rows, cols, Cp]`
/// buffer, then at every output point [`LANES`] channels at a time over all taps, written
/// channel-last and copied back to `[C, out_h, out_w]`.
#[inline(always)]
fn channel_inner<M: MulAdd, const L: u8, const RELU6: bool>(layer: &Layer, x: &[f32], out: &mut [f32], scratch: &mut [f32]) {
    if layer.writes_in_place() {
        // `run` made the padded copy.
        channel_inner_points::<M, L, RELU6>(layer, scratch, out);
        return;
    }
    let geo = &layer.geo;
    let (cp, cols) = (geo.padded_channels(), geo.hwc_cols());
    // The scratch comes zeroed from `run`: the padding stays zero.
    let (input, spare) = scratch.split_at_mut(geo.plane_rows() * cols * cp);
    let in_plane = geo.in_h * geo.in_w;
    let (rows_in, cols_in) = (geo.in_h.min(geo.plane_rows().saturating_sub(geo.pad_top)), geo.in_w.min(cols.saturating_sub(geo.pad_left)));
    match layer.layout {
        Layout::ChannelsFirst => {
            for c in 0..geo.channels {
                let xc = &x[c * in_plane..(c + 1) * in_plane];
                for iy in 0..rows_in {
                    let base = (iy + geo.pad_top) * cols + geo.pad_left;
                    for ix in 0..cols_in {
                        input[(base + ix) * cp + c] = xc[iy * geo.in_w + ix];
                    }
                }
            }
        }
        Layout::ChannelsLast => {
            let c = geo.channels;
            for iy in 0..rows_in {
                let base = (iy + geo.pad_top) * cols + geo.pad_left;
                let p = iy * geo.in_w;
                for ix in 0..cols_in {
                    input[(base + ix) * cp..(base + ix) * cp + c].copy_from_slice(&x[(p + ix) * c..(p + ix + 1) * c]);
                }
            }
        }
    }
    let output = &mut spare[..geo.out_h * geo.out_w * cp];
    channel_inner_points::<M, L, RELU6>(layer, input, output);
    let out_plane = geo.out_h * geo.out_w;
    match layer.layout {
        Layout::ChannelsFirst => {
            for c in 0..geo.channels {
                for (p, v) in out[c * out_plane..(c + 1) * out_plane].iter_mut().enumerate() {
                    *v = output[p * cp + c];
                }
            }
        }
        Layout::ChannelsLast => {
            let c = geo.channels;
            for p in 0..out_plane {
                out[p * c..(p + 1) * c].copy_from_slice(&output[p * cp..p * cp + c]);
            }
        }
    }
}

/// The arithmetic of [`Scheme::ChannelInner`]: `input` is the padded channel-last copy, `output`
/// `[out_h, out_w, Cp]`.
#[inline(always)]
fn channel_inner_points<M: MulAdd, const L: u8, const RELU6: bool>(layer: &Layer, input: &[f32], output: &mut [f32]) {
    #[cfg(target_arch = "aarch64")]
    {
        let geo = &layer.geo;
        assert!(input.len() >= geo.plane_rows() * geo.hwc_cols() * geo.padded_channels() && output.len() >= geo.out_h * geo.out_w * geo.padded_channels());
        // SAFETY: NEON is part of aarch64; `neon` reads the padded copy and writes `output`
        // within the lengths asserted just above (the same indices as the loop below).
        unsafe {
            match (geo.kh, geo.kw) {
                (3, 3) => neon::points::<3, RELU6>(layer, input, output),
                (5, 5) => neon::points::<5, RELU6>(layer, input, output),
                _ => neon::points_any::<RELU6>(layer, input, output),
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let geo = &layer.geo;
        if L != Level::Baseline as u8 && matches!((geo.kh, geo.kw), (3, 3) | (5, 5)) {
            assert!(input.len() >= geo.plane_rows() * geo.hwc_cols() * geo.padded_channels() && output.len() >= geo.out_h * geo.out_w * geo.padded_channels());
            assert!(layer.weights.len() >= geo.kh * geo.kw * geo.padded_channels() && layer.bias.len() >= geo.padded_channels());
            // SAFETY: `run_at` checked that the CPU has the level's features (`L` is the level
            // `run_at` was given); `x86` reads the padded copy and writes `output` within the
            // lengths asserted just above (the indices of the loop below).
            unsafe {
                match (L == Level::Avx512 as u8, geo.kh) {
                    (true, 3) => x86::points_avx512::<3, 9, RELU6>(layer, input, output),
                    (true, _) => x86::points_avx512::<5, 25, RELU6>(layer, input, output),
                    (false, 3) => x86::points_avx2::<3, 9, RELU6>(layer, input, output),
                    (false, _) => x86::points_avx2::<5, 25, RELU6>(layer, input, output),
                }
            }
            return;
        }
    }
    #[allow(unreachable_code)]
    let geo = &layer.geo;
    let (cp, cols) = (geo.padded_channels(), geo.hwc_cols());
    let bias = &layer.bias;
    for oy in 0..geo.out_h {
        for ox in 0..geo.out_w {
            let o = &mut output[(oy * geo.out_w + ox) * cp..(oy * geo.out_w + ox + 1) * cp];
            for c0 in (0..cp).step_by(LANES) {
                let mut acc: [f32; LANES] = bias[c0..c0 + LANES].try_into().expect("whole blocks");
                for ky in 0..geo.kh {
                    let row = ((oy * geo.stride_h + ky) * cols + ox * geo.stride_w) * cp + c0;
                    for kx in 0..geo.kw {
                        let src: &[f32; LANES] = input[row + kx * cp..row + kx * cp + LANES].try_into().expect("whole blocks");
                        let t = (ky * geo.kw + kx) * cp + c0;
                        let w: &[f32; LANES] = layer.weights[t..t + LANES].try_into().expect("whole blocks");
                        for i in 0..LANES {
                            acc[i] = M::mul_add(src[i], w[i], acc[i]);
                        }
                    }
                }
                activate::<RELU6>(&mut acc);
                o[c0..c0 + LANES].copy_from_slice(&acc);
            }
        }
    }
}

/// [`Scheme::ChannelInner`] with AVX-512F or AVX2 on x86_64: a block of one register's channels
/// (16, or 8) at a time, its 9 or 25 filter vectors loaded once while the block's output points
/// are walked (held in registers where they fit: AVX-512's 32), so each tap is one load and one
/// fused multiply-add; the portable loop reloads the filters for every point and checks every
/// slice. The same fused multiply-adds in the same order as the portable loop, so the same bits.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Layer, LANES};
    use std::arch::x86_64::*;

    macro_rules! points {
        ($name:ident, $feat:literal, $lanes:literal, $v:ty, $load:ident, $set1:ident, $fmadd:ident, $max:ident, $min:ident, $store:ident, $zero:ident) => {
            /// # Safety
            /// The CPU has the features; the layer is `K` x `K` (`T` = `K * K` taps); `input` is
            /// the padded channel-last copy and `output` `[out_h, out_w, Cp]`, both at least as
            /// long as the geometry says.
            #[target_feature(enable = $feat)]
            pub unsafe fn $name<const K: usize, const T: usize, const RELU6: bool>(layer: &Layer, input: &[f32], output: &mut [f32]) {
                const _: () = assert!(LANES % $lanes == 0, "a block is whole registers");
                let geo = &layer.geo;
                let (cp, cols) = (geo.padded_channels(), geo.hwc_cols());
                let (inp, outp, wp, bp) = (input.as_ptr(), output.as_mut_ptr(), layer.weights.as_ptr(), layer.bias.as_ptr());
                let (zero, six) = ($zero(), $set1(6.0));
                for c0 in (0..cp).step_by($lanes) {
                    // SAFETY (whole loop): every index is one the portable loop reads or writes,
                    // within the lengths the caller promised.
                    unsafe {
                        let mut w = [zero; T];
                        for (t, v) in w.iter_mut().enumerate() {
                            *v = $load(wp.add(t * cp + c0));
                        }
                        let b = $load(bp.add(c0));
                        for oy in 0..geo.out_h {
                            let row = inp.add((oy * geo.stride_h * cols) * cp + c0);
                            let out_row = outp.add(oy * geo.out_w * cp + c0);
                            for ox in 0..geo.out_w {
                                let base = row.add(ox * geo.stride_w * cp);
                                let mut acc = b;
                                for ky in 0..K {
                                    for kx in 0..K {
                                        acc = $fmadd($load(base.add((ky * cols + kx) * cp)), w[ky * K + kx], acc);
                                    }
                                }
                                if RELU6 {
                                    acc = $min($max(acc, zero), six);
                                }
                                $store(out_row.add(ox * cp), acc);
                            }
                        }
                    }
                }
            }
        };
    }

    points!(points_avx512, "avx512f", 16, __m512, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_max_ps, _mm512_min_ps, _mm512_storeu_ps, _mm512_setzero_ps);
    points!(points_avx2, "avx2,fma", 8, __m256, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_max_ps, _mm256_min_ps, _mm256_storeu_ps, _mm256_setzero_ps);
}

/// [`Scheme::ChannelInner`] with NEON intrinsics on aarch64: 16 channels (4 vectors) of two
/// neighbouring output points at a time, so each tap is one 4-register load of filters, one of
/// each point's inputs and 8 `fmla`: about 0.35 instructions per multiply-add where tract's
/// `depthwise_c_f32` reloads the filters for every point (0.9). The same fused multiply-adds in
/// the same order as the portable loop, so the same bits.
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{Layer, LANES};
    use core::arch::aarch64::*;

    const _: () = assert!(LANES == 16, "a block is 4 NEON vectors");

    type Block = float32x4x4_t;

    /// `max(0)` then `min(6)` with the NaN rule of `f32::max`/`f32::min` (as the portable path).
    #[inline(always)]
    unsafe fn store<const RELU6: bool>(at: *mut f32, v: Block) {
        let v = if RELU6 {
            let (z, six) = (vdupq_n_f32(0.0), vdupq_n_f32(6.0));
            let a = |v| vminnmq_f32(vmaxnmq_f32(v, z), six);
            float32x4x4_t(a(v.0), a(v.1), a(v.2), a(v.3))
        } else {
            v
        };
        vst1q_f32_x4(at, v);
    }

    /// One tap for two points: `a[0..4] += x0 * w`, `a[4..8] += x1 * w` (16 channels each),
    /// then each pointer advanced by `step` bytes. One 4-register `ld1` per operand: the compiler
    /// splits `vld1q_f32_x4` into two `ldp` and an address add.
    #[inline(always)]
    unsafe fn tap2(a: &mut [float32x4_t; 8], w: &mut *const f32, x0: &mut *const f32, x1: &mut *const f32, step: usize) {
        core::arch::asm!(
            "ld1 {{v24.4s, v25.4s, v26.4s, v27.4s}}, [{w}], {step}",
            "ld1 {{v28.4s, v29.4s, v30.4s, v31.4s}}, [{x0}], {step}",
            "fmla {a0:v}.4s, v28.4s, v24.4s",
            "fmla {a1:v}.4s, v29.4s, v25.4s",
            "fmla {a2:v}.4s, v30.4s, v26.4s",
            "fmla {a3:v}.4s, v31.4s, v27.4s",
            "ld1 {{v28.4s, v29.4s, v30.4s, v31.4s}}, [{x1}], {step}",
            "fmla {b0:v}.4s, v28.4s, v24.4s",
            "fmla {b1:v}.4s, v29.4s, v25.4s",
            "fmla {b2:v}.4s, v30.4s, v26.4s",
            "fmla {b3:v}.4s, v31.4s, v27.4s",
            w = inout(reg) *w,
            x0 = inout(reg) *x0,
            x1 = inout(reg) *x1,
            step = in(reg) step,
            a0 = inout(vreg) a[0],
            a1 = inout(vreg) a[1],
            a2 = inout(vreg) a[2],
            a3 = inout(vreg) a[3],
            b0 = inout(vreg) a[4],
            b1 = inout(vreg) a[5],
            b2 = inout(vreg) a[6],
            b3 = inout(vreg) a[7],
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack, readonly, preserves_flags),
        );
    }

    /// One tap for one point, as [`tap2`].
    #[inline(always)]
    unsafe fn tap1(a: &mut [float32x4_t; 4], w: &mut *const f32, x0: &mut *const f32, step: usize) {
        core::arch::asm!(
            "ld1 {{v24.4s, v25.4s, v26.4s, v27.4s}}, [{w}], {step}",
            "ld1 {{v28.4s, v29.4s, v30.4s, v31.4s}}, [{x0}], {step}",
            "fmla {a0:v}.4s, v28.4s, v24.4s",
            "fmla {a1:v}.4s, v29.4s, v25.4s",
            "fmla {a2:v}.4s, v30.4s, v26.4s",
            "fmla {a3:v}.4s, v31.4s, v27.4s",
            w = inout(reg) *w,
            x0 = inout(reg) *x0,
            step = in(reg) step,
            a0 = inout(vreg) a[0],
            a1 = inout(vreg) a[1],
            a2 = inout(vreg) a[2],
            a3 = inout(vreg) a[3],
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack, readonly, preserves_flags),
        );
    }

    /// Square `K x K` filters, the taps unrolled.
    ///
    /// # Safety
    /// `input` holds the padded channel-last copy (`plane_rows x hwc_cols x Cp`) and `output`
    /// `out_h x out_w x Cp` values (the caller asserts both).
    #[inline(always)]
    pub unsafe fn points<const K: usize, const RELU6: bool>(layer: &Layer, input: &[f32], output: &mut [f32]) {
        let geo = &layer.geo;
        let (cp, cols, sh, sw) = (geo.padded_channels(), geo.hwc_cols(), geo.stride_h, geo.stride_w);
        let (x, w, b, o) = (input.as_ptr(), layer.weights.as_ptr(), layer.bias.as_ptr(), output.as_mut_ptr());
        for oy in 0..geo.out_h {
            for c0 in (0..cp).step_by(LANES) {
                let bias = vld1q_f32_x4(b.add(c0));
                let mut ox = 0;
                let step = cp * core::mem::size_of::<f32>();
                while ox + 2 <= geo.out_w {
                    let mut a = [bias.0, bias.1, bias.2, bias.3, bias.0, bias.1, bias.2, bias.3];
                    let mut wp = w.add(c0);
                    for ky in 0..K {
                        let mut x0 = x.add(((oy * sh + ky) * cols + ox * sw) * cp + c0);
                        let mut x1 = x0.add(sw * cp);
                        for _ in 0..K {
                            tap2(&mut a, &mut wp, &mut x0, &mut x1, step);
                        }
                    }
                    let at = o.add((oy * geo.out_w + ox) * cp + c0);
                    store::<RELU6>(at, float32x4x4_t(a[0], a[1], a[2], a[3]));
                    store::<RELU6>(at.add(cp), float32x4x4_t(a[4], a[5], a[6], a[7]));
                    ox += 2;
                }
                if ox < geo.out_w {
                    let mut a = [bias.0, bias.1, bias.2, bias.3];
                    let mut wp = w.add(c0);
                    for ky in 0..K {
                        let mut x0 = x.add(((oy * sh + ky) * cols + ox * sw) * cp + c0);
                        for _ in 0..K {
                            tap1(&mut a, &mut wp, &mut x0, step);
                        }
                    }
                    store::<RELU6>(o.add((oy * geo.out_w + ox) * cp + c0), float32x4x4_t(a[0], a[1], a[2], a[3]));
                }
            }
        }
    }

    /// Any filter size, one point at a time.
    ///
    /// # Safety
    /// As [`points`].
    pub unsafe fn points_any<const RELU6: bool>(layer: &Layer, input: &[f32], output: &mut [f32]) {
        let geo = &layer.geo;
        let (cp, cols) = (geo.padded_channels(), geo.hwc_cols());
        let step = cp * core::mem::size_of::<f32>();
        let (x, w, b, o) = (input.as_ptr(), layer.weights.as_ptr(), layer.bias.as_ptr(), output.as_mut_ptr());
        for oy in 0..geo.out_h {
            for ox in 0..geo.out_w {
                for c0 in (0..cp).step_by(LANES) {
                    let bias = vld1q_f32_x4(b.add(c0));
                    let mut a = [bias.0, bias.1, bias.2, bias.3];
                    let mut wp = w.add(c0);
                    for ky in 0..geo.kh {
                        let mut x0 = x.add(((oy * geo.stride_h + ky) * cols + ox * geo.stride_w) * cp + c0);
                        for _ in 0..geo.kw {
                            tap1(&mut a, &mut wp, &mut x0, step);
                        }
                    }
                    store::<RELU6>(o.add((oy * geo.out_w + ox) * cp + c0), float32x4x4_t(a[0], a[1], a[2], a[3]));
                }
            }
        }
    }
}

/// The textbook loop, for tests: every output as the sum over in-bounds taps.
#[cfg(test)]
pub fn reference(geo: &Geometry, x: &[f32], weights: &[f32], bias: &[f32], relu6: bool) -> Vec<f32> {
    let mut out = vec![0.0; geo.output_len()];
    for c in 0..geo.channels {
        for oy in 0..geo.out_h {
            for ox in 0..geo.out_w {
                let mut acc = bias[c] as f64;
                for ky in 0..geo.kh {
                    for kx in 0..geo.kw {
                        let iy = (oy * geo.stride_h + ky) as isize - geo.pad_top as isize;
                        let ix = (ox * geo.stride_w + kx) as isize - geo.pad_left as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < geo.in_h && (ix as usize) < geo.in_w {
                            let v = x[c * geo.in_h * geo.in_w + iy as usize * geo.in_w + ix as usize];
                            acc += v as f64 * weights[(c * geo.kh + ky) * geo.kw + kx] as f64;
                        }
                    }
                }
                let acc = acc as f32;
                out[(c * geo.out_h + oy) * geo.out_w + ox] = if relu6 { acc.clamp(0.0, 6.0) } else { acc };
            }
        }
    }
    out
}

/// A small deterministic generator (xorshift) for tests: `n` values in [-1, 1).
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_values as values;

    fn geometry(channels: usize, h: usize, w: usize, k: usize, stride: usize, pads: [usize; 4]) -> Geometry {
        let [top, left, bottom, right] = pads;
        Geometry {
            channels,
            in_h: h,
            in_w: w,
            kh: k,
            kw: k,
            stride_h: stride,
            stride_w: stride,
            pad_top: top,
            pad_left: left,
            out_h: (h + top + bottom - k) / stride + 1,
            out_w: (w + left + right - k) / stride + 1,
        }
    }

    /// `[C, P]` -> `[P, C]`.
    fn channels_last(x: &[f32], c: usize) -> Vec<f32> {
        let p = x.len() / c;
        (0..x.len()).map(|i| x[(i % c) * p + i / c]).collect()
    }

    /// `[P, C]` -> `[C, P]`.
    fn channels_first(x: &[f32], c: usize) -> Vec<f32> {
        let p = x.len() / c;
        (0..x.len()).map(|i| x[(i % p) * c + i / p]).collect()
    }

    fn check(geo: Geometry, relu6: bool) {
        let x: Vec<f32> = values(geo.input_len(), 1).iter().map(|v| v * 4.0).collect();
        let w = values(geo.channels * geo.kh * geo.kw, 2);
        let b = values(geo.channels, 3);
        let want = reference(&geo, &x, &w, &b, relu6);
        // Every level of vector extensions this CPU has (x86_64: baseline, AVX2, AVX-512).
        let levels = [Level::Baseline, Level::Avx2Fma, Level::Avx512].into_iter().filter(|l| *l <= crate::classifier::simd::detected());
        for level in levels {
            for (scheme, layout) in [(Scheme::Rows, Layout::ChannelsFirst), (Scheme::ChannelInner, Layout::ChannelsFirst), (Scheme::ChannelInner, Layout::ChannelsLast)] {
                let mut out = vec![f32::NAN; geo.output_len()];
                let layer = Layer::new(geo, scheme, layout, &w, &b, relu6);
                if layout == Layout::ChannelsLast {
                    layer.run_at(level, &channels_last(&x, geo.channels), &mut out);
                    out = channels_first(&out, geo.channels);
                } else {
                    layer.run_at(level, &x, &mut out);
                }
                for (i, (a, e)) in out.iter().zip(&want).enumerate() {
                    assert!((a - e).abs() <= 1e-4 * (1.0 + e.abs()), "{geo:?} {scheme:?} {layout:?} {level:?} relu6={relu6}: output {i} is {a}, want {e}");
                }
            }
        }
    }

    #[test]
    fn matches_the_textbook_loop_for_strides_paddings_and_odd_sizes() {
        for (h, w) in [(1, 1), (5, 7), (12, 12), (17, 16), (24, 31), (48, 48), (9, 33), (6, 34)] {
            for k in [1, 3, 5] {
                for stride in [1, 2, 3] {
                    let same = (k - 1) / 2;
                    for pads in [[0, 0, 0, 0], [1, 1, 0, 0], [same, same, same, same], [0, 0, k - 1, k - 1], [k / 2, k / 2, k - 1 - k / 2, k - 1 - k / 2], [1, 0, 2, 0]] {
                        if h + pads[0] + pads[2] < k || w + pads[1] + pads[3] < k {
                            continue;
                        }
                        check(geometry(3, h, w, k, stride, pads), stride == 1);
                        check(geometry(17, h, w, k, stride, pads), stride != 1);
                        // Whole blocks of channels: the channels-last layout is read in place.
                        if k > 1 && stride < 3 && h * w <= 16 * 16 {
                            check(geometry(32, h, w, k, stride, pads), true);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rectangular_filters_and_mixed_strides() {
        let geo = Geometry { channels: 2, in_h: 9, in_w: 20, kh: 3, kw: 5, stride_h: 1, stride_w: 2, pad_top: 1, pad_left: 2, out_h: 9, out_w: 10 };
        check(geo, false);
        let geo = Geometry { stride_h: 2, stride_w: 1, out_h: 5, out_w: 20, ..geo };
        check(geo, true);
    }

    #[test]
    fn relu6_clamps_both_ends() {
        let geo = geometry(1, 1, 3, 1, 1, [0; 4]);
        let mut out = vec![0.0; 3];
        depthwise(&geo, &[-2.0, 3.0, 10.0], &[1.0], &[0.0], true, &mut out);
        assert_eq!(out, vec![0.0, 3.0, 6.0]);
    }

    #[test]
    fn a_geometry_without_outputs_is_invalid() {
        assert!(!Geometry { out_w: 0, ..geometry(1, 4, 4, 3, 1, [0; 4]) }.is_valid());
        assert!(geometry(1, 4, 4, 3, 1, [0; 4]).is_valid());
    }
}
