//! The expert: a per-task-type policy that sees the whole state.
//!
//! From any state it plans the few steps that remain — fetch an object of the goal type,
//! heat/cool/clean it at the nearest appliance of the right type, carry it to a receptacle
//! of the goal type (opening what is closed), or, for look tasks, carry it to the lamp and
//! switch the lamp on — and returns the first command. Generated games need at most about
//! 20 commands, far under the 50-command cap; the generator keeps only games the expert
//! solves.

use crate::game::{TaskSpec, TaskType};
use crate::world::{Action, State, World};

/// The expert's next action, or `None` when the goal holds or no plan is found.
pub fn next_action(world: &World, s: &State, spec: &TaskSpec) -> Option<Action> {
    if world.goal_reached(s) {
        return None;
    }
    let is_goal_object = |o: usize| world.objects[o].otype == spec.object_type;
    let held = world.held(s);
    if let Some(h) = held
        && !is_goal_object(h)
    {
        return drop_held(world, s, h);
    }
    match spec.task_type {
        TaskType::LookInLight => {
            if held.is_none() {
                return fetch(world, s, is_goal_object, None);
            }
            let toggle = spec.toggle_type.as_deref()?;
            // A lamp standing in some receptacle: go there and switch it on.
            let (lamp, r) = (0..world.objects.len())
                .filter(|&o| world.objects[o].otype == toggle && world.objects[o].toggleable)
                .find_map(|o| {
                    (0..world.receptacles.len())
                        .find(|&r| {
                            world.is_in(s, o, r) && !world.receptacles[r].locations.is_empty()
                        })
                        .map(|r| (o, r))
                })?;
            if !world.at_receptacle(s, r) {
                return Some(Action::Goto(r));
            }
            Some(Action::Toggle(lamp, r))
        }
        task => {
            let rtype = spec.receptacle_type.as_deref()?;
            let targets: Vec<usize> = (0..world.receptacles.len())
                .filter(|&r| world.receptacles[r].rtype == rtype)
                .filter(|&r| !world.receptacles[r].locations.is_empty())
                .collect();
            let count_in = |r: usize| {
                (0..world.objects.len())
                    .filter(|&o| is_goal_object(o) && world.is_in(s, o, r))
                    .count()
            };
            // Pick two: the receptacle already holding a goal object, else the first.
            let target = if task == TaskType::PickTwo {
                targets
                    .iter()
                    .copied()
                    .max_by_key(|&r| (count_in(r), std::cmp::Reverse(r)))?
            } else {
                *targets.first()?
            };
            let treated = |o: usize| match task {
                TaskType::Heat => s.hot[o],
                TaskType::Cool => s.cool[o],
                TaskType::Clean => s.clean[o],
                _ => true,
            };
            let Some(h) = held else {
                return fetch(world, s, is_goal_object, Some(target));
            };
            if !treated(h) {
                let appliance = match task {
                    TaskType::Heat => "microwavetype",
                    TaskType::Cool => "fridgetype",
                    _ => "sinkbasintype",
                };
                let r = (0..world.receptacles.len()).find(|&r| {
                    world.receptacles[r].rtype == appliance
                        && !world.receptacles[r].locations.is_empty()
                })?;
                if !world.at_receptacle(s, r) {
                    return Some(Action::Goto(r));
                }
                return Some(match task {
                    TaskType::Heat => Action::Heat(h, r),
                    TaskType::Cool => Action::Cool(h, r),
                    _ => Action::Clean(h, r),
                });
            }
            place(world, s, h, target)
        }
    }
}

/// Goes to, opens, or takes from the receptacle holding a wanted object (not one already in
/// `except`).
fn fetch(
    world: &World,
    s: &State,
    wanted: impl Fn(usize) -> bool,
    except: Option<usize>,
) -> Option<Action> {
    let n_r = world.receptacles.len();
    let mut best: Option<(usize, usize, usize)> = None;
    for o in 0..world.objects.len() {
        if !wanted(o) || !world.objects[o].pickupable {
            continue;
        }
        if except.is_some_and(|t| world.is_in(s, o, t)) {
            continue;
        }
        for r in 0..n_r {
            if !world.is_in(s, o, r) || world.receptacles[r].locations.is_empty() {
                continue;
            }
            // Prefer what is here, then what needs no opening.
            let cost = if world.at_receptacle(s, r) { 0 } else { 2 }
                + usize::from(!world.accessible(s, r));
            if best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, o, r));
            }
        }
    }
    let (_, o, r) = best?;
    if !world.at_receptacle(s, r) {
        Some(Action::Goto(r))
    } else if !world.accessible(s, r) {
        Some(Action::Open(r))
    } else {
        Some(Action::Take(o, r))
    }
}

/// Goes to, opens, or puts the held object into `r`.
fn place(world: &World, s: &State, h: usize, r: usize) -> Option<Action> {
    if !world.can_contain(r, h) {
        return None;
    }
    if !world.at_receptacle(s, r) {
        Some(Action::Goto(r))
    } else if !world.accessible(s, r) {
        Some(Action::Open(r))
    } else {
        Some(Action::Put(h, r))
    }
}

/// Puts an unwanted held object down in the most convenient receptacle that takes it.
fn drop_held(world: &World, s: &State, h: usize) -> Option<Action> {
    let r = (0..world.receptacles.len())
        .filter(|&r| world.can_contain(r, h) && !world.receptacles[r].locations.is_empty())
        .min_by_key(|&r| (!world.at_receptacle(s, r), !world.accessible(s, r), r))?;
    place(world, s, h, r)
}
