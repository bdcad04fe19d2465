//! A believable month of visitor traffic for the demo company (`knowledge-base/`): questions
//! on topics its FAQ covers and on several it does not, asked the way visitors type them
//! (greetings, lower case, missing question marks), some of the uncovered ones answered by a
//! human agent, and ratings. Each question carries the topic it was written for, so the
//! insights' topics and gaps can be scored against the truth.
//!
//! [`month`] makes the questions; [`play`] asks them of a running server as visitors and
//! agents would.

use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::{ApiClient, Visitor};

/// A topic visitors ask about.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec {
    /// Its name.
    pub name: &'static str,
    /// Whether the demo FAQ answers it.
    pub covered: bool,
    /// Ways visitors ask it.
    pub phrasings: &'static [&'static str],
    /// What an agent replies when one takes such a conversation.
    pub agent_reply: Option<&'static str>,
    /// Questions in the month.
    pub volume: usize,
}

/// The demo company's topics: six its FAQ covers, five it does not (one asked in Chinese).
pub const TOPICS: &[TopicSpec] = &[
    TopicSpec {
        name: "delivery time",
        covered: true,
        phrasings: &[
            "How long does delivery take?",
            "how long will shipping take",
            "When will my order arrive?",
            "how many days until my parcel arrives",
            "What is the delivery time?",
        ],
        agent_reply: None,
        volume: 24,
    },
    TopicSpec {
        name: "returns",
        covered: true,
        phrasings: &[
            "How do I return an item?",
            "how can I send back my order",
            "What is your return policy?",
            "can I return something I bought",
            "I want to return my headphones",
        ],
        agent_reply: None,
        volume: 22,
    },
    TopicSpec {
        name: "instalments",
        covered: true,
        phrasings: &[
            "Can I pay in instalments?",
            "do you offer monthly payments",
            "Is it possible to pay in installments with Klarna?",
            "can I split the payment",
        ],
        agent_reply: None,
        volume: 16,
    },
    TopicSpec {
        name: "password reset",
        covered: true,
        phrasings: &[
            "I forgot my password",
            "how do I reset my password",
            "I can't remember my password",
            "password reset link please",
        ],
        agent_reply: None,
        volume: 16,
    },
    TopicSpec {
        name: "warranty length",
        covered: true,
        phrasings: &[
            "How long is the warranty?",
            "what warranty do your products have",
            "how many years of warranty do I get",
            "Is there a warranty on Brightwave products?",
        ],
        agent_reply: None,
        volume: 14,
    },
    TopicSpec {
        name: "aura battery",
        covered: true,
        phrasings: &[
            "What is the battery life of the Aura headphones?",
            "how long does the Aura battery last",
            "Aura headphones battery hours?",
        ],
        agent_reply: None,
        volume: 12,
    },
    TopicSpec {
        name: "gift wrapping",
        covered: false,
        phrasings: &[
            "Do you offer gift wrapping?",
            "can you gift wrap my order",
            "Is gift wrapping available for presents?",
            "could you wrap it as a gift",
        ],
        agent_reply: Some(
            "Yes: choose \"Gift wrapping\" at checkout for 3 euros, and we add a card with your message.",
        ),
        volume: 16,
    },
    TopicSpec {
        name: "trade-in",
        covered: false,
        phrasings: &[
            "Can I trade in my old headphones?",
            "do you have a trade-in program for old devices",
            "trade in my old laptop for credit",
            "Do you accept trade-ins?",
        ],
        agent_reply: Some("We take back any old device for recycling, but we do not give trade-in credit."),
        volume: 14,
    },
    TopicSpec {
        name: "jobs",
        covered: false,
        phrasings: &[
            "Are you hiring?",
            "do you have any job openings",
            "How can I apply for a job at Brightwave?",
            "careers at brightwave",
        ],
        agent_reply: Some("Our open positions are listed on brightwave.example/careers; apply there."),
        volume: 12,
    },
    TopicSpec {
        name: "bulk orders",
        covered: false,
        phrasings: &[
            "Do you offer discounts for bulk orders?",
            "we need 50 laptops for our company, is there a volume discount",
            "corporate bulk order pricing?",
            "can businesses order in bulk",
        ],
        agent_reply: None,
        volume: 12,
    },
    TopicSpec {
        name: "gift wrapping (zh)",
        covered: false,
        phrasings: &["可以礼品包装吗", "你们提供礼品包装服务吗", "礼品包装要多少钱", "能帮我包装成礼物吗"],
        agent_reply: Some("可以，结账时选择礼品包装，费用3欧元。"),
        volume: 8,
    },
];

