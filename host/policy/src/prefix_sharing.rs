//! How much prefill a generation batch could share between its prompts.
//!
//! A rollout's batch-mates repeat each other: the G trials of a task see the
//! identical prompt at their first turn, and every prompt of an environment
//! starts with the same rules and format text. Prefill cost depends on how
//! much of that repetition is computed once. For one batch of prompts (token
//! ids) this counts the prompt tokens a prefill computes under three schemes:
//!
//! - **none**: every row prefills its whole prompt;
//! - **exact duplicates** (what [`crate::generation::generate`] does): each
//!   distinct prompt once, fanned out to its rows — also as the implementation
//!   computes it, every distinct prompt left-padded to the longest;
//! - **batch prefix**: the longest prefix common to the whole batch once,
//!   then each distinct prompt's rest — the simplest sharing to build (one
//!   prefill of the prefix, its KV copied to every row);
//! - **prefix tree**: every distinct token prefix once, i.e. the number of
//!   nodes of a trie holding all the prompts, as a KV cache shared along
//!   common prefixes would compute.
//!
//! Counting the trie needs no trie: with the prompts sorted, each prompt adds
//! the nodes past its longest common prefix with its predecessor (the
//! predecessor in sorted order shares the longest prefix of all earlier ones).
//!
//! [`SharingMeter`] wraps a [`Policy`] and adds these counts up over every
//! batch it answers, from the prompt ids the responses carry.

use crate::PolicyError;
use crate::types::{Policy, PolicyRequest, PolicyResponse, SamplingParams};

/// Prompt tokens prefilled by a batch (or a sum of batches) under each
/// sharing scheme; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PrefillSharing {
    /// Generation batches counted.
    pub batches: u64,
    /// Prompts (rows) counted.
    pub rows: u64,
    /// No sharing: the sum of the prompts' lengths.
    pub prompt_tokens: u64,
    /// Identical prompts once: the sum of the distinct prompts' lengths.
    pub dedup_tokens: u64,
    /// As the dedupe computes it: distinct prompts × the longest prompt.
    pub dedup_padded_tokens: u64,
    /// The batch's common prefix once, plus each distinct prompt's rest.
    pub batch_prefix_tokens: u64,
    /// Every distinct prefix once: the trie's node count.
    pub prefix_tree_tokens: u64,
}

impl PrefillSharing {
    /// The counts of one batch of prompts.
    pub fn of_batch(prompts: &[&[u32]]) -> Self {
        let mut sorted: Vec<&[u32]> = prompts.to_vec();
        sorted.sort_unstable();
        let width = prompts.iter().map(|p| p.len()).max().unwrap_or(0) as u64;
        let mut out = PrefillSharing {
            batches: 1,
            rows: prompts.len() as u64,
            prompt_tokens: prompts.iter().map(|p| p.len() as u64).sum(),
            ..Default::default()
        };
        // Sorted, the first and last prompts share the least: their common
        // prefix is the whole batch's.
        let common = match (sorted.first(), sorted.last()) {
            (Some(first), Some(last)) => common_prefix(first, last),
            _ => 0,
        };
        if !sorted.is_empty() {
            out.batch_prefix_tokens = common as u64;
        }
        let mut previous: Option<&[u32]> = None;
        for prompt in sorted {
            let shared = previous.map_or(0, |p| common_prefix(p, prompt));
            out.prefix_tree_tokens += (prompt.len() - shared) as u64;
            if previous != Some(prompt) {
                out.dedup_tokens += prompt.len() as u64;
                out.dedup_padded_tokens += width;
                out.batch_prefix_tokens += (prompt.len() - common) as u64;
            }
            previous = Some(prompt);
        }
        out
    }

    /// Adds the batch of `responses`, from the prompt ids they carry (a
    /// backend that does not tokenise carries none: not counted).
    pub fn add_answered(&mut self, responses: &[PolicyResponse]) {
        let prompts: Vec<&[u32]> = responses
            .iter()
            .filter(|r| !r.prompt_ids.is_empty())
            .map(|r| r.prompt_ids.as_slice())
            .collect();
        if !prompts.is_empty() {
            self.add(&PrefillSharing::of_batch(&prompts));
        }
    }

    /// Adds another batch's (or sum's) counts.
    pub fn add(&mut self, other: &PrefillSharing) {
        self.batches += other.batches;
        self.rows += other.rows;
        self.prompt_tokens += other.prompt_tokens;
        self.dedup_tokens += other.dedup_tokens;
        self.dedup_padded_tokens += other.dedup_padded_tokens;
        self.batch_prefix_tokens += other.batch_prefix_tokens;
        self.prefix_tree_tokens += other.prefix_tree_tokens;
    }
}

