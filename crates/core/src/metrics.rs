//! Counters and histograms for `GET /metrics`, in the Prometheus text format.
//!
//! Plain atomics: recording never blocks or allocates, so the chat turn and the sockets record
//! freely. The gateway renders them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::chat::faithful::FactKind;
use crate::chat::Transition;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// How a visitor's turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnOutcome {
    /// The model wrote the answer.
    Generated,
    /// The curated FAQ answer was served.
    Extractive,
    /// The FAQ had no answer; the assistant said so and offered a person.
    Declined,
    /// A person handles (or is about to handle) the chat; the assistant stayed silent.
    Silent,
    /// A resend of a message already handled.
    Duplicate,
    /// The turn failed (busy model, store down, timeout).
    Failed,
    /// Items of the catalogue were recommended, with cards.
    Recommended,
}

impl TurnOutcome {
    const ALL: [Self; 7] = [
        Self::Generated,
        Self::Extractive,
        Self::Declined,
        Self::Silent,
        Self::Duplicate,
        Self::Failed,
        Self::Recommended,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Generated => "generated",
            Self::Extractive => "extractive",
            Self::Declined => "declined",
            Self::Silent => "silent",
            Self::Duplicate => "duplicate",
            Self::Failed => "failed",
            Self::Recommended => "recommended",
        }
    }
}

/// Why a conversation was queued for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffReason {
    /// The visitor asked.
    Requested,
    /// The FAQ had no answer.
    NoAnswer,
}

/// Every figure the server exports.
#[derive(Debug, Default)]
pub struct Metrics {
    visitor_sockets: AtomicI64,
    agent_sockets: AtomicI64,
    turns: [AtomicU64; 7],
    /// Catalogue items shown as cards.
    cards_shown: AtomicU64,
    /// Cards followed through `/r/{card}`.
    card_clicks: AtomicU64,
    /// Leads captured, and delivered to the webhook.
    leads_captured: AtomicU64,
    leads_delivered: AtomicU64,
    handoffs_requested: AtomicU64,
    handoffs_no_answer: AtomicU64,
    /// By transition, in the order of [`Transition::LABELS`].
    status_changes: [AtomicU64; Transition::LABELS.len()],
    /// Generated answers replaced for stating what their sources lack, by the fact's kind.
    unfaithful: [AtomicU64; FactKind::ALL.len()],
    /// Faithful generated answers followed by the curated answer for leaving out what their
    /// passage says.
    incomplete: AtomicU64,
    /// From the visitor's message to the first piece of the answer.
    pub time_to_first_token: Histogram,
    /// Between two pieces of a generated answer.
    pub inter_token: Histogram,
    /// One knowledge-base search.
    pub retrieval: Histogram,
}

impl Metrics {
    /// A visitor socket opened (`+1`) or closed (`-1`).
    pub fn visitor_socket(&self, delta: i64) {
        self.visitor_sockets.fetch_add(delta, Ordering::Relaxed);
    }

    /// An agent's feed opened (`+1`) or closed (`-1`).
    pub fn agent_socket(&self, delta: i64) {
        self.agent_sockets.fetch_add(delta, Ordering::Relaxed);
    }

    /// Counts cards shown in an answer.
    pub fn cards_shown(&self, cards: usize) {
        self.cards_shown.fetch_add(cards as u64, Ordering::Relaxed);
    }