/// One question of the month.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The topic it was written for.
    pub topic: &'static TopicSpec,
    /// The text a visitor types.
    pub text: String,
    /// Whether an agent takes the conversation and replies (uncovered topics, every other).
    pub agent_replies: bool,
    /// The rating the visitor gives an answer, if any.
    pub rating: Option<&'static str>,
}

/// A small deterministic generator (no seed shared with anything else).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        usize::try_from((self.0 >> 33) % below.max(1) as u64).unwrap_or(0)
    }
}

/// Visitors type the same question in many ways.
fn decorate(text: &str, rng: &mut Lcg) -> String {
    let cjk = text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    if cjk {
        return match rng.next(3) {
            0 => format!("你好，{text}"),
            1 => format!("{text}？"),
            _ => text.to_owned(),
        };
    }
    let text = match rng.next(4) {
        0 => text.to_lowercase(),
        1 => text.trim_end_matches('?').to_owned(),
        _ => text.to_owned(),
    };
    match rng.next(5) {
        0 => format!("hi, {text}"),
        1 => format!("Hello! {text}"),
        2 => format!("{text} thanks"),
        _ => text,
    }
}

/// The month's questions, in the order visitors ask them (topics interleaved).
pub fn month() -> Vec<Planned> {
    let mut rng = Lcg(2026);
    let mut out = Vec::new();
    for topic in TOPICS {
        for i in 0..topic.volume {
            let phrasing = topic.phrasings[i % topic.phrasings.len()];
            let agent_replies = topic.agent_reply.is_some() && i % 2 == 0;
            let rating = match (topic.covered, i % 4) {
                (true, 0) => Some("up"),
                (false, 1) => Some("down"),
                _ => None,
            };
            out.push(Planned { topic, text: decorate(phrasing, &mut rng), agent_replies, rating });
        }
    }
    // Interleave, as a month's traffic is.
    for i in (1..out.len()).rev() {
        out.swap(i, rng.next(i + 1));
    }
    out
}

/// What a played question got.
#[derive(Debug, Clone)]
pub struct Played {
    /// The question.
    pub planned: Planned,
    /// Its conversation.
    pub conversation_id: String,
    /// The `done` frame.
    pub done: Value,
}

/// Asks every question as a new visitor on `visitor`; the agent `agent` (on `staff`) takes the
/// conversations planned for an agent and replies; the visitor rates the answers planned.
pub async fn play(
    visitor: SocketAddr,
    staff: SocketAddr,
    agent: &str,
    plan: &[Planned],
) -> anyhow::Result<Vec<Played>> {
    let api = ApiClient::new(staff, Some(agent));
    let mut out = Vec::new();
    for (n, planned) in plan.iter().enumerate() {
        let mut socket = Visitor::connect(visitor).await?;
        let welcome = socket.hello(None).await?;
        let conversation_id = welcome["conversation_id"].as_str().unwrap_or_default().to_owned();
        let frames = socket.ask(&format!("q{n}"), &planned.text).await?;
        let done = frames.last().cloned().unwrap_or_default();
        anyhow::ensure!(done["type"] == "done", "no answer to {:?}: {frames:?}", planned.text);
        if let (Some(rating), Some(message_id)) = (planned.rating, done["message_id"].as_str()) {
            let mut frame = json!({"type": "feedback", "message_id": message_id, "value": rating});
            if rating == "down" {
                frame["comment"] = json!("this does not answer my question");
            }
            socket.send(frame).await?;
            // Frames are handled in order: the pong says the rating is stored.
            socket.send(json!({"type": "ping"})).await?;
            while socket.next_frame(std::time::Duration::from_secs(10)).await?["type"] != "pong" {}
        }
        if let (true, Some(reply)) = (planned.agent_replies, planned.topic.agent_reply) {
            let path = format!("/api/v1/conversations/{conversation_id}");
            let (status, body) = api.post(&format!("{path}/takeover"), json!({})).await?;
            anyhow::ensure!(status == 200, "takeover: {status} {body}");
            let (status, body) = api.post(&format!("{path}/messages"), json!({"text": reply})).await?;
            anyhow::ensure!(status == 201, "reply: {status} {body}");
            let (status, body) = api.post(&format!("{path}/close"), json!({})).await?;
            anyhow::ensure!(status == 200, "close: {status} {body}");
        }
        out.push(Played { planned: planned.clone(), conversation_id, done });
    }
    Ok(out)
}
