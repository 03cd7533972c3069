//! Preconditions and effects of every action, on a small hand-made game whose texts were
//! checked against TextWorld (the §5.4 strings of the reference notes).

use alfworld::data::GRAMMAR;
use alfworld::game::Game;
use alfworld::world::State;

const PROBLEM: &str = "
(define (problem unit)
(:domain alfred)
(:objects
agent1 - agent
AppleType MugType KnifeType DeskLampType BreadType - otype
CounterTopType FridgeType MicrowaveType SinkBasinType CabinetType DeskType - rtype
Apple_bar__minus_01_dot_00 - object
Apple_bar__plus_02_dot_00 - object
Mug_bar__plus_00_dot_10 - object
Knife_bar__plus_00_dot_20 - object
DeskLamp_bar__plus_00_dot_30 - object
Bread_bar__plus_00_dot_40 - object
CounterTop_bar__plus_01 - receptacle
Fridge_bar__plus_01 - receptacle
Microwave_bar__plus_01 - receptacle
Sink_bar__plus_01_bar_SinkBasin - receptacle
Cabinet_bar__plus_01 - receptacle
Desk_bar__plus_01 - receptacle
loc_bar_0 loc_bar_1 loc_bar_2 loc_bar_3 loc_bar_4 loc_bar_5 loc_bar_6 - location
)
(:init
(atLocation agent1 loc_bar_0)
(receptacleAtLocation CounterTop_bar__plus_01 loc_bar_1)
(receptacleAtLocation Fridge_bar__plus_01 loc_bar_2)
(receptacleAtLocation Microwave_bar__plus_01 loc_bar_3)
(receptacleAtLocation Sink_bar__plus_01_bar_SinkBasin loc_bar_4)
(receptacleAtLocation Cabinet_bar__plus_01 loc_bar_5)
(receptacleAtLocation Desk_bar__plus_01 loc_bar_6)
(receptacleType CounterTop_bar__plus_01 CounterTopType)
(receptacleType Fridge_bar__plus_01 FridgeType)
(receptacleType Microwave_bar__plus_01 MicrowaveType)
(receptacleType Sink_bar__plus_01_bar_SinkBasin SinkBasinType)
(receptacleType Cabinet_bar__plus_01 CabinetType)
(receptacleType Desk_bar__plus_01 DeskType)
(openable Fridge_bar__plus_01)
(openable Microwave_bar__plus_01)
(openable Cabinet_bar__plus_01)
(objectType Apple_bar__minus_01_dot_00 AppleType)
(objectType Apple_bar__plus_02_dot_00 AppleType)
(objectType Mug_bar__plus_00_dot_10 MugType)
(objectType Knife_bar__plus_00_dot_20 KnifeType)
(objectType DeskLamp_bar__plus_00_dot_30 DeskLampType)
(objectType Bread_bar__plus_00_dot_40 BreadType)
(inReceptacle Apple_bar__minus_01_dot_00 CounterTop_bar__plus_01)
(inReceptacle Apple_bar__plus_02_dot_00 Fridge_bar__plus_01)
(inReceptacle Mug_bar__plus_00_dot_10 Cabinet_bar__plus_01)
(inReceptacle Knife_bar__plus_00_dot_20 CounterTop_bar__plus_01)
(inReceptacle DeskLamp_bar__plus_00_dot_30 Desk_bar__plus_01)
(inReceptacle Bread_bar__plus_00_dot_40 CounterTop_bar__plus_01)
(objectAtLocation Apple_bar__minus_01_dot_00 loc_bar_1)
(objectAtLocation Apple_bar__plus_02_dot_00 loc_bar_2)
(objectAtLocation Mug_bar__plus_00_dot_10 loc_bar_5)
(objectAtLocation Knife_bar__plus_00_dot_20 loc_bar_1)
(objectAtLocation DeskLamp_bar__plus_00_dot_30 loc_bar_6)
(objectAtLocation Bread_bar__plus_00_dot_40 loc_bar_1)
(pickupable Apple_bar__minus_01_dot_00)
(pickupable Apple_bar__plus_02_dot_00)
(pickupable Mug_bar__plus_00_dot_10)
(pickupable Knife_bar__plus_00_dot_20)
(pickupable Bread_bar__plus_00_dot_40)
(heatable Apple_bar__minus_01_dot_00)
(coolable Apple_bar__minus_01_dot_00)
(cleanable Apple_bar__minus_01_dot_00)
(sliceable Bread_bar__plus_00_dot_40)
(isReceptacleObject Mug_bar__plus_00_dot_10)
(toggleable DeskLamp_bar__plus_00_dot_30)
(canContain CounterTopType AppleType)
(canContain CounterTopType MugType)
(canContain CounterTopType KnifeType)
(canContain FridgeType AppleType)
(canContain CabinetType MugType)
(canContain MicrowaveType AppleType)
)
(:goal (and (exists (?r - receptacle) (exists (?o - object) (and (heatable ?o) (objectType ?o AppleType) (receptacleType ?r CounterTopType) (isHot ?o) (inReceptacle ?o ?r)))))))
";

