//! A deterministic generator of ALFWorld-style games from the domain, the 120 scene object
//! lists and the goal templates, written in ALFWorld's `game.tw-pddl` format.
//!
//! Per task (split, index), from one seed:
//! 1. pick a task type of the split and a scene of the split whose room type allows it
//!    (`GOALS_VALID`: heat/cool in kitchens, look in living rooms and bedrooms, …);
//! 2. receptacles: the scene's instances from `…-openable.json` (ids and agent poses), plus one
//!    instance of each other receptacle type the scene lists (1–4 stove burners), each at its
//!    own location; `openable` per `OPENABLE_CLASS_LIST`;
//! 3. objects: 1–2 instances of every pickupable type of the scene (2–3 of the goal object for
//!    pick-two), each in a random receptacle whose type may hold it (`VAL_RECEPTACLE_OBJECTS`),
//!    never already in a goal receptacle; lamps on a piece of furniture; affordances from
//!    `VAL_ACTION_OBJECTS`;
//! 4. the goal formula and one of the two description templates from `goal_library.py`;
//! 5. keep the game only if the expert solves it (ALFWorld kept only `solvable` games);
//!    otherwise retry with the next derived seed. [`Generated`] counts the redraws: in
//!    practice only `unfit` ones (a scene that cannot host the task) occur; none of the first
//!    1,000 indices of any split needed a redraw because the expert failed
//!    (`examples/alfworld_expert_rate.rs`).
//!
//! Ids are mangled as in ALFWorld (`Apple|-01.40|+00.90|-00.31` →
//! `Apple_bar__minus_01_dot_40_bar__plus_00_dot_90_bar__minus_00_dot_31`), so TextWorld's
//! demangler and our engine number the instances the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use lamer_sdk::{SeededRng, mix_seed};

use crate::data::{Catalog, DOMAIN, GRAMMAR};
use crate::expert;
use crate::game::{Game, GameFile, TaskType};
use crate::world::Action;

/// A generated split: LaMer's "first4" on training or held-out scenes, or "last2".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Task types 1–4 on the training scenes.
    Train,
    /// Task types 1–4 on the held-out scenes.
    Test,
    /// Task types 5–6 (cool, pick two) on the held-out scenes.
    Ood,
}

impl Split {
    pub fn parse(name: &str) -> Option<Split> {
        match name {
            "train" => Some(Split::Train),
            "test" => Some(Split::Test),
            "ood" => Some(Split::Ood),
            _ => None,
        }
    }

    pub fn task_types(self) -> &'static [TaskType] {
        match self {
            Split::Train | Split::Test => &[
                TaskType::PickAndPlace,
                TaskType::LookInLight,
                TaskType::Clean,
                TaskType::Heat,
            ],
            Split::Ood => &[TaskType::Cool, TaskType::PickTwo],
        }
    }

    fn salt(self) -> u64 {
        match self {
            Split::Train => 0x7472_6169_6e00,
            Split::Test => 0x7465_7374_0000,
            Split::Ood => 0x6f6f_6400_0000,
        }
    }
}

/// A generated game with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub scene: String,
    pub task_type: TaskType,
    pub file: GameFile,
    /// Candidates drawn before this game and redrawn because the scene could not host the
    /// task (no appliance, lamp, target or goal object of the right kind).
    pub unfit_candidates: u32,
    /// Candidates drawn before this game and redrawn because the expert did not solve them
    /// within the cap (ALFWorld likewise kept only solvable games).
    pub unsolved_candidates: u32,
}

/// One draw of [`build`].
enum Candidate {
    Unfit,
    Unsolved,
    Kept(Generated),
}

/// Why generation failed (a defect of the data or the generator, never of the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error("{0}")]
    Data(String),
    #[error("no solvable game found for {0} after {1} attempts")]
    Exhausted(String, u32),
}

