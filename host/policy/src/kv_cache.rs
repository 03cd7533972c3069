//! The key/value cache of batched generation, owned by the caller.
//!
//! One `(keys, values)` pair per layer, each `(B, kv_heads, T, head_dim)`.
//! Rows of a batch share the time axis (prompts are left-padded to a common
//! length; the padding mask hides the pads), so a decode step appends one
//! column to every row. When a row finishes, [`KvCache::retain_rows`] drops it
//! so later steps do less work.

use candle_core::Tensor;

use crate::error::Result;

/// Cached keys and values for every layer.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
        }
    }

    /// The number of cached positions (0 when empty).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .and_then(|(k, _)| k.dim(2).ok())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `k`, `v` `(B, kv_heads, L, head_dim)` to `layer` and returns
    /// everything cached for it.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let slot = &mut self.layers[layer];
        let (k, v) = match slot.take() {
            None => (k.contiguous()?, v.contiguous()?),
            Some((pk, pv)) => (Tensor::cat(&[&pk, k], 2)?, Tensor::cat(&[&pv, v], 2)?),
        };
        *slot = Some((k.clone(), v.clone()));
        Ok((k, v))
    }

    /// Keeps only the batch rows at `rows` (a u32 index tensor), in that order.
    pub fn retain_rows(&mut self, rows: &Tensor) -> Result<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(rows, 0)?;
            *v = v.index_select(rows, 0)?;
        }
        Ok(())
    }

    /// Concatenates caches of disjoint row groups with the same length
    /// (chunked prefill) along the batch axis.
    pub fn concat_rows(parts: &[KvCache]) -> Result<KvCache> {
        let Some(first) = parts.first() else {
            return Ok(KvCache::new(0));
        };
        let mut layers = Vec::with_capacity(first.layers.len());
        for layer in 0..first.layers.len() {
            let mut ks = Vec::new();
            let mut vs = Vec::new();
            for part in parts {
                if let Some((k, v)) = &part.layers[layer] {
                    ks.push(k.clone());
                    vs.push(v.clone());
                }
            }
            layers.push(if ks.is_empty() {
                None
            } else {
                Some((Tensor::cat(&ks, 0)?, Tensor::cat(&vs, 0)?))
            });
        }
        Ok(KvCache { layers })
    }
}
