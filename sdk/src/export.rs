//! The wit-bindgen wiring behind [`crate::export_env!`]. Authors never touch
//! this module: the macro implements the generated `Guest` traits for a local
//! type by delegating to the generic adapters here.

#[cfg(target_family = "wasm")]
pub use wasm::*;

#[cfg(target_family = "wasm")]
mod wasm {
    use std::cell::RefCell;

    pub mod bindings {
        wit_bindgen::generate!({
            world: "plugin",
            path: "../wit",
            pub_export_macro: true,
            export_macro_name: "__lamer_export_bindings",
            default_bindings_module: "lamer_sdk::export::bindings",
        });
    }

    use bindings::exports::lamer::env::environment as wit;

    use crate::{EnvError, Environment, Session};

    impl From<EnvError> for wit::EnvError {
        fn from(e: EnvError) -> Self {
            match e {
                EnvError::InvalidConfig(s) => wit::EnvError::InvalidConfig(s),
                EnvError::UnknownSplit(s) => wit::EnvError::UnknownSplit(s),
                EnvError::TaskOutOfRange(s) => wit::EnvError::TaskOutOfRange(s),
                EnvError::NotReset => wit::EnvError::NotReset,
                EnvError::EpisodeOver => wit::EnvError::EpisodeOver,
                EnvError::DataUnavailable(s) => wit::EnvError::DataUnavailable(s),
                EnvError::Internal(s) => wit::EnvError::Internal(s),
            }
        }
    }

    fn info_pairs(pairs: Vec<crate::InfoPair>) -> Vec<wit::InfoPair> {
        pairs
            .into_iter()
            .map(|p| wit::InfoPair {
                key: p.key,
                value: p.value,
            })
            .collect()
    }

    fn reset_result(r: crate::ResetResult) -> wit::ResetResult {
        wit::ResetResult {
            observation: r.observation,
            info: info_pairs(r.info),
        }
    }

    /// `info` for the macro-generated `Guest` impl.
    pub fn info<E: Environment>() -> wit::EnvInfo {
        let info = crate::full_info::<E>();
        wit::EnvInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            default_max_turns: info.default_max_turns,
            splits: info
                .splits
                .into_iter()
                .map(|s| wit::SplitInfo {
                    name: s.name,
                    description: s.description,
                    task_count: s.task_count,
                    procedural: s.procedural,
                })
                .collect(),
            default_config: info.default_config,
        }
    }

    /// The exported `session` resource for environment `E`.
    pub struct GuestSession<E: Environment>(RefCell<Session<E>>);

    impl<E: Environment> wit::GuestSession for GuestSession<E> {
        fn open(config: String) -> Result<wit::Session, wit::EnvError> {
            let session = Session::<E>::open(&config)?;
            Ok(wit::Session::new(GuestSession(RefCell::new(session))))
        }

        fn reset(&self, task: wit::Task) -> Result<wit::ResetResult, wit::EnvError> {
            let task = crate::Task::new(task.split, task.index);
            Ok(reset_result(self.0.borrow_mut().reset(&task)?))
        }

        fn restart(&self) -> Result<wit::ResetResult, wit::EnvError> {
            Ok(reset_result(self.0.borrow_mut().restart()?))
        }

        fn step(&self, action: String) -> Result<wit::StepResult, wit::EnvError> {
            let r = self.0.borrow_mut().step(&action)?;
            Ok(wit::StepResult {
                observation: r.observation,
                reward: r.reward,
                terminated: r.terminated,
                truncated: r.truncated,
                won: r.won,
                action_valid: r.action_valid,
                action_echo: r.action_echo,
                info: info_pairs(r.info),
            })
        }

        fn admissible_actions(&self) -> Result<Vec<String>, wit::EnvError> {
            Ok(self.0.borrow().admissible_actions()?)
        }

        fn expert_action(&self) -> Result<Option<String>, wit::EnvError> {
            Ok(self.0.borrow().expert_action()?)
        }

        fn prompt(&self) -> Result<wit::PromptPieces, wit::EnvError> {
            let p = self.0.borrow().prompt();
            Ok(wit::PromptPieces {
                role: p.role,
                rules: p.rules,
                initial_state_label: p.initial_state_label,
                action_instruction: p.action_instruction,
                reflect_instruction: p.reflect_instruction,
                list_admissible_actions: p.list_admissible_actions,
                history: wit::HistoryWindow {
                    play_turns: p.history.play_turns,
                    play_full_observations: p.history.play_full_observations,
                    reflect_turns: p.history.reflect_turns,
                    reflect_full_observations: p.history.reflect_full_observations,
                },
            })
        }
    }
}

/// Exports an [`crate::Environment`] implementation as the plugin's
/// `lamer:env/environment` interface. Call it once, at the crate root of a
/// `cdylib` crate built for `wasm32-wasip2`. On native targets it expands to
/// nothing, so the same crate also builds as an ordinary library for tests.
#[macro_export]
macro_rules! export_env {
    ($env:ty) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct LamerPlugin;

            impl $crate::export::bindings::exports::lamer::env::environment::Guest for LamerPlugin {
                type Session = $crate::export::GuestSession<$env>;

                fn info() -> $crate::export::bindings::exports::lamer::env::environment::EnvInfo {
                    $crate::export::info::<$env>()
                }

                fn brief_observation(observation: String) -> String {
                    <$env as $crate::Environment>::brief_observation(&observation)
                }
            }

            $crate::export::bindings::__lamer_export_bindings!(LamerPlugin with_types_in $crate::export::bindings);
        };
    };
}
