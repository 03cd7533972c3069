//! The CPU thread count, decided once at start-up.
//!
//! candle asks for its thread count on every matrix multiply
//! (`candle_core::utils::get_num_threads`). That reads `RAYON_NUM_THREADS` and,
//! when the variable is unset, counts the physical cores again by reading
//! `/proc/cpuinfo` — tens of thousands of file opens in one evaluation run.
//! [`init_cpu_threads`] settles the count once: it keeps a count the user set
//! in `RAYON_NUM_THREADS`, otherwise it takes candle's own default once
//! (physical cores), bounded by the CPUs this process may run on (a container
//! quota or an affinity mask), exports it so every later query is a cheap
//! lookup, and sizes rayon's global pool — the pool candle's matrix
//! multiplies and this crate's attention share — to the same count.
//!
//! candle also keeps a second pool for its element-wise kernels, whose
//! threads and caller spin at a barrier after every op. Beside rayon's
//! threads that oversubscribes the cores: on 2 cores under load, a third of a
//! training step's samples were that spin, and the step took 3–4× as long.
//! [`init_cpu_threads`] turns that pool off (`CANDLE_NUM_THREADS=1`, unless
//! the user set it), so element-wise ops run on the calling thread and only
//! one pool ever competes for the cores.

use std::sync::OnceLock;

/// The environment variable candle and rayon both read.
pub const THREADS_VAR: &str = "RAYON_NUM_THREADS";

/// The size of candle's element-wise pool (the caller included).
pub const ELEMENTWISE_THREADS_VAR: &str = "CANDLE_NUM_THREADS";

static THREADS: OnceLock<usize> = OnceLock::new();

/// A positive thread count parsed from `value`.
pub fn parse_thread_count(value: Option<&str>) -> Option<usize> {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// The count to use when the user set none: candle's default (physical
/// cores), never more than the CPUs available to this process.
pub fn default_thread_count() -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    candle_core::utils::get_num_threads().clamp(1, available)
}

/// Fixes the CPU thread count for the rest of the process and returns it.
/// Later calls return the first call's count.
///
/// # Safety
///
/// It may write the process environment, so no other thread may be reading
/// or writing the environment at the same time: call it at the start of
/// `main`, before any thread is spawned.
pub unsafe fn init_cpu_threads() -> usize {
    *THREADS.get_or_init(|| {
        let user = parse_thread_count(std::env::var(THREADS_VAR).ok().as_deref());
        let n = user.unwrap_or_else(default_thread_count);
        if user.is_none() {
            // SAFETY: the caller guarantees no concurrent environment access.
            unsafe { std::env::set_var(THREADS_VAR, n.to_string()) };
        }
        if std::env::var_os(ELEMENTWISE_THREADS_VAR).is_none() {
            // SAFETY: as above.
            unsafe { std::env::set_var(ELEMENTWISE_THREADS_VAR, "1") };
        }
        // An error means the global pool already exists (someone used rayon
        // first); it then keeps its size, which is all we can do.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_counts_parse() {
        assert_eq!(parse_thread_count(Some("3")), Some(3));
        assert_eq!(parse_thread_count(Some(" 2 ")), Some(2));
        assert_eq!(parse_thread_count(Some("0")), None);
        assert_eq!(parse_thread_count(Some("many")), None);
        assert_eq!(parse_thread_count(None), None);
    }

    #[test]
    fn the_default_fits_the_available_cpus() {
        let n = default_thread_count();
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(n >= 1 && n <= available, "{n} of {available}");
    }
}
