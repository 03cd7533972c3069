//! # ALFWorld: household tasks from the ALFRED PDDL domain, with TextWorld's text
//!
//! ALFWorld (Shridhar et al., ICLR 2021) turns ALFRED's embodied household tasks into text
//! games: a PDDL domain (`alfred.pddl`) defines what the agent can do — go to a receptacle,
//! open and close it, take and move objects, heat, cool and clean them with a microwave,
//! fridge or sink, switch on a lamp — and a TextWorld grammar (`alfred.twl2`) gives the
//! feedback. LaMer plays six task types: pick & place, look at an object in light, clean,
//! heat, cool, and pick two.
//!
//! This crate reimplements that engine natively (no planner, no grammar interpreter):
//! - [`world`]: the domain's actions with their preconditions and effects, the admissible
//!   commands (sorted, as TextWorld lists them) and the grammar's exact strings;
//! - [`pddl`] and [`game`]: reading ALFWorld's `game.tw-pddl` files, so the official games
//!   play from a granted data directory (`"games": "data-dir"`);
//! - [`generator`]: deterministic ALFWorld-style games from the domain, the 120 AI2-THOR
//!   scene object lists and the goal templates, written in the same `game.tw-pddl` format;
//! - [`expert`]: a policy that solves every generated game within the 50-command cap.
//!
//! Splits (generated): `train` — types 1–4 on training scenes (4,000 tasks); `test` — types
//! 1–4 on held-out scenes (500); `ood` — types 5–6, cool and pick two, on held-out scenes
//! (500). With `"games": "data-dir"` the same split names list the official games found
//! under `/data/json_2.1.1/` (see [`Config`]).
//!
//! Reward: 10 on the step that reaches the goal. Every command counts toward TextWorld's
//! 50-command cap, inadmissible ones included ("Nothing happens."; every command is a valid
//! action, with info `admissible = false` when the game does not admit it); reaching it ends the attempt
//! as `truncated`.

pub mod data;
pub mod expert;
pub mod game;
pub mod generator;
pub mod library;
pub mod pddl;
pub mod world;

use std::sync::Arc;

use lamer_sdk::*;
use serde::{Deserialize, Serialize};

use crate::game::Game;
use crate::generator::Split;
use crate::library::GameLibrary;
use crate::world::{Action, State};

/// TextWorld's `max_episode_steps` in ALFWorld and LaMer.
pub const COMMAND_CAP: u32 = 50;
/// Reward on the winning step (LaMer: 10 × won).
pub const WIN_REWARD: f64 = 10.0;

const TRAIN_TASKS: u64 = 4000;
const TEST_TASKS: u64 = 500;
const OOD_TASKS: u64 = 500;

/// Session config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// `"generated"` (default) or `"data-dir"`: the official `game.tw-pddl` files under
    /// `data_root` (the host grants them read-only at `/data`).
    pub games: String,
    /// Where the official games live: `<data_root>/{train,<valid_folder>}/<task>/<trial>/`.
    pub data_root: String,
    /// The official folder that `test` (types 1–4) and `ood` (types 5–6) draw from.
    pub valid_folder: String,
    /// Agent turns per attempt (LaMer: 10).
    pub max_turns: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            games: "generated".into(),
            data_root: format!("{DATA_DIR}/json_2.1.1"),
            valid_folder: "valid_unseen".into(),
            max_turns: 10,
        }
    }
}

/// The game being played and its progress.
#[derive(Debug, Clone)]
struct Episode {
    game: Arc<Game>,
    state: State,
    admissible: Vec<(String, Action)>,
    commands: u32,
}

/// The environment.
#[derive(Debug, Clone)]
pub struct AlfWorld {
    config: Config,
    library: Option<Arc<GameLibrary>>,
    episode: Option<Episode>,
}

impl AlfWorld {
    /// Loads the game of a task (generated or from the data directory).
    fn load(&self, task: &Task) -> Result<(Game, String, Option<game::TaskType>), EnvError> {
        let split =
            Split::parse(&task.split).ok_or_else(|| EnvError::UnknownSplit(task.split.clone()))?;
        match &self.library {
            None => {
                let generated = generator::generate(split, task.index)
                    .map_err(|e| EnvError::Internal(e.to_string()))?;
                let game = Game::from_parts(&generated.file.pddl_problem, &generated.file.grammar)
                    .map_err(|e| EnvError::Internal(e.to_string()))?;
                Ok((game, generated.scene, Some(generated.task_type)))
            }
            Some(library) => library.load(split, task.index),
        }
    }

    /// The game of the current task, for white-box tests and tools.
    pub fn game(&self) -> Option<&Game> {
        self.episode.as_ref().map(|e| e.game.as_ref())
    }

    /// The current state, for white-box tests and tools.
    pub fn state(&self) -> Option<&State> {
        self.episode.as_ref().map(|e| &e.state)
    }
}

impl Environment for AlfWorld {
    type Config = Config;

    fn info() -> EnvInfo {
        EnvInfo::new(
            "alfworld",
            "0.1.0",
            "ALFWorld household tasks (ALFRED PDDL domain with TextWorld's text): find, heat, \
             cool, clean and place objects, or examine one under a lamp. Six task types; \
             generated games or the official ones from a data directory.",
            Config::default().max_turns,
        )
        .with_split(SplitInfo::procedural(
            "train",
            "Task types 1-4 (pick & place, look in light, clean, heat) on training scenes; \
             with games=data-dir, the official train games of those types.",
            TRAIN_TASKS,
        ))
        .with_split(SplitInfo::procedural(
            "test",
            "Task types 1-4 on held-out scenes; with games=data-dir, the official games of \
             valid_folder of those types.",
            TEST_TASKS,
        ))
        .with_split(SplitInfo::procedural(
            "ood",
            "Task types 5-6 (cool, pick two) on held-out scenes; with games=data-dir, the \
             official games of valid_folder of those types.",
            OOD_TASKS,
        ))
    }