/// The length of the longest common prefix of `a` and `b`.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A [`Policy`] that passes every batch to `inner` and counts what its
/// prompts could share ([`PrefillSharing`]). Only answered requests count:
/// a failed batch is not counted.
pub struct SharingMeter<'a> {
    inner: &'a mut dyn Policy,
    /// The counts so far.
    pub sharing: PrefillSharing,
}

impl<'a> SharingMeter<'a> {
    pub fn new(inner: &'a mut dyn Policy) -> Self {
        SharingMeter {
            inner,
            sharing: PrefillSharing::default(),
        }
    }
}

impl Policy for SharingMeter<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn usage(&self) -> Option<crate::types::PolicyUsage> {
        self.inner.usage()
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        let responses = self.inner.generate(requests, sampling)?;
        self.sharing.add_answered(&responses);
        Ok(responses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (none, dedupe, dedupe padded, batch prefix, prefix tree).
    fn count(prompts: &[&[u32]]) -> (u64, u64, u64, u64, u64) {
        let s = PrefillSharing::of_batch(prompts);
        (
            s.prompt_tokens,
            s.dedup_tokens,
            s.dedup_padded_tokens,
            s.batch_prefix_tokens,
            s.prefix_tree_tokens,
        )
    }

    #[test]
    fn identical_prompts_share_everything() {
        let p: &[u32] = &[1, 2, 3, 4];
        assert_eq!(count(&[p, p, p]), (12, 4, 4, 4, 4));
    }

    #[test]
    fn distinct_prompts_share_only_their_common_prefixes() {
        // Trie: 1-2-3, 1-2-4-5, 1-2-4-6, 7: nodes 1,2,3,4,5,6,7 = 7.
        let prompts: [&[u32]; 4] = [&[1, 2, 3], &[1, 2, 4, 5], &[7], &[1, 2, 4, 6]];
        assert_eq!(count(&prompts), (12, 12, 16, 12, 7));
    }

    #[test]
    fn a_prompt_that_prefixes_another_costs_nothing_more() {
        let prompts: [&[u32]; 3] = [&[5, 6, 7, 8], &[5, 6], &[5, 6, 7, 8]];
        // Distinct: [5,6,7,8] and [5,6]; the trie is the one chain of 4.
        assert_eq!(count(&prompts), (10, 6, 8, 4, 4));
    }

    #[test]
    fn no_common_prefix_means_no_saving() {
        let prompts: [&[u32]; 2] = [&[1, 2], &[2, 1]];
        assert_eq!(count(&prompts), (4, 4, 4, 4, 4));
        assert_eq!(count(&[]), (0, 0, 0, 0, 0));
    }

    #[test]
    fn a_shared_rules_prefix_counts_once_in_the_batch_prefix_and_the_tree() {
        // Common prefix 9,9,9; the tree also shares the 2 of the last two.
        let prompts: [&[u32]; 3] = [&[9, 9, 9, 1], &[9, 9, 9, 2, 3], &[9, 9, 9, 2, 4]];
        assert_eq!(count(&prompts), (14, 14, 15, 3 + 1 + 2 + 2, 3 + 1 + 3));
    }

    #[test]
    fn sums_add_up_batch_by_batch() {
        let mut total = PrefillSharing::default();
        total.add(&PrefillSharing::of_batch(&[&[1, 2], &[1, 2]]));
        total.add(&PrefillSharing::of_batch(&[&[3]]));
        assert_eq!(total.batches, 2);
        assert_eq!(total.rows, 3);
        assert_eq!(total.prompt_tokens, 5);
        assert_eq!(total.dedup_tokens, 3);
        assert_eq!(total.prefix_tree_tokens, 3);
    }

    #[test]
    fn the_meter_counts_what_the_inner_policy_answered() {
        struct Echo;
        impl Policy for Echo {
            fn name(&self) -> String {
                "echo".into()
            }
            fn generate(
                &mut self,
                requests: &[PolicyRequest],
                _: &SamplingParams,
            ) -> Result<Vec<PolicyResponse>, PolicyError> {
                Ok(requests
                    .iter()
                    .map(|r| PolicyResponse {
                        prompt_ids: vec![9, 9, r.seed as u32],
                        ..PolicyResponse::scripted("x")
                    })
                    .collect())
            }
        }
        let mut inner = Echo;
        let mut meter = SharingMeter::new(&mut inner);
        let request = |seed| PolicyRequest {
            messages: vec![crate::types::ChatMessage::user("play")],
            kind: crate::types::RequestKind::Act,
            seed,
            admissible_actions: Vec::new(),
            expert_action: None,
        };
        meter
            .generate(&[request(1), request(2)], &SamplingParams::greedy(1))
            .unwrap();
        assert_eq!(meter.sharing.rows, 2);
        assert_eq!(meter.sharing.prompt_tokens, 6);
        // [9,9,1] and [9,9,2]: 9, 9, then 1 and 2.
        assert_eq!(meter.sharing.prefix_tree_tokens, 4);
    }
}
