//! Policies without a model, for tests, baselines and smoke runs. They answer
//! in the same tag format an LLM must use, so they exercise the parser too.

use lamer_sdk::SeededRng;

use crate::{Policy, PolicyError, PolicyRequest, PolicyResponse, RequestKind, SamplingParams};

const SCRIPTED_REFLECTION: &str = "<remark>The last attempt failed. Next time I will avoid \
     repeating the actions that did not work and try the remaining options.</remark>";

fn check_prompt(index: usize, request: &PolicyRequest) -> Result<(), PolicyError> {
    if request.messages.iter().all(|m| m.content.trim().is_empty()) {
        return Err(PolicyError::EmptyPrompt { index });
    }
    Ok(())
}

/// Picks a uniformly random admissible action (seeded by each request).
#[derive(Debug, Default, Clone)]
pub struct RandomPolicy;

impl Policy for RandomPolicy {
    fn name(&self) -> String {
        "random".into()
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        _sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                check_prompt(i, r)?;
                Ok(PolicyResponse::scripted(match r.kind {
                    RequestKind::Reflect => SCRIPTED_REFLECTION.to_string(),
                    RequestKind::Act => {
                        let mut rng = SeededRng::new(r.seed);
                        let action = rng
                            .choose(&r.admissible_actions)
                            .cloned()
                            .unwrap_or_default();
                        format!("<action>{action}</action>")
                    }
                }))
            })
            .collect()
    }
}

/// Plays the environment's expert action; falls back to the first admissible
/// action where the environment has no expert.
#[derive(Debug, Default, Clone)]
pub struct ExpertPolicy;

impl Policy for ExpertPolicy {
    fn name(&self) -> String {
        "expert".into()
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        _sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                check_prompt(i, r)?;
                Ok(PolicyResponse::scripted(match r.kind {
                    RequestKind::Reflect => SCRIPTED_REFLECTION.to_string(),
                    RequestKind::Act => {
                        let action = r
                            .expert_action
                            .clone()
                            .or_else(|| r.admissible_actions.first().cloned())
                            .unwrap_or_default();
                        format!("<action>{action}</action>")
                    }
                }))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatMessage;

    fn request(kind: RequestKind, seed: u64) -> PolicyRequest {
        PolicyRequest {
            messages: vec![ChatMessage::user("play")],
            kind,
            seed,
            admissible_actions: vec!["up".into(), "down".into(), "left".into()],
            expert_action: Some("left".into()),
        }
    }

    #[test]
    fn random_is_seeded_per_request() {
        let sampling = SamplingParams::greedy(8);
        let a = RandomPolicy
            .generate(
                &[request(RequestKind::Act, 1), request(RequestKind::Act, 2)],
                &sampling,
            )
            .unwrap();
        let b = RandomPolicy
            .generate(&[request(RequestKind::Act, 2)], &sampling)
            .unwrap();
        assert_eq!(a[1], b[0], "a response must not depend on its batch");
        assert!(a[0].text.starts_with("<action>") && a[0].text.ends_with("</action>"));
    }

    #[test]
    fn expert_plays_the_oracle_and_reflects_in_tags() {
        let sampling = SamplingParams::greedy(8);
        let out = ExpertPolicy
            .generate(
                &[
                    request(RequestKind::Act, 0),
                    request(RequestKind::Reflect, 0),
                ],
                &sampling,
            )
            .unwrap();
        assert_eq!(out[0].text, "<action>left</action>");
        assert!(out[1].text.starts_with("<remark>") && out[1].text.ends_with("</remark>"));
    }

    #[test]
    fn empty_prompts_are_rejected() {
        let mut r = request(RequestKind::Act, 0);
        r.messages = vec![ChatMessage::user("  ")];
        assert!(matches!(
            ExpertPolicy.generate(&[r], &SamplingParams::greedy(8)),
            Err(PolicyError::EmptyPrompt { index: 0 })
        ));
    }
}
