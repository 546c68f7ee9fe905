//! The arithmetic of petcam's f32 1x1 convolution, on plain slices: `y = relu6?(W x + b)` for
//! every pixel, with `x` and `y` channels first (`[C, P]`) or last (`[P, C]`).
//!
//! Register tiles of `MR` pixels x `NB` outputs, the classic layout for a matrix product whose
//! left side is small and constant: the weights are packed once, at load, into blocks of `NB`
//! outputs (`[K][NB]`, zero-padded), and the input is packed per tile of `MR` pixels
//! (`[K][MR]`), so that each step over an input channel is two or one vector loads of weights,
//! `MR` broadcasts and `MR x NB / lanes` fused multiply-adds. A tile of pixels is packed once and
//! meets every output block while it is in L1; bias and ReLU6 are applied in registers before the
//! one store. tract does the same product with a separate packing pass and its own kernels; this
//! one reads either input layout while packing and writes either output layout from the tile.
//!
//! Variants, picked once per process: AVX-512F (`MR` 12 x `NB` 32: 24 accumulators), AVX2 + FMA
//! (6 x 16: 12), and a portable tile (4 x 16) for every other CPU and for the tests.

pub use crate::classifier::pointwise::kernel::Layout;
use crate::classifier::pointwise::op::Kernel;
use tract_onnx::prelude::{Datum, DatumType};

/// The instruction set a [`Layer`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2Fma,
    Portable,
}

impl Isa {
    /// The best this CPU has ([`crate::classifier::simd::level`]).
    pub fn detect() -> Isa {
        Isa::at(crate::classifier::simd::level())
    }

    /// The tile for a level of x86_64 vector extensions.
    pub fn at(level: crate::classifier::simd::Level) -> Isa {
        use crate::classifier::simd::Level;
        match level {
            Level::Avx512 => Isa::Avx512,
            Level::Avx2Fma => Isa::Avx2Fma,
            Level::Baseline => Isa::Portable,
        }
    }

    /// Pixels per tile.
    pub fn mr(self) -> usize {
        match self {
            Isa::Avx512 => 12,
            Isa::Avx2Fma => 6,
            Isa::Portable => 4,
        }
    }

    /// Outputs per block.
    pub fn nb(self) -> usize {
        match self {
            Isa::Avx512 => 32,
            Isa::Avx2Fma | Isa::Portable => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "x86_64 AVX-512F",
            Isa::Avx2Fma => "x86_64 AVX2+FMA",
            Isa::Portable => "portable",
        }
    }
}

/// The largest tile, `MR x NB` (AVX-512F's 12 x 32, either orientation).
const MAX_TILE: usize = 12 * 32;

/// One 1x1 convolution with its weights packed for one [`Isa`].
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    in_c: usize,
    out_c: usize,
    layout: (Layout, Layout),
    relu6: bool,
    isa: Isa,
    /// Outputs in the tile's rows and pixels in its vectors (see [`Layer::new`]).
    swapped: bool,
    /// `[out blocks][in_c][NB]`, outputs past `out_c` zero; swapped, `[out blocks][in_c][MR]`.
    packed: Vec<f32>,
    /// `[out blocks * NB]` (swapped: `* MR`), zero past `out_c`.
    bias: Vec<f32>,
}

impl Layer {
    /// `weights` is `[out_c, in_c]`, `bias` `[out_c]`; `relu6` clamps the outputs to `[0, 6]`.
    /// `pixels`, the map size the layer will see, picks the tile's orientation: a channels-first
    /// output is computed *swapped*, outputs in the tile's rows (the weights broadcast) and
    /// pixels in its vectors, where that fills the tiles at least as well
    /// ([`swapped_fills_more`]): each row is then stored straight into the output's channel
    /// plane instead of through a transposing copy, and a projection to a few channels (16, 24,
    /// 40) does not fill most of an `NB`-wide block with padding.
    #[allow(clippy::too_many_arguments)]
    pub fn new(in_c: usize, out_c: usize, layout: (Layout, Layout), weights: &[f32], bias: &[f32], relu6: bool, isa: Isa, pixels: usize) -> Layer {
        assert!(in_c > 0 && out_c > 0 && weights.len() == in_c * out_c && bias.len() == out_c, "pointwise layer {in_c} -> {out_c}: {} weights, {} biases", weights.len(), bias.len());
        let swapped = layout.1 == Layout::ChannelsFirst && swapped_fills_more(isa, pixels, out_c);
        let width = if swapped { isa.mr() } else { isa.nb() };
        let blocks = out_c.div_ceil(width);
        let mut packed = vec![0.0; blocks * in_c * width];
        for o in 0..out_c {
            let (blk, lane) = (o / width, o % width);
            for k in 0..in_c {
                packed[(blk * in_c + k) * width + lane] = weights[o * in_c + k];
            }
        }
        let mut padded = bias.to_vec();
        padded.resize(blocks * width, 0.0);
        Layer { in_c, out_c, layout, relu6, isa, swapped, packed, bias: padded }
    }

