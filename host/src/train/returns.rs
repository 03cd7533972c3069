//! Cross-episode returns.
//!
//! Within an episode the return is the usual discounted sum with `γ_step`.
//! Across episodes LaMer adds the returns of the later attempts of the same
//! trial, discounted by `γ_traj` per attempt, so an exploratory early attempt
//! is credited for the success it enabled. Two variants exist:
//!
//! - [`ReturnVariant::Code`] (default, matches the released results): the
//!   official code's backward sweep. Unrolled it gives
//!   `G_t^(n) = g_t^(n) + γ_step^(T_n−1−t) · γ_traj · G_0^(n+1)`: the future
//!   attempts are also discounted by the steps left in the current one.
//! - [`ReturnVariant::Paper`]: the paper's formula
//!   `G_t^(n) = g_t^(n) + Σ_{m>n} γ_traj^(m−n) · g_0^(m)`.
//!
//! Both agree on the last step of each attempt. A reflection row takes the
//! return at the first step of the attempt that follows it (it adds no reward
//! itself). The *episode reward* of a play row is the undiscounted sum of its
//! own attempt's rewards (0 for reflections): GiGPO's episode-level term and
//! GRPO use it, with no cross-episode credit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rollout::{Phase, Row};

/// Which cross-episode return to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnVariant {
    /// The official code's backward sweep.
    #[default]
    Code,
    /// The paper's formula.
    Paper,
}

/// Discounts of the cross-episode return.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Discounts {
    /// Within an attempt (LaMer: 0.95).
    pub gamma_step: f64,
    /// Across attempts (LaMer: 0.9 Sokoban, 0.6 the others).
    pub gamma_traj: f64,
    pub variant: ReturnVariant,
}

impl Default for Discounts {
    fn default() -> Self {
        Discounts {
            gamma_step: 0.95,
            gamma_traj: 0.6,
            variant: ReturnVariant::Code,
        }
    }
}

/// The part of a row the returns need.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReturnStep {
    /// 0-based attempt; a reflection carries the attempt it precedes.
    pub attempt: u32,
    pub phase: Phase,
    pub reward: f64,
}

impl ReturnStep {
    pub fn play(attempt: u32, reward: f64) -> Self {
        ReturnStep {
            attempt,
            phase: Phase::Play,
            reward,
        }
    }

    pub fn reflect(attempt: u32) -> Self {
        ReturnStep {
            attempt,
            phase: Phase::Reflect,
            reward: 0.0,
        }
    }
}

impl From<&Row> for ReturnStep {
    fn from(row: &Row) -> Self {
        ReturnStep {
            attempt: row.attempt,
            phase: row.phase,
            reward: row.reward,
        }
    }
}

/// The cross-episode return of every row of ONE trial, given in time order.
pub fn trial_returns(steps: &[ReturnStep], discounts: &Discounts) -> Vec<f64> {
    match discounts.variant {
        ReturnVariant::Code => code_sweep(steps, discounts),
        ReturnVariant::Paper => paper_formula(steps, discounts),
    }
}

/// The official backward sweep: within an attempt `running = r + γ_step·running`;
/// at the last play row of an earlier attempt `running = r + γ_traj·running`;
/// a reflection takes `running` unchanged.
fn code_sweep(steps: &[ReturnStep], d: &Discounts) -> Vec<f64> {
    let mut out = vec![0.0; steps.len()];
    let mut running = 0.0;
    let mut current = steps.last().map(|s| s.attempt);
    for (i, step) in steps.iter().enumerate().rev() {
        match step.phase {
            Phase::Reflect => out[i] = running,
            Phase::Play => {
                let gamma = if Some(step.attempt) == current {
                    d.gamma_step
                } else {
                    current = Some(step.attempt);
                    d.gamma_traj
                };
                running = step.reward + gamma * running;
                out[i] = running;
            }
        }
    }
    out
}

