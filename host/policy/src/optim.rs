//! AdamW with an inspectable, checkpointable state, and global-norm gradient
//! clipping.
//!
//! `candle_nn::AdamW` keeps its moments private, so a run could not resume
//! exactly; this optimiser implements the same update (decoupled weight
//! decay, bias-corrected moments; Loshchilov & Hutter 2019) with its moments
//! in f32 whatever the parameter dtype, and saves/loads them with the step
//! count. Each update uses a handful of fused scalar ops (`affine`) per
//! parameter.
//!
//! **Mixed precision.** A parameter stored in bf16 or f16 gets an f32 *master
//! copy*: the update is applied to the master and the parameter is set to the
//! master cast down. Writing the update straight into the half-precision
//! weight would lose it: at LaMer's lr of 1e-6 an AdamW step is about 1e-6,
//! far below bf16's resolution (2⁻⁸ relative: ~0.004 for a weight of 1, 4e-5
//! for 0.01), so essentially every step would round back to the old value.
//! With the master the steps accumulate, and the half-precision copy moves
//! once their sum crosses its resolution. Masters are checkpointed with the
//! moments (`master.<name>`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::error::Result;

/// AdamW hyper-parameters (LaMer: lr 1e-6, weight decay 0.01).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-6,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// AdamW over named vars.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    params: Vec<(String, Var)>,
    first_moment: Vec<Tensor>,
    second_moment: Vec<Tensor>,
    /// f32 values of the parameters stored in half precision (`None` for f32
    /// parameters, which are their own master).
    master: Vec<Option<Tensor>>,
    step: u64,
}

/// An f32 master copy of `var` when it is stored in lower precision.
fn master_of(var: &Var) -> Result<Option<Tensor>> {
    Ok(match var.dtype() {
        DType::F32 | DType::F64 => None,
        _ => Some(var.as_tensor().to_dtype(DType::F32)?.detach()),
    })
}

impl AdamW {
    pub fn new(params: &[(String, Var)], config: AdamWConfig) -> Result<Self> {
        let zeros = |v: &Var| Tensor::zeros(v.shape(), DType::F32, v.device());
        Ok(AdamW {
            config,
            first_moment: params
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_, _>>()?,
            second_moment: params
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_, _>>()?,
            master: params
                .iter()
                .map(|(_, v)| master_of(v))
                .collect::<Result<_>>()?,
            params: params.to_vec(),
            step: 0,
        })
    }