    /// `y = relu6?(W x + b)` over `pixels` pixels. `scratch` holds the packed input tile between
    /// calls.
    pub fn run(&self, x: &[f32], pixels: usize, y: &mut [f32], scratch: &mut Vec<f32>) {
        let (k, n) = (self.in_c, self.out_c);
        assert!(x.len() == pixels * k && y.len() == pixels * n, "pointwise: {} inputs and {} outputs for {pixels} pixels of {k} -> {n}", x.len(), y.len());
        if self.swapped {
            self.run_swapped(x, pixels, y, scratch);
            return;
        }
        let (mr, nb) = (self.isa.mr(), self.isa.nb());
        scratch.clear();
        scratch.resize(k * mr, 0.0);
        let mut tile = [0.0f32; MAX_TILE];
        let mut p0 = 0;
        while p0 < pixels {
            let rows = mr.min(pixels - p0);
            pack_tile(x, self.layout.0, pixels, k, p0, rows, mr, scratch);
            for blk in 0..n.div_ceil(nb) {
                let w = &self.packed[blk * k * nb..(blk + 1) * k * nb];
                let b = &self.bias[blk * nb..(blk + 1) * nb];
                let o0 = blk * nb;
                let cols = nb.min(n - o0);
                let direct = self.layout.1 == Layout::ChannelsLast && cols == nb;
                // A whole block of a channels-last output is stored in place (row stride n);
                // otherwise the tile goes through `tile` ([MR][NB]) and is copied out.
                let (dst, stride) = if direct { (&mut y[p0 * n + o0..], n) } else { (&mut tile[..], nb) };
                self.isa_tile(scratch, w, b, false, k, rows, dst, stride);
                if !direct {
                    for r in 0..rows {
                        for c in 0..cols {
                            let at = match self.layout.1 {
                                Layout::ChannelsLast => (p0 + r) * n + o0 + c,
                                Layout::ChannelsFirst => (o0 + c) * pixels + p0 + r,
                            };
                            y[at] = tile[r * nb + c];
                        }
                    }
                }
            }
            p0 += rows;
        }
    }

    /// [`run`](Self::run) for a swapped layer (channels-first output): tiles of `NB` pixels
    /// (packed `[k][NB]`) against blocks of `MR` outputs, each tile row one output channel's
    /// `NB` pixels.
    fn run_swapped(&self, x: &[f32], pixels: usize, y: &mut [f32], scratch: &mut Vec<f32>) {
        let (k, n) = (self.in_c, self.out_c);
        let (mr, nb) = (self.isa.mr(), self.isa.nb());
        scratch.clear();
        scratch.resize(k * nb, 0.0);
        let mut tile = [0.0f32; MAX_TILE];
        let mut p0 = 0;
        while p0 < pixels {
            let cols = nb.min(pixels - p0);
            pack_tile(x, self.layout.0, pixels, k, p0, cols, nb, scratch);
            for blk in 0..n.div_ceil(mr) {
                let w = &self.packed[blk * k * mr..(blk + 1) * k * mr];
                let b = &self.bias[blk * mr..(blk + 1) * mr];
                let o0 = blk * mr;
                let rows = mr.min(n - o0);
                if cols == nb {
                    self.isa_tile(w, scratch, b, true, k, rows, &mut y[o0 * pixels + p0..], pixels);
                } else {
                    self.isa_tile(w, scratch, b, true, k, rows, &mut tile[..], nb);
                    for r in 0..rows {
                        y[(o0 + r) * pixels + p0..(o0 + r) * pixels + p0 + cols].copy_from_slice(&tile[r * nb..r * nb + cols]);
                    }
                }
            }
            p0 += cols;
        }
    }

