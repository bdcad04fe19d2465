//! The visitor WebSocket protocol (`GET /v1/ws`): JSON text frames tagged by `type`.
//!
//! `docs/protocol.md` documents every frame; the tests below pin their JSON so a change to
//! the wire format is a visible diff.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::{ConversationStatus, FeedbackValue, Message, Source, Usage};

/// Longest visitor message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// Most messages one `welcome` or `history` page carries.
pub const PAGE_MESSAGES: usize = 50;

/// Most bytes of message text one page carries (its newest message always goes in): a long
/// conversation resumes with its latest part, never with a frame too large to send.
pub const PAGE_TEXT_BYTES: usize = 32 * 1024;

/// The page of `messages` (oldest first) that ends just before `before` (a `seq`; `None` for
/// the newest): at most [`PAGE_MESSAGES`] messages and [`PAGE_TEXT_BYTES`] of text, and
/// whether older ones remain.
pub fn history_page(messages: &[Message], before: Option<u64>) -> (Vec<Message>, bool) {
    let end = before.map_or(messages.len(), |seq| messages.partition_point(|m| m.seq < seq));
    let mut start = end;
    let mut bytes = 0;
    while start > 0 && end - start < PAGE_MESSAGES {
        let size = messages[start - 1].text.len();
        if start < end && bytes + size > PAGE_TEXT_BYTES {
            break;
        }
        bytes += size;
        start -= 1;
    }
    (messages[start..end].to_vec(), start > 0)
}

/// What the host page tells about the visitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitorInfo {
    /// The visitor token a previous `welcome` gave (the widget keeps it per browser), so this
    /// visitor's conversations and profile stay together. Anything else (an id the client made
    /// up, another visitor's id) is ignored and a new visitor is issued.
    #[serde(default)]
    pub id: Option<String>,
    /// Free attributes (plan, interests, the product page viewed).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Catalogue items viewed on the site before the chat connected, oldest first (the widget
    /// keeps the latest few per browser); later views come as `track` frames.
    #[serde(default)]
    pub viewed: Vec<String>,
}

