//! Conversions between the generated WIT bindings and the `lamer_sdk` mirror
//! types, so nothing outside the runtime sees wasmtime-generated types.

use lamer_sdk::{
    EnvError, EnvInfo, HistoryWindow, InfoPair, PromptPieces, ResetResult, SplitInfo, StepResult,
    Task,
};

use super::bindings::wit;

pub(crate) fn env_error(e: wit::EnvError) -> EnvError {
    match e {
        wit::EnvError::InvalidConfig(s) => EnvError::InvalidConfig(s),
        wit::EnvError::UnknownSplit(s) => EnvError::UnknownSplit(s),
        wit::EnvError::TaskOutOfRange(s) => EnvError::TaskOutOfRange(s),
        wit::EnvError::NotReset => EnvError::NotReset,
        wit::EnvError::EpisodeOver => EnvError::EpisodeOver,
        wit::EnvError::DataUnavailable(s) => EnvError::DataUnavailable(s),
        wit::EnvError::Internal(s) => EnvError::Internal(s),
    }
}

fn info_pairs(pairs: Vec<wit::InfoPair>) -> Vec<InfoPair> {
    pairs
        .into_iter()
        .map(|p| InfoPair {
            key: p.key,
            value: p.value,
        })
        .collect()
}

pub(crate) fn env_info(info: wit::EnvInfo) -> EnvInfo {
    EnvInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        default_max_turns: info.default_max_turns,
        splits: info
            .splits
            .into_iter()
            .map(|s| SplitInfo {
                name: s.name,
                description: s.description,
                task_count: s.task_count,
                procedural: s.procedural,
            })
            .collect(),
        default_config: info.default_config,
    }
}

pub(crate) fn task(task: &Task) -> wit::Task {
    wit::Task {
        split: task.split.clone(),
        index: task.index,
    }
}

pub(crate) fn reset_result(r: wit::ResetResult) -> ResetResult {
    ResetResult {
        observation: r.observation,
        info: info_pairs(r.info),
    }
}

pub(crate) fn step_result(r: wit::StepResult) -> StepResult {
    StepResult {
        observation: r.observation,
        reward: r.reward,
        terminated: r.terminated,
        truncated: r.truncated,
        won: r.won,
        action_valid: r.action_valid,
        action_echo: r.action_echo,
        info: info_pairs(r.info),
    }
}

pub(crate) fn prompt_pieces(p: wit::PromptPieces) -> PromptPieces {
    PromptPieces {
        role: p.role,
        rules: p.rules,
        initial_state_label: p.initial_state_label,
        action_instruction: p.action_instruction,
        reflect_instruction: p.reflect_instruction,
        list_admissible_actions: p.list_admissible_actions,
        history: HistoryWindow {
            play_turns: p.history.play_turns,
            play_full_observations: p.history.play_full_observations,
            reflect_turns: p.history.reflect_turns,
            reflect_full_observations: p.history.reflect_full_observations,
        },
    }
}
