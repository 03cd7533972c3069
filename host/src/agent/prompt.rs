//! Prompt assembly.
//!
//! Both prompts are built from the environment's [`PromptPieces`] (role,
//! rules, initial-state label, instructions, history window) plus what the
//! trial has seen. The fixed sentences are ours; their content follows the
//! LaMer reference prompts.
//!
//! A **play** prompt, one per turn:
//!
//! 1. role and rules;
//! 2. `# Observations`: the initial-state label and the initial observation;
//! 3. the memory of earlier failed attempts (see [`MemoryMode`]);
//! 4. the current attempt's recent history: the last `play_turns` turns as
//!    `Action k: …` / `Observation k: …`, only the newest
//!    `play_full_observations` observations in full and older ones in the
//!    environment's brief form; from the second attempt on it opens with
//!    "Currently you're on trial #n…";
//! 5. the admissible actions, where the environment asks for them;
//! 6. the environment's action instruction.
//!
//! A **reflect** prompt, after a failed attempt: role and rules, the task of
//! reflecting, the initial state, the failed attempt's log in the reflect
//! window, "The task is NOT successfully completed.", the environment's reflect
//! instruction, and the request to end with `<remark> </remark>`.

use lamer_plugin::{EnvFactory, SessionError};
use lamer_sdk::PromptPieces;

use super::memory::{HistoryTurn, MemoryMode, PastAttempt};

/// The anchor (GiGPO state key) of every reflection row: all reflections of a
/// task group form one cluster.
pub const REFLECTION_ANCHOR: &str = "reflection";

const NOT_COMPLETED: &str = "The task is NOT successfully completed.";

/// Everything a play prompt shows besides the environment's fixed pieces.
#[derive(Debug, Clone, Copy)]
pub struct PlayView<'a> {
    /// 0-based attempt index as shown to the agent (zero-shot attempts are
    /// all shown as the first).
    pub attempt: u32,
    /// The observation right after reset (identical after every restart).
    pub initial_observation: &'a str,
    /// Earlier failed attempts, oldest first.
    pub past: &'a [PastAttempt],
    /// The current attempt's turns so far, oldest first.
    pub current: &'a [HistoryTurn],
    /// The admissible actions now; shown only when the environment's pieces
    /// ask for them.
    pub admissible: &'a [String],
    /// `current` is the log of every attempt so far, shown the way the
    /// official evaluation of the RL baselines shows it (see
    /// [`PromptAssembler::carried_log`]).
    pub carry_over: bool,
}

/// Renders the play and reflect prompts of one environment.
pub struct PromptAssembler<'a> {
    factory: &'a dyn EnvFactory,
    pieces: &'a PromptPieces,
    memory: MemoryMode,
}

impl<'a> PromptAssembler<'a> {
    pub fn new(factory: &'a dyn EnvFactory, pieces: &'a PromptPieces, memory: MemoryMode) -> Self {
        PromptAssembler {
            factory,
            pieces,
            memory,
        }
    }

    /// The prompt for one play turn.
    pub fn play(&self, view: &PlayView<'_>) -> Result<String, SessionError> {
        let mut sections = vec![self.preamble(), self.observations(view.initial_observation)];
        for (k, past) in view.past.iter().enumerate() {
            sections.push(self.memory_block(k as u32 + 1, past)?);
        }
        if let Some(history) = self.current_history(view)? {
            sections.push(history);
        }
        if self.pieces.list_admissible_actions {
            sections.push(admissible_list(view.admissible));
        }
        sections.push(self.pieces.action_instruction.trim().to_string());
        Ok(sections.join("\n\n"))
    }

    /// The prompt for the reflection after a failed attempt.
    pub fn reflect(
        &self,
        initial_observation: &str,
        failed: &[HistoryTurn],
    ) -> Result<String, SessionError> {
        let window = &self.pieces.history;
        let log = if failed.is_empty() {
            "(No action was taken in that attempt.)".to_string()
        } else {
            self.log(
                failed,
                window.reflect_turns,
                window.reflect_full_observations,
            )?
        };
        let sections = [
            self.preamble(),
            "# Your Task\nBelow is the record of one of your earlier attempts at this task. \
             Look at it carefully, find the mistakes and the wasted moves, and write a short, \
             better plan for your next attempt, which starts again from the same initial state."
                .to_string(),
            format!(
                "# Past Experience\n{}\n{}",
                self.pieces.initial_state_label.trim(),
                initial_observation
            ),
            format!("{log}\n{NOT_COMPLETED}"),
            format!(
                "{}\nEnd your response with your reflection and improved plan inside \
                 <remark> </remark> tags.",
                self.pieces.reflect_instruction.trim()
            ),
        ];
        Ok(sections.join("\n\n"))
    }

