//! # Environment checker
//!
//! In the spirit of Gymnasium's `check_env`: a battery of black-box checks that
//! any environment must pass before an agent is trained on it. Each check
//! drives fresh sessions through the [`EnvFactory`] interface, so the same
//! checker runs on a sandboxed plugin or a native environment:
//!
//! - the contract: info is sane, bad configs and bad tasks are error values;
//! - determinism: reset, restart and fixed action lists give identical results;
//! - robustness: garbage and oversized actions are invalid actions, never
//!   traps or errors;
//! - episode semantics: every episode ends within the turn limit, terminated
//!   and truncated never both hold, a win terminates, stepping after the end is
//!   an `episode-over` error;
//! - the oracle: where `expert-action` exists, it wins on sampled tasks.
//!
//! No episode the checker plays runs past [`CheckOptions::max_episode_turns`],
//! so a plugin that never ends one fails a check instead of running the
//! checker out of memory (a sandboxed plugin hits the same cap in the
//! sandbox, as a typed error).

use lamer_plugin::{EnvFactory, EnvSession, SessionError};
use lamer_sdk::{EnvError, SeededRng, StepResult, Task, mix_seed};

/// How thoroughly to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The session config every check uses.
    pub config_json: String,
    /// Tasks sampled per split for the determinism and episode checks.
    pub tasks_per_split: u64,
    /// Tasks the expert plays.
    pub expert_tasks: u64,
    /// The expert's win rate needed to pass (games with hidden information,
    /// such as MineSweeper, cannot always be won).
    pub expert_min_win_rate: f64,
    /// Seed of the sampled tasks and actions.
    pub seed: u64,
    /// The most turns any episode played by the checker may take.
    pub max_episode_turns: u32,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            config_json: "{}".into(),
            tasks_per_split: 5,
            expert_tasks: 20,
            expert_min_win_rate: 0.5,
            seed: 0,
            max_episode_turns: lamer_plugin::DEFAULT_MAX_EPISODE_TURNS,
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckOutcome {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// All outcomes of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    pub env: String,
    pub outcomes: Vec<CheckOutcome>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.passed)
    }
}

type CheckResult = Result<String, String>;

/// One check: drives the environment and explains its verdict.
type Check = fn(&dyn EnvFactory, &CheckOptions) -> CheckResult;

fn err_text(e: SessionError) -> String {
    e.to_string()
}

