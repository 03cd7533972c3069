//! Advantages: how much better a row did than its peers.
//!
//! Every estimator compares rows of the same **task group** (all trials of
//! one task; GiGPO's `uid`). Statistics are taken over rows (turns), not over
//! trajectories, as in the reference code. The per-row *episode score* is
//! `episode_reward − penalty·[invalid]` (the 0.5 invalid-output penalty only
//! enters here, never the returns).
//!
//! - [`gigpo_mean_norm`] (LaMer's default): an episode-level term (score minus
//!   the group mean) plus a step-level term (cross-episode return minus the
//!   mean over rows of the same group that were prompted from the identical
//!   anchor observation; all reflections share one anchor). A cluster of one
//!   row gets a step-level term of 0; a group of one row has mean 0.
//! - [`grpo`]: `(score − mean) / (std + ε)` over the group (sample standard
//!   deviation; a one-row group has mean 0 and std 1).
//! - [`rloo`]: score minus the mean of the *other* rows of the group (a
//!   one-row group keeps its score).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::returns::RowReturns;
use crate::rollout::Row;

/// The GRPO normaliser's ε.
pub const GRPO_EPSILON: f64 = 1e-6;

/// The part of a row the advantages need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvantageRow {
    /// The task group.
    pub group: usize,
    /// The state key of the prompt (raw observation; `"reflection"` for reflections).
    pub anchor: String,
    /// The cross-episode return ([`super::returns`]).
    pub step_return: f64,
    /// The undiscounted reward of the row's own attempt (0 for reflections).
    pub episode_reward: f64,
    /// Whether the response had its tags and a valid action.
    pub valid: bool,
}

impl AdvantageRow {
    /// The advantage inputs of recorded rows, given their returns
    /// ([`super::returns::rollout_returns`]); aligned with `rows`.
    pub fn from_rows(rows: &[Row], returns: &RowReturns) -> Vec<AdvantageRow> {
        rows.iter()
            .enumerate()
            .map(|(i, row)| AdvantageRow {
                group: row.group,
                anchor: row.anchor.clone(),
                step_return: returns.step_returns[i],
                episode_reward: returns.episode_rewards[i],
                valid: row.valid,
            })
            .collect()
    }
}

/// Settings shared by the estimators.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdvantageConfig {
    /// Subtracted from the episode score of an invalid row (LaMer: 0.5).
    pub invalid_penalty: f64,
    /// The weight of GiGPO's step-level term (LaMer: 1.0).
    pub step_weight: f64,
}

impl Default for AdvantageConfig {
    fn default() -> Self {
        AdvantageConfig {
            invalid_penalty: 0.5,
            step_weight: 1.0,
        }
    }
}

/// Which advantage estimator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Estimator {
    #[default]
    Gigpo,
    Grpo,
    Rloo,
}

/// Computes the chosen estimator's advantages, aligned with `rows`.
pub fn advantages(
    rows: &[AdvantageRow],
    estimator: Estimator,
    config: &AdvantageConfig,
) -> Vec<f64> {
    match estimator {
        Estimator::Gigpo => gigpo_mean_norm(rows, config),
        Estimator::Grpo => grpo(rows, config),
        Estimator::Rloo => rloo(rows, config),
    }
}

/// `episode_reward − penalty` for invalid rows.
pub fn episode_scores(rows: &[AdvantageRow], config: &AdvantageConfig) -> Vec<f64> {
    rows.iter()
        .map(|r| r.episode_reward - if r.valid { 0.0 } else { config.invalid_penalty })
        .collect()
}

/// Row indices per key, in first-seen order of keys.
fn clusters<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> Vec<Vec<usize>> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, key) in keys.enumerate() {
        let slot = *index.entry(key).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[slot].push(i);
    }
    out
}

fn mean(values: &[f64], indices: &[usize]) -> f64 {
    indices.iter().map(|&i| values[i]).sum::<f64>() / indices.len() as f64
}

/// GiGPO with `mean_norm` (mean subtraction, no std division).
pub fn gigpo_mean_norm(rows: &[AdvantageRow], config: &AdvantageConfig) -> Vec<f64> {
    let scores = episode_scores(rows, config);
    let mut out = vec![0.0; rows.len()];
    for group in clusters(rows.iter().map(|r| r.group)) {
        let group_mean = if group.len() > 1 {
            mean(&scores, &group)
        } else {
            0.0
        };
        for &i in &group {
            out[i] = scores[i] - group_mean;
        }
    }
    let returns: Vec<f64> = rows.iter().map(|r| r.step_return).collect();
    for cluster in clusters(rows.iter().map(|r| (r.group, r.anchor.as_str()))) {
        if cluster.len() < 2 {
            continue;
        }
        let cluster_mean = mean(&returns, &cluster);
        for &i in &cluster {
            out[i] += config.step_weight * (returns[i] - cluster_mean);
        }
    }
    out
}

/// GRPO: group-normalised episode scores.
pub fn grpo(rows: &[AdvantageRow], config: &AdvantageConfig) -> Vec<f64> {
    let scores = episode_scores(rows, config);
    let mut out = vec![0.0; rows.len()];
    for group in clusters(rows.iter().map(|r| r.group)) {
        let (m, std) = if group.len() > 1 {
            let m = mean(&scores, &group);
            let var = group.iter().map(|&i| (scores[i] - m).powi(2)).sum::<f64>()
                / (group.len() - 1) as f64;
            (m, var.sqrt())
        } else {
            (0.0, 1.0)
        };
        for &i in &group {
            out[i] = (scores[i] - m) / (std + GRPO_EPSILON);
        }
    }
    out
}

