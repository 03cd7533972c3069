//! The key/value cache of batched generation, owned by the caller and written
//! in place.
//!
//! Each layer has one keys and one values buffer of shape
//! `(rows, kv_heads, capacity, head_dim)`, allocated once for the longest
//! sequence the batch can reach (prompt + `max_new_tokens`). A forward pass
//! writes its new columns into the buffer ([`Tensor::slice_set`]) and attends
//! over a view of the filled part, so a decode step copies only its own keys
//! and values — appending by concatenation would re-copy the whole cache every
//! step (quadratic traffic, and twice the cache memory for a moment).
//!
//! Rows of a batch share the time axis (prompts are left-padded to a common
//! length; the padding mask hides the pads). When a row finishes,
//! [`KvCache::swap_remove_rows`] moves the last live row into its place, the
//! way `Vec::swap_remove` does, so the other rows are not copied; later steps
//! only compute over the live rows, a prefix of the buffer.
//!
//! A cache made with [`KvCache::new`] has no capacity yet: its first append
//! sizes it, and an append past the capacity reallocates (doubling), so it
//! still works for callers that do not know their lengths up front.

use candle_core::{DType, Device, Tensor};

use crate::PolicyError;
use crate::error::Result;

/// One layer's buffers and how much of them is filled.
#[derive(Debug, Clone)]
struct LayerBuffers {
    keys: Tensor,
    values: Tensor,
    len: usize,
}

impl LayerBuffers {
    fn capacity(&self) -> usize {
        self.keys.dim(2).unwrap_or(0)
    }

    /// Keys and values of the first `rows` rows, filled part only.
    fn filled(&self, rows: usize) -> Result<(Tensor, Tensor)> {
        Ok((
            self.keys.narrow(0, 0, rows)?.narrow(2, 0, self.len)?,
            self.values.narrow(0, 0, rows)?.narrow(2, 0, self.len)?,
        ))
    }
}

/// Cached keys and values for every layer.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<LayerBuffers>>,
    /// Live rows: a prefix of each buffer's batch axis.
    rows: usize,
}

/// Zeroed `(rows, kv_heads, capacity, head_dim)` buffers.
fn zeros(
    rows: usize,
    kv_heads: usize,
    capacity: usize,
    head_dim: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    Ok(Tensor::zeros(
        (rows, kv_heads, capacity, head_dim),
        dtype,
        device,
    )?)
}