/// Runs every check and collects the outcomes; a failing check never stops
/// the others.
pub fn run_checks(env: &dyn EnvFactory, options: &CheckOptions) -> CheckReport {
    let checks: [(&'static str, Check); 10] = [
        ("info is well-formed", check_info),
        ("bad configs are errors", check_bad_configs),
        ("bad tasks are errors", check_bad_tasks),
        ("reset is deterministic", check_reset_determinism),
        ("restart equals the initial state", check_restart),
        ("steps are deterministic", check_step_determinism),
        ("garbage actions are handled", check_garbage_actions),
        ("episodes end correctly", check_episode_semantics),
        ("expert wins", check_expert),
        (
            "prompt pieces and brief observations answer",
            check_prompt_exports,
        ),
    ];
    let outcomes = checks
        .iter()
        .map(|(name, check)| {
            let result = check(env, options);
            CheckOutcome {
                name,
                passed: result.is_ok(),
                detail: result.unwrap_or_else(|e| e),
            }
        })
        .collect();
    CheckReport {
        env: env.info().name.clone(),
        outcomes,
    }
}

fn open(env: &dyn EnvFactory, options: &CheckOptions) -> Result<Box<dyn EnvSession>, String> {
    env.open(&options.config_json)
        .map_err(|e| format!("opening a session with the config failed: {e}"))
}

/// Sampled tasks: the first index and a few seeded ones from every split.
fn sample_tasks(env: &dyn EnvFactory, options: &CheckOptions) -> Vec<Task> {
    let mut rng = SeededRng::new(options.seed);
    let mut tasks = Vec::new();
    for split in &env.info().splits {
        if split.task_count == 0 {
            continue;
        }
        tasks.push(Task::new(&split.name, 0));
        for _ in 1..options.tasks_per_split {
            tasks.push(Task::new(&split.name, rng.below(split.task_count)));
        }
    }
    tasks
}

fn check_info(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let info = env.info();
    let mut problems = Vec::new();
    if info.name.trim().is_empty() {
        problems.push("the name is empty".to_string());
    }
    if info.splits.is_empty() {
        problems.push("there are no splits".to_string());
    }
    if info.default_max_turns == 0 {
        problems.push("the default turn limit is 0".to_string());
    }
    if info.default_max_turns > options.max_episode_turns {
        problems.push(format!(
            "the default turn limit of {} is above the host's cap of {} turns per episode \
             (raise it with --max-episode-turns)",
            info.default_max_turns, options.max_episode_turns
        ));
    }
    match serde_json::from_str::<serde_json::Value>(&info.default_config) {
        Ok(serde_json::Value::Object(_)) => {}
        _ => problems.push("the default config is not a JSON object".to_string()),
    }
    for split in &info.splits {
        if split.task_count == 0 {
            problems.push(format!("split `{}` has no tasks", split.name));
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "{} {} with splits {}",
            info.name,
            info.version,
            info.splits
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        Err(problems.join("; "))
    }
}

fn check_bad_configs(env: &dyn EnvFactory, _: &CheckOptions) -> CheckResult {
    for bad in ["not json", "[1, 2]", r#"{"no_such_key_lamer_check": 1}"#] {
        match env.open(bad) {
            Err(SessionError::Env(EnvError::InvalidConfig(_))) => {}
            Err(other) => {
                return Err(format!(
                    "config {bad:?} gave {other} instead of invalid-config"
                ));
            }
            Ok(_) => return Err(format!("config {bad:?} was accepted")),
        }
    }
    Ok("malformed JSON, a non-object and an unknown key are rejected".into())
}

fn check_bad_tasks(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let mut session = open(env, options)?;
    match session.step("anything") {
        Err(SessionError::Env(EnvError::NotReset)) => {}
        other => {
            return Err(format!(
                "step before reset gave {other:?}, expected not-reset"
            ));
        }
    }
    match session.reset(&Task::new("no-such-split-lamer-check", 0)) {
        Err(SessionError::Env(EnvError::UnknownSplit(_))) => {}
        other => return Err(format!("an unknown split gave {other:?}")),
    }
    for split in &env.info().splits {
        match session.reset(&Task::new(&split.name, split.task_count)) {
            Err(SessionError::Env(EnvError::TaskOutOfRange(_))) => {}
            other => {
                return Err(format!(
                    "index {} of split `{}` gave {other:?}, expected task-out-of-range",
                    split.task_count, split.name
                ));
            }
        }
    }
    Ok("step before reset, unknown split and out-of-range index are rejected".into())
}

fn check_reset_determinism(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let tasks = sample_tasks(env, options);
    let mut a = open(env, options)?;
    let mut b = open(env, options)?;
    for task in &tasks {
        let first = a.reset(task).map_err(err_text)?;
        let again = a.reset(task).map_err(err_text)?;
        let fresh = b.reset(task).map_err(err_text)?;
        if first != again || first != fresh {
            return Err(format!("task {task} gave different initial states"));
        }
    }
    Ok(format!(
        "{} tasks reset identically in two sessions",
        tasks.len()
    ))
}

/// Plays seeded random admissible actions (or short text when the env lists
/// none) until the episode ends or `limit` steps; returns actions and results.
fn random_walk(
    session: &mut dyn EnvSession,
    seed: u64,
    limit: usize,
) -> Result<Vec<(String, StepResult)>, String> {
    let mut rng = SeededRng::new(seed);
    let mut walk = Vec::new();
    for _ in 0..limit {
        let actions = session.admissible_actions().map_err(err_text)?;
        let action = rng
            .choose(&actions)
            .cloned()
            .unwrap_or_else(|| format!("{}", rng.below(10)));
        let result = session.step(&action).map_err(err_text)?;
        let done = result.done();
        walk.push((action, result));
        if done {
            break;
        }
    }
    Ok(walk)
}

fn check_restart(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let tasks = sample_tasks(env, options);
    let mut session = open(env, options)?;
    for (i, task) in tasks.iter().enumerate() {
        let initial = session.reset(task).map_err(err_text)?;
        let seed = mix_seed(options.seed, i as u64);
        let first = random_walk(session.as_mut(), seed, 3)?;
        let restarted = session.restart().map_err(err_text)?;
        if restarted != initial {
            return Err(format!(
                "task {task}: restart returned a different observation"
            ));
        }
        // Replaying the same actions after restart must give the same results.
        for (action, expected) in &first {
            let again = session.step(action).map_err(err_text)?;
            if &again != expected {
                return Err(format!(
                    "task {task}: after restart, action {action:?} gave a different result"
                ));
            }
        }
    }
    Ok(format!(
        "{} tasks restart to the identical state",
        tasks.len()
    ))
}

fn check_step_determinism(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let tasks = sample_tasks(env, options);
    let max_turns = env.info().default_max_turns as usize;
    let mut steps = 0;
    for (i, task) in tasks.iter().enumerate() {
        let seed = mix_seed(options.seed ^ 0x5eed, i as u64);
        let mut a = open(env, options)?;
        let mut b = open(env, options)?;
        a.reset(task).map_err(err_text)?;
        b.reset(task).map_err(err_text)?;
        let walk_a = random_walk(a.as_mut(), seed, max_turns)?;
        let walk_b = random_walk(b.as_mut(), seed, max_turns)?;
        if walk_a != walk_b {
            return Err(format!(
                "task {task}: the same actions gave different results"
            ));
        }
        steps += walk_a.len();
    }
    Ok(format!("{steps} steps replayed identically"))
}

fn check_garbage_actions(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let task = sample_tasks(env, options)
        .into_iter()
        .next()
        .ok_or("the environment has no tasks")?;
    let mut rng = SeededRng::new(options.seed ^ 0x6a7b);
    let random_text: String = (0..200)
        .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
        .collect();
    let garbage = [
        String::new(),
        " ".into(),
        "\0\0\0".into(),
        "<action></action>".into(),
        "}{][)(\"'\\".into(),
        "üñíçødé √ ✓ 🤖".into(),
        random_text,
        "x".repeat(1 << 20),
    ];
    for action in &garbage {
        let mut session = open(env, options)?;
        session.reset(&task).map_err(err_text)?;
        match session.step(action) {
            Ok(result) if result.reward.is_finite() => {}
            Ok(_) => return Err("a garbage action gave a non-finite reward".into()),
            Err(e) => {
                let shown: String = action.chars().take(20).collect();
                return Err(format!(
                    "action {shown:?}… ({} bytes) failed: {e}",
                    action.len()
                ));
            }
        }
    }
    Ok(format!(
        "{} garbage actions, up to 1 MiB, are handled as actions",
        garbage.len()
    ))
}

fn check_episode_semantics(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let tasks = sample_tasks(env, options);
    let mut session = open(env, options)?;
    let limit = options.max_episode_turns as usize;
    let mut episodes = 0;
    for (i, task) in tasks.iter().enumerate() {
        session.reset(task).map_err(err_text)?;
        let walk = random_walk(
            session.as_mut(),
            mix_seed(options.seed, 7 + i as u64),
            limit,
        )?;
        let Some((_, last)) = walk.last() else {
            return Err(format!("task {task}: no step was taken"));
        };
        if !last.done() {
            return Err(format!(
                "task {task}: the episode did not end within {limit} steps (--max-episode-turns)"
            ));
        }
        for (turn, (_, step)) in walk.iter().enumerate() {
            if step.terminated && step.truncated {
                return Err(format!(
                    "task {task}, turn {}: terminated and truncated",
                    turn + 1
                ));
            }
            if step.won && !step.done() {
                return Err(format!(
                    "task {task}, turn {}: won but the episode went on",
                    turn + 1
                ));
            }
            if !step.reward.is_finite() {
                return Err(format!("task {task}, turn {}: non-finite reward", turn + 1));
            }
            if step.done() && turn + 1 != walk.len() {
                return Err(format!("task {task}: the episode went on after it ended"));
            }
        }
        match session.step("anything") {
            Err(SessionError::Env(EnvError::EpisodeOver)) => {}
            other => return Err(format!("task {task}: step after the end gave {other:?}")),
        }
        if !session.admissible_actions().map_err(err_text)?.is_empty() {
            return Err(format!(
                "task {task}: actions are still admissible after the end"
            ));
        }
        episodes += 1;
    }
    Ok(format!("{episodes} random episodes ended correctly"))
}

/// The exports only prompts use: a plugin that hangs or traps in them must
/// fail here, not later in the middle of an `eval`.
fn check_prompt_exports(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let task = sample_tasks(env, options)
        .into_iter()
        .next()
        .ok_or("the environment has no tasks")?;
    let mut session = open(env, options)?;
    let pieces = session
        .prompt()
        .map_err(|e| format!("prompt failed: {e}"))?;
    if pieces.action_instruction.trim().is_empty() {
        return Err("the prompt pieces have no action instruction".into());
    }
    let reset = session.reset(&task).map_err(err_text)?;
    let brief = env
        .brief_observation(&reset.observation)
        .map_err(|e| format!("brief-observation failed: {e}"))?;
    Ok(format!(
        "prompt pieces of {} chars; a {}-char observation briefs to {} chars",
        pieces.role.len() + pieces.rules.len() + pieces.action_instruction.len(),
        reset.observation.len(),
        brief.len()
    ))
}

fn check_expert(env: &dyn EnvFactory, options: &CheckOptions) -> CheckResult {
    let info = env.info();
    let Some(split) = info
        .splits
        .iter()
        .find(|s| s.name == "test")
        .or(info.splits.first())
    else {
        return Err("the environment has no splits".into());
    };
    let mut session = open(env, options)?;
    let mut rng = SeededRng::new(options.seed ^ 0xe8e8);
    let (mut played, mut won) = (0u64, 0u64);
    for i in 0..options.expert_tasks.min(split.task_count) {
        let index = if i == 0 {
            0
        } else {
            rng.below(split.task_count)
        };
        session
            .reset(&Task::new(&split.name, index))
            .map_err(err_text)?;
        let Some(mut action) = session.expert_action().map_err(err_text)? else {
            if played == 0 {
                return Ok("no expert (expert-action returns none)".into());
            }
            return Err(format!(
                "task {}/{index}: the expert gave no first action",
                split.name
            ));
        };
        played += 1;
        let mut turns = 0;
        loop {
            let step = session.step(&action).map_err(err_text)?;
            turns += 1;
            if step.done() {
                won += u64::from(step.won);
                break;
            }
            if turns >= options.max_episode_turns {
                return Err(format!(
                    "task {}/{index}: the expert's episode did not end within {} turns \
                     (--max-episode-turns)",
                    split.name, options.max_episode_turns
                ));
            }
            match session.expert_action().map_err(err_text)? {
                Some(next) => action = next,
                None => break,
            }
        }
    }
    let rate = won as f64 / played.max(1) as f64;
    let detail = format!(
        "won {won} of {played} `{}` tasks ({:.0}%)",
        split.name,
        rate * 100.0
    );
    if rate >= options.expert_min_win_rate {
        Ok(detail)
    } else {
        Err(format!(
            "{detail}, below the required {:.0}%",
            options.expert_min_win_rate * 100.0
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keydoor::KeyDoor;
    use lamer_plugin::NativeEnv;

    #[test]
    fn keydoor_passes_every_check() {
        let report = run_checks(&NativeEnv::<KeyDoor>::new(), &CheckOptions::default());
        for o in &report.outcomes {
            assert!(o.passed, "{}: {}", o.name, o.detail);
        }
    }

    /// An environment whose reset is not deterministic must fail the checker.
    #[derive(Clone)]
    struct Flaky(u64);

    impl lamer_sdk::Environment for Flaky {
        type Config = std::collections::BTreeMap<String, u32>;
        fn info() -> lamer_sdk::EnvInfo {
            lamer_sdk::EnvInfo::new("flaky", "0.0.0", "broken on purpose", 2)
                .with_split(lamer_sdk::SplitInfo::procedural("train", "", 10))
        }
        fn open(_: Self::Config) -> Result<Self, EnvError> {
            Ok(Flaky(0))
        }
        fn max_turns(&self) -> u32 {
            2
        }
        fn reset(&mut self, _: &Task) -> Result<lamer_sdk::ResetResult, EnvError> {
            self.0 += 1;
            Ok(lamer_sdk::ResetResult::new(format!(
                "reset number {}",
                self.0
            )))
        }
        fn step(&mut self, _: &str) -> Result<lamer_sdk::Step, EnvError> {
            Ok(lamer_sdk::Step::new("ok").won(true))
        }
        fn admissible_actions(&self) -> Vec<String> {
            vec!["a".into()]
        }
        fn prompt(&self) -> lamer_sdk::PromptPieces {
            lamer_sdk::PromptPieces::new("", "")
        }
    }

    #[test]
    fn a_broken_env_fails_the_right_checks() {
        let report = run_checks(&NativeEnv::<Flaky>::new(), &CheckOptions::default());
        let failed: Vec<&str> = report
            .outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| o.name)
            .collect();
        assert!(failed.contains(&"reset is deterministic"), "{failed:?}");
        assert!(failed.contains(&"episodes end correctly"), "{failed:?}");
        assert!(!report.passed());
    }

    /// Never ends an episode, and always has an expert move.
    #[derive(Clone)]
    struct Endless;

    impl lamer_sdk::Environment for Endless {
        type Config = std::collections::BTreeMap<String, u32>;
        fn info() -> lamer_sdk::EnvInfo {
            lamer_sdk::EnvInfo::new("endless", "0.0.0", "never ends", 2)
                .with_split(lamer_sdk::SplitInfo::procedural("test", "", 10))
        }
        fn open(_: Self::Config) -> Result<Self, EnvError> {
            Ok(Endless)
        }
        fn max_turns(&self) -> u32 {
            u32::MAX
        }
        fn reset(&mut self, _: &Task) -> Result<lamer_sdk::ResetResult, EnvError> {
            Ok(lamer_sdk::ResetResult::new("start"))
        }
        fn step(&mut self, _: &str) -> Result<lamer_sdk::Step, EnvError> {
            Ok(lamer_sdk::Step::new("again"))
        }
        fn admissible_actions(&self) -> Vec<String> {
            vec!["a".into()]
        }
        fn expert_action(&self) -> Option<String> {
            Some("a".into())
        }
        fn prompt(&self) -> lamer_sdk::PromptPieces {
            lamer_sdk::PromptPieces::new("", "")
        }
    }

    fn detail<'a>(report: &'a CheckReport, name: &str) -> &'a CheckOutcome {
        report
            .outcomes
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
    }

    #[test]
    fn episodes_that_never_end_fail_at_the_turn_cap() {
        let options = CheckOptions {
            max_episode_turns: 50,
            expert_tasks: 1,
            ..CheckOptions::default()
        };
        let report = run_checks(&NativeEnv::<Endless>::new(), &options);
        let episodes = detail(&report, "episodes end correctly");
        assert!(!episodes.passed);
        assert!(
            episodes.detail.contains("within 50 steps"),
            "{}",
            episodes.detail
        );
        let expert = detail(&report, "expert wins");
        assert!(!expert.passed);
        assert!(
            expert.detail.contains("within 50 turns"),
            "{}",
            expert.detail
        );
    }

    #[test]
    fn a_turn_limit_above_the_host_cap_fails_the_info_check() {
        let options = CheckOptions {
            max_episode_turns: 1,
            ..CheckOptions::default()
        };
        let report = run_checks(&NativeEnv::<KeyDoor>::new(), &options);
        let info = detail(&report, "info is well-formed");
        assert!(!info.passed);
        assert!(info.detail.contains("cap of 1 turns"), "{}", info.detail);
    }

    fn hostile(limits: lamer_plugin::SandboxLimits) -> lamer_plugin::Plugin {
        let runtime = lamer_plugin::Runtime::new(lamer_plugin::RuntimeConfig {
            cache_dir: None,
            instance_slots: None,
            ..lamer_plugin::RuntimeConfig::default()
        })
        .unwrap();
        runtime
            .load(&lamer_tests::plugin_path("hostile"), limits)
            .unwrap()
    }

    #[test]
    fn a_plugin_reading_clock_and_random_passes_only_without_grants() {
        let options = CheckOptions {
            config_json: r#"{"attack": "clock-and-random"}"#.into(),
            tasks_per_split: 3,
            expert_tasks: 1,
            ..CheckOptions::default()
        };
        let report = run_checks(&hostile(Default::default()), &options);
        for o in &report.outcomes {
            assert!(o.passed, "{}: {}", o.name, o.detail);
        }
        // The same plugin on the host's clock and randomness is not
        // reproducible, and the checker says so.
        let granted = lamer_plugin::SandboxLimits {
            real_clock: true,
            os_random: true,
            ..Default::default()
        };
        let report = run_checks(&hostile(granted), &options);
        assert!(!detail(&report, "reset is deterministic").passed);
        assert!(!detail(&report, "steps are deterministic").passed);
    }

    #[test]
    fn a_sandboxed_plugin_that_never_ends_meets_the_sandbox_cap() {
        let limits = lamer_plugin::SandboxLimits {
            max_episode_turns: 40,
            ..Default::default()
        };
        let options = CheckOptions {
            config_json: r#"{"attack": "none", "max_turns": 4294967295}"#.into(),
            tasks_per_split: 1,
            expert_tasks: 1,
            ..CheckOptions::default()
        };
        let report = run_checks(&hostile(limits), &options);
        let episodes = detail(&report, "episodes end correctly");
        assert!(!episodes.passed);
        assert!(
            episodes.detail.contains("cap of 40 turns"),
            "{}",
            episodes.detail
        );
    }
}
