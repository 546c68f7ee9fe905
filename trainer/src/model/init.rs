//! Random initialisation for layers trained from scratch (He-uniform, zero bias), seeded.

use super::arch::{Arch, Layer, Weights};
use rand::{Rng, SeedableRng};

fn he_uniform(shape: Vec<usize>, fan_in: usize, bias: usize, rng: &mut rand::rngs::StdRng) -> Layer {
    let limit = (6.0 / fan_in as f32).sqrt();
    let n = shape.iter().product();
    Layer { shape, weight: (0..n).map(|_| rng.random_range(-limit..limit)).collect(), bias: vec![0.0; bias] }
}

pub fn dense(cin: usize, cout: usize, seed: u64) -> Layer {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Glorot-style small init for a classifier head.
    let limit = (6.0 / (cin + cout) as f32).sqrt();
    Layer { shape: vec![cout, cin], weight: (0..cin * cout).map(|_| rng.random_range(-limit..limit)).collect(), bias: vec![0.0; cout] }
}

/// Fresh weights for every layer of `arch`.
pub fn random(arch: &Arch, seed: u64) -> Weights {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let layers = arch
        .layer_shapes()
        .into_iter()
        .map(|(shape, nb)| {
            let fan_in: usize = shape[1..].iter().product();
            he_uniform(shape, fan_in, nb, &mut rng)
        })
        .collect();
    Weights { layers }
}
