//! Evaluation metrics over finished trials.
//!
//! - **pass@k**: the fraction of tasks solved within the first k attempts
//!   (the OR of `won` over attempts 0..k, as in the reference code).
//! - **trajectory diversity**: the entropy (nats) of the empirical
//!   distribution of first-attempt action sequences among K samples of one
//!   task, averaged over tasks. The paper leaves the recipe underspecified;
//!   this is the reading its figure suggests.

use std::collections::HashMap;

/// pass@k for k = 1..=attempts. `solved_at` holds, per task, the 0-based
/// attempt that won (or `None`). Empty input gives zeros.
pub fn pass_at_k(solved_at: &[Option<u32>], attempts: u32) -> Vec<f64> {
    (1..=attempts)
        .map(|k| {
            if solved_at.is_empty() {
                return 0.0;
            }
            let solved = solved_at
                .iter()
                .filter(|s| s.is_some_and(|a| a < k))
                .count();
            solved as f64 / solved_at.len() as f64
        })
        .collect()
}

/// The Shannon entropy (nats) of the empirical distribution of `samples`.
pub fn empirical_entropy<T: std::hash::Hash + Eq>(samples: &[T]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut counts: HashMap<&T, usize> = HashMap::new();
    for s in samples {
        *counts.entry(s).or_default() += 1;
    }
    let n = samples.len() as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// Diversity of a set of tasks: per task, the entropy of its sampled action
/// sequences; returns the mean entropy and the mean number of distinct
/// sequences (0 for no tasks).
pub fn trajectory_diversity(per_task: &[Vec<Vec<String>>]) -> (f64, f64) {
    if per_task.is_empty() {
        return (0.0, 0.0);
    }
    let n = per_task.len() as f64;
    let entropy = per_task.iter().map(|s| empirical_entropy(s)).sum::<f64>() / n;
    let distinct = per_task
        .iter()
        .map(|s| {
            let mut unique: Vec<&Vec<String>> = s.iter().collect();
            unique.sort();
            unique.dedup();
            unique.len() as f64
        })
        .sum::<f64>()
        / n;
    (entropy, distinct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_at_k_is_cumulative() {
        let solved = [Some(0), None, Some(2), Some(1), None];
        assert_eq!(pass_at_k(&solved, 3), vec![0.2, 0.4, 0.6]);
        assert_eq!(pass_at_k(&solved, 1), vec![0.2]);
        assert_eq!(pass_at_k(&[], 2), vec![0.0, 0.0]);
        assert_eq!(pass_at_k(&[None, None], 2), vec![0.0, 0.0]);
    }

    #[test]
    fn entropy_by_hand() {
        assert_eq!(empirical_entropy(&["a", "a", "a"]), 0.0);
        assert!((empirical_entropy(&["a", "b"]) - 2f64.ln()).abs() < 1e-12);
        assert!((empirical_entropy(&["a", "b", "c", "d"]) - 4f64.ln()).abs() < 1e-12);
        // p = (1/2, 1/4, 1/4): 1.5 ln 2.
        assert!((empirical_entropy(&[1, 1, 2, 3]) - 1.5 * 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn diversity_averages_over_tasks() {
        let seq = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let collapsed = vec![seq("open 1"), seq("open 1")];
        let diverse = vec![seq("open 1"), seq("open 2 open 3")];
        let (entropy, distinct) = trajectory_diversity(&[collapsed, diverse]);
        assert!((entropy - 2f64.ln() / 2.0).abs() < 1e-12);
        assert_eq!(distinct, 1.5);
        assert_eq!(trajectory_diversity(&[]), (0.0, 0.0));
    }

    proptest::proptest! {
        #[test]
        fn pass_at_k_is_monotone_and_bounded(
            solved in proptest::collection::vec(proptest::option::of(0u32..4), 0..40)
        ) {
            let p = pass_at_k(&solved, 4);
            for w in p.windows(2) { proptest::prop_assert!(w[0] <= w[1]); }
            for v in p { proptest::prop_assert!((0.0..=1.0).contains(&v)); }
        }

        #[test]
        fn entropy_is_at_most_log_n(samples in proptest::collection::vec(0u8..6, 1..30)) {
            let h = empirical_entropy(&samples);
            proptest::prop_assert!(h >= -1e-12 && h <= (samples.len() as f64).ln() + 1e-9);
        }
    }
}