/// A frame the widget sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame: resume a conversation (`token`) or start one.
    Hello {
        /// The token a previous `welcome` gave, to resume that conversation.
        #[serde(default)]
        token: Option<String>,
        /// What the host page passed about the visitor.
        #[serde(default)]
        visitor: Option<VisitorInfo>,
        /// The page's language, such as `en` or `zh-CN`.
        #[serde(default)]
        locale: Option<String>,
        /// The page's URL (kept without its query and fragment).
        #[serde(default)]
        page: Option<String>,
    },
    /// A visitor's question; `id` is chosen by the client so a resend is not a second message.
    Message {
        /// The client's id for this message.
        id: String,
        /// The text.
        text: String,
    },
    /// Thumbs up or down on an assistant message.
    Feedback {
        /// The assistant message rated.
        message_id: String,
        /// Up or down.
        value: FeedbackValue,
        /// Optional comment.
        #[serde(default)]
        comment: Option<String>,
    },
    /// The visitor asks for a person.
    Handoff {},
    /// Older messages than `welcome` carried: the page before the message `before` (a `seq`).
    History {
        /// The `seq` of the oldest message the client has.
        before: u64,
    },
    /// Something the visitor did on the site (`Frontdesk.track`): `viewed` a catalogue item
    /// `id`. Kept on the visitor's profile, used to rank recommendations and shown to agents.
    Track {
        /// What happened; `viewed` is the one event kept.
        event: String,
        /// The catalogue item's id.
        id: String,
    },
    /// The visitor's contact details for the team, sent from the contact form with their
    /// consent (answered by `lead_saved`).
    Lead {
        /// An e-mail address or a phone number.
        contact: String,
        /// The visitor ticked the consent shown with the form.
        consent: bool,
    },
    /// The visitor withdraws their consent: their leads are deleted (answered by
    /// `lead_withdrawn`).
    Withdraw {},
    /// Keep-alive; answered by `pong`.
    Ping,
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answer to `hello`: the conversation and its earlier messages.
    Welcome {
        /// The conversation's id.
        conversation_id: String,
        /// Keep this to resume the conversation later.
        token: String,
        /// Who handles the conversation now.
        status: ConversationStatus,
        /// The visitor's id, as the privacy API (`/api/v1/visitors/{id}`) knows them.
        visitor_id: String,
        /// Keep this and send it as `hello.visitor.id` to stay the same visitor.
        visitor_token: String,
        /// The newest earlier messages, oldest first (a bounded page: see `more`).
        messages: Vec<Message>,
        /// Older messages exist; ask for them with `history`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
    /// A page of older messages, answering `history`.
    History {
        /// The messages, oldest first.
        messages: Vec<Message>,
        /// Still older messages exist.
        more: bool,
    },
    /// The visitor's message is stored.
    Ack {
        /// The client's id of the message.
        id: String,
        /// The server's id of the stored message.
        message_id: String,
    },
    /// A piece of the answer being written.
    Token {
        /// The assistant message this piece belongs to.
        message_id: String,
        /// The text to append.
        text: String,
    },
    /// The answer is complete.
    Done {
        /// The assistant message's id.
        message_id: String,
        /// The full answer.
        text: String,
        /// The FAQ entries it used.
        sources: Vec<Source>,
        /// The catalogue items recommended, as cards (absent when none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cards: Vec<crate::catalog::Card>,
        /// The contact form to show under the answer, when it offers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offer: Option<crate::leads::ContactOffer>,
        /// Token counts and time to first token.
        usage: Usage,
    },
    /// The conversation's status changed.
    Status {
        /// The new status.
        status: ConversationStatus,
        /// The agent handling it, when a person has taken over.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// A support agent wrote.
    AgentMessage {
        /// The stored message's id.
        message_id: String,
        /// The text.
        text: String,
        /// The agent's name.
        agent: String,
    },
    /// Something went wrong; `code` is one of [`crate::ErrorCode`]'s names.
    Error {
        /// Stable code such as `bad_request` or `busy`.
        code: String,
        /// A message safe to show.
        message: String,
    },
    /// Answer to `lead`: the contact details are kept for the team.
    LeadSaved {
        /// The lead's id.
        lead_id: String,
    },
    /// Answer to `withdraw`: the visitor's leads are deleted.
    LeadWithdrawn {
        /// How many were deleted.
        deleted: usize,
    },
    /// Answer to `ping`.
    Pong,
}

impl ServerFrame {
    /// The `error` frame for a core error.
    pub fn from_error(error: &crate::Error) -> Self {
        Self::Error { code: error.code().as_str().to_owned(), message: error.public_message() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frames_parse_from_their_documented_json() {
        let hello: ClientFrame = serde_json::from_value(json!({
            "type": "hello", "token": "abc", "visitor": {"attributes": {"plan": "pro"}}, "locale": "en"
        }))
        .expect("hello should parse");
        assert!(matches!(hello, ClientFrame::Hello { token: Some(ref t), .. } if t == "abc"));
        let message: ClientFrame =
            serde_json::from_value(json!({"type": "message", "id": "c1", "text": "hi"}))
                .expect("message should parse");
        assert_eq!(message, ClientFrame::Message { id: "c1".into(), text: "hi".into() });
        let handoff: ClientFrame =
            serde_json::from_value(json!({"type": "handoff"})).expect("handoff should parse");
        assert_eq!(handoff, ClientFrame::Handoff {});
        let feedback: ClientFrame =
            serde_json::from_value(json!({"type": "feedback", "message_id": "m1", "value": "down"}))
                .expect("feedback should parse");
        assert!(matches!(feedback, ClientFrame::Feedback { value: FeedbackValue::Down, .. }));
        assert_eq!(
            serde_json::from_value::<ClientFrame>(json!({"type": "ping"})).expect("ping"),
            ClientFrame::Ping
        );
    }

    #[test]
    fn a_long_history_is_paged_newest_first_within_its_bounds() {
        let messages: Vec<Message> = (0..120u64)
            .map(|seq| {
                let mut m = Message::new(
                    crate::model::Role::Visitor,
                    "x".repeat(if seq == 100 { 40_000 } else { 100 }),
                );
                m.seq = seq;
                m
            })
            .collect();
        let seqs = |page: &[Message]| page.iter().map(|m| m.seq).collect::<Vec<_>>();
        // The newest page stops before the 40 KB message, which does not fit with the others.
        let (page, more) = history_page(&messages, None);
        assert_eq!((seqs(&page), more), ((101..120).collect(), true));
        // Alone it goes in whole: the newest message of a page always does.
        let (page, more) = history_page(&messages, Some(101));
        assert_eq!((seqs(&page), more), (vec![100], true));
        let (page, more) = history_page(&messages, Some(100));
        assert_eq!(page.len(), PAGE_MESSAGES);
        assert_eq!((seqs(&page), more), ((50..100).collect(), true));
        let (page, more) = history_page(&messages, Some(50));
        assert_eq!((seqs(&page), more), ((0..50).collect(), false));
        assert_eq!(history_page(&[], None), (Vec::new(), false));
        let history: ClientFrame =
            serde_json::from_value(json!({"type": "history", "before": 70})).expect("history parses");
        assert_eq!(history, ClientFrame::History { before: 70 });
    }

    #[test]
    fn malformed_client_frames_are_rejected() {
        for bad in [
            json!({"type": "message", "text": "no id"}),
            json!({"type": "shout", "text": "x"}),
            json!({"type": "message", "id": "1", "text": "x", "admin": true}),
            json!({"type": "feedback", "message_id": "m", "value": "meh"}),
        ] {
            assert!(serde_json::from_value::<ClientFrame>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_frames_keep_their_wire_shape() {
        let done = ServerFrame::Done {
            message_id: "m1".into(),
            text: "Ships in 2 days.".into(),
            sources: vec![Source {
                document_id: "shipping.md".into(),
                entry_id: "shipping.md#delivery-time".into(),
                title: "How long does delivery take?".into(),
                url: None,
                score: 1.5,
            }],
            cards: Vec::new(),
            offer: None,
            usage: Usage { prompt_tokens: 10, completion_tokens: 5, ttft_ms: 40 },
        };
        assert_eq!(
            serde_json::to_value(&done).expect("serialises"),
            json!({
                "type": "done", "message_id": "m1", "text": "Ships in 2 days.",
                "sources": [{"document_id": "shipping.md", "entry_id": "shipping.md#delivery-time",
                             "title": "How long does delivery take?", "score": 1.5}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "ttft_ms": 40}
            }),
            "no cards, no field"
        );
        let recommended = ServerFrame::Done {
            message_id: "m2".into(),
            text: "1. Nova 15 laptop (\u{20ac}749): Laptops".into(),
            sources: Vec::new(),
            cards: vec![crate::catalog::Card {
                id: "nova-15".into(),
                kind: crate::catalog::ItemKind::Product,
                name: "Nova 15 laptop".into(),
                price: "\u{20ac}749".into(),
                image_url: Some("https://shop.example/img/nova-15.jpg".into()),
                reason: "Laptops: 15-inch laptop for video editing.".into(),
                href: "/r/nova-15".into(),
            }],
            offer: None,
            usage: Usage::default(),
        };
        assert_eq!(
            serde_json::to_value(&recommended).expect("serialises")["cards"],
            json!([{"id": "nova-15", "kind": "product", "name": "Nova 15 laptop", "price": "\u{20ac}749",
                    "image_url": "https://shop.example/img/nova-15.jpg",
                    "reason": "Laptops: 15-inch laptop for video editing.", "href": "/r/nova-15"}])
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::Token { message_id: "m1".into(), text: "Hi".into() })
                .expect("serialises"),
            json!({"type": "token", "message_id": "m1", "text": "Hi"})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::Status { status: ConversationStatus::Waiting, agent: None })
                .expect("serialises"),
            json!({"type": "status", "status": "waiting"})
        );
        assert_eq!(serde_json::to_value(ServerFrame::Pong).expect("serialises"), json!({"type": "pong"}));
    }
}
