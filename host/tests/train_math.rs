//! Returns and advantages on rows recorded by a real rollout.

mod common;

use common::{Loser, keydoor};
use lamer_host::rollout::{NoObserver, Phase, RolloutConfig, TaskGroup, request_seed, run_rollout};
use lamer_host::train::advantages::{AdvantageConfig, AdvantageRow, Estimator, advantages};
use lamer_host::train::returns::{Discounts, ReturnVariant, rollout_returns};
use lamer_sdk::Task;

#[test]
fn recorded_rows_get_cross_episode_credit() {
    // One task, two trials: trial 0 fails attempt 0 and wins attempt 1 at
    // once; trial 1 never wins.
    let config = RolloutConfig {
        group_size: 2,
        expert_hints: true,
        ..RolloutConfig::default()
    };
    let win = request_seed(config.seed, 0, 0, 1, 0, Phase::Play);
    let out = run_rollout(
        &keydoor(),
        &mut Loser::winning_on([win]),
        &[TaskGroup {
            id: 0,
            task: Task::new("test", 8),
        }],
        &config,
        &mut NoObserver,
    )
    .unwrap();
    let discounts = Discounts {
        gamma_step: 0.5,
        gamma_traj: 0.8,
        variant: ReturnVariant::Code,
    };
    let returns = rollout_returns(&out.rows, &discounts);
    let of_trial = |uid: usize| -> Vec<(Phase, f64, f64)> {
        out.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.trial_uid == uid)
            .map(|(i, r)| (r.phase, returns.step_returns[i], returns.episode_rewards[i]))
            .collect()
    };
    // Trial 0: [0, 0 | reflect | +1]: G = [0.5·0.8, 0.8, 1, 1].
    assert_eq!(
        of_trial(0),
        [
            (Phase::Play, 0.4, 0.0),
            (Phase::Play, 0.8, 0.0),
            (Phase::Reflect, 1.0, 0.0),
            (Phase::Play, 1.0, 1.0),
        ]
    );
    // Trial 1 never earns a reward.
    assert!(of_trial(1).iter().all(|&(_, g, e)| g == 0.0 && e == 0.0));
    assert_eq!(of_trial(1).len(), 8);

    let rows = AdvantageRow::from_rows(&out.rows, &returns);
    let adv = advantages(&rows, Estimator::Gigpo, &AdvantageConfig::default());
    // The winning row beats every other row of the group.
    let winner = out.rows.iter().position(|r| r.won).unwrap();
    assert!(
        adv.iter()
            .enumerate()
            .all(|(i, &a)| i == winner || a < adv[winner])
    );
    // Trial 0's reflection (followed by a win) beats trial 1's reflections.
    let reflections: Vec<(usize, f64)> = out
        .rows
        .iter()
        .zip(&adv)
        .filter(|(r, _)| r.phase == Phase::Reflect)
        .map(|(r, &a)| (r.trial_uid, a))
        .collect();
    assert_eq!(reflections.len(), 3);
    assert!(
        reflections[1..]
            .iter()
            .all(|&(uid, a)| uid == 1 && a < reflections[0].1)
    );
    let total: f64 = adv.iter().sum();
    assert!(
        total.abs() < 1e-9,
        "GiGPO advantages of a group sum to zero"
    );
}