struct Play {
    game: Game,
    state: State,
}

impl Play {
    fn new() -> Play {
        let grammar = GRAMMAR.replace("UNKNOWN GOAL", "put a hot apple in countertop");
        let game = Game::from_parts(PROBLEM, &grammar).unwrap();
        let state = game.initial.clone();
        Play { game, state }
    }
    fn admissible(&self) -> Vec<String> {
        self.game
            .world
            .admissible(&self.state)
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }
    fn can(&self, command: &str) -> bool {
        self.admissible().iter().any(|c| c == command)
    }
    /// Plays an admissible command and returns the feedback.
    fn run(&mut self, command: &str) -> String {
        let (_, action) = self
            .game
            .world
            .admissible(&self.state)
            .into_iter()
            .find(|(c, _)| c == command)
            .unwrap_or_else(|| panic!("`{command}` is not admissible: {:?}", self.admissible()));
        self.game.world.apply(&mut self.state, action)
    }
    fn won(&self) -> bool {
        self.game.world.goal_reached(&self.state)
    }
}

#[test]
fn intro_lists_receptacles_in_id_order() {
    let p = Play::new();
    assert_eq!(
        p.game.intro(),
        "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Looking quickly \
         around you, you see a cabinet 1, a countertop 1, a desk 1, a fridge 1, a microwave 1, \
         and a sinkbasin 1.\n\nYour task is to: put a hot apple in countertop."
    );
}

#[test]
fn names_count_down_over_sorted_ids() {
    let p = Play::new();
    let names: Vec<&str> = p
        .game
        .world
        .objects
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    // `apple_bar__minus…` sorts before `apple_bar__plus…`, so it is apple 2.
    assert_eq!(names[..2], ["apple 2", "apple 1"]);
}

#[test]
fn initial_admissible_commands_are_sorted_and_exclude_go_to_nowhere() {
    let p = Play::new();
    assert_eq!(
        p.admissible(),
        [
            "go to cabinet 1",
            "go to countertop 1",
            "go to desk 1",
            "go to fridge 1",
            "go to microwave 1",
            "go to sinkbasin 1",
            "help",
            "inventory",
            "look",
        ]
    );
}

#[test]
fn look_and_inventory_texts() {
    let mut p = Play::new();
    // The `look` action binds the agent's location: the middle of the room lists nothing.
    assert_eq!(
        p.run("look"),
        "You are in the middle of a room. Looking quickly around you, you see nothing."
    );
    assert_eq!(p.run("inventory"), "You are not carrying anything.");
    p.run("go to countertop 1");
    assert_eq!(
        p.run("look"),
        "You are facing the countertop 1. Next to it, you see nothing."
    );
    p.run("take apple 2 from countertop 1");
    assert_eq!(p.run("inventory"), "You are carrying: a apple 2.");
    assert!(p.run("help").starts_with("Available commands:\n  look:"));
}

#[test]
fn go_to_arrives_and_describes_never_to_self() {
    let mut p = Play::new();
    assert_eq!(
        p.run("go to countertop 1"),
        "You arrive at countertop 1. On the countertop 1, you see a apple 2, a bread 1, and a knife 1."
    );
    assert!(!p.can("go to countertop 1"));
    assert!(p.can("examine countertop 1"));
    assert_eq!(
        p.run("go to cabinet 1"),
        "You arrive at cabinet 1. The cabinet 1 is closed."
    );
    assert!(!p.can("examine countertop 1"));
}

#[test]
fn open_and_close_need_presence_and_the_right_state() {
    let mut p = Play::new();
    assert!(!p.can("open fridge 1"));
    p.run("go to fridge 1");
    assert!(!p.can("close fridge 1"));
    assert!(
        !p.can("take apple 1 from fridge 1"),
        "closed receptacles hide their contents"
    );
    assert_eq!(
        p.run("open fridge 1"),
        "You open the fridge 1. The fridge 1 is open. In it, you see a apple 1."
    );
    assert!(!p.can("open fridge 1"));
    assert!(p.can("take apple 1 from fridge 1"));
    assert_eq!(p.run("close fridge 1"), "You close the fridge 1.");
    assert_eq!(p.run("examine fridge 1"), "The fridge 1 is closed.");
    assert!(!p.can("take apple 1 from fridge 1"));
}