    fn preamble(&self) -> String {
        format!(
            "{}\n\n{}",
            self.pieces.role.trim(),
            self.pieces.rules.trim()
        )
    }

    fn observations(&self, initial_observation: &str) -> String {
        format!(
            "# Observations\n{}\n{}",
            self.pieces.initial_state_label.trim(),
            initial_observation
        )
    }

    fn memory_block(&self, trial: u32, past: &PastAttempt) -> Result<String, SessionError> {
        let mut block = format!("On trial #{trial}, {}", lowercase_first(NOT_COMPLETED));
        if self.memory.shows_history() {
            let window = &self.pieces.history;
            let log = if past.turns.is_empty() {
                "(no actions)".to_string()
            } else {
                self.log(
                    &past.turns,
                    window.play_turns,
                    window.play_full_observations,
                )?
            };
            block.push_str(&format!(" Your actions and observations were:\n{log}"));
        }
        if self.memory.shows_reflection() {
            // A missing reflection shows as nothing after the colon, as in
            // the official prompts (no placeholder text).
            let reflection = past.reflection.as_deref().unwrap_or("").trim();
            let joiner = if self.memory.shows_history() {
                "\n"
            } else {
                " "
            };
            block.push_str(format!("{joiner}Your reflection is: {reflection}").trim_end());
        }
        Ok(block)
    }

    fn current_history(&self, view: &PlayView<'_>) -> Result<Option<String>, SessionError> {
        let trial = view.attempt + 1;
        if view.current.is_empty() {
            return Ok((view.attempt > 0).then(|| {
                format!("Currently you're on trial #{trial}, starting from the initial state.")
            }));
        }
        let window = &self.pieces.history;
        let log = if view.carry_over {
            self.carried_log(
                view.current,
                window.play_turns,
                window.play_full_observations,
            )?
        } else {
            self.log(
                view.current,
                window.play_turns,
                window.play_full_observations,
            )?
        };
        let opening = if view.attempt > 0 {
            format!("Currently you're on trial #{trial}. You have")
        } else {
            "You have".to_string()
        };
        Ok(Some(format!(
            "{opening} already taken the following actions:\n{log}"
        )))
    }

    /// The last `turns` turns, numbered from the start of the attempt; only
    /// the newest `full` observations verbatim.
    fn log(&self, history: &[HistoryTurn], turns: u32, full: u32) -> Result<String, SessionError> {
        let first = history.len().saturating_sub(turns as usize);
        let full_from = history.len().saturating_sub(full as usize);
        self.log_lines(history, first..history.len(), full_from)
    }

    /// The official memory of an evaluation without reflection
    /// (`val_do_reflection=False`): one log runs on across attempts, so the
    /// window of the last `turns` turns can show the end of the previous
    /// attempt, numbered as one sequence; the newest `full` turns of that
    /// window are shown in full, and the window stops after the first turn
    /// in it that ended its episode (the official `fetch` breaks there).
    pub fn carried_log(
        &self,
        history: &[HistoryTurn],
        turns: u32,
        full: u32,
    ) -> Result<String, SessionError> {
        let first = history.len().saturating_sub(turns as usize);
        let full_from = history.len().saturating_sub(full as usize);
        let end = history[first..]
            .iter()
            .position(|t| t.terminated)
            .map_or(history.len(), |i| first + i + 1);
        self.log_lines(history, first..end, full_from)
    }

    fn log_lines(
        &self,
        history: &[HistoryTurn],
        shown: std::ops::Range<usize>,
        full_from: usize,
    ) -> Result<String, SessionError> {
        let mut lines = Vec::new();
        for (i, turn) in history.iter().enumerate().take(shown.end).skip(shown.start) {
            let observation = if i >= full_from {
                turn.observation.clone()
            } else {
                self.factory.brief_observation(&turn.observation)?
            };
            let k = i + 1;
            lines.push(format!("Action {k}: {}", turn.action));
            lines.push(if observation.contains('\n') {
                format!("Observation {k}:\n{observation}")
            } else {
                format!("Observation {k}: {observation}")
            });
        }
        Ok(lines.join("\n"))
    }
}

