//! # train: the meta-RL trainer
//!
//! LaMer credits an attempt for what it makes possible in later attempts of
//! the same trial: [`returns`] computes the cross-episode returns (and the
//! per-episode rewards) of every recorded row, and [`advantages`] turns them
//! into per-row advantages (GiGPO by default; GRPO and RLOO as baselines).
//! Both are pure functions of the rows, tested against hand-computed cases.
//! The rest of the trainer (PPO loss and update, recipes, checkpoints, SFT,
//! the training loop) builds on them.

pub mod advantages;
pub mod checkpoint;
pub mod curves;
pub mod learning;
pub mod metrics;
pub mod ppo;
pub mod progress;
pub mod recipe;
pub mod returns;
pub mod sft;
pub mod trainer;
pub mod update;
pub mod warm_start;
