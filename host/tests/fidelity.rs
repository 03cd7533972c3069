//! The paper recipes' rewards and penalties on worked episodes, one per
//! environment, through the sandboxed plugins: what each turn earns, whether
//! it counts as invalid, which span of the tags was read, and the episode
//! score the GiGPO/GRPO advantages start from. Each case is a snapshot, and
//! the assertions name the official behaviour it pins (docs/fidelity.md).

mod common;

use lamer_host::agent::{ParsingTable, ValidityRule};
use lamer_host::rollout::{
    NoObserver, Phase, RolloutConfig, RolloutOutput, TaskGroup, TrialMode, run_rollout,
};
use lamer_host::train::advantages::{AdvantageConfig, AdvantageRow, episode_scores};
use lamer_host::train::recipe::Recipe;
use lamer_host::train::returns::{Discounts, rollout_returns};
use lamer_plugin::{EnvFactory, Plugin, Runtime, RuntimeConfig, SandboxLimits};
use lamer_policy::{
    Policy, PolicyError, PolicyRequest, PolicyResponse, RequestKind, SamplingParams,
};
use lamer_sdk::Task;

/// Answers play requests and reflect requests from two fixed scripts, in
/// order; `{expert}` in a play answer becomes the environment's expert action.
struct Script {
    play: std::vec::IntoIter<&'static str>,
    reflect: std::vec::IntoIter<&'static str>,
}

impl Script {
    fn new(play: Vec<&'static str>, reflect: Vec<&'static str>) -> Self {
        Script {
            play: play.into_iter(),
            reflect: reflect.into_iter(),
        }
    }
}

impl Policy for Script {
    fn name(&self) -> String {
        "script".into()
    }
    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        _sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        Ok(requests
            .iter()
            .map(|r| {
                let next = match r.kind {
                    RequestKind::Reflect => self.reflect.next(),
                    _ => self.play.next(),
                };
                let text = next.expect("the script ran out of answers");
                let expert = r.expert_action.clone().unwrap_or_default();
                PolicyResponse::scripted(text.replace("{expert}", &expert))
            })
            .collect())
    }
}

fn plugin(name: &str) -> Plugin {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .unwrap();
    runtime
        .load(&lamer_tests::plugin_path(name), SandboxLimits::default())
        .unwrap()
}

/// One trial of `task` under the paper recipe of `env` (its env config and
/// validity rule, unless `validity` overrides it), `turns` turns per attempt.
fn play(
    factory: &dyn EnvFactory,
    recipe: &Recipe,
    validity: Option<ValidityRule>,
    task: Task,
    attempts: u32,
    turns: u32,
    script: Script,
) -> RolloutOutput {
    let config = RolloutConfig {
        attempts,
        group_size: 1,
        mode: TrialMode::Reflexion,
        env_config: recipe.env_config_json(),
        parsing: ParsingTable::default(),
        expert_hints: true,
        turn_cap: turns,
        validity: validity.unwrap_or(recipe.trial.validity),
        ..RolloutConfig::default()
    };
    let mut policy = script;
    run_rollout(
        factory,
        &mut policy,
        &[TaskGroup { id: 0, task }],
        &config,
        &mut NoObserver,
    )
    .unwrap()
}

/// Every row as the trainer sees it, with its episode score.
fn render(recipe: &Recipe, out: &RolloutOutput) -> String {
    let discounts = Discounts {
        gamma_step: recipe.trial.gamma_step,
        gamma_traj: recipe.trial.gamma_traj,
        variant: recipe.trial.return_variant,
    };
    let returns = rollout_returns(&out.rows, &discounts);
    let adv_rows = AdvantageRow::from_rows(&out.rows, &returns);
    let scores = episode_scores(
        &adv_rows,
        &AdvantageConfig {
            invalid_penalty: recipe.trial.invalid_penalty,
            step_weight: recipe.trial.step_advantage_weight,
        },
    );
    let mut text = String::new();
    for (i, row) in out.rows.iter().enumerate() {
        let what = match row.phase {
            Phase::Play => format!("play {}", row.turn + 1),
            Phase::Reflect => "reflect".to_string(),
        };
        text.push_str(&format!(
            "attempt {} {what}: response {:?}\n  parsed {:?}  reward {}  tagged {}  valid {}  \
             episode reward {:.1}  score {:.1}  return {:.4}\n",
            row.attempt + 1,
            row.response,
            row.parsed,
            row.reward,
            row.tagged,
            row.valid,
            returns.episode_rewards[i],
            scores[i],
            returns.step_returns[i],
        ));
    }
    text
}

fn recipe(env: &str) -> Recipe {
    Recipe::builtin(env).unwrap()
}

