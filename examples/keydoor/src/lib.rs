//! # Key and doors: the smallest environment where exploring pays
//!
//! A hall has `doors` closed doors; a key lies behind exactly one of them,
//! chosen by the task seed. Each turn the agent opens one door. An attempt
//! allows fewer turns than there are doors, so a single attempt often fails —
//! but a failed attempt tells the agent which doors were empty, and an agent
//! that reflects on it finds the key in the next attempt. That is the shape of
//! problem LaMer's cross-episode training rewards.
//!
//! - Action: `open N` (any text whose first number is N works, e.g. `3`).
//! - Reward: `+1` and the episode ends when the key is found; `0` for an empty
//!   door; `-0.1` for an invalid action (no number, no such door, or a door
//!   already open), which changes nothing.
//! - Splits: `train` seeds `[0, 2^16)`, `test` seeds `[2^16, 2^32)`.
//! - Expert: opens the key's door (it sees the seed).

use lamer_sdk::*;
use serde::{Deserialize, Serialize};

/// Session config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Number of doors, 2 to 9.
    pub doors: u32,
    /// Turns per attempt; fewer than `doors` makes exploration across attempts matter.
    pub max_turns: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            doors: 4,
            max_turns: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Closed,
    Empty,
    Key,
}

/// The environment state.
#[derive(Debug, Clone)]
pub struct KeyDoor {
    config: Config,
    key: usize,
    doors: Vec<Door>,
}

const TRAIN_SEEDS: u64 = 1 << 16;

/// The seed of a task: train tasks use seeds `[0, 2^16)`, test tasks `[2^16, 2^32)`.
fn task_seed(task: &Task) -> u64 {
    match task.split.as_str() {
        "test" => TRAIN_SEEDS + task.index,
        _ => task.index,
    }
}

impl KeyDoor {
    fn render(&self) -> String {
        self.doors
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let state = match d {
                    Door::Closed => "closed",
                    Door::Empty => "open, empty",
                    Door::Key => "open, the key is here",
                };
                format!("Door {}: {state}", i + 1)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first number in the action text, as a 0-based door index.
    fn parse(&self, action: &str) -> Option<usize> {
        let digits: String = action
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit())
            .take(4)
            .collect();
        let n: usize = digits.parse().ok()?;
        (1..=self.doors.len()).contains(&n).then(|| n - 1)
    }
}

impl Environment for KeyDoor {
    type Config = Config;

    fn info() -> EnvInfo {
        EnvInfo::new(
            "keydoor",
            "0.1.0",
            "A key is hidden behind one of several doors. Open doors one per turn to find \
             it; an attempt has fewer turns than there are doors, so remember what failed.",
            Config::default().max_turns,
        )
        .with_split(SplitInfo::procedural(
            "train",
            "Seeds 0..2^16.",
            TRAIN_SEEDS,
        ))
        .with_split(SplitInfo::procedural(
            "test",
            "Seeds 2^16..2^32, disjoint from train.",
            (1 << 32) - TRAIN_SEEDS,
        ))
    }

    fn open(config: Config) -> Result<Self, EnvError> {
        if !(2..=9).contains(&config.doors) {
            return Err(EnvError::InvalidConfig(format!(
                "doors must be 2 to 9, got {}",
                config.doors
            )));
        }
        if config.max_turns == 0 {
            return Err(EnvError::InvalidConfig(
                "max_turns must be at least 1".into(),
            ));
        }
        let doors = vec![Door::Closed; config.doors as usize];
        Ok(KeyDoor {
            config,
            key: 0,
            doors,
        })
    }

    fn max_turns(&self) -> u32 {
        self.config.max_turns
    }

    fn reset(&mut self, task: &Task) -> Result<ResetResult, EnvError> {
        let mut rng = SeededRng::new(task_seed(task));
        self.key = rng.index(self.doors.len());
        self.doors.fill(Door::Closed);
        Ok(ResetResult::new(self.render()))
    }

    fn step(&mut self, action: &str) -> Result<Step, EnvError> {
        let Some(door) = self
            .parse(action)
            .filter(|&d| self.doors[d] == Door::Closed)
        else {
            return Ok(Step::new(self.render())
                .reward(-0.1)
                .valid(false)
                .echo("no operation"));
        };
        let echo = format!("open {}", door + 1);
        if door == self.key {
            self.doors[door] = Door::Key;
            Ok(Step::new(self.render())
                .reward(1.0)
                .terminated(true)
                .won(true)
                .echo(echo))
        } else {
            self.doors[door] = Door::Empty;
            Ok(Step::new(self.render()).echo(echo))
        }
    }