impl KvCache {
    /// An empty cache that sizes itself on the first append.
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
            rows: 0,
        }
    }

    /// A cache of `rows` rows with room for `capacity` positions per row,
    /// allocated now.
    #[allow(clippy::too_many_arguments)]
    pub fn preallocated(
        num_layers: usize,
        rows: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let mut layers = Vec::with_capacity(num_layers);
        for _ in 0..num_layers {
            layers.push(Some(LayerBuffers {
                keys: zeros(rows, kv_heads, capacity, head_dim, dtype, device)?,
                values: zeros(rows, kv_heads, capacity, head_dim, dtype, device)?,
                len: 0,
            }));
        }
        Ok(KvCache { layers, rows })
    }

    /// The number of cached positions (0 when empty).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Positions each row can hold before a reallocation.
    pub fn capacity(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, LayerBuffers::capacity)
    }

    /// A cache over rows `start .. start + rows` of this one that shares its
    /// buffers: appends to it land in this cache (chunked prefill). Its length
    /// starts at 0; call [`KvCache::set_len`] on the parent afterwards.
    pub fn row_group(&self, start: usize, rows: usize) -> Result<KvCache> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let Some(l) = layer else {
                return Err(PolicyError::Compute(
                    "row groups need a preallocated cache".into(),
                ));
            };
            layers.push(Some(LayerBuffers {
                keys: l.keys.narrow(0, start, rows)?,
                values: l.values.narrow(0, start, rows)?,
                len: 0,
            }));
        }
        Ok(KvCache { layers, rows })
    }

    /// Declares the first `len` positions of every row filled (after the row
    /// groups of [`KvCache::row_group`] wrote them).
    pub fn set_len(&mut self, len: usize) -> Result<()> {
        for l in self.layers.iter_mut().flatten() {
            if len > l.capacity() {
                return Err(PolicyError::Compute(format!(
                    "KV cache length {len} exceeds its capacity {}",
                    l.capacity()
                )));
            }
            l.len = len;
        }
        Ok(())
    }

    /// Writes `k`, `v` `(B, kv_heads, L, head_dim)` after the filled part of
    /// `layer` and returns views of everything cached for it.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, kv_heads, l, head_dim) = k.dims4()?;
        let slot = self
            .layers
            .get_mut(layer)
            .ok_or_else(|| PolicyError::Compute(format!("KV cache has no layer {layer}")))?;
        if slot.is_none() {
            self.rows = b;
        }
        if b != self.rows {
            return Err(PolicyError::Compute(format!(
                "KV cache holds {} rows, the step has {b}",
                self.rows
            )));
        }
        let buffers = match slot {
            Some(buffers) if buffers.len + l <= buffers.capacity() => buffers,
            _ => {
                let (len, old) = match slot.take() {
                    Some(old) => (old.len, Some(old)),
                    None => (0, None),
                };
                let capacity = (len + l).max(2 * len);
                let dtype = k.dtype();
                let device = k.device();
                let grown = LayerBuffers {
                    keys: zeros(b, kv_heads, capacity, head_dim, dtype, device)?,
                    values: zeros(b, kv_heads, capacity, head_dim, dtype, device)?,
                    len,
                };
                if let Some(old) = old {
                    let (ok, ov) = old.filled(b)?;
                    grown.keys.slice_set(&ok.contiguous()?, 2, 0)?;
                    grown.values.slice_set(&ov.contiguous()?, 2, 0)?;
                }
                slot.insert(grown)
            }
        };
        let keys = buffers.keys.narrow(0, 0, b)?;
        let values = buffers.values.narrow(0, 0, b)?;
        keys.slice_set(&k.contiguous()?, 2, buffers.len)?;
        values.slice_set(&v.contiguous()?, 2, buffers.len)?;
        buffers.len += l;
        buffers.filled(b)
    }

    /// A cache whose row `r` is a copy of this cache's row `rows[r]` (a u32
    /// index tensor), e.g. to fan a shared prompt out to several rows.
    pub fn select_rows(&self, rows: &Tensor) -> Result<KvCache> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            layers.push(match layer {
                Some(l) => Some(LayerBuffers {
                    keys: l.keys.narrow(0, 0, self.rows)?.index_select(rows, 0)?,
                    values: l.values.narrow(0, 0, self.rows)?.index_select(rows, 0)?,
                    len: l.len,
                }),
                None => None,
            });
        }
        Ok(KvCache {
            layers,
            rows: rows.dim(0)?,
        })
    }

    /// Removes the rows at `finished` (any order, no duplicates): each is
    /// overwritten by the last live row, like `Vec::swap_remove` applied in
    /// descending index order. Callers keep their per-row data in step by
    /// doing the same.
    pub fn swap_remove_rows(&mut self, finished: &[usize]) -> Result<()> {
        let mut order = finished.to_vec();
        order.sort_unstable_by(|a, b| b.cmp(a));
        for &row in &order {
            if row >= self.rows {
                return Err(PolicyError::Compute(format!(
                    "KV cache has {} rows, cannot remove row {row}",
                    self.rows
                )));
            }
            let last = self.rows - 1;
            if row != last {
                for l in self.layers.iter().flatten() {
                    for buffer in [&l.keys, &l.values] {
                        let moved = buffer.narrow(0, last, 1)?.narrow(2, 0, l.len)?;
                        let moved = moved.force_contiguous()?;
                        buffer.narrow(0, row, 1)?.slice_set(&moved, 2, 0)?;
                    }
                }
            }
            self.rows = last;
        }
        Ok(())
    }
}