const ATTEMPTS: u32 = 200;
const LAMPS: [&str; 2] = ["DeskLamp", "FloorLamp"];
/// Furniture a lamp may stand on, in order of preference.
const LAMP_STANDS: [&str; 8] = [
    "Desk",
    "SideTable",
    "Dresser",
    "Shelf",
    "CoffeeTable",
    "TVStand",
    "DiningTable",
    "CounterTop",
];

/// ALFWorld's id mangling (`|` `-` `+` `.` `,` → `_bar_` `_minus_` `_plus_` `_dot_` `_comma_`).
pub fn mangle(id: &str) -> String {
    id.replace('|', "_bar_")
        .replace('-', "_minus_")
        .replace('+', "_plus_")
        .replace('.', "_dot_")
        .replace(',', "_comma_")
}

fn coordinate(rng: &mut SeededRng, span: i64) -> String {
    let v = rng.range_inclusive(-span, span);
    let sign = if v < 0 { '-' } else { '+' };
    let a = v.unsigned_abs();
    format!("{sign}{:02}.{:02}", a / 100, a % 100)
}

struct Receptacle {
    id: String,
    rtype: String,
    location: String,
}

struct Object {
    id: String,
    otype: String,
    receptacle: usize,
}

/// Generates the game of `(split, index)`.
pub fn generate(split: Split, index: u64) -> Result<Generated, GenerateError> {
    let catalog = Catalog::get().map_err(GenerateError::Data)?;
    let (mut unfit, mut unsolved) = (0, 0);
    for attempt in 0..ATTEMPTS {
        let mut rng = SeededRng::new(mix_seed(split.salt() ^ index, u64::from(attempt)));
        let task_type = *rng
            .choose(split.task_types())
            .ok_or_else(|| GenerateError::Data("split without task types".into()))?;
        let allowed = catalog.goals_valid.get(task_type.name()).ok_or_else(|| {
            GenerateError::Data(format!("no GOALS_VALID for {}", task_type.name()))
        })?;
        let numbers = match split {
            Split::Train => &catalog.train_scene_numbers,
            Split::Test | Split::Ood => &catalog.test_scene_numbers,
        };
        let scenes: Vec<u32> = numbers
            .iter()
            .copied()
            .filter(|&n| {
                catalog
                    .scene_type_of(n)
                    .is_some_and(|t| allowed.contains(t))
            })
            .collect();
        let Some(&scene) = rng.choose(&scenes) else {
            unfit += 1;
            continue;
        };
        match build(catalog, split, index, scene, task_type, &mut rng)? {
            Candidate::Kept(game) => {
                return Ok(Generated {
                    unfit_candidates: unfit,
                    unsolved_candidates: unsolved,
                    ..game
                });
            }
            Candidate::Unfit => unfit += 1,
            Candidate::Unsolved => unsolved += 1,
        }
    }
    Err(GenerateError::Exhausted(
        format!("{split:?}/{index}"),
        ATTEMPTS,
    ))
}

