//! The game engine: ALFWorld's PDDL domain (`alfred.pddl`) as TextWorld plays it.
//!
//! A [`World`] holds what never changes in a game — the entities with their demangled
//! names, types and affordances, where each receptacle stands, the `canContain` relation and
//! the goal — and a [`State`] the facts actions change. [`World::admissible`] grounds every
//! action of the domain whose precondition holds and renders it through the grammar's
//! command templates; [`World::apply`] applies an action's effects and returns the
//! grammar's feedback text.
//!
//! Entities are numbered in the order of their (lower-cased) PDDL ids, because TextWorld
//! lists query results in sorted fact order: that is why lists read "a cabinet 3, a cabinet
//! 2, a cabinet 1" — the demangler gives the first sorted id the highest number.
//!
//! Behaviours of the real engine that a plain reading of the domain does not give, observed
//! by running TextWorld 1.7.0 (see `bench/alfworld/` for the differential test):
//! - `go to` the receptacle the agent already stands at is not admissible;
//! - `examine` an object is admissible only while holding it;
//! - `not_…` facts exist only once an effect deleted the positive fact, so "Next to it, you
//!   see …" lists an object only in that case.

use std::collections::HashMap;

use crate::pddl::{Formula, Problem, Term};

/// Why a problem cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    #[error("the problem has no agent position (`atLocation`)")]
    NoAgent,
    #[error("fact `{0}` names an undeclared or mistyped entity `{1}`")]
    BadFact(String, String),
    #[error("goal variable `{0}` has an unknown type `{1}`")]
    BadGoalType(String, String),
}

/// An object of the game (`- object`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub id: String,
    /// Demangled name, e.g. `apple 1`.
    pub name: String,
    /// `objectType` constant, e.g. `appletype`.
    pub otype: String,
    pub pickupable: bool,
    pub cleanable: bool,
    pub heatable: bool,
    pub coolable: bool,
    pub toggleable: bool,
    pub sliceable: bool,
    pub receptacle_object: bool,
}

/// A receptacle of the game (`- receptacle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceptacleInfo {
    pub id: String,
    pub name: String,
    /// `receptacleType` constant, e.g. `cabinettype`.
    pub rtype: String,
    pub openable: bool,
    /// Locations it stands at (`receptacleAtLocation`); one in ALFWorld's data.
    pub locations: Vec<usize>,
}

/// A grounded action of the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Look,
    Inventory,
    Help,
    Goto(usize),
    Open(usize),
    Close(usize),
    Take(usize, usize),
    Put(usize, usize),
    Clean(usize, usize),
    Heat(usize, usize),
    Cool(usize, usize),
    Toggle(usize, usize),
    Slice(usize, usize),
    ExamineReceptacle(usize),
    ExamineObject(usize),
}

/// The facts actions change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    pub agent_at: usize,
    pub opened: Vec<bool>,
    /// `inReceptacle`, objects × receptacles.
    pub in_receptacle: Vec<bool>,
    /// `not_inReceptacle` facts TextWorld records when an effect deletes `inReceptacle`.
    pub not_in_receptacle: Vec<bool>,
    /// `objectAtLocation`, objects × locations.
    pub object_at: Vec<bool>,
    pub held: Vec<bool>,
    pub holds_any: bool,
    pub clean: Vec<bool>,
    pub hot: Vec<bool>,
    pub cool: Vec<bool>,
    pub toggled: Vec<bool>,
    pub on: Vec<bool>,
    pub sliced: Vec<bool>,
}

/// An entity a goal formula can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Object(usize),
    Receptacle(usize),
    Location(usize),
    Agent,
    /// A type constant (`appletype`, `fridgetype`) or other untyped name, by index.
    Constant(usize),
}

/// Everything in a game that no action changes.
#[derive(Debug, Clone)]
pub struct World {
    pub objects: Vec<ObjectInfo>,
    pub receptacles: Vec<ReceptacleInfo>,
    pub locations: Vec<String>,
    /// Receptacles at each location, in id order.
    pub receptacles_at: Vec<Vec<usize>>,
    can_contain: Vec<bool>,
    /// `inReceptacleObject` pairs (inner, outer) from the problem; no active action changes them.
    in_receptacle_object: Vec<(usize, usize)>,
    constants: Vec<String>,
    entities: HashMap<String, Entity>,
    goal: Formula,
    goal_domains: Vec<Vec<Entity>>,
}

