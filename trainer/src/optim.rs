//! Optimisers: burn's Adam and SGD (+momentum), and NAdam and Adadelta (not in burn 0.22),
//! written against burn's per-tensor [`Optimizer`] trait; plus the learning-rate schedule.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdaptiveMomentumState, ModuleOptimizer, Optimizer, SgdConfig};
use burn::tensor::{Device, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
pub enum OptimizerKind {
    Adam,
    Nadam,
    Adadelta,
    Sgd,
}

/// Builds the optimiser. `weight_decay` is L2 added to the gradient; `momentum` is for SGD.
pub fn build(kind: OptimizerKind, weight_decay: f32, momentum: f64) -> ModuleOptimizer {
    let wd = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay));
    match kind {
        OptimizerKind::Adam => AdamConfig::new().with_epsilon(1e-7).with_weight_decay(wd).init(),
        OptimizerKind::Sgd => SgdConfig::new().with_weight_decay(wd).with_momentum((momentum > 0.0).then(|| MomentumConfig::new().with_momentum(momentum).with_dampening(0.0))).init(),
        OptimizerKind::Nadam => ModuleOptimizer::from(Nadam { beta_1: 0.9, beta_2: 0.999, eps: 1e-7, weight_decay }),
        OptimizerKind::Adadelta => ModuleOptimizer::from(Adadelta { rho: 0.95, eps: 1e-7, weight_decay }),
    }
}

/// Adam with Nesterov momentum (Dozat 2016, the form Keras uses without its momentum schedule).
#[derive(Clone)]
pub struct Nadam {
    beta_1: f32,
    beta_2: f32,
    eps: f32,
    weight_decay: f32,
}

impl Optimizer for Nadam {
    type State<const D: usize> = AdaptiveMomentumState<D>;

    fn step<const D: usize>(&self, lr: f64, tensor: Tensor<D>, mut grad: Tensor<D>, state: Option<Self::State<D>>) -> (Tensor<D>, Option<Self::State<D>>) {
        if self.weight_decay > 0.0 {
            grad = grad + tensor.clone().mul_scalar(self.weight_decay);
        }
        let (b1, b2) = (self.beta_1, self.beta_2);
        let (t, m, v) = match state {
            Some(s) => (s.time + 1, s.moment_1.mul_scalar(b1) + grad.clone().mul_scalar(1.0 - b1), s.moment_2.mul_scalar(b2) + grad.clone().square().mul_scalar(1.0 - b2)),
            None => (1, grad.clone().mul_scalar(1.0 - b1), grad.clone().square().mul_scalar(1.0 - b2)),
        };
        let m_hat = m.clone().mul_scalar(b1 / (1.0 - b1.powi(t as i32 + 1))) + grad.mul_scalar((1.0 - b1) / (1.0 - b1.powi(t as i32)));
        let v_hat = v.clone().div_scalar(1.0 - b2.powi(t as i32));
        let delta = m_hat.div(v_hat.sqrt().add_scalar(self.eps)).mul_scalar(lr as f32);
        (tensor - delta, Some(AdaptiveMomentumState::new(t, m, v)))
    }

    fn to_device<const D: usize>(mut s: Self::State<D>, device: &Device) -> Self::State<D> {
        s.moment_1 = s.moment_1.to_device(device);
        s.moment_2 = s.moment_2.to_device(device);
        s
    }
}

/// Adadelta (Zeiler 2012), scaled by the learning rate like Keras (Keras' default lr is 0.001).
#[derive(Clone)]
pub struct Adadelta {
    rho: f32,
    eps: f32,
    weight_decay: f32,
}

impl Optimizer for Adadelta {
    type State<const D: usize> = AdaptiveMomentumState<D>;

    fn step<const D: usize>(&self, lr: f64, tensor: Tensor<D>, mut grad: Tensor<D>, state: Option<Self::State<D>>) -> (Tensor<D>, Option<Self::State<D>>) {
        if self.weight_decay > 0.0 {
            grad = grad + tensor.clone().mul_scalar(self.weight_decay);
        }
        let rho = self.rho;
        let (t, eg, edx) = match state {
            Some(s) => (s.time + 1, s.moment_1, s.moment_2),
            None => (1, grad.zeros_like(), grad.zeros_like()),
        };
        let eg = eg.mul_scalar(rho) + grad.clone().square().mul_scalar(1.0 - rho);
        let dx = edx.clone().add_scalar(self.eps).sqrt().div(eg.clone().add_scalar(self.eps).sqrt()).mul(grad);
        let edx = edx.mul_scalar(rho) + dx.clone().square().mul_scalar(1.0 - rho);
        (tensor - dx.mul_scalar(lr as f32), Some(AdaptiveMomentumState::new(t, eg, edx)))
    }

    fn to_device<const D: usize>(mut s: Self::State<D>, device: &Device) -> Self::State<D> {
        s.moment_1 = s.moment_1.to_device(device);
        s.moment_2 = s.moment_2.to_device(device);
        s
    }
}

/// Linear warm-up from 0 over `warmup` steps, then cosine decay to `floor * peak` at `total`.
pub fn lr_at(step: usize, total: usize, warmup: usize, peak: f64, floor: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    peak * (floor + (1.0 - floor) * cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((lr_at(0, 100, 10, 1.0, 0.0) - 0.1).abs() < 1e-9);
        assert!((lr_at(9, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-9);
        assert!((lr_at(10, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-9);
        assert!((lr_at(55, 100, 10, 1.0, 0.0) - 0.5).abs() < 1e-6);
        assert!(lr_at(100, 100, 10, 1.0, 0.05) - 0.05 < 1e-9);
    }
}