/// The paper's formula: the in-attempt return plus the γ_traj-discounted
/// first-step returns of every later attempt.
fn paper_formula(steps: &[ReturnStep], d: &Discounts) -> Vec<f64> {
    // In-attempt returns g_t, by a backward sweep that restarts at each attempt.
    let mut within = vec![0.0; steps.len()];
    let mut g0: BTreeMap<u32, f64> = BTreeMap::new();
    let mut running = 0.0;
    let mut current = None;
    for (i, step) in steps.iter().enumerate().rev() {
        if step.phase == Phase::Reflect {
            continue;
        }
        if current != Some(step.attempt) {
            running = 0.0;
            current = Some(step.attempt);
        }
        running = step.reward + d.gamma_step * running;
        within[i] = running;
        g0.insert(step.attempt, running);
    }
    // Σ_{m>n} γ_traj^(m−n) g_0^(m), indexed by attempt order (attempts that
    // were not played contribute nothing).
    let future = |n: u32| -> f64 {
        g0.range(n + 1..)
            .map(|(&m, &g)| d.gamma_traj.powi((m - n) as i32) * g)
            .sum()
    };
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| match step.phase {
            Phase::Play => within[i] + future(step.attempt),
            // G_0 of the attempt it precedes, under this same formula.
            Phase::Reflect => g0.get(&step.attempt).copied().unwrap_or(0.0) + future(step.attempt),
        })
        .collect()
}

/// The undiscounted reward of each play row's own attempt; 0 for reflections.
pub fn trial_episode_rewards(steps: &[ReturnStep]) -> Vec<f64> {
    let mut totals: BTreeMap<u32, f64> = BTreeMap::new();
    for step in steps.iter().filter(|s| s.phase == Phase::Play) {
        *totals.entry(step.attempt).or_default() += step.reward;
    }
    steps
        .iter()
        .map(|s| match s.phase {
            Phase::Play => totals.get(&s.attempt).copied().unwrap_or(0.0),
            Phase::Reflect => 0.0,
        })
        .collect()
}

/// Per-row returns and episode rewards of a whole rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowReturns {
    pub step_returns: Vec<f64>,
    pub episode_rewards: Vec<f64>,
}