fn admissible_list(actions: &[String]) -> String {
    let quoted: Vec<String> = actions.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "Your admissible actions of the current situation are: [{}]",
        quoted.join(",\n ")
    )
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamer_plugin::NativeEnv;

    fn turns(n: usize) -> Vec<HistoryTurn> {
        (1..=n)
            .map(|i| HistoryTurn::new(format!("open {i}"), format!("obs {i}")))
            .collect()
    }

    #[test]
    fn the_history_window_briefs_older_observations() {
        let env = NativeEnv::<keydoor::KeyDoor>::new();
        let mut pieces = PromptPieces::new("role", "rules");
        pieces.history.play_turns = 3;
        pieces.history.play_full_observations = 1;
        let assembler = PromptAssembler::new(&env, &pieces, MemoryMode::ReflectionOnly);
        let history = turns(5);
        let prompt = assembler
            .play(&PlayView {
                attempt: 0,
                initial_observation: "start",
                past: &[],
                current: &history,
                admissible: &[],
                carry_over: false,
            })
            .unwrap();
        assert!(!prompt.contains("Action 2:"), "{prompt}");
        assert!(prompt.contains("Action 3: open 3\nObservation 3: ...\nAction 4: open 4"));
        assert!(prompt.contains("Observation 4: ...\nAction 5: open 5\nObservation 5: obs 5"));
        assert!(!prompt.contains("trial #"));
    }

    #[test]
    fn memory_modes_choose_what_past_attempts_show() {
        let env = NativeEnv::<keydoor::KeyDoor>::new();
        let pieces = PromptPieces::new("role", "rules");
        let past = [PastAttempt {
            turns: turns(1),
            reflection: Some("try door 2".into()),
        }];
        let render = |memory| {
            PromptAssembler::new(&env, &pieces, memory)
                .play(&PlayView {
                    attempt: 1,
                    initial_observation: "start",
                    past: &past,
                    current: &[],
                    admissible: &[],
                    carry_over: false,
                })
                .unwrap()
        };
        let reflection = render(MemoryMode::ReflectionOnly);
        assert!(reflection.contains(
            "On trial #1, the task is NOT successfully completed. Your reflection is: try door 2"
        ));
        assert!(!reflection.contains("Action 1"));
        let history = render(MemoryMode::HistoryOnly);
        assert!(history.contains("Action 1: open 1") && !history.contains("try door 2"));
        let both = render(MemoryMode::HistoryAndReflection);
        assert!(both.contains("Observation 1: obs 1\nYour reflection is: try door 2"));
        for prompt in [reflection, history, both] {
            assert!(
                prompt.contains("Currently you're on trial #2, starting from the initial state.")
            );
        }
    }
    #[test]
    fn a_missing_reflection_shows_as_nothing() {
        let env = NativeEnv::<keydoor::KeyDoor>::new();
        let pieces = PromptPieces::new("role", "rules");
        let past = [PastAttempt {
            turns: turns(1),
            reflection: Some(String::new()),
        }];
        let prompt = PromptAssembler::new(&env, &pieces, MemoryMode::ReflectionOnly)
            .play(&PlayView {
                attempt: 1,
                initial_observation: "start",
                past: &past,
                current: &[],
                admissible: &[],
                carry_over: false,
            })
            .unwrap();
        assert!(
            prompt.contains("the task is NOT successfully completed. Your reflection is:\n\n"),
            "{prompt}"
        );
        assert!(!prompt.contains("(none)"));
    }

    #[test]
    fn the_carried_log_runs_on_across_attempts_and_stops_at_an_episode_end() {
        let env = NativeEnv::<keydoor::KeyDoor>::new();
        let mut pieces = PromptPieces::new("role", "rules");
        pieces.history.play_turns = 3;
        pieces.history.play_full_observations = 1;
        let assembler = PromptAssembler::new(&env, &pieces, MemoryMode::ReflectionOnly);
        // Attempt 1 ran out of turns (not terminated): turns 1–2; attempt 2
        // so far: turns 3–4. The window is turns 2–4, numbered as one log.
        let mut log = turns(4);
        let carried = assembler.carried_log(&log, 3, 1).unwrap();
        assert_eq!(
            carried,
            "Action 2: open 2\nObservation 2: ...\nAction 3: open 3\nObservation 3: ...\n\
             Action 4: open 4\nObservation 4: obs 4"
        );
        // Attempt 1 ended in a loss at turn 2: the window stops there, so the
        // current attempt's turns are not shown at all.
        log[1].terminated = true;
        let carried = assembler.carried_log(&log, 3, 1).unwrap();
        assert_eq!(carried, "Action 2: open 2\nObservation 2: ...");
        let prompt = assembler
            .play(&PlayView {
                attempt: 0,
                initial_observation: "start",
                past: &[],
                current: &log,
                admissible: &[],
                carry_over: true,
            })
            .unwrap();
        assert!(prompt.contains("You have already taken the following actions:\nAction 2: open 2"));
        assert!(!prompt.contains("trial #"));
    }
}