#[test]
fn take_needs_empty_hands_and_move_needs_can_contain_and_access() {
    let mut p = Play::new();
    p.run("go to countertop 1");
    assert_eq!(
        p.run("take apple 2 from countertop 1"),
        "You pick up the apple 2 from the countertop 1."
    );
    assert!(!p.can("take knife 1 from countertop 1"), "hands are full");
    assert!(p.can("move apple 2 to countertop 1"));
    p.run("go to cabinet 1");
    p.run("open cabinet 1");
    assert!(
        !p.can("move apple 2 to cabinet 1"),
        "a cabinet cannot contain an apple here"
    );
    p.run("go to microwave 1");
    assert!(
        !p.can("move apple 2 to microwave 1"),
        "the microwave is closed"
    );
    p.run("open microwave 1");
    assert_eq!(
        p.run("move apple 2 to microwave 1"),
        "You move the apple 2 to the microwave 1."
    );
    assert_eq!(
        p.run("examine microwave 1"),
        "The microwave 1 is open. In it, you see a apple 2."
    );
    assert_eq!(p.run("inventory"), "You are not carrying anything.");
}

#[test]
fn heat_cool_clean_change_the_object_and_examine_describes_it() {
    let mut p = Play::new();
    p.run("go to countertop 1");
    assert!(
        !p.can("examine apple 2"),
        "objects are examinable only when held"
    );
    p.run("take apple 2 from countertop 1");
    assert_eq!(
        p.run("examine apple 2"),
        "There's nothing special about apple 2."
    );
    p.run("go to microwave 1");
    // The appliance may stay closed.
    assert_eq!(
        p.run("heat apple 2 with microwave 1"),
        "You heat the apple 2 using the microwave 1."
    );
    assert_eq!(p.run("examine apple 2"), "This is a hot apple 2.");
    p.run("go to sinkbasin 1");
    assert!(!p.can("heat apple 2 with sinkbasin 1"));
    assert_eq!(
        p.run("clean apple 2 with sinkbasin 1"),
        "You clean the apple 2 using the sinkbasin 1."
    );
    assert_eq!(p.run("examine apple 2"), "This is a hot and clean apple 2.");
    p.run("go to fridge 1");
    assert_eq!(
        p.run("cool apple 2 with fridge 1"),
        "You cool the apple 2 using the fridge 1."
    );
    assert_eq!(
        p.run("examine apple 2"),
        "This is a cool and clean apple 2.",
        "cooling clears hot"
    );
    assert!(!p.won());
}

#[test]
fn receptacle_objects_always_read_normal() {
    let mut p = Play::new();
    p.run("go to cabinet 1");
    p.run("open cabinet 1");
    p.run("take mug 1 from cabinet 1");
    assert_eq!(
        p.run("examine mug 1"),
        "This is a normal mug 1. In it, you see nothing."
    );
}

#[test]
fn use_switches_the_lamp_on_every_time() {
    let mut p = Play::new();
    assert!(!p.can("use desklamp 1"));
    p.run("go to desk 1");
    assert_eq!(p.run("use desklamp 1"), "You turn on the desklamp 1.");
    assert_eq!(p.run("use desklamp 1"), "You turn on the desklamp 1.");
    let lamp = p
        .game
        .world
        .objects
        .iter()
        .position(|o| o.name == "desklamp 1")
        .unwrap();
    assert!(p.state.toggled[lamp]);
    assert!(!p.state.on[lamp], "two toggles switch it back off");
}

#[test]
fn slice_needs_a_held_knife_and_the_object_here() {
    let mut p = Play::new();
    p.run("go to countertop 1");
    assert!(!p.can("slice bread 1 with knife 1"));
    p.run("take knife 1 from countertop 1");
    assert_eq!(
        p.run("slice bread 1 with knife 1"),
        "You sliced the bread 1 with the knife 1."
    );
}

#[test]
fn goal_is_reached_by_the_heat_plan() {
    let mut p = Play::new();
    for c in [
        "go to countertop 1",
        "take apple 2 from countertop 1",
        "move apple 2 to countertop 1",
        "take apple 2 from countertop 1",
        "go to microwave 1",
        "heat apple 2 with microwave 1",
        "go to countertop 1",
    ] {
        p.run(c);
        assert!(!p.won(), "{c}");
    }
    p.run("move apple 2 to countertop 1");
    assert!(p.won());
}

#[test]
fn taking_from_a_place_lists_it_next_to_the_receptacle_after_returning() {
    // `not_inReceptacle` facts appear once a pickup deletes `inReceptacle`, so after moving
    // an object back TextWorld still hides it from "Next to it"; nothing is listed.
    let mut p = Play::new();
    p.run("go to countertop 1");
    p.run("take apple 2 from countertop 1");
    p.run("move apple 2 to countertop 1");
    assert_eq!(
        p.run("look"),
        "You are facing the countertop 1. Next to it, you see nothing."
    );
}