/// The help text of the grammar's `help.feedback` rule (TextWorld drops its leading newline).
pub const HELP: &str = "Available commands:\n  look:                             look around your current location\n  inventory:                        check your current inventory\n  go to (receptacle):               move to a receptacle\n  open (receptacle):                open a receptacle\n  close (receptacle):               close a receptacle\n  take (object) from (receptacle):  take an object from a receptacle\n  move (object) to (receptacle):  place an object in or on a receptacle\n  examine (something):              examine a receptacle or an object\n  use (object):                     use an object\n  heat (object) with (receptacle):  heat an object using a receptacle\n  clean (object) with (receptacle): clean an object using a receptacle\n  cool (object) with (receptacle):  cool an object using a receptacle\n  slice (object) with (object):     slice an object using a sharp object\n";

/// Joins items as the grammar's `display_list` does: "a", "a, and b", "a, b, and c";
/// nothing is "nothing".
pub fn display_list(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    }
}

/// ALFWorld's `Demangler`: names ids like `apple_bar__plus_01_dot_2…` as `apple N`, numbering
/// the instances of a name downwards over the sorted ids (`sink…sinkbasin` is `sinkbasin`).
pub fn demangle(ids: &[String]) -> HashMap<String, String> {
    let mut sorted: Vec<&String> = ids.iter().collect();
    sorted.sort();
    sorted.dedup();
    let base = |id: &str| -> Option<String> {
        let (name, _) = id.split_once("_bar_")?;
        Some(if id.contains("basin") {
            format!("{name}basin")
        } else {
            name.to_string()
        })
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in &sorted {
        if let Some(name) = base(id) {
            *counts.entry(name).or_default() += 1;
        }
    }
    let mut names = HashMap::new();
    for id in sorted {
        let name = match base(id) {
            Some(name) => {
                let count = counts.entry(name.clone()).or_default();
                let n = *count;
                *count = count.saturating_sub(1);
                format!("{name} {n}")
            }
            // Ids without `_bar_` keep their text and get an empty number, as in ALFWorld.
            None => format!("{id} "),
        };
        names.insert(id.clone(), name);
    }
    names
}

impl World {
    /// Builds the world and its initial state from a parsed problem.
    pub fn from_problem(problem: &Problem) -> Result<(World, State), WorldError> {
        let mut objects_ids: Vec<String> = Vec::new();
        let mut receptacle_ids = Vec::new();
        let mut location_ids = Vec::new();
        let mut agent_ids = Vec::new();
        let mut constants = Vec::new();
        for (name, ty) in &problem.objects {
            match ty.as_str() {
                "object" => objects_ids.push(name.clone()),
                "receptacle" => receptacle_ids.push(name.clone()),
                "location" => location_ids.push(name.clone()),
                "agent" => agent_ids.push(name.clone()),
                _ => constants.push(name.clone()),
            }
        }
        for v in [
            &mut objects_ids,
            &mut receptacle_ids,
            &mut location_ids,
            &mut constants,
        ] {
            v.sort();
            v.dedup();
        }
        // Names are given to every entity that appears in some fact, as TextWorld does.
        let mut mentioned: Vec<String> = problem
            .init
            .iter()
            .flat_map(|(_, args)| args.iter().cloned())
            .collect();
        mentioned.sort();
        mentioned.dedup();
        let names = demangle(&mentioned);
        let name_of = |id: &String| names.get(id).cloned().unwrap_or_else(|| id.clone());

        let mut entities = HashMap::new();
        for (i, id) in objects_ids.iter().enumerate() {
            entities.insert(id.clone(), Entity::Object(i));
        }
        for (i, id) in receptacle_ids.iter().enumerate() {
            entities.insert(id.clone(), Entity::Receptacle(i));
        }
        for (i, id) in location_ids.iter().enumerate() {
            entities.insert(id.clone(), Entity::Location(i));
        }
        for id in &agent_ids {
            entities.insert(id.clone(), Entity::Agent);
        }
        for (i, id) in constants.iter().enumerate() {
            entities.insert(id.clone(), Entity::Constant(i));
        }

        let n_o = objects_ids.len();
        let n_r = receptacle_ids.len();
        let n_l = location_ids.len();
        let mut objects: Vec<ObjectInfo> = objects_ids
            .iter()
            .map(|id| ObjectInfo {
                id: id.clone(),
                name: name_of(id),
                otype: String::new(),
                pickupable: false,
                cleanable: false,
                heatable: false,
                coolable: false,
                toggleable: false,
                sliceable: false,
                receptacle_object: false,
            })
            .collect();
        let mut receptacles: Vec<ReceptacleInfo> = receptacle_ids
            .iter()
            .map(|id| ReceptacleInfo {
                id: id.clone(),
                name: name_of(id),
                rtype: String::new(),
                openable: false,
                locations: Vec::new(),
            })
            .collect();
        let mut state = State {
            agent_at: usize::MAX,
            opened: vec![false; n_r],
            in_receptacle: vec![false; n_o * n_r],
            not_in_receptacle: vec![false; n_o * n_r],
            object_at: vec![false; n_o * n_l],
            held: vec![false; n_o],
            holds_any: false,
            clean: vec![false; n_o],
            hot: vec![false; n_o],
            cool: vec![false; n_o],
            toggled: vec![false; n_o],
            on: vec![false; n_o],
            sliced: vec![false; n_o],
        };
        let mut can_contain_types: Vec<(String, String)> = Vec::new();
        let mut in_receptacle_object = Vec::new();

        for (pred, args) in &problem.init {
            let ent = |k: usize| -> Result<Entity, WorldError> {
                args.get(k)
                    .and_then(|a| entities.get(a).copied())
                    .ok_or_else(|| {
                        WorldError::BadFact(pred.clone(), args.get(k).cloned().unwrap_or_default())
                    })
            };
            let bad = |k: usize| {
                WorldError::BadFact(pred.clone(), args.get(k).cloned().unwrap_or_default())
            };
            let obj = |k: usize| match ent(k)? {
                Entity::Object(o) => Ok(o),
                _ => Err(bad(k)),
            };
            let rec = |k: usize| match ent(k)? {
                Entity::Receptacle(r) => Ok(r),
                _ => Err(bad(k)),
            };
            let loc = |k: usize| match ent(k)? {
                Entity::Location(l) => Ok(l),
                _ => Err(bad(k)),
            };
            let text = |k: usize| args.get(k).cloned().ok_or_else(|| bad(k));
            match pred.as_str() {
                "atlocation" => state.agent_at = loc(1)?,
                "receptacleatlocation" => receptacles[rec(0)?].locations.push(loc(1)?),
                "objectatlocation" => state.object_at[obj(0)? * n_l + loc(1)?] = true,
                "openable" => receptacles[rec(0)?].openable = true,
                "opened" => state.opened[rec(0)?] = true,
                "inreceptacle" => state.in_receptacle[obj(0)? * n_r + rec(1)?] = true,
                "isreceptacleobject" => objects[obj(0)?].receptacle_object = true,
                "inreceptacleobject" => in_receptacle_object.push((obj(0)?, obj(1)?)),
                "receptacletype" => receptacles[rec(0)?].rtype = text(1)?,
                "objecttype" => objects[obj(0)?].otype = text(1)?,
                "cancontain" => can_contain_types.push((text(0)?, text(1)?)),
                "holds" => state.held[obj(1)?] = true,
                "holdsany" => state.holds_any = true,
                "isclean" => state.clean[obj(0)?] = true,
                "ishot" => state.hot[obj(0)?] = true,
                "iscool" => state.cool[obj(0)?] = true,
                "istoggled" => state.toggled[obj(0)?] = true,
                "ison" => state.on[obj(0)?] = true,
                "issliced" => state.sliced[obj(0)?] = true,
                "cleanable" => objects[obj(0)?].cleanable = true,
                "heatable" => objects[obj(0)?].heatable = true,
                "coolable" => objects[obj(0)?].coolable = true,
                "pickupable" => objects[obj(0)?].pickupable = true,
                "toggleable" => objects[obj(0)?].toggleable = true,
                "sliceable" => objects[obj(0)?].sliceable = true,
                // Bookkeeping predicates no action precondition or text reads.
                _ => {}
            }
        }
        if state.agent_at == usize::MAX {
            return Err(WorldError::NoAgent);
        }
        let mut receptacles_at = vec![Vec::new(); n_l];
        for (r, info) in receptacles.iter_mut().enumerate() {
            info.locations.sort_unstable();
            info.locations.dedup();
            for &l in &info.locations {
                receptacles_at[l].push(r);
            }
        }
        let mut can_contain = vec![false; n_r * n_o];
        for (r, ri) in receptacles.iter().enumerate() {
            for (o, oi) in objects.iter().enumerate() {
                can_contain[r * n_o + o] = can_contain_types
                    .iter()
                    .any(|(rt, ot)| *rt == ri.rtype && *ot == oi.otype);
            }
        }
        let mut goal_domains = Vec::new();
        for (name, ty) in &problem.goal_vars {
            goal_domains.push(match ty.as_str() {
                "object" => (0..n_o).map(Entity::Object).collect(),
                "receptacle" => (0..n_r).map(Entity::Receptacle).collect(),
                "location" => (0..n_l).map(Entity::Location).collect(),
                "agent" => vec![Entity::Agent],
                "otype" | "rtype" => (0..constants.len()).map(Entity::Constant).collect(),
                _ => return Err(WorldError::BadGoalType(name.clone(), ty.clone())),
            });
        }
        let world = World {
            objects,
            receptacles,
            locations: location_ids,
            receptacles_at,
            can_contain,
            in_receptacle_object,
            constants,
            entities,
            goal: problem.goal.clone(),
            goal_domains,
        };
        Ok((world, state))
    }

    fn n_o(&self) -> usize {
        self.objects.len()
    }
    fn n_r(&self) -> usize {
        self.receptacles.len()
    }
    fn n_l(&self) -> usize {
        self.locations.len()
    }

    /// `inReceptacle(o, r)`.
    pub fn is_in(&self, s: &State, o: usize, r: usize) -> bool {
        s.in_receptacle[o * self.n_r() + r]
    }
    /// `receptacleAtLocation(r, l)` for the agent's location.
    pub fn at_receptacle(&self, s: &State, r: usize) -> bool {
        self.receptacles[r].locations.contains(&s.agent_at)
    }
    /// Whether a receptacle's contents are reachable: open, or not openable.
    pub fn accessible(&self, s: &State, r: usize) -> bool {
        !self.receptacles[r].openable || s.opened[r]
    }
    /// `canContain` between the types of `r` and `o`.
    pub fn can_contain(&self, r: usize, o: usize) -> bool {
        self.can_contain[r * self.n_o() + o]
    }
    /// The object the agent holds, if any.
    pub fn held(&self, s: &State) -> Option<usize> {
        s.held.iter().position(|&h| h)
    }

    /// The preconditions of `action` in the domain, plus the engine behaviours noted above.
    pub fn applicable(&self, s: &State, action: Action) -> bool {
        let here = |r: usize| self.at_receptacle(s, r);
        match action {
            Action::Look | Action::Inventory | Action::Help => true,
            Action::Goto(r) => {
                !self.receptacles[r].locations.is_empty()
                    && !self.receptacles[r].locations.contains(&s.agent_at)
            }
            Action::Open(r) => self.receptacles[r].openable && here(r) && !s.opened[r],
            Action::Close(r) => self.receptacles[r].openable && here(r) && s.opened[r],
            Action::Take(o, r) => {
                self.objects[o].pickupable
                    && here(r)
                    && self.is_in(s, o, r)
                    && !s.holds_any
                    && self.accessible(s, r)
            }
            Action::Put(o, r) => {
                s.held[o] && here(r) && self.accessible(s, r) && self.can_contain(r, o)
            }
            Action::Clean(o, r) => {
                self.objects[o].cleanable
                    && self.receptacles[r].rtype == "sinkbasintype"
                    && here(r)
                    && s.held[o]
            }
            Action::Heat(o, r) => {
                self.objects[o].heatable
                    && self.receptacles[r].rtype == "microwavetype"
                    && here(r)
                    && s.held[o]
            }
            Action::Cool(o, r) => {
                self.objects[o].coolable
                    && self.receptacles[r].rtype == "fridgetype"
                    && here(r)
                    && s.held[o]
            }
            Action::Toggle(o, r) => self.objects[o].toggleable && here(r) && self.is_in(s, o, r),
            Action::Slice(co, ko) => {
                self.objects[co].sliceable
                    && matches!(
                        self.objects[ko].otype.as_str(),
                        "knifetype" | "butterknifetype"
                    )
                    && s.object_at[co * self.n_l() + s.agent_at]
                    && s.held[ko]
            }
            Action::ExamineReceptacle(r) => here(r),
            Action::ExamineObject(o) => s.held[o],
        }
    }

    /// The command text of an action (the grammar's templates with demangled names).
    pub fn command(&self, action: Action) -> String {
        let o = |i: usize| &self.objects[i].name;
        let r = |i: usize| &self.receptacles[i].name;
        match action {
            Action::Look => "look".into(),
            Action::Inventory => "inventory".into(),
            Action::Help => "help".into(),
            Action::Goto(rec) => {
                // `go to [{r.name | receptacleatlocation(r, lend)}]`: every receptacle there.
                let l = self.receptacles[rec]
                    .locations
                    .first()
                    .copied()
                    .unwrap_or(0);
                let names: Vec<String> = self.receptacles_at[l]
                    .iter()
                    .map(|&x| r(x).clone())
                    .collect();
                format!("go to {}", display_list(&names))
            }
            Action::Open(x) => format!("open {}", r(x)),
            Action::Close(x) => format!("close {}", r(x)),
            Action::Take(a, b) => format!("take {} from {}", o(a), r(b)),
            Action::Put(a, b) => format!("move {} to {}", o(a), r(b)),
            Action::Clean(a, b) => format!("clean {} with {}", o(a), r(b)),
            Action::Heat(a, b) => format!("heat {} with {}", o(a), r(b)),
            Action::Cool(a, b) => format!("cool {} with {}", o(a), r(b)),
            Action::Toggle(a, _) => format!("use {}", o(a)),
            Action::Slice(a, b) => format!("slice {} with {}", o(a), o(b)),
            Action::ExamineReceptacle(x) => format!("examine {}", r(x)),
            Action::ExamineObject(a) => format!("examine {}", o(a)),
        }
    }

    /// Every applicable action with its command, sorted by command and de-duplicated (the
    /// first grounding of a command wins, as in TextWorld). `help` is included.
    pub fn admissible(&self, s: &State) -> Vec<(String, Action)> {
        let mut out = Vec::new();
        let mut push = |a: Action| {
            if self.applicable(s, a) {
                out.push((self.command(a), a));
            }
        };
        push(Action::Look);
        push(Action::Inventory);
        push(Action::Help);
        let (n_o, n_r) = (self.n_o(), self.n_r());
        for r in 0..n_r {
            push(Action::Goto(r));
            if !self.at_receptacle(s, r) {
                continue;
            }
            push(Action::Open(r));
            push(Action::Close(r));
            push(Action::ExamineReceptacle(r));
            for o in 0..n_o {
                if self.is_in(s, o, r) {
                    push(Action::Take(o, r));
                    push(Action::Toggle(o, r));
                }
                if s.held[o] {
                    push(Action::Put(o, r));
                    push(Action::Clean(o, r));
                    push(Action::Heat(o, r));
                    push(Action::Cool(o, r));
                }
            }
        }
        for o in 0..n_o {
            if s.held[o] {
                push(Action::ExamineObject(o));
                for co in 0..n_o {
                    push(Action::Slice(co, o));
                }
            }
        }
        // Stable sort keeps the first grounding of a duplicated command in front.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    fn contents(&self, s: &State, r: usize) -> Vec<String> {
        (0..self.n_o())
            .filter(|&o| self.is_in(s, o, r))
            .map(|o| format!("a {}", self.objects[o].name))
            .collect()
    }

    /// `examineReceptacle.feedback`.
    pub fn describe_receptacle(&self, s: &State, r: usize) -> String {
        let info = &self.receptacles[r];
        if info.openable && s.opened[r] {
            format!(
                "The {} is open. In it, you see {}.",
                info.name,
                display_list(&self.contents(s, r))
            )
        } else if info.openable {
            format!("The {} is closed.", info.name)
        } else {
            format!(
                "On the {}, you see {}.",
                info.name,
                display_list(&self.contents(s, r))
            )
        }
    }

    /// `look.feedback`. `bound` is whether the agent's location is bound in the context
    /// (it is for the `look` action, not for the intro).
    pub fn look(&self, s: &State, bound: bool) -> String {
        let l = s.agent_at;
        let here = &self.receptacles_at[l];
        if !here.is_empty() {
            let names: Vec<String> = here
                .iter()
                .map(|&r| self.receptacles[r].name.clone())
                .collect();
            let n_l = self.n_l();
            let n_r = self.n_r();
            let mut floor = Vec::new();
            for o in 0..self.n_o() {
                if !s.object_at[o * n_l + l] {
                    continue;
                }
                for &r in here {
                    if s.not_in_receptacle[o * n_r + r] {
                        floor.push(format!("a {}", self.objects[o].name));
                    }
                }
            }
            format!(
                "You are facing the {}. Next to it, you see {}.",
                display_list(&names),
                display_list(&floor)
            )
        } else {
            let receptacles: Vec<String> = if bound {
                Vec::new()
            } else {
                (0..self.n_r())
                    .flat_map(|r| {
                        let name = format!("a {}", self.receptacles[r].name);
                        std::iter::repeat_n(name, self.receptacles[r].locations.len())
                    })
                    .collect()
            };
            format!(
                "You are in the middle of a room. Looking quickly around you, you see {}.",
                display_list(&receptacles)
            )
        }
    }

    /// `examineObject.feedback`: the first rule whose condition holds.
    pub fn describe_object(&self, s: &State, o: usize) -> String {
        let info = &self.objects[o];
        let name = &info.name;
        let (clean, hot, cool, sliced) = (s.clean[o], s.hot[o], s.cool[o], s.sliced[o]);
        if info.receptacle_object {
            let inside: Vec<String> = self
                .in_receptacle_object
                .iter()
                .filter(|(_, outer)| *outer == o)
                .map(|(inner, _)| format!("a {}", self.objects[*inner].name))
                .collect();
            return format!(
                "This is a normal {name}. In it, you see {}.",
                display_list(&inside)
            );
        }
        match () {
            _ if clean && hot && sliced => format!("This is a hot and clean sliced {name}."),
            _ if clean && cool && sliced => format!("This is a cool and clean sliced {name}."),
            _ if clean && sliced => format!("This is a clean sliced {name}."),
            _ if hot && sliced => format!("This is a hot sliced {name}."),
            _ if cool && sliced => format!("This is a cool sliced {name}."),
            _ if clean && hot => format!("This is a hot and clean {name}."),
            _ if clean && cool => format!("This is a cool and clean {name}."),
            _ if hot => format!("This is a hot {name}."),
            _ if clean => format!("This is a clean {name}."),
            _ if cool => format!("This is a cold {name}."),
            _ if info.toggleable && s.toggled[o] => format!("This {name} is on."),
            // "This … is off." needs a `not_istoggled` fact, which no effect ever creates.
            _ if info.sliceable && sliced => format!("This is a sliced {name}."),
            _ => format!("There's nothing special about {name}."),
        }
    }

    /// `inventory.feedback`.
    pub fn inventory(&self, s: &State) -> String {
        if s.holds_any {
            let held: Vec<String> = (0..self.n_o())
                .filter(|&o| s.held[o])
                .map(|o| format!("a {}", self.objects[o].name))
                .collect();
            format!("You are carrying: {}.", display_list(&held))
        } else {
            "You are not carrying anything.".into()
        }
    }

    fn set_in(&self, s: &mut State, o: usize, r: usize, value: bool) {
        let k = o * self.n_r() + r;
        s.in_receptacle[k] = value;
        s.not_in_receptacle[k] = !value;
    }

    /// Applies an applicable action and returns its feedback.
    pub fn apply(&self, s: &mut State, action: Action) -> String {
        let o_name = |i: usize| self.objects[i].name.clone();
        let r_name = |i: usize| self.receptacles[i].name.clone();
        let n_l = self.n_l();
        match action {
            Action::Look => self.look(s, true),
            Action::Inventory => self.inventory(s),
            Action::Help => HELP.to_string(),
            Action::Goto(r) => {
                if let Some(&l) = self.receptacles[r].locations.first() {
                    s.agent_at = l;
                }
                format!(
                    "You arrive at {}. {}",
                    r_name(r),
                    self.describe_receptacle(s, r)
                )
            }
            Action::Open(r) => {
                s.opened[r] = true;
                format!(
                    "You open the {}. {}",
                    r_name(r),
                    self.describe_receptacle(s, r)
                )
            }
            Action::Close(r) => {
                s.opened[r] = false;
                format!("You close the {}.", r_name(r))
            }
            Action::Take(o, r) => {
                self.set_in(s, o, r, false);
                s.held[o] = true;
                s.holds_any = true;
                s.object_at[o * n_l + s.agent_at] = false;
                format!("You pick up the {} from the {}.", o_name(o), r_name(r))
            }
            Action::Put(o, r) => {
                self.set_in(s, o, r, true);
                s.object_at[o * n_l + s.agent_at] = true;
                s.held[o] = false;
                s.holds_any = false;
                format!("You move the {} to the {}.", o_name(o), r_name(r))
            }
            Action::Clean(o, r) => {
                s.clean[o] = true;
                format!("You clean the {} using the {}.", o_name(o), r_name(r))
            }
            Action::Heat(o, r) => {
                s.hot[o] = true;
                s.cool[o] = false;
                format!("You heat the {} using the {}.", o_name(o), r_name(r))
            }
            Action::Cool(o, r) => {
                s.cool[o] = true;
                s.hot[o] = false;
                format!("You cool the {} using the {}.", o_name(o), r_name(r))
            }
            Action::Toggle(o, _) => {
                s.on[o] = !s.on[o];
                s.toggled[o] = true;
                // `istoggled` now holds, so the first rule always wins.
                format!("You turn on the {}.", o_name(o))
            }
            Action::Slice(co, ko) => {
                s.sliced[co] = true;
                format!("You sliced the {} with the {}.", o_name(co), o_name(ko))
            }
            Action::ExamineReceptacle(r) => self.describe_receptacle(s, r),
            Action::ExamineObject(o) => self.describe_object(s, o),
        }
    }

    fn constant(&self, name: &str) -> Option<Entity> {
        self.entities.get(name).copied()
    }

    fn fact(&self, s: &State, pred: &str, args: &[Entity]) -> bool {
        use Entity::*;
        let (n_r, n_l) = (self.n_r(), self.n_l());
        let is_const = |e: &Entity, text: &str| match e {
            Constant(c) => self.constants[*c] == text,
            _ => false,
        };
        match (pred, args) {
            ("inreceptacle", [Object(o), Receptacle(r)]) => s.in_receptacle[o * n_r + r],
            ("objecttype", [Object(o), t]) => is_const(t, &self.objects[*o].otype),
            ("receptacletype", [Receptacle(r), t]) => is_const(t, &self.receptacles[*r].rtype),
            ("holds", [Agent, Object(o)]) => s.held[*o],
            ("holdsany", [Agent]) => s.holds_any,
            ("atlocation", [Agent, Location(l)]) => s.agent_at == *l,
            ("receptacleatlocation", [Receptacle(r), Location(l)]) => {
                self.receptacles[*r].locations.contains(l)
            }
            ("objectatlocation", [Object(o), Location(l)]) => s.object_at[o * n_l + l],
            ("opened", [Receptacle(r)]) => s.opened[*r],
            ("openable", [Receptacle(r)]) => self.receptacles[*r].openable,
            ("isclean", [Object(o)]) => s.clean[*o],
            ("ishot", [Object(o)]) => s.hot[*o],
            ("iscool", [Object(o)]) => s.cool[*o],
            ("istoggled", [Object(o)]) => s.toggled[*o],
            ("ison", [Object(o)]) => s.on[*o],
            ("issliced", [Object(o)]) => s.sliced[*o],
            ("cleanable", [Object(o)]) => self.objects[*o].cleanable,
            ("heatable", [Object(o)]) => self.objects[*o].heatable,
            ("coolable", [Object(o)]) => self.objects[*o].coolable,
            ("toggleable", [Object(o)]) => self.objects[*o].toggleable,
            ("sliceable", [Object(o)]) => self.objects[*o].sliceable,
            ("pickupable", [Object(o)]) => self.objects[*o].pickupable,
            ("isreceptacleobject", [Object(o)]) => self.objects[*o].receptacle_object,
            ("inreceptacleobject", [Object(a), Object(b)]) => {
                self.in_receptacle_object.contains(&(*a, *b))
            }
            _ => false,
        }
    }

    /// Evaluates `f` under `bindings`; `None` when it mentions an unbound variable.
    fn eval(&self, s: &State, f: &Formula, bindings: &mut Vec<Option<Entity>>) -> Option<bool> {
        let term = |t: &Term, b: &Vec<Option<Entity>>| -> Option<Option<Entity>> {
            match t {
                Term::Var(v) => b[*v].map(Some),
                // An unknown constant names nothing: atoms over it are false.
                Term::Const(c) => Some(self.constant(c)),
            }
        };
        Some(match f {
            Formula::And(fs) => {
                for g in fs {
                    if !self.eval(s, g, bindings)? {
                        return Some(false);
                    }
                }
                true
            }
            Formula::Or(fs) => {
                for g in fs {
                    if self.eval(s, g, bindings)? {
                        return Some(true);
                    }
                }
                false
            }
            Formula::Not(g) => !self.eval(s, g, bindings)?,
            Formula::Eq(a, b) => term(a, bindings)? == term(b, bindings)?,
            Formula::Atom(pred, terms) => {
                let mut args = Vec::with_capacity(terms.len());
                for t in terms {
                    match term(t, bindings)? {
                        Some(e) => args.push(e),
                        None => return Some(false),
                    }
                }
                self.fact(s, pred, &args)
            }
            Formula::Exists(..) | Formula::Forall(..) if !Self::closed(f, bindings) => return None,
            Formula::Exists(vars, body) => self.search(s, vars, 0, body, bindings, true),
            Formula::Forall(vars, body) => !self.search(s, vars, 0, body, bindings, false),
        })
    }

    /// Whether every free variable of `f` is bound (else its value is unknown yet).
    fn closed(f: &Formula, bindings: &[Option<Entity>]) -> bool {
        let mut free = Vec::new();
        f.free_vars(&mut free);
        free.iter().all(|&v| bindings[v].is_some())
    }

    /// Backtracking over `vars[k..]`: finds a binding where `body` is `want`. After each
    /// binding the conjuncts that became fully bound are checked, to prune early.
    fn search(
        &self,
        s: &State,
        vars: &[usize],
        k: usize,
        body: &Formula,
        bindings: &mut Vec<Option<Entity>>,
        want: bool,
    ) -> bool {
        if k == vars.len() {
            return self.eval(s, body, bindings) == Some(want);
        }
        let v = vars[k];
        for &candidate in &self.goal_domains[v] {
            bindings[v] = Some(candidate);
            let prune = want
                && match body {
                    Formula::And(parts) => parts
                        .iter()
                        .any(|p| self.eval(s, p, bindings) == Some(false)),
                    _ => false,
                };
            if !prune && self.search(s, vars, k + 1, body, bindings, want) {
                bindings[v] = None;
                return true;
            }
        }
        bindings[v] = None;
        false
    }

    /// Whether the goal formula holds (`won`).
    pub fn goal_reached(&self, s: &State) -> bool {
        let mut bindings = vec![None; self.goal_domains.len()];
        self.eval(s, &self.goal, &mut bindings) == Some(true)
    }

    /// The goal formula, for the expert's task analysis.
    pub fn goal(&self) -> &Formula {
        &self.goal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_list_matches_the_grammar() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(display_list(&[]), "nothing");
        assert_eq!(display_list(&s(&["a x"])), "a x");
        assert_eq!(display_list(&s(&["a x", "a y"])), "a x, and a y");
        assert_eq!(display_list(&s(&["a", "b", "c"])), "a, b, and c");
    }

    #[test]
    fn demangler_counts_down_over_sorted_ids() {
        let ids: Vec<String> = [
            "cabinet_bar__minus_01",
            "cabinet_bar__plus_02",
            "sink_bar__plus_01_bar_sinkbasin",
            "agent1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let n = demangle(&ids);
        assert_eq!(n["cabinet_bar__minus_01"], "cabinet 2");
        assert_eq!(n["cabinet_bar__plus_02"], "cabinet 1");
        assert_eq!(n["sink_bar__plus_01_bar_sinkbasin"], "sinkbasin 1");
        assert_eq!(n["agent1"], "agent1 ");
    }
}
