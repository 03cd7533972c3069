//! The Qwen3 chat template with thinking disabled, as LaMer runs it.
//!
//! Equivalent to Hugging Face's Jinja template called with
//! `add_generation_prompt=True, enable_thinking=False` for conversations of
//! system/user/assistant messages without tool calls:
//!
//! ```text
//! <|im_start|>user
//! {content}<|im_end|>
//! <|im_start|>assistant
//! <think>
//!
//! </think>
//!
//! ```
//!
//! (the empty think block tells Qwen3 to answer without reasoning tags).

use crate::{ChatMessage, Role};

pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const END_OF_TEXT: &str = "<|endoftext|>";
pub const THINK_START: &str = "<think>";
pub const THINK_END: &str = "</think>";

/// Renders `messages` and the assistant generation prompt.
pub fn render_chat(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    for m in messages {
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        out.push_str(IM_START);
        out.push_str(role);
        out.push('\n');
        out.push_str(&m.content);
        out.push_str(IM_END);
        out.push('\n');
    }
    out.push_str(IM_START);
    out.push_str("assistant\n");
    out.push_str(THINK_START);
    out.push_str("\n\n");
    out.push_str(THINK_END);
    out.push_str("\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_qwen3_no_thinking_prompt() {
        let text = render_chat(&[
            ChatMessage {
                role: Role::System,
                content: "Be brief.".into(),
            },
            ChatMessage::user("Play.\nNow."),
        ]);
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nPlay.\nNow.<|im_end|>\n\
             <|im_start|>assistant\n<think>\n\n</think>\n\n"
        );
    }
}