    /// One tile: the first `rows` rows of `dst` (row stride `stride`, `NB` values each) get
    /// `bc * vec`, where `bc` is `[k][MR]` (broadcast, one value per row) and `vec` `[k][NB]`,
    /// plus the bias `b`: one value per column, or with `bias_rows` one per row.
    #[allow(clippy::too_many_arguments)]
    fn isa_tile(&self, bc: &[f32], vec: &[f32], b: &[f32], bias_rows: bool, k: usize, rows: usize, dst: &mut [f32], stride: usize) {
        let (mr, nb) = (self.isa.mr(), self.isa.nb());
        assert!(bc.len() >= k * mr && vec.len() >= k * nb && b.len() >= if bias_rows { mr } else { nb });
        assert!(rows >= 1 && rows <= mr && dst.len() >= (rows - 1) * stride + nb);
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::detect` found the features; the asserts above bound every access.
            Isa::Avx512 => unsafe { x86::tile_avx512(bc.as_ptr(), vec.as_ptr(), b.as_ptr(), bias_rows, k, rows, dst.as_mut_ptr(), stride, self.relu6) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2Fma => unsafe { x86::tile_avx2(bc.as_ptr(), vec.as_ptr(), b.as_ptr(), bias_rows, k, rows, dst.as_mut_ptr(), stride, self.relu6) },
            _ => tile_portable(bc, vec, b, bias_rows, k, rows, dst, stride, self.relu6),
        }
    }
}

/// What the tract op ([`crate::classifier::pointwise::op::PointwiseOp`]) asks of the layer.
impl Kernel for Layer {
    const NAME: &'static str = "PetcamPointwiseF32";
    type Scratch = Vec<f32>;
    fn in_channels(&self) -> usize {
        self.in_c
    }
    fn out_channels(&self) -> usize {
        self.out_c
    }
    fn layout(&self) -> (Layout, Layout) {
        self.layout
    }
    fn relu6(&self) -> bool {
        self.relu6
    }
    fn variant(&self) -> &'static str {
        self.isa.name()
    }
    fn arithmetic(&self) -> DatumType {
        f32::datum_type()
    }
    fn run(&self, x: &[f32], pixels: usize, y: &mut [f32], scratch: &mut Vec<f32>) {
        Layer::run(self, x, pixels, y, scratch)
    }
}

/// Whether the swapped orientation (tiles of `NB` pixels by `MR` outputs) wastes no more of its
/// tiles on padding than the plain one (`MR` pixels by `NB` outputs) for this map and layer:
/// a 576-pixel map to 24 channels fills every swapped tile (the plain one 24 of 32 lanes), a
/// 36-pixel map only 36 of 64 swapped columns (the plain one all its rows).
pub fn swapped_fills_more(isa: Isa, pixels: usize, out_c: usize) -> bool {
    let fill = |n: usize, step: usize| n as f64 / (n.div_ceil(step) * step) as f64;
    let (mr, nb) = (isa.mr(), isa.nb());
    fill(pixels, nb) * fill(out_c, mr) >= fill(pixels, mr) * fill(out_c, nb)
}

/// Copies pixels `p0..p0 + rows` of `x` into `xp` as `[k][mr]` (rows past `rows` left as they
/// are: their outputs are never stored).
#[allow(clippy::too_many_arguments)]
fn pack_tile(x: &[f32], layout: Layout, pixels: usize, k: usize, p0: usize, rows: usize, mr: usize, xp: &mut [f32]) {
    match layout {
        Layout::ChannelsFirst => {
            for (c, dst) in xp.chunks_exact_mut(mr).take(k).enumerate() {
                dst[..rows].copy_from_slice(&x[c * pixels + p0..c * pixels + p0 + rows]);
            }
        }
        Layout::ChannelsLast => {
            for r in 0..rows {
                let src = &x[(p0 + r) * k..(p0 + r + 1) * k];
                for (c, v) in src.iter().enumerate() {
                    xp[c * mr + r] = *v;
                }
            }
        }
    }
}

/// The portable tile: 4 pixels x 16 outputs, plain multiply and add (the compiler vectorises the
/// 16 outputs).
#[allow(clippy::too_many_arguments)]
fn tile_portable(xp: &[f32], w: &[f32], b: &[f32], bias_rows: bool, k: usize, rows: usize, dst: &mut [f32], stride: usize, relu6: bool) {
    const MR: usize = 4;
    const NB: usize = 16;
    let mut acc = [[0.0f32; NB]; MR];
    for (xk, wk) in xp.chunks_exact(MR).zip(w.chunks_exact(NB)).take(k) {
        for (a, xv) in acc.iter_mut().zip(xk) {
            for (s, wv) in a.iter_mut().zip(wk) {
                *s += xv * wv;
            }
        }
    }
    for (r, a) in acc.iter().enumerate().take(rows) {
        for (c, s) in a.iter().enumerate() {
            let v = s + if bias_rows { b[r] } else { b[c] };
            // max/min as the vector tiles do (and tract's ReLU6), not clamp's NaN rule.
            #[allow(clippy::manual_clamp)]
            let v = if relu6 { v.max(0.0).min(6.0) } else { v };
            dst[r * stride + c] = v;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// One register tile, `$mr` pixels x 2 vectors of outputs: `$v` the vector type, `$lanes`
    /// its width, then the load, broadcast, fused multiply-add, add, max, min, store and zero
    /// intrinsics of the instruction set.
    macro_rules! tile {
        ($name:ident, $feat:literal, $mr:literal, $lanes:literal, $v:ty, $load:ident, $set1:ident, $fmadd:ident, $add:ident, $max:ident, $min:ident, $store:ident, $zero:ident) => {
            /// # Safety
            /// The CPU has the features; `xp` holds `k * MR` values, `w` `k * NB`, `b` `NB` (`MR`
            /// with `bias_rows`), and `dst` `(rows - 1) * stride + NB`; `1 <= rows <= MR`.
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name(xp: *const f32, w: *const f32, b: *const f32, bias_rows: bool, k: usize, rows: usize, dst: *mut f32, stride: usize, relu6: bool) {
                const MR: usize = $mr;
                const L: usize = $lanes;
                let mut lo: [$v; MR] = [$zero(); MR];
                let mut hi: [$v; MR] = [$zero(); MR];
                for kk in 0..k {
                    // SAFETY (whole block): within the bounds the caller promised.
                    unsafe {
                        let w0 = $load(w.add(kk * 2 * L));
                        let w1 = $load(w.add(kk * 2 * L + L));
                        let xk = xp.add(kk * MR);
                        for r in 0..MR {
                            let xv = $set1(*xk.add(r));
                            lo[r] = $fmadd(xv, w0, lo[r]);
                            hi[r] = $fmadd(xv, w1, hi[r]);
                        }
                    }
                }
                // SAFETY: as above.
                unsafe {
                    let (b0, b1) = if bias_rows { ($zero(), $zero()) } else { ($load(b), $load(b.add(L))) };
                    let (zero, six) = ($zero(), $set1(6.0));
                    for r in 0..rows {
                        let (b0, b1) = if bias_rows { ($set1(*b.add(r)), $set1(*b.add(r))) } else { (b0, b1) };
                        let (mut a, mut c) = ($add(lo[r], b0), $add(hi[r], b1));
                        if relu6 {
                            a = $min($max(a, zero), six);
                            c = $min($max(c, zero), six);
                        }
                        $store(dst.add(r * stride), a);
                        $store(dst.add(r * stride + L), c);
                    }
                }
            }
        };
    }

    tile!(tile_avx512, "avx512f", 12, 16, __m512, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_max_ps, _mm512_min_ps, _mm512_storeu_ps, _mm512_setzero_ps);
    tile!(tile_avx2, "avx2,fma", 6, 8, __m256, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_max_ps, _mm256_min_ps, _mm256_storeu_ps, _mm256_setzero_ps);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y[o, p]` by the textbook loop, channels first.
    fn reference(x_cf: &[f32], w: &[f32], b: &[f32], k: usize, n: usize, p: usize, relu6: bool) -> Vec<f32> {
        let mut y = vec![0.0; n * p];
        for o in 0..n {
            for q in 0..p {
                let mut s = b[o] as f64;
                for c in 0..k {
                    s += w[o * k + c] as f64 * x_cf[c * p + q] as f64;
                }
                let v = s as f32;
                y[o * p + q] = if relu6 { v.clamp(0.0, 6.0) } else { v };
            }
        }
        y
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols).flat_map(|c| (0..rows).map(move |r| (r, c))).map(|(r, c)| a[r * cols + c]).collect()
    }