fn build(
    catalog: &Catalog,
    split: Split,
    index: u64,
    scene_number: u32,
    task_type: TaskType,
    rng: &mut SeededRng,
) -> Result<Candidate, GenerateError> {
    let scene_name = format!("FloorPlan{scene_number}");
    let scene = catalog
        .scenes
        .get(&scene_name)
        .ok_or_else(|| GenerateError::Data(format!("scene {scene_name} missing")))?;
    let present: BTreeSet<&str> = scene.objects.iter().map(String::as_str).collect();

    // Receptacles with unique locations.
    let mut used_locations = BTreeSet::new();
    let mut unique_location = |x: f64, z: f64, rotation: f64, horizon: f64| {
        let (x, z) = ((x / 0.25).round() as i64, (z / 0.25).round() as i64);
        let rotation = ((rotation / 90.0).round() as i64).rem_euclid(4);
        let mut horizon = horizon.round() as i64;
        loop {
            let loc = format!("loc|{x}|{z}|{rotation}|{horizon}");
            if used_locations.insert(loc.clone()) {
                return loc;
            }
            horizon += 15;
        }
    };
    let mut receptacles: Vec<Receptacle> = Vec::new();
    for (id, pose) in &scene.receptacles {
        let parts: Vec<&str> = id.split('|').collect();
        let rtype = match parts.last() {
            Some(last) if last.ends_with("Basin") => last.to_string(),
            _ => parts[0].to_string(),
        };
        if !catalog.receptacles.contains(&rtype) {
            continue;
        }
        let [x, z, rotation, horizon] = pose[..] else {
            return Err(GenerateError::Data(format!("bad pose for {id}")));
        };
        receptacles.push(Receptacle {
            id: id.clone(),
            rtype,
            location: unique_location(x, z, rotation, horizon),
        });
    }
    let have: BTreeSet<String> = receptacles.iter().map(|r| r.rtype.clone()).collect();
    for rtype in &catalog.receptacles {
        if have.contains(rtype)
            || catalog.movable_receptacles.contains(rtype)
            || !(present.contains(rtype.as_str())
                || (rtype == "SinkBasin" && present.contains("Sink"))
                || (rtype == "BathtubBasin" && present.contains("Bathtub")))
        {
            continue;
        }
        let count = if rtype == "StoveBurner" {
            rng.range_inclusive(1, 4)
        } else {
            1
        };
        for _ in 0..count {
            let (x, y, z) = (
                coordinate(rng, 300),
                coordinate(rng, 150),
                coordinate(rng, 300),
            );
            let id = match rtype.as_str() {
                "SinkBasin" => format!("Sink|{x}|{y}|{z}|SinkBasin"),
                "BathtubBasin" => format!("Bathtub|{x}|{y}|{z}|BathtubBasin"),
                _ => format!("{rtype}|{x}|{y}|{z}"),
            };
            let pose = |v: &str| v.parse::<f64>().unwrap_or(0.0);
            let location = unique_location(pose(&x), pose(&z), 90.0 * rng.below(4) as f64, 30.0);
            receptacles.push(Receptacle {
                id,
                rtype: rtype.clone(),
                location,
            });
        }
    }
    receptacles.sort_by(|a, b| a.id.cmp(&b.id));
    let rtypes: BTreeSet<&str> = receptacles.iter().map(|r| r.rtype.as_str()).collect();

    // The task: object, receptacle and lamp types.
    let pickupable: Vec<&str> = catalog
        .pickupable
        .iter()
        .map(String::as_str)
        .filter(|t| present.contains(t) && !t.ends_with("Sliced"))
        .filter(|t| receptacles.iter().any(|r| catalog.can_contain(&r.rtype, t)))
        .collect();
    let appliance = match task_type {
        TaskType::Heat => Some(("Heatable", "Microwave")),
        TaskType::Cool => Some(("Coolable", "Fridge")),
        TaskType::Clean => Some(("Cleanable", "SinkBasin")),
        _ => None,
    };
    if let Some((_, a)) = appliance
        && !rtypes.contains(a)
    {
        return Ok(Candidate::Unfit);
    }
    let candidates: Vec<&str> = pickupable
        .iter()
        .copied()
        .filter(|t| appliance.is_none_or(|(aff, _)| catalog.has_affordance(aff, t)))
        .collect();
    let Some(&object_type) = rng.choose(&candidates) else {
        return Ok(Candidate::Unfit);
    };
    let lamps: Vec<&str> = LAMPS
        .iter()
        .copied()
        .filter(|l| present.contains(l))
        .collect();
    let stands: Vec<usize> = (0..receptacles.len())
        .filter(|&i| LAMP_STANDS.contains(&receptacles[i].rtype.as_str()))
        .collect();
    let (receptacle_type, toggle_type) = if task_type == TaskType::LookInLight {
        let Some(&lamp) = rng.choose(&lamps) else {
            return Ok(Candidate::Unfit);
        };
        if stands.is_empty() {
            return Ok(Candidate::Unfit);
        }
        (None, Some(lamp))
    } else {
        let targets: Vec<&str> = rtypes
            .iter()
            .copied()
            .filter(|r| catalog.can_contain(r, object_type))
            .filter(|r| appliance.is_none_or(|(_, a)| a != *r))
            .collect();
        let Some(&target) = rng.choose(&targets) else {
            return Ok(Candidate::Unfit);
        };
        (Some(target), None)
    };

    // Objects.
    let mut objects: Vec<Object> = Vec::new();
    let mut used_ids = BTreeSet::new();
    let mut new_id = |otype: &str, rng: &mut SeededRng| loop {
        let id = format!(
            "{otype}|{}|{}|{}",
            coordinate(rng, 300),
            coordinate(rng, 150),
            coordinate(rng, 300)
        );
        if used_ids.insert(id.clone()) {
            return id;
        }
    };
    for &otype in &pickupable {
        let is_goal = otype == object_type;
        let hosts: Vec<usize> = (0..receptacles.len())
            .filter(|&i| catalog.can_contain(&receptacles[i].rtype, otype))
            .filter(|&i| !(is_goal && Some(receptacles[i].rtype.as_str()) == receptacle_type))
            .collect();
        if hosts.is_empty() {
            if is_goal {
                return Ok(Candidate::Unfit);
            }
            continue;
        }
        let count = match (is_goal, task_type) {
            (true, TaskType::PickTwo) => rng.range_inclusive(2, 3),
            _ => rng.range_inclusive(1, 2),
        };
        for _ in 0..count {
            let receptacle = hosts[rng.index(hosts.len())];
            let id = new_id(otype, rng);
            objects.push(Object {
                id,
                otype: otype.to_string(),
                receptacle,
            });
        }
    }
    for &lamp in &lamps {
        if stands.is_empty() {
            break;
        }
        let receptacle = stands[rng.index(stands.len())];
        let id = new_id(lamp, rng);
        objects.push(Object {
            id,
            otype: lamp.to_string(),
            receptacle,
        });
    }
    objects.sort_by(|a, b| a.id.cmp(&b.id));

    // The PDDL problem.
    let mut otypes: BTreeSet<String> = objects.iter().map(|o| o.otype.clone()).collect();
    otypes.extend(["Knife".to_string(), "ButterKnife".to_string()]);
    let mut all_rtypes: BTreeSet<String> = rtypes.iter().map(|s| s.to_string()).collect();
    all_rtypes.extend(["SinkBasin", "Microwave", "Fridge"].map(String::from));
    let mut p = String::new();
    let _ = writeln!(
        p,
        "(define (problem plan_{scene_name}_{split:?}_{index})\n(:domain alfred)\n(:objects\nagent1 - agent"
    );
    for t in &otypes {
        let _ = writeln!(p, "{t}Type - otype");
    }
    for t in &all_rtypes {
        let _ = writeln!(p, "{t}Type - rtype");
    }
    for o in &objects {
        let _ = writeln!(p, "{} - object", mangle(&o.id));
    }
    for r in &receptacles {
        let _ = writeln!(p, "{} - receptacle", mangle(&r.id));
    }
    let mut locations: BTreeSet<String> = receptacles.iter().map(|r| mangle(&r.location)).collect();
    let start = loop {
        let loc = format!(
            "loc|{}|{}|{}|{}",
            rng.range_inclusive(-12, 12),
            rng.range_inclusive(-12, 12),
            rng.below(4),
            [0, 30, 60][rng.index(3)]
        );
        let loc = mangle(&loc);
        if !locations.contains(&loc) {
            break loc;
        }
    };
    locations.insert(start.clone());
    for l in &locations {
        let _ = writeln!(p, "{l} - location");
    }
    let _ = writeln!(p, ")\n(:init\n(atLocation agent1 {start})");
    for r in &receptacles {
        let id = mangle(&r.id);
        let _ = writeln!(p, "(receptacleAtLocation {id} {})", mangle(&r.location));
        let _ = writeln!(p, "(receptacleType {id} {}Type)", r.rtype);
        if catalog.openable_class_list.contains(&r.rtype) {
            let _ = writeln!(p, "(openable {id})");
        }
    }
    for o in &objects {
        let id = mangle(&o.id);
        let r = &receptacles[o.receptacle];
        let _ = writeln!(p, "(objectType {id} {}Type)", o.otype);
        let _ = writeln!(p, "(inReceptacle {id} {})", mangle(&r.id));
        let _ = writeln!(p, "(objectAtLocation {id} {})", mangle(&r.location));
        if LAMPS.contains(&o.otype.as_str()) {
            let _ = writeln!(p, "(toggleable {id})");
            continue;
        }
        let _ = writeln!(p, "(pickupable {id})");
        for (affordance, predicate) in [
            ("Cleanable", "cleanable"),
            ("Heatable", "heatable"),
            ("Coolable", "coolable"),
            ("Sliceable", "sliceable"),
        ] {
            if catalog.has_affordance(affordance, &o.otype) {
                let _ = writeln!(p, "({predicate} {id})");
            }
        }
        if catalog.movable_receptacles.contains(&o.otype) {
            let _ = writeln!(p, "(isReceptacleObject {id})");
        }
    }
    for rt in &rtypes {
        for ot in &otypes {
            if catalog.can_contain(rt, ot) && objects.iter().any(|o| &o.otype == ot) {
                let _ = writeln!(p, "(canContain {rt}Type {ot}Type)");
            }
        }
    }
    p.push_str(")\n");
    let data = catalog
        .task_types
        .get(&task_type.id().to_string())
        .ok_or_else(|| GenerateError::Data(format!("no goal for {}", task_type.name())))?;
    let fill = |template: &str| {
        template
            .replace("{obj}", object_type)
            .replace("{recep}", receptacle_type.unwrap_or(""))
            .replace("{toggle}", toggle_type.unwrap_or(""))
    };
    p.push_str(&fill(&data.pddl).replace('#', "-"));
    let template = rng
        .choose(&data.templates)
        .ok_or_else(|| GenerateError::Data("goal without templates".into()))?;
    let lower = |t: &str| t.to_lowercase();
    let sentence = template
        .replace("{obj}", &lower(object_type))
        .replace("{recep}", &lower(receptacle_type.unwrap_or("")))
        .replace("{toggle}", &lower(toggle_type.unwrap_or("")));
    let grammar = GRAMMAR.replace("UNKNOWN GOAL", &sentence);

    // Keep the game only if the expert solves it within the cap.
    let game = Game::from_parts(&p, &grammar).map_err(|e| GenerateError::Data(e.to_string()))?;
    let Some(walkthrough) = solve(&game) else {
        return Ok(Candidate::Unsolved);
    };
    Ok(Candidate::Kept(Generated {
        scene: scene_name,
        task_type,
        file: GameFile {
            pddl_domain: DOMAIN.to_string(),
            grammar,
            pddl_problem: p,
            solvable: true,
            walkthrough,
        },
        unfit_candidates: 0,
        unsolved_candidates: 0,
    }))
}

/// The expert's commands from the initial state to the goal, if it gets there in 50.
pub fn solve(game: &Game) -> Option<Vec<String>> {
    let spec = game.spec.as_ref()?;
    let world = &game.world;
    let mut state = game.initial.clone();
    let mut commands = Vec::new();
    while !world.goal_reached(&state) {
        if commands.len() >= crate::COMMAND_CAP as usize {
            return None;
        }
        let action: Action = expert::next_action(world, &state, spec)?;
        if !world.applicable(&state, action) {
            return None;
        }
        commands.push(world.command(action));
        world.apply(&mut state, action);
    }
    Some(commands)
}

/// The generated game's `game.tw-pddl` JSON, for TextWorld.
pub fn game_json(split: Split, index: u64) -> Result<String, GenerateError> {
    let g = generate(split, index)?;
    serde_json::to_string(&g.file).map_err(|e| GenerateError::Data(e.to_string()))
}

/// How many instances of each receptacle type a game has (for tests and docs).
pub fn receptacle_census(game: &Game) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in &game.world.receptacles {
        *out.entry(r.rtype.clone()).or_default() += 1;
    }
    out
}