    fn open(config: Config) -> Result<Self, EnvError> {
        if config.max_turns == 0 {
            return Err(EnvError::InvalidConfig(
                "max_turns must be at least 1".into(),
            ));
        }
        let library = match config.games.as_str() {
            "generated" => None,
            "data-dir" => Some(Arc::new(GameLibrary::scan(
                &config.data_root,
                &config.valid_folder,
            )?)),
            other => {
                return Err(EnvError::InvalidConfig(format!(
                    "games must be \"generated\" or \"data-dir\", got {other:?}"
                )));
            }
        };
        data::Catalog::get().map_err(EnvError::Internal)?;
        Ok(AlfWorld {
            config,
            library,
            episode: None,
        })
    }

    fn max_turns(&self) -> u32 {
        self.config.max_turns
    }

    fn reset(&mut self, task: &Task) -> Result<ResetResult, EnvError> {
        let (game, source, task_type) = self.load(task)?;
        let task_type = task_type.or(game.spec.as_ref().map(|s| s.task_type));
        let observation = game.intro();
        let state = game.initial.clone();
        let admissible = game.world.admissible(&state);
        let sentence = game.task.clone();
        self.episode = Some(Episode {
            game: Arc::new(game),
            state,
            admissible,
            commands: 0,
        });
        let mut result = ResetResult::new(observation)
            .info("task", sentence)
            .info("game", source);
        if let Some(t) = task_type {
            result = result
                .info("task_type", t.name())
                .info("task_type_id", t.id());
        }
        Ok(result)
    }

    fn step(&mut self, action: &str) -> Result<Step, EnvError> {
        let episode = self.episode.as_mut().ok_or(EnvError::NotReset)?;
        let command = action.trim();
        episode.commands += 1;
        let world = Arc::clone(&episode.game.world);
        let chosen = episode
            .admissible
            .binary_search_by(|(c, _)| c.as_str().cmp(command))
            .ok()
            .map(|i| episode.admissible[i].1);
        let observation = match chosen {
            Some(a) => world.apply(&mut episode.state, a),
            None => "Nothing happens.".to_string(),
        };
        let won = world.goal_reached(&episode.state);
        episode.admissible = world.admissible(&episode.state);
        let truncated = !won && episode.commands >= COMMAND_CAP;
        Ok(Step::new(observation)
            .reward(if won { WIN_REWARD } else { 0.0 })
            .terminated(won)
            .truncated(truncated)
            .won(won)
            // Any text is a well-formed ALFWorld command, as in the official
            // env: one the game does not admit just yields "Nothing happens."
            // It is reported as `admissible = false`, not as an invalid
            // action, so the host's validity rule decides whether it is
            // penalised (officially it is not).
            .valid(true)
            .echo(command)
            .info("commands", episode.commands)
            .info("admissible", chosen.is_some()))
    }

    fn admissible_actions(&self) -> Vec<String> {
        self.episode
            .as_ref()
            .map(|e| {
                e.admissible
                    .iter()
                    .filter(|(c, _)| c != "help")
                    .map(|(c, _)| c.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn expert_action(&self) -> Option<String> {
        let e = self.episode.as_ref()?;
        let spec = e.game.spec.as_ref()?;
        expert::next_action(&e.game.world, &e.state, spec).map(|a| e.game.world.command(a))
    }

    fn prompt(&self) -> PromptPieces {
        let window = 15;
        PromptPieces::new(
            "You are an expert agent operating in the ALFRED Embodied Environment.",
            "You are in a room with receptacles (cabinets, drawers, countertops, a fridge, a \
             microwave, a sink basin, …) that hold objects. Each turn you give one command \
             from the admissible actions, such as `go to cabinet 1`, `open cabinet 1`, `take \
             apple 1 from cabinet 1`, `move apple 1 to countertop 1`, `heat apple 1 with \
             microwave 1`, `cool … with fridge 1`, `clean … with sinkbasin 1`, `use desklamp \
             1`, `examine …`, `look` or `inventory`. You carry at most one object. Anything \
             else does nothing. Complete the task described in the initial observation.",
        )
        .initial_state_label("Your current observation is:")
        .action_instruction(
            "Now it's your turn to take an action. You should first reason step-by-step about \
             the current situation. Once you've finished your reasoning, you should choose an \
             admissible action for current step and present it within <action> </action> \
             tags.",
        )
        .reflect_instruction(
            "You failed the task in that attempt. Reflect on what went wrong: which \
             receptacles you searched, where the needed objects and appliances were, and \
             which commands wasted steps. Then devise a concise, improved plan for the next \
             attempt that starts from the same initial state and names specific actions.",
        )
        .list_admissible_actions(true)
        .history(HistoryWindow {
            play_turns: window,
            play_full_observations: window,
            reflect_turns: window,
            reflect_full_observations: window,
        })
    }

    fn brief_observation(observation: &str) -> String {
        // ALFWorld shows every observation of its window in full.
        observation.to_string()
    }
}

export_env!(AlfWorld);
