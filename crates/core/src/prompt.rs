//! Prompt building: the assistant's own system prompt, the FAQ passages and the conversation
//! history, fitted into a token budget.
//!
//! The budget is counted with [`estimate_tokens`], a deliberately pessimistic estimate (one
//! token per three bytes of UTF-8) so the prompt never outgrows the model's context even though
//! the gateway does not carry a tokenizer. Passages go first, best first; then as much recent
//! history as fits, newest first; the question itself is always kept.

use crate::generate::{PromptMessage, PromptRole};
use crate::model::{Message, Role};
use crate::retrieve::Passage;

/// The system prompt Frontdesk always sends. Sending our own replaces the one a GGUF's chat
/// template would inject (SmolLM's "You are a helpful AI assistant named SmolLM").
pub fn system_prompt(company: &str) -> String {
    format!(
        "You are a friendly customer support assistant for {company}. Reply to the customer \
         in two or three sentences, using only the facts in the FAQ answer you are given. If it \
         does not answer the question, say you do not know and offer to connect a support agent."
    )
}

/// A pessimistic token count for budget decisions: one token per three bytes.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3) + 4
}

/// The prompt for one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltPrompt {
    /// The messages to send to the model.
    pub messages: Vec<PromptMessage>,
    /// How many of the given passages made it into the prompt (the first ones).
    pub passages_used: usize,
}

/// Builds the prompt: system prompt; earlier turns that fit; then the question with the FAQ
/// passages right before it, where a small model pays most attention.
pub fn build_prompt(
    system: &str,
    passages: &[Passage],
    history: &[Message],
    question: &str,
    budget_tokens: usize,
) -> BuiltPrompt {
    let mut remaining =
        budget_tokens.saturating_sub(estimate_tokens(system)).saturating_sub(estimate_tokens(question) + 16);

    let mut faq = String::new();
    let mut passages_used = 0;
    for passage in passages {
        let entry = format!("FAQ: {}\n{}\n\n", passage.title.trim(), passage.body.trim());
        let cost = estimate_tokens(&entry);
        if cost > remaining {
            break;
        }
        remaining -= cost;
        faq.push_str(&entry);
        passages_used += 1;
    }

    let mut earlier = Vec::new();
    for message in history.iter().rev() {
        let role = match message.role {
            Role::Visitor => PromptRole::User,
            Role::Assistant | Role::Agent => PromptRole::Assistant,
            Role::System => continue,
        };
        let cost = estimate_tokens(&message.text);
        if cost > remaining {
            break;
        }
        remaining -= cost;
        earlier.push(PromptMessage { role, content: message.text.clone() });
    }
    earlier.reverse();
    // A conversation in the prompt must start with the customer.
    while earlier.first().is_some_and(|m| m.role != PromptRole::User) {
        earlier.remove(0);
    }

    let mut messages = vec![PromptMessage { role: PromptRole::System, content: system.to_owned() }];
    messages.extend(earlier);
    let user = if faq.is_empty() {
        format!("There is no FAQ answer for this.\n\nCustomer: {question}")
    } else {
        format!("{faq}Customer: {question}")
    };
    messages.push(PromptMessage { role: PromptRole::User, content: user });
    BuiltPrompt { messages, passages_used }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(title: &str, body: &str) -> Passage {
        Passage {
            document_id: "faq.md".into(),
            entry_id: format!("faq.md#{title}"),
            title: title.into(),
            body: body.into(),
            section: vec![],
            url: None,
            score: 1.0,
            confidence: 1.0,
        }
    }

    #[test]
    fn passages_and_question_go_last_and_system_first() {
        let built = build_prompt(
            "SYS",
            &[passage("Shipping time?", "Two days.")],
            &[Message::new(Role::Visitor, "hello"), Message::new(Role::Assistant, "hi")],
            "how long is shipping",
            1_000,
        );
        assert_eq!(built.passages_used, 1);
        assert_eq!(built.messages[0].role, PromptRole::System);
        assert_eq!(built.messages.len(), 4);
        let last = &built.messages[3];
        assert_eq!(last.role, PromptRole::User);
        assert!(last.content.contains("FAQ: Shipping time?\nTwo days."));
        assert!(last.content.ends_with("Customer: how long is shipping"));
    }

    #[test]
    fn the_budget_drops_old_history_and_extra_passages_but_keeps_the_question() {
        let long = "x".repeat(900);
        let history: Vec<Message> = (0..10)
            .map(|i| Message::new(if i % 2 == 0 { Role::Visitor } else { Role::Assistant }, &long))
            .collect();
        let longer = "y".repeat(1_500);
        let passages = vec![passage("a", &longer), passage("b", &longer), passage("c", &longer)];
        let built = build_prompt("SYS", &passages, &history, "question?", 1_000);
        let total: usize = built.messages.iter().map(|m| estimate_tokens(&m.content)).sum();
        assert!(total <= 1_000 + 64, "prompt of {total} tokens breaks the budget");
        assert!(built.passages_used >= 1 && built.passages_used < 3);
        assert!(built.messages.last().expect("question").content.contains("question?"));
        assert!(built.messages.len() < 12);
    }
}
