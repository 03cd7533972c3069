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
//!
//! Other families use their own formats ([`ChatFormat`]), chosen from the
//! model directory's Jinja template (`tokenizer_config.json` or
//! `chat_template.jinja`) by its markers, or from the architecture when
//! there is none: ChatML with the template's default system prompt
//! (Qwen2/Qwen2.5), and Llama 3's header format (with the
//! knowledge-date system block of Llama 3.1+ templates, at their fixed
//! fallback date). Only the Qwen3 rendering is verified against
//! `transformers` (`tests/hf_parity.rs`); the others follow the published
//! templates for conversations without tools.

use crate::config::Architecture;
use crate::{ChatMessage, Role};

pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const END_OF_TEXT: &str = "<|endoftext|>";
pub const THINK_START: &str = "<think>";
pub const THINK_END: &str = "</think>";
pub const BEGIN_OF_TEXT: &str = "<|begin_of_text|>";
pub const START_HEADER: &str = "<|start_header_id|>";
pub const END_HEADER: &str = "<|end_header_id|>";
pub const EOT: &str = "<|eot_id|>";

/// Qwen2.5's default system prompt (Qwen2's is the second).
const QWEN_SYSTEM_PROMPTS: [&str; 2] = [
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "You are a helpful assistant.",
];
/// What Llama 3.1+ templates print as the date when none is passed.
const LLAMA_DATE_BLOCK: &str = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";

/// How a model family lays out a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatFormat {
    /// Qwen3 with thinking off ([`render_chat`]).
    Qwen3,
    /// ChatML; a conversation without a system message gets `default_system`.
    ChatMl { default_system: Option<String> },
    /// Llama 3 headers; `date_block`: the system block Llama 3.1+ templates
    /// always print.
    Llama3 { date_block: bool },
}

impl ChatFormat {
    /// The format of a Jinja `template` (by its markers), else of `arch`.
    pub fn detect(template: Option<&str>, arch: Architecture) -> Self {
        match template {
            Some(t) if t.contains(START_HEADER) => ChatFormat::Llama3 {
                date_block: t.contains("Cutting Knowledge Date"),
            },
            Some(t)
                if t.contains(IM_START)
                    && (t.contains("enable_thinking") || t.contains(THINK_START)) =>
            {
                ChatFormat::Qwen3
            }
            Some(t) if t.contains(IM_START) => ChatFormat::ChatMl {
                default_system: QWEN_SYSTEM_PROMPTS
                    .iter()
                    .find(|p| t.contains(*p))
                    .map(|p| p.to_string()),
            },
            _ => match arch {
                Architecture::Qwen3 => ChatFormat::Qwen3,
                Architecture::Qwen2 => ChatFormat::ChatMl {
                    default_system: Some(QWEN_SYSTEM_PROMPTS[0].to_string()),
                },
                Architecture::Llama => ChatFormat::Llama3 { date_block: true },
            },
        }
    }

    /// Renders `messages` and the assistant generation prompt.
    pub fn render(&self, messages: &[ChatMessage]) -> String {
        match self {
            ChatFormat::Qwen3 => render_chat(messages),
            ChatFormat::ChatMl { default_system } => {
                render_chatml(messages, default_system.as_deref())
            }
            ChatFormat::Llama3 { date_block } => render_llama3(messages, *date_block),
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn render_chatml(messages: &[ChatMessage], default_system: Option<&str>) -> String {
    let mut out = String::new();
    let has_system = messages.first().is_some_and(|m| m.role == Role::System);
    if let (false, Some(system)) = (has_system, default_system) {
        out.push_str(&format!("{IM_START}system\n{system}{IM_END}\n"));
    }
    for m in messages {
        out.push_str(&format!(
            "{IM_START}{}\n{}{IM_END}\n",
            role_name(m.role),
            m.content
        ));
    }
    out.push_str(&format!("{IM_START}assistant\n"));
    out
}

fn render_llama3(messages: &[ChatMessage], date_block: bool) -> String {
    let header = |role: &str| format!("{START_HEADER}{role}{END_HEADER}\n\n");
    let mut out = String::from(BEGIN_OF_TEXT);
    let mut rest = messages;
    if date_block {
        // Llama 3.1+ always opens with a system block holding the date and
        // the (trimmed) system message, if any.
        let system = match messages.first() {
            Some(m) if m.role == Role::System => {
                rest = &messages[1..];
                m.content.trim()
            }
            _ => "",
        };
        out.push_str(&format!(
            "{}{LLAMA_DATE_BLOCK}{system}{EOT}",
            header("system")
        ));
    }
    for m in rest {
        out.push_str(&format!(
            "{}{}{EOT}",
            header(role_name(m.role)),
            m.content.trim()
        ));
    }
    out.push_str(&header("assistant"));
    out
}

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
    fn picks_the_format_from_the_template_or_the_architecture() {
        let qwen3 = crate::tiny::QWEN3_CHAT_TEMPLATE;
        assert_eq!(
            ChatFormat::detect(Some(qwen3), Architecture::Llama),
            ChatFormat::Qwen3
        );
        let qwen25 = "{%- if messages[0]['role'] == 'system' %}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}";
        let f = ChatFormat::detect(Some(qwen25), Architecture::Qwen2);
        let user = [ChatMessage::user("Go.")];
        assert_eq!(
            f.render(&user),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nGo.<|im_end|>\n<|im_start|>assistant\n"
        );
        let llama = ChatFormat::detect(None, Architecture::Llama);
        assert_eq!(
            llama.render(&user),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGo.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        let llama30 = ChatFormat::detect(
            Some("{{ '<|start_header_id|>' + message['role'] }}"),
            Architecture::Llama,
        );
        assert_eq!(
            llama30.render(&user),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nGo.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

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
