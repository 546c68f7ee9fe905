//! Which x86_64 vector extensions petcam's own kernels (depthwise, f32 1x1) use: the best the CPU
//! has, found once per process, or less when the environment variable `PETCAM_X86_ISA` asks for
//! less (`avx2`, `baseline`): to measure on one machine what a CPU without AVX-512 gets. Off
//! x86_64 it is always [`Level::Baseline`].

use std::sync::OnceLock;

/// Ordered: each level has everything the one before has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The target's baseline (SSE2 on x86_64; NEON on aarch64; scalar VFP on armv7).
    Baseline,
    /// AVX2 and FMA.
    Avx2Fma,
    /// AVX-512F (with AVX2 and FMA).
    Avx512,
}

/// What this CPU has, capped by `PETCAM_X86_ISA`.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var("PETCAM_X86_ISA").ok().map(|v| parse_cap(&v)).unwrap_or(Level::Avx512);
        detected().min(cap)
    })
}

/// `PETCAM_X86_ISA`'s value as a cap; anything else leaves the detected level.
fn parse_cap(v: &str) -> Level {
    match v.trim().to_ascii_lowercase().as_str() {
        "baseline" | "sse2" => Level::Baseline,
        "avx2" => Level::Avx2Fma,
        _ => Level::Avx512,
    }
}

/// The best level this CPU has.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Level::Avx2Fma;
        }
    }
    Level::Baseline
}

impl Level {
    /// For `petcam info` and the benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Level::Avx512 => "x86_64 AVX-512F",
            Level::Avx2Fma => "x86_64 AVX2+FMA",
            Level::Baseline if cfg!(target_arch = "x86_64") => "x86_64 SSE2",
            Level::Baseline if cfg!(target_arch = "aarch64") => "aarch64 NEON",
            Level::Baseline => "portable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_only_lowers_the_level() {
        assert_eq!(parse_cap("avx2"), Level::Avx2Fma);
        assert_eq!(parse_cap(" SSE2 "), Level::Baseline);
        assert_eq!(parse_cap("anything"), Level::Avx512);
        assert!(level() <= detected());
        assert!(Level::Baseline < Level::Avx2Fma && Level::Avx2Fma < Level::Avx512);
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(detected(), Level::Baseline);
    }
}