    fn isas() -> Vec<Isa> {
        use crate::classifier::simd::{detected, Level};
        [Level::Baseline, Level::Avx2Fma, Level::Avx512].into_iter().filter(|l| *l <= detected()).map(Isa::at).collect()
    }

    /// Every variant this CPU has, every layout pair, the 1x1 shapes of EfficientNet-Lite0 at
    /// 96 px and odd ones (pixels and outputs that fill no whole tile or block): the textbook
    /// loop's values within float rounding, and every output written (the output starts NaN).
    #[test]
    fn every_variant_and_layout_matches_the_textbook_loop() {
        let shapes = [(32, 16, 2304), (16, 96, 2304), (96, 24, 576), (144, 40, 144), (240, 80, 36), (672, 192, 9), (320, 1280, 9), (3, 5, 7), (17, 33, 13), (1, 1, 1), (40, 24, 25)];
        let mut seed = 7u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        for isa in isas() {
            for &(k, n, p) in &shapes {
                let x: Vec<f32> = (0..k * p).map(|_| rnd() * 3.0 + 1.0).collect();
                let w: Vec<f32> = (0..k * n).map(|_| rnd() * 0.5).collect();
                let b: Vec<f32> = (0..n).map(|_| rnd()).collect();
                for relu6 in [false, true] {
                    let want = reference(&x, &w, &b, k, n, p, relu6);
                    for layout in [
                        (Layout::ChannelsFirst, Layout::ChannelsFirst),
                        (Layout::ChannelsFirst, Layout::ChannelsLast),
                        (Layout::ChannelsLast, Layout::ChannelsFirst),
                        (Layout::ChannelsLast, Layout::ChannelsLast),
                    ] {
                        let layer = Layer::new(k, n, layout, &w, &b, relu6, isa, p);
                        let xin = if layout.0 == Layout::ChannelsLast { transpose(&x, k, p) } else { x.clone() };
                        let mut y = vec![f32::NAN; n * p];
                        layer.run(&xin, p, &mut y, &mut Vec::new());
                        let got = if layout.1 == Layout::ChannelsLast { transpose(&y, p, n) } else { y };
                        let worst = got.iter().zip(&want).map(|(g, e)| (g - e).abs() / (1.0 + e.abs())).fold(0.0f32, |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) });
                        assert!(worst < 1e-4 * (k as f32).sqrt(), "{isa:?} {k}->{n} on {p} pixels, {layout:?}, relu6 {relu6}: worst {worst}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_orientation_that_wastes_less_of_the_tiles_is_chosen() {
        // AVX-512: 12 x 32 plain, 32 x 12 swapped.
        assert!(swapped_fills_more(Isa::Avx512, 576, 24));
        assert!(swapped_fills_more(Isa::Avx512, 2304, 16));
        assert!(swapped_fills_more(Isa::Avx512, 144, 40));
        assert!(!swapped_fills_more(Isa::Avx512, 36, 112));
        assert!(!swapped_fills_more(Isa::Avx512, 9, 192));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let layer = Layer::new(2, 3, (Layout::ChannelsLast, Layout::ChannelsLast), &[0.0; 6], &[0.0; 3], false, Isa::Portable, 3);
        let r = std::panic::catch_unwind(|| layer.run(&[0.0; 5], 3, &mut [0.0; 9], &mut Vec::new()));
        assert!(r.is_err());
    }
}