/// Computes [`trial_returns`] and [`trial_episode_rewards`] for rows of many
/// trials (grouped by `trial_uid`, time order kept within each trial); the
/// outputs are aligned with `rows`.
pub fn rollout_returns(rows: &[Row], discounts: &Discounts) -> RowReturns {
    let mut by_trial: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        by_trial.entry(row.trial_uid).or_default().push(i);
    }
    let mut step_returns = vec![0.0; rows.len()];
    let mut episode_rewards = vec![0.0; rows.len()];
    for indices in by_trial.values() {
        let steps: Vec<ReturnStep> = indices.iter().map(|&i| (&rows[i]).into()).collect();
        let returns = trial_returns(&steps, discounts);
        let rewards = trial_episode_rewards(&steps);
        for (k, &i) in indices.iter().enumerate() {
            step_returns[i] = returns[k];
            episode_rewards[i] = rewards[k];
        }
    }
    RowReturns {
        step_returns,
        episode_rewards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paper §1.2: attempt 0 = three steps of −0.1 (fail), a reflection,
    /// attempt 1 = [−0.1, +10.9] (success); γ_step 0.95, γ_traj 0.9.
    fn worked_example() -> Vec<ReturnStep> {
        vec![
            ReturnStep::play(0, -0.1),
            ReturnStep::play(0, -0.1),
            ReturnStep::play(0, -0.1),
            ReturnStep::reflect(1),
            ReturnStep::play(1, -0.1),
            ReturnStep::play(1, 10.9),
        ]
    }

    fn discounts(variant: ReturnVariant) -> Discounts {
        Discounts {
            gamma_step: 0.95,
            gamma_traj: 0.9,
            variant,
        }
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 5e-4, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn code_variant_matches_the_worked_example() {
        let got = trial_returns(&worked_example(), &discounts(ReturnVariant::Code));
        assert_close(&got, &[8.044, 8.573, 9.130, 10.255, 10.255, 10.9]);
    }

    #[test]
    fn paper_variant_matches_the_worked_example() {
        let got = trial_returns(&worked_example(), &discounts(ReturnVariant::Paper));
        assert_close(&got, &[8.944, 9.035, 9.130, 10.255, 10.255, 10.9]);
    }

    #[test]
    fn three_attempts_discount_by_powers_of_gamma_traj() {
        // Attempts 0 and 1 fail with a single −1 each; attempt 2 wins with 10.
        let steps = [
            ReturnStep::play(0, -1.0),
            ReturnStep::reflect(1),
            ReturnStep::play(1, -1.0),
            ReturnStep::reflect(2),
            ReturnStep::play(2, 10.0),
        ];
        let d = Discounts {
            gamma_step: 0.5,
            gamma_traj: 0.5,
            variant: ReturnVariant::Paper,
        };
        // attempt 1: −1 + 0.5·10 = 4; attempt 0: −1 + 0.5·(−1) + 0.25·10 = 1.
        assert_close(&trial_returns(&steps, &d), &[1.0, 4.0, 4.0, 10.0, 10.0]);
        let d = Discounts {
            variant: ReturnVariant::Code,
            ..d
        };
        // Single-step attempts: the two variants differ only through G_0 of
        // attempt 1, which here equals the paper's: −1 + 0.5·4 = 1.
        assert_close(&trial_returns(&steps, &d), &[1.0, 4.0, 4.0, 10.0, 10.0]);
    }

    #[test]
    fn gamma_traj_zero_is_single_episode_rl() {
        let d = Discounts {
            gamma_step: 0.95,
            gamma_traj: 0.0,
            variant: ReturnVariant::Code,
        };
        let got = trial_returns(&worked_example(), &d);
        assert_close(&got, &[-0.2855, -0.195, -0.1, 10.255, 10.255, 10.9]);
    }

    #[test]
    fn episode_rewards_are_undiscounted_and_own_attempt_only() {
        let got = trial_episode_rewards(&worked_example());
        assert_close(&got, &[-0.3, -0.3, -0.3, 0.0, 10.8, 10.8]);
    }

    proptest::proptest! {
        /// The variants differ only through the extra `γ_step^(T−1−t)` on
        /// future attempts, so they agree on the last step of an attempt when
        /// every later attempt that has a successor is one step long (always
        /// for the last two attempts).
        #[test]
        fn variants_agree_where_no_extra_discount_applies(
            lengths in proptest::collection::vec(1usize..5, 1..5),
            rewards in proptest::collection::vec(-2.0f64..2.0, 20),
            gamma_step in 0.0f64..1.0,
            gamma_traj in 0.0f64..1.0,
        ) {
            let mut steps = Vec::new();
            let mut r = rewards.iter();
            for (attempt, &len) in lengths.iter().enumerate() {
                if attempt > 0 { steps.push(ReturnStep::reflect(attempt as u32)); }
                for _ in 0..len { steps.push(ReturnStep::play(attempt as u32, *r.next().unwrap())); }
            }
            let code = trial_returns(&steps, &Discounts { gamma_step, gamma_traj, variant: ReturnVariant::Code });
            let paper = trial_returns(&steps, &Discounts { gamma_step, gamma_traj, variant: ReturnVariant::Paper });
            let last = lengths.len() - 1;
            for i in 0..steps.len() {
                let n = steps[i].attempt as usize;
                let last_of_attempt = steps[i].phase == Phase::Play
                    && steps.get(i + 1).is_none_or(|s| s.attempt as usize != n);
                let later_single = (n + 1..last).all(|m| lengths[m] == 1);
                if (last_of_attempt && later_single) || n == last {
                    proptest::prop_assert!((code[i] - paper[i]).abs() < 1e-9, "row {}", i);
                }
            }
        }
    }
}