    /// The f32 value the optimiser holds for parameter `index` (its master
    /// copy, or the parameter itself when it is f32).
    pub fn master_value(&self, index: usize) -> Option<Tensor> {
        let (_, var) = self.params.get(index)?;
        match self.master.get(index) {
            Some(Some(m)) => Some(m.clone()),
            _ => var.as_tensor().to_dtype(DType::F32).ok(),
        }
    }

    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }
    /// Updates applied so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One update from `grads`; vars without a gradient are left alone (their
    /// moments do not decay, as in PyTorch).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(grad) = grads.get(var) else {
                continue;
            };
            let g = grad.to_dtype(DType::F32)?;
            let m = (self.first_moment[i].affine(c.beta1, 0.0)? + g.affine(1.0 - c.beta1, 0.0)?)?;
            let v = (self.second_moment[i].affine(c.beta2, 0.0)?
                + g.sqr()?.affine(1.0 - c.beta2, 0.0)?)?;
            let denom = v.affine(1.0 / bias2, 0.0)?.sqrt()?.affine(1.0, c.eps)?;
            let update = m.affine(c.lr / bias1, 0.0)?.div(&denom)?;
            let p = match &self.master[i] {
                Some(master) => master.clone(),
                None => var.as_tensor().to_dtype(DType::F32)?,
            };
            let p = (p.affine(1.0 - c.lr * c.weight_decay, 0.0)? - update)?;
            var.set(&p.to_dtype(var.dtype())?)?;
            if let Some(master) = self.master[i].as_mut() {
                *master = p;
            }
            self.first_moment[i] = m;
            self.second_moment[i] = v;
        }
        Ok(())
    }

    /// Writes the moments (`exp_avg.<name>`, `exp_avg_sq.<name>`), the step
    /// count and the hyper-parameters to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = HashMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            tensors.insert(format!("exp_avg.{name}"), self.first_moment[i].clone());
            tensors.insert(format!("exp_avg_sq.{name}"), self.second_moment[i].clone());
            if let Some(master) = &self.master[i] {
                tensors.insert(format!("master.{name}"), master.clone());
            }
        }
        let device = candle_core::Device::Cpu;
        tensors.insert("step".into(), Tensor::new(&[self.step as i64], &device)?);
        let c = self.config;
        tensors.insert(
            "hyper".into(),
            Tensor::new(&[c.lr, c.beta1, c.beta2, c.eps, c.weight_decay], &device)?,
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(PolicyError::io(dir))?;
        }
        candle_core::safetensors::save(&tensors, path)?;
        Ok(())
    }

    /// Restores a state written by [`AdamW::save`] for the same named vars.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        if !path.is_file() {
            return Err(PolicyError::MissingFile {
                path: path.to_path_buf(),
                what: "an optimiser state written by AdamW::save",
            });
        }
        let device = self
            .params
            .first()
            .map(|(_, v)| v.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let saved = candle_core::safetensors::load(path, &device)?;
        let get = |name: &str| {
            saved
                .get(name)
                .cloned()
                .ok_or_else(|| PolicyError::MissingTensor {
                    tensor: name.to_string(),
                    expected: vec![],
                })
        };
        let mut first = Vec::with_capacity(self.params.len());
        let mut second = Vec::with_capacity(self.params.len());
        let mut master = Vec::with_capacity(self.params.len());
        for (name, var) in &self.params {
            // A state saved before masters existed (or for f32 weights) has
            // none: start from the parameter's current value.
            master.push(match saved.get(&format!("master.{name}")) {
                Some(m) if var.dtype() != DType::F32 && m.dims() == var.dims() => {
                    Some(m.to_dtype(DType::F32)?)
                }
                _ => master_of(var)?,
            });
            for (key, out) in [("exp_avg", &mut first), ("exp_avg_sq", &mut second)] {
                let t = get(&format!("{key}.{name}"))?;
                if t.dims() != var.dims() {
                    return Err(PolicyError::WeightShape {
                        tensor: format!("{key}.{name}"),
                        expected: var.dims().to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                out.push(t.to_dtype(DType::F32)?);
            }
        }
        let step = get("step")?.to_vec1::<i64>()?;
        let hyper = get("hyper")?.to_vec1::<f64>()?;
        let (Some(&step), [lr, beta1, beta2, eps, weight_decay]) = (step.first(), hyper.as_slice())
        else {
            return Err(PolicyError::Model(format!(
                "{}: malformed optimiser state",
                path.display()
            )));
        };
        self.step = step.max(0) as u64;
        self.config = AdamWConfig {
            lr: *lr,
            beta1: *beta1,
            beta2: *beta2,
            eps: *eps,
            weight_decay: *weight_decay,
        };
        self.first_moment = first;
        self.second_moment = second;
        self.master = master;
        Ok(())
    }
}

/// Scales the gradients of `vars` so that their global L2 norm is at most
/// `max_norm`; returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    let mut total = 0f64;
    for var in vars {
        if let Some(g) = grads.get(var) {
            total += g
                .to_dtype(DType::F32)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f32>()? as f64;
        }
    }
    let norm = total.sqrt();
    if norm > max_norm && norm.is_finite() {
        let scale = max_norm / (norm + 1e-6);
        for var in vars {
            if let Some(g) = grads.get(var) {
                let scaled = g.affine(scale, 0.0)?;
                grads.insert(var, scaled);
            }
        }
    }
    Ok(norm)
}