/// RLOO: each score minus the mean of the other rows of its group.
pub fn rloo(rows: &[AdvantageRow], config: &AdvantageConfig) -> Vec<f64> {
    let scores = episode_scores(rows, config);
    let mut out = vec![0.0; rows.len()];
    for group in clusters(rows.iter().map(|r| r.group)) {
        let n = group.len();
        let total: f64 = group.iter().map(|&i| scores[i]).sum();
        for &i in &group {
            out[i] = if n > 1 {
                scores[i] - (total - scores[i]) / (n - 1) as f64
            } else {
                scores[i]
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        group: usize,
        anchor: &str,
        step_return: f64,
        episode_reward: f64,
        valid: bool,
    ) -> AdvantageRow {
        AdvantageRow {
            group,
            anchor: anchor.into(),
            step_return,
            episode_reward,
            valid,
        }
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "got {got:?}, want {want:?}");
        }
    }

    /// Group 0: two trials starting from state "s0"; trial A fails (episode
    /// reward 0) then reflects and wins (10); trial B's first answer is invalid.
    fn hand_case() -> Vec<AdvantageRow> {
        vec![
            row(0, "s0", 5.3, 0.0, true),         // A attempt 0
            row(0, "reflection", 6.0, 0.0, true), // A reflects
            row(0, "s0", 10.0, 10.0, true),       // A attempt 1 wins
            row(0, "s0", 0.0, 0.0, false),        // B invalid on s0
            row(0, "s1", 1.0, 0.0, true),         // B in a state seen once
            row(1, "t0", 3.0, 2.0, true),         // a group of one row
        ]
    }

    #[test]
    fn gigpo_by_hand() {
        // Group 0 scores: [0, 0, 10, −0.5, 0], mean 1.9.
        // Cluster s0 returns [5.3, 10, 0], mean 5.1; "reflection" and "s1" are singletons.
        let got = gigpo_mean_norm(&hand_case(), &AdvantageConfig::default());
        assert_close(
            &got,
            &[
                -1.9 + 0.2,
                -1.9,
                8.1 + 4.9,
                -2.4 - 5.1,
                -1.9,
                2.0, // mean 0 for a one-row group; singleton cluster adds 0
            ],
        );
    }

    #[test]
    fn gigpo_step_weight_scales_only_the_step_term() {
        let config = AdvantageConfig {
            invalid_penalty: 0.5,
            step_weight: 0.0,
        };
        let got = gigpo_mean_norm(&hand_case(), &config);
        assert_close(&got, &[-1.9, -1.9, 8.1, -2.4, -1.9, 2.0]);
    }

    #[test]
    fn all_reflections_of_a_group_form_one_cluster() {
        let rows = vec![
            row(0, "reflection", 4.0, 0.0, true),
            row(0, "reflection", 2.0, 0.0, true),
            row(1, "reflection", 9.0, 0.0, true),
        ];
        let got = gigpo_mean_norm(&rows, &AdvantageConfig::default());
        // Episode terms: group 0 scores [0, 0] → 0; group 1 single → 0.
        assert_close(&got, &[1.0, -1.0, 0.0]);
    }

    #[test]
    fn grpo_by_hand() {
        // Scores [1, 3] → mean 2, sample std √2.
        let rows = vec![
            row(0, "a", 0.0, 1.0, true),
            row(0, "b", 0.0, 3.0, true),
            row(1, "c", 0.0, 4.0, false),
        ];
        let got = grpo(&rows, &AdvantageConfig::default());
        let s = 2f64.sqrt() + GRPO_EPSILON;
        assert_close(&got, &[-1.0 / s, 1.0 / s, 3.5 / (1.0 + GRPO_EPSILON)]);
    }

    #[test]
    fn rloo_by_hand() {
        let rows = vec![
            row(0, "a", 0.0, 1.0, true),
            row(0, "b", 0.0, 3.0, true),
            row(0, "c", 0.0, 5.0, false),
            row(1, "d", 0.0, 7.0, true),
        ];
        // Scores [1, 3, 4.5]: 1 − 3.75, 3 − 2.75, 4.5 − 2; single row keeps 7.
        let got = rloo(&rows, &AdvantageConfig::default());
        assert_close(&got, &[-2.75, 0.25, 2.5, 7.0]);
        assert_close(
            &advantages(&rows, Estimator::Rloo, &AdvantageConfig::default()),
            &got,
        );
    }

    proptest::proptest! {
        #[test]
        fn gigpo_terms_sum_to_zero_over_groups(
            spec in proptest::collection::vec((0usize..3, 0usize..3, -5.0f64..5.0, -5.0f64..5.0, proptest::bool::ANY), 2..30)
        ) {
            let rows: Vec<AdvantageRow> = spec
                .iter()
                .map(|&(g, a, ret, ep, valid)| row(g, &format!("s{a}"), ret, ep, valid))
                .collect();
            let adv = gigpo_mean_norm(&rows, &AdvantageConfig::default());
            for g in 0..3 {
                let members: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].group == g).collect();
                if members.len() > 1 {
                    let total: f64 = members.iter().map(|&i| adv[i]).sum();
                    proptest::prop_assert!(total.abs() < 1e-6, "group {} sums to {}", g, total);
                }
            }
        }
    }
}