    /// Counts a card followed.
    pub fn card_clicked(&self) {
        self.card_clicks.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a lead captured.
    pub fn lead_captured(&self) {
        self.leads_captured.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a lead the webhook took.
    pub fn lead_delivered(&self) {
        self.leads_delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a finished turn.
    pub fn turn(&self, outcome: TurnOutcome) {
        let index = TurnOutcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.turns[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Turns that ended this way so far.
    pub fn turns(&self, outcome: TurnOutcome) -> u64 {
        let index = TurnOutcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.turns[index].load(Ordering::Relaxed)
    }

    /// Counts a conversation queued for a person.
    pub fn handoff(&self, reason: HandoffReason) {
        match reason {
            HandoffReason::Requested => &self.handoffs_requested,
            HandoffReason::NoAnswer => &self.handoffs_no_answer,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a conversation status transition, by its label (one of [`Transition::LABELS`]).
    pub fn status_change(&self, label: &str) {
        if let Some(index) = Transition::LABELS.iter().position(|l| *l == label) {
            self.status_changes[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a generated answer whose rest was replaced for stating a fact of `kind` that its
    /// sources lack.
    pub fn unfaithful(&self, kind: FactKind) {
        if let Some(index) = FactKind::ALL.iter().position(|k| *k == kind) {
            self.unfaithful[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a faithful answer followed by the curated one for leaving out its passage.
    pub fn incomplete(&self) {
        self.incomplete.fetch_add(1, Ordering::Relaxed);
    }

    /// How many faithful answers the curated one followed for leaving out their passage.
    pub fn incomplete_answers(&self) -> u64 {
        self.incomplete.load(Ordering::Relaxed)
    }

    /// How many answers were replaced for a fact of `kind`.
    pub fn unfaithful_answers(&self, kind: FactKind) -> u64 {
        FactKind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.unfaithful[i].load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition, with `generations_in_flight` from the engine.
    pub fn render(&self, generations_in_flight: usize) -> String {
        let mut out = String::with_capacity(4_096);
        let _ = writeln!(
            out,
            "# HELP frontdesk_open_connections Open WebSocket connections.\n\
             # TYPE frontdesk_open_connections gauge\n\
             frontdesk_open_connections{{kind=\"visitor\"}} {}\n\
             frontdesk_open_connections{{kind=\"agent\"}} {}",
            self.visitor_sockets.load(Ordering::Relaxed),
            self.agent_sockets.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP frontdesk_turns_total Visitor turns by outcome.\n# TYPE frontdesk_turns_total counter"
        );
        for outcome in TurnOutcome::ALL {
            let _ = writeln!(
                out,
                "frontdesk_turns_total{{outcome=\"{}\"}} {}",
                outcome.label(),
                self.turns(outcome)
            );
        }
        let _ = writeln!(
            out,
            "# HELP frontdesk_handoffs_total Conversations queued for a person.\n\
             # TYPE frontdesk_handoffs_total counter\n\
             frontdesk_handoffs_total{{reason=\"requested\"}} {}\n\
             frontdesk_handoffs_total{{reason=\"no_answer\"}} {}",
            self.handoffs_requested.load(Ordering::Relaxed),
            self.handoffs_no_answer.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP frontdesk_status_changes_total Conversation status transitions.\n\
             # TYPE frontdesk_status_changes_total counter"
        );
        for (label, count) in Transition::LABELS.iter().zip(&self.status_changes) {
            let _ = writeln!(
                out,
                "frontdesk_status_changes_total{{transition=\"{label}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP frontdesk_unfaithful_answers_total Generated answers replaced by the curated answer \
             for stating a fact their sources lack, by the fact's kind.\n\
             # TYPE frontdesk_unfaithful_answers_total counter"
        );
        for (kind, count) in FactKind::ALL.iter().zip(&self.unfaithful) {
            let _ = writeln!(
                out,
                "frontdesk_unfaithful_answers_total{{fact=\"{}\"}} {}",
                kind.label(),
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP frontdesk_incomplete_answers_total Faithful generated answers followed by the curated \
             answer for leaving out what their passage says.\n\
             # TYPE frontdesk_incomplete_answers_total counter\n\
             frontdesk_incomplete_answers_total {}",
            self.incomplete.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP frontdesk_cards_shown_total Catalogue items recommended as cards.\n\
             # TYPE frontdesk_cards_shown_total counter\n\
             frontdesk_cards_shown_total {}\n\
             # HELP frontdesk_card_clicks_total Cards followed through /r/{{card}}.\n\
             # TYPE frontdesk_card_clicks_total counter\n\
             frontdesk_card_clicks_total {}\n\
             # HELP frontdesk_leads_total Leads captured, and delivered to the webhook.\n\
             # TYPE frontdesk_leads_total counter\n\
             frontdesk_leads_total{{state=\"captured\"}} {}\n\
             frontdesk_leads_total{{state=\"delivered\"}} {}",
            self.cards_shown.load(Ordering::Relaxed),
            self.card_clicks.load(Ordering::Relaxed),
            self.leads_captured.load(Ordering::Relaxed),
            self.leads_delivered.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP frontdesk_generations_in_flight Generations running or queued in the engine.\n\
             # TYPE frontdesk_generations_in_flight gauge\n\
             frontdesk_generations_in_flight {generations_in_flight}"
        );
        self.time_to_first_token.render(
            &mut out,
            "frontdesk_time_to_first_token_seconds",
            "From a visitor's message to the first piece of the answer.",
        );
        self.inter_token.render(
            &mut out,
            "frontdesk_inter_token_seconds",
            "Between two pieces of a generated answer.",
        );
        self.retrieval.render(&mut out, "frontdesk_retrieval_seconds", "One knowledge-base search.");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.visitor_socket(1);
        metrics.turn(TurnOutcome::Declined);
        metrics.handoff(HandoffReason::NoAnswer);
        metrics.retrieval.observe(Duration::from_millis(3));
        metrics.retrieval.observe(Duration::from_millis(40));
        let text = metrics.render(2);
        assert!(text.contains("frontdesk_open_connections{kind=\"visitor\"} 1\n"), "{text}");
        assert!(text.contains("frontdesk_turns_total{outcome=\"declined\"} 1\n"));
        assert!(text.contains("frontdesk_handoffs_total{reason=\"no_answer\"} 1\n"));
        assert!(text.contains("frontdesk_generations_in_flight 2\n"));
        assert!(text.contains("frontdesk_retrieval_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("frontdesk_retrieval_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("frontdesk_retrieval_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("frontdesk_retrieval_seconds_count 2\n"));
    }
}