    fn admissible_actions(&self) -> Vec<String> {
        self.doors
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == Door::Closed)
            .map(|(i, _)| format!("open {}", i + 1))
            .collect()
    }

    fn expert_action(&self) -> Option<String> {
        Some(format!("open {}", self.key + 1))
    }

    fn prompt(&self) -> PromptPieces {
        let doors = self.config.doors;
        let turns = self.config.max_turns;
        PromptPieces::new(
            "You are an expert agent exploring a hall of doors.",
            format!(
                "## Rules\nThere are {doors} closed doors, numbered 1 to {doors}. A key lies \
                 behind exactly one of them. Each turn you open one closed door. You have {turns} \
                 turns per attempt, so you may need several attempts; every attempt starts again \
                 with all doors closed and the key in the same place.\n\n## Goal\nOpen the door \
                 with the key."
            ),
        )
        .initial_state_label("The initial state of the hall is:")
        .action_instruction(
            "Now it's your turn. Choose ONE closed door. First reason step by step, then give \
             your action inside <action> </action> tags, e.g. <action>open 2</action>.",
        )
        .reflect_instruction(
            "Reason about which doors you opened and what was behind them, then write a plan \
             that opens only doors you have not yet ruled out.",
        )
        .list_admissible_actions(true)
    }
}

export_env!(KeyDoor);

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session<KeyDoor> {
        Session::open("{}").unwrap()
    }

    #[test]
    fn expert_wins_in_one_turn() {
        for index in 0..50 {
            let t = Transcript::record_expert::<KeyDoor>("{}", &Task::new("test", index)).unwrap();
            assert!(t.won(), "task {index}");
            assert_eq!(t.steps.len(), 1);
        }
    }

    #[test]
    fn empty_door_then_truncation() {
        let mut s = session();
        s.reset(&Task::new("train", 3)).unwrap();
        let key = s.env().key;
        let wrong: Vec<usize> = (0..4).filter(|&d| d != key).collect();
        let r1 = s.step(&format!("open {}", wrong[0] + 1)).unwrap();
        assert!(!r1.done() && r1.action_valid && r1.reward == 0.0);
        let r2 = s.step(&format!("{}", wrong[1] + 1)).unwrap();
        assert!(r2.truncated && !r2.terminated && !r2.won);
        assert_eq!(s.step("open 1"), Err(EnvError::EpisodeOver));
    }

    #[test]
    fn invalid_actions_change_nothing() {
        let mut s = session();
        let start = s.reset(&Task::new("train", 1)).unwrap();
        for garbage in ["", "open", "open 0", "open 5", "door ninety"] {
            let mut fresh = s.clone();
            let r = fresh.step(garbage).unwrap();
            assert!(!r.action_valid, "{garbage:?}");
            assert_eq!(r.observation, start.observation);
            assert_eq!(r.action_echo, "no operation");
        }
    }

    #[test]
    fn restart_restores_the_closed_hall() {
        let mut s = session();
        let start = s.reset(&Task::new("train", 9)).unwrap();
        s.step("open 1").unwrap();
        assert_eq!(s.restart().unwrap(), start);
        assert_eq!(s.admissible_actions().unwrap().len(), 4);
    }

    #[test]
    fn config_is_validated() {
        assert!(matches!(
            Session::<KeyDoor>::open(r#"{"doors": 1}"#).err(),
            Some(EnvError::InvalidConfig(_))
        ));
        assert!(matches!(
            Session::<KeyDoor>::open(r#"{"rooms": 3}"#).err(),
            Some(EnvError::InvalidConfig(m)) if m.contains("known keys: doors, max_turns")
        ));
    }

    #[test]
    fn tasks_are_validated() {
        let mut s = session();
        assert!(matches!(
            s.reset(&Task::new("valid", 0)),
            Err(EnvError::UnknownSplit(_))
        ));
        assert!(matches!(
            s.reset(&Task::new("train", 1 << 16)),
            Err(EnvError::TaskOutOfRange(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_a_valid_or_invalid_action(actions in proptest::collection::vec(".{0,40}", 1..6), index in 0u64..1000) {
            let mut s = session();
            s.reset(&Task::new("train", index)).unwrap();
            for a in &actions {
                if s.is_over() { break; }
                let r = s.step(a).unwrap();
                proptest::prop_assert!(r.reward <= 1.0);
            }
        }
    }
}
