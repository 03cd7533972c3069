//! A playable game: the `game.tw-pddl` JSON ALFWorld ships (PDDL domain, grammar with the
//! task text, PDDL problem), loaded into a [`World`] and its initial [`State`].
//!
//! The domain in the file is not interpreted: the engine implements `alfred.pddl`'s actions
//! itself. The grammar is read only for the task sentence (its `task` rule).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::pddl::{Formula, PddlError, Term, parse_problem};
use crate::world::{State, World, WorldError};

/// Why a game file cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameError {
    #[error("the game file is not valid JSON with pddl_problem and grammar: {0}")]
    Json(String),
    #[error("the game's PDDL problem cannot be read: {0}")]
    Pddl(#[from] PddlError),
    #[error("the game's problem cannot be played: {0}")]
    World(#[from] WorldError),
    #[error("the game's grammar has no task sentence (`Your task is to: …`)")]
    NoTask,
}

/// The six task types LaMer plays, with ALFWorld's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskType {
    PickAndPlace = 1,
    LookInLight = 2,
    Clean = 3,
    Heat = 4,
    Cool = 5,
    PickTwo = 6,
}

impl TaskType {
    pub const ALL: [TaskType; 6] = [
        TaskType::PickAndPlace,
        TaskType::LookInLight,
        TaskType::Clean,
        TaskType::Heat,
        TaskType::Cool,
        TaskType::PickTwo,
    ];

    /// ALFWorld's name, e.g. `pick_heat_then_place_in_recep`.
    pub fn name(self) -> &'static str {
        match self {
            TaskType::PickAndPlace => "pick_and_place_simple",
            TaskType::LookInLight => "look_at_obj_in_light",
            TaskType::Clean => "pick_clean_then_place_in_recep",
            TaskType::Heat => "pick_heat_then_place_in_recep",
            TaskType::Cool => "pick_cool_then_place_in_recep",
            TaskType::PickTwo => "pick_two_obj_and_place",
        }
    }

    /// The type from an ALFWorld name or a game folder name starting with it.
    pub fn from_name(name: &str) -> Option<TaskType> {
        // Longest names first: no name is a prefix of another, but keep it obviously safe.
        TaskType::ALL
            .into_iter()
            .find(|t| name == t.name() || name.starts_with(&format!("{}-", t.name())))
    }

    pub fn id(self) -> u32 {
        self as u32
    }
}

/// What the goal asks for, read off the goal formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub task_type: TaskType,
    /// Object type constant, e.g. `appletype`.
    pub object_type: String,
    /// Receptacle type constant (none for look tasks).
    pub receptacle_type: Option<String>,
    /// Lamp type constant (look tasks).
    pub toggle_type: Option<String>,
}

impl TaskSpec {
    /// Analyses a goal formula of `goal_library.py`.
    pub fn from_goal(goal: &Formula) -> Option<TaskSpec> {
        let mut atoms = Vec::new();
        goal.atoms(&mut atoms);
        let has = |p: &str| atoms.iter().any(|(q, _)| *q == p);
        let const_of = |t: &Term| match t {
            Term::Const(c) => Some(c.clone()),
            Term::Var(_) => None,
        };
        // The variables that are lamps: those with `toggleable`.
        let toggle_vars: Vec<&Term> = atoms
            .iter()
            .filter(|(p, _)| *p == "toggleable")
            .filter_map(|(_, ts)| ts.first())
            .collect();
        let mut object_type = None;
        let mut toggle_type = None;
        for (p, ts) in &atoms {
            if *p == "objecttype" && ts.len() == 2 {
                if toggle_vars.contains(&&ts[0]) {
                    toggle_type = const_of(&ts[1]);
                } else if object_type.is_none() {
                    object_type = const_of(&ts[1]);
                }
            }
        }
        let receptacle_type = atoms
            .iter()
            .find(|(p, ts)| *p == "receptacletype" && ts.len() == 2)
            .and_then(|(_, ts)| const_of(&ts[1]));
        let task_type = if toggle_type.is_some() {
            TaskType::LookInLight
        } else if goal.has_equality() {
            TaskType::PickTwo
        } else if has("ishot") {
            TaskType::Heat
        } else if has("iscool") {
            TaskType::Cool
        } else if has("isclean") {
            TaskType::Clean
        } else {
            TaskType::PickAndPlace
        };
        Some(TaskSpec {
            task_type,
            object_type: object_type?,
            receptacle_type,
            toggle_type,
        })
    }
}

/// The `game.tw-pddl` JSON format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameFile {
    pub pddl_domain: String,
    pub grammar: String,
    pub pddl_problem: String,
    #[serde(default)]
    pub solvable: bool,
    #[serde(default)]
    pub walkthrough: Vec<String>,
}

/// A loaded game: the shared static world, the initial state and the texts.
#[derive(Debug, Clone)]
pub struct Game {
    pub world: Arc<World>,
    pub initial: State,
    /// The task sentence, e.g. `put a hot apple in countertop.`
    pub task: String,
    pub spec: Option<TaskSpec>,
}

/// The `task` rule of a grammar: the text after `Your task is to: `.
pub fn task_sentence(grammar: &str) -> Option<String> {
    const LEAD: &str = "Your task is to: ";
    let start = grammar.find(LEAD)? + LEAD.len();
    let rest = &grammar[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

impl Game {
    /// Loads a game from its PDDL problem and grammar texts.
    pub fn from_parts(problem: &str, grammar: &str) -> Result<Game, GameError> {
        let problem = parse_problem(problem)?;
        let (world, initial) = World::from_problem(&problem)?;
        let task = task_sentence(grammar).ok_or(GameError::NoTask)?;
        let spec = TaskSpec::from_goal(world.goal());
        Ok(Game {
            world: Arc::new(world),
            initial,
            task,
            spec,
        })
    }

    /// Loads a `game.tw-pddl` JSON text.
    pub fn from_json(json: &str) -> Result<Game, GameError> {
        let file: GameFile =
            serde_json::from_str(json).map_err(|e| GameError::Json(e.to_string()))?;
        Game::from_parts(&file.pddl_problem, &file.grammar)
    }

    /// The intro observation: banner, the look description, the task.
    pub fn intro(&self) -> String {
        format!(
            "-= Welcome to TextWorld, ALFRED! =-\n\n{}\n\nYour task is to: {}",
            self.world.look(&self.initial, false),
            self.task
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_type_names_round_trip() {
        for t in TaskType::ALL {
            assert_eq!(TaskType::from_name(t.name()), Some(t));
        }
        assert_eq!(
            TaskType::from_name("pick_two_obj_and_place-Apple-None-Fridge-12"),
            Some(TaskType::PickTwo)
        );
        assert_eq!(
            TaskType::from_name("pick_and_place_with_movable_recep"),
            None
        );
    }

    #[test]
    fn task_sentence_is_read_from_the_grammar() {
        let g = crate::data::GRAMMAR.replace("UNKNOWN GOAL", "put a hot apple in countertop");
        assert_eq!(
            task_sentence(&g).as_deref(),
            Some("put a hot apple in countertop.")
        );
    }
}