/// test/1: `right, right, left` pushes a box onto a target with its second
/// move. The official turn reward is the last move's (−0.1), not the sum
/// (+0.7); an untagged answer is a penalised no-op; the reflection is the
/// first `<remark>` span.
#[test]
fn sokoban_paper_recipe_worked_trial() {
    let env = plugin("sokoban");
    let recipe = recipe("sokoban");
    let script = || {
        Script::new(
            vec![
                "Push it. <action>right, right, left</action>",
                "I am not sure what to do.",
                "<action>up</action> or maybe <action>down</action>",
                "<action>jump</action>",
                "<action>right, right, left</action>",
                "<action>left, down, right</action>",
                "<action>right, left, left</action>",
            ],
            vec!["<remark>push right first</remark> no: <remark>go down</remark>"],
        )
    };
    let out = play(&env, &recipe, None, Task::new("test", 1), 2, 4, script());
    let rows = &out.rows;
    assert_eq!(rows[0].reward, -0.1, "the last move's reward, officially");
    assert!(!rows[1].tagged && !rows[1].valid);
    // First `<action>` to last `</action>` in Sokoban: "up</action> or
    // maybe <action>down" holds `up` first, which the plugin plays.
    assert_eq!(rows[2].parsed, "up</action> or maybe <action>down");
    assert!(
        rows[3].tagged && !rows[3].valid,
        "a tag without a direction"
    );
    assert_eq!(rows[4].parsed, "push right first");
    assert!(out.trials[0].attempts[1].won);
    insta::assert_snapshot!("sokoban_paper", render(&recipe, &out));

    // Our corrected reward, by name: the sum of the turn's moves.
    let mut corrected = recipe.clone();
    corrected
        .env
        .config
        .insert("faithful".into(), toml::Value::Boolean(false));
    let out = play(&env, &corrected, None, Task::new("test", 1), 2, 4, script());
    assert!(
        (out.rows[0].reward - 0.7).abs() < 1e-9,
        "{}",
        out.rows[0].reward
    );
}

/// MineSweeper: the first `</action>` closes the action; an unparsable
/// coordinate is invalid; the last `<remark>` span is the reflection.
#[test]
fn minesweeper_paper_recipe_worked_trial() {
    let env = plugin("minesweeper");
    let recipe = recipe("minesweeper");
    let out = play(
        &env,
        &recipe,
        None,
        Task::new("test", 0),
        2,
        3,
        Script::new(
            vec![
                "<action>{expert}</action> and then <action>(6, 6)</action>",
                "<action>the top left</action>",
                "no tags at all",
                "<action>{expert}</action>",
                "<action>(1, 1)</action>",
                "<action>(1,1)</action>",
            ],
            vec!["<remark>old</remark> <remark>click the corners</remark>"],
        ),
    );
    let rows = &out.rows;
    assert_eq!(rows[0].parsed, "(1, 1)");
    assert!(rows[1].tagged && !rows[1].valid);
    assert!(!rows[2].tagged && !rows[2].valid);
    let reflection = rows.iter().find(|r| r.phase == Phase::Reflect).unwrap();
    assert_eq!(reflection.parsed, "click the corners");
    insta::assert_snapshot!("minesweeper_paper", render(&recipe, &out));
}

/// WebShop: lower-cased, first span; a closing tag before the opening one
/// gives an empty (tagged) action, as the official slice does; untagged
/// answers send the last 20 characters.
#[test]
fn webshop_paper_recipe_worked_trial() {
    let env = plugin("webshop");
    let recipe = recipe("webshop");
    let out = play(
        &env,
        &recipe,
        None,
        Task::new("test", 0),
        1,
        4,
        Script::new(
            vec![
                "<action>SEARCH[Red Shirt]</action> <action>click[next >]</action>",
                "</action> oops <action>click[back to search]",
                "I would like to Click[Back To Search]",
                "<action>{expert}</action>",
            ],
            vec![],
        ),
    );
    let rows = &out.rows;
    assert_eq!(rows[0].parsed, "search[red shirt]");
    assert_eq!((rows[1].parsed.as_str(), rows[1].tagged), ("", true));
    assert_eq!(rows[2].parsed, "lick[back to search]");
    assert!(!rows[2].valid && rows[0].valid);
    insta::assert_snapshot!("webshop_paper", render(&recipe, &out));
}

/// ALFWorld: an inadmissible but tagged command yields "Nothing happens."
/// and no penalty under the paper recipe; `env-accepted` penalises it.
#[test]
fn alfworld_paper_recipe_worked_trial() {
    let env = plugin("alfworld");
    let recipe = recipe("alfworld");
    let script = || {
        Script::new(
            vec![
                "<action>Fly To The Moon</action>",
                "<action>{expert}</action>",
                "let me think about it",
            ],
            vec![],
        )
    };
    let out = play(&env, &recipe, None, Task::new("test", 0), 1, 3, script());
    let rows = &out.rows;
    assert_eq!(rows[0].parsed, "fly to the moon");
    assert!(out.trials[0].attempts[0].steps[0].observation == "Nothing happens.");
    assert!(rows[0].valid, "inadmissible is not invalid, officially");
    assert!(rows[1].valid && !rows[2].valid);
    insta::assert_snapshot!("alfworld_paper", render(&recipe, &out));

    let strict = play(
        &env,
        &recipe,
        Some(ValidityRule::EnvAccepted),
        Task::new("test", 0),
        1,
        3,
        script(),
    );
    assert!(!strict.rows[0].valid && strict.rows[1].valid);
}
