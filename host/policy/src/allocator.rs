//! Tuning of the C allocator for tensor work, applied once at start-up.
//!
//! candle allocates a fresh buffer for every tensor an op produces and frees
//! it when the tensor drops, so a forward pass allocates and frees the same
//! few sizes (activations, scores, logits: 1–30 MiB) over and over. glibc's
//! `malloc` serves such sizes with a fresh `mmap` once they pass its dynamic
//! threshold, and gives freed memory at the top of the heap back to the
//! kernel; every tensor then costs page faults to zero its pages again. On
//! the 2-core machine this was ~20 % of a training step's time in the
//! kernel and 550 k minor faults per `bench` run. [`tune_allocator`] keeps
//! allocations up to 32 MiB (glibc's largest allowed threshold) on the heap
//! and freed memory in the process for reuse: 12× fewer faults.
//!
//! It is a process-wide setting, so only binaries call it (at the start of
//! `main`); libraries and tests leave the allocator as they find it. On other
//! C libraries it does nothing.

/// Largest `mmap` threshold glibc accepts on 64-bit targets.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory kept at the top of the heap before glibc trims it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 1 << 30;
/// Extra heap requested from the kernel each time the heap grows.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: i32 = 64 << 20;

/// Keeps tensor-sized allocations on the heap and freed memory in the
/// process (see the module docs). Returns whether every setting took.
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes allocator parameters; it is safe to
        // call at any time, from any thread.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
                && libc::mallopt(libc::M_TOP_PAD, TOP_PAD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_every_setting() {
        assert!(super::tune_allocator());
    }
}
