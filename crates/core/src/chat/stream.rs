//! The answer on its way out: the model's tokens pass the prompt guard before they are shown
//! (words that may begin a recital of the system prompt wait a piece or two, and a recital
//! stops the model), and ready texts (curated answers, declines) stream a word at a time so
//! every answer reaches a channel the same way.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::generate::{GenerationEvent, GenerationRequest};
use crate::guard::{Verdict, LEAK_REPLY};
use crate::metrics::Metrics;
use crate::model::{Message, Source, Usage};
use crate::privacy::Fill;
use crate::prompt::{build_prompt, estimate_tokens, BuiltPrompt};
use crate::retrieve::Passage;
use crate::{Error, Result};

use super::citations::sources_used;
use super::context::with_context;
use super::events::{emit, TurnEvent, TurnEvents};
use super::faithful::{incomplete, Checker, Evidence, Unsupported, MIN_COVERAGE};
use super::followup::earlier_questions;
use super::respond::curated_answer;
use super::ChatService;

impl ChatService {
    /// Has the model write the answer from the confident passages, streaming what the guard
    /// lets through. Returns the answer's text, the passages it drew on and its usage.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn generate(
        &self,
        history: &[Message],
        question: &str,
        context: &BTreeMap<String, String>,
        passages: &[Passage],
        message_id: &str,
        started: Instant,
        events: &TurnEvents,
        fill: &Fill,
    ) -> Result<(String, Vec<Source>, Usage)> {
        let confident: Vec<Passage> = passages
            .iter()
            .filter(|p| p.confidence >= self.config.decline_below)
            .take(self.config.prompt_passages)
            .cloned()
            .collect();
        let system = with_context(&self.config.system_prompt, context);
        let prompt =
            self.fit_prompt(system.clone(), confident.clone(), history.to_vec(), question.to_owned()).await?;
        let used = &confident[..prompt.passages_used];
        let prompt_tokens = prompt.tokens;
        let mut stream =
            self.generator.generate(GenerationRequest::new(prompt.messages, self.config.sampling)).await?;

        // What the answer may state: the passages it was given, the visitor's words, what the
        // host page said about the visitor, and the company's own instructions.
        let visitor_words = std::iter::once(question).chain(earlier_questions(history, question));
        let evidence = Evidence::of_answer(used, visitor_words, &system);
        let checker = Checker::new(evidence);
        let guard = &self.guard;
        let mut out = Outgoing {
            message_id,
            started,
            events,
            fill,
            shown: 0,
            usage: Usage::default(),
            last_piece: None,
        };
        let mut text = String::new();
        let mut replaced = None;
        let mut pieces: u32 = 0;
        loop {
            let finished = match stream.recv().await {
                Some(event) => match event? {
                    GenerationEvent::Token(piece) => {
                        text.push_str(&piece);
                        pieces += 1;
                        false
                    }
                    GenerationEvent::Finished { prompt_tokens, completion_tokens } => {
                        out.usage.prompt_tokens = prompt_tokens;
                        out.usage.completion_tokens = completion_tokens;
                        continue;
                    }
                },
                None => true,
            };
            // Shown: what neither may begin a recital of the system prompt nor states a fact
            // the sources lack.
            let guarded = match guard.check(&text, finished) {
                Verdict::Leak => {
                    replaced = Some(Replaced::Leak);
                    break;
                }
                Verdict::Show(upto) => upto,
            };
            let checked = match checker.check(&text, finished) {
                Ok(upto) => upto,
                Err(_) if !self.config.check_facts => text.len(),
                Err(unsupported) => {
                    replaced = Some(Replaced::Unfaithful(unsupported));
                    break;
                }
            };
            out.show(&self.metrics, &text, guarded.min(checked), finished).await?;
            if finished {
                // Faithful, but it may say too little of what its passage says: the curated
                // answer then follows it.
                let best = used.first().map(|p| p.body.as_str()).unwrap_or_default();
                if self.config.check_facts && !best.is_empty() && incomplete(&text, best, MIN_COVERAGE) {
                    replaced = Some(Replaced::Incomplete);
                }
                break;
            }
        }
        // Dropping the stream stops the model at its next step.
        drop(stream);
        if let Some(why) = replaced {
            // The model was stopped before it reported its counts: count what it wrote, and
            // the prompt by the count it was built with.
            if out.usage.completion_tokens == 0 {
                out.usage.completion_tokens = pieces;
                out.usage.prompt_tokens = u32::try_from(prompt_tokens).unwrap_or(u32::MAX);
            }
            match &why {
                Replaced::Incomplete => {
                    self.metrics.incomplete();
                    tracing::info!(
                        message_id,
                        "the answer left out what its passage says; the curated answer follows it"
                    );
                }
                Replaced::Leak => {
                    tracing::warn!(
                        message_id,
                        "the model recited its system prompt; the answer was replaced"
                    );
                }
                Replaced::Unfaithful(unsupported) => {
                    self.metrics.unfaithful(unsupported.kind);
                    tracing::info!(
                        message_id,
                        fact = unsupported.kind.label(),
                        word = %unsupported.word,
                        "the answer stated what its sources lack; the curated answer replaced the rest"
                    );
                }
            }
            // The visitor gets the curated answer of the entry the model was given (what the
            // model should have written), or, without one, a polite refusal.
            let (reply, sources) = match confident.first() {
                Some(best) => (curated_answer(best, question), vec![best.to_source()]),
                None => (LEAK_REPLY.to_owned(), Vec::new()),
            };
            // What was shown stays (the checked part before the recital or the invented fact);
            // the reply follows it after a paragraph break, counting the line breaks already
            // shown, so the stored answer is exactly what was streamed.
            text.truncate(out.shown);
            text.push_str(paragraph_break(&text));
            text.push_str(&reply);
            out.show(&self.metrics, &text, text.len(), true).await?;
            return Ok((text.trim().to_owned(), sources, out.usage));
        }
        let usage = out.usage;
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(Error::Generation("the model returned an empty answer".into()));
        }
        let sources = sources_used(&text, used);
        Ok((text, sources, usage))
    }

    /// Builds the prompt within the model's context, counting with its own tokenizer when the
    /// engine has one (tokenising is CPU work, so it runs on the blocking pool).
    async fn fit_prompt(
        &self,
        system: String,
        passages: Vec<Passage>,
        history: Vec<Message>,
        question: String,
    ) -> Result<BuiltPrompt> {
        let mut budget = self.config.prompt_budget_tokens;
        if let Some(context) = self.generator.context_tokens() {
            budget = budget.min(context.saturating_sub(self.config.sampling.max_tokens));
        }
        let counter = self.generator.token_counter();
        tokio::task::spawn_blocking(move || {
            let count =
                |text: &str| counter.as_ref().map_or_else(|| estimate_tokens(text), |c| c.count(text));
            build_prompt(&system, &passages, &history, &question, budget, &count)
        })
        .await
        .map_err(|e| Error::Internal(format!("prompt building failed: {e}")))
    }
}

/// An answer on its way to the visitor: how much of it was sent, and its latency figures.
struct Outgoing<'a> {
    message_id: &'a str,
    started: Instant,
    events: &'a TurnEvents,
    /// The visitor's own details to put back where the model wrote their placeholders.
    fill: &'a Fill,
    shown: usize,
    usage: Usage,
    last_piece: Option<Instant>,
}

impl Outgoing<'_> {
    /// Sends `text[shown..upto]` as a token event, if there is any, with the visitor's
    /// placeholders filled in; until the `last` call, the start of a placeholder waits for its end.
    async fn show(&mut self, metrics: &Metrics, text: &str, upto: usize, last: bool) -> Result<()> {
        let upto = match self.fill.pending(&text[..upto]) {
            Some(open) if !last && open >= self.shown => open,
            _ => upto,
        };
        if upto <= self.shown {
            return Ok(());
        }
        let piece = self.fill.apply(&text[self.shown..upto]);
        self.shown = upto;
        if self.last_piece.is_none() {
            self.usage.ttft_ms = elapsed_ms(self.started);
        }
        if let Some(previous) = self.last_piece.replace(Instant::now()) {
            metrics.inter_token.observe(previous.elapsed());
        }
        emit(self.events, TurnEvent::Token { message_id: self.message_id.to_owned(), text: piece }).await
    }
}

/// Why the rest of a generated answer was replaced by the curated one.
enum Replaced {
    /// The model began reciting its system prompt.
    Leak,
    /// It stated a fact its sources lack.
    Unfaithful(Unsupported),
    /// It was faithful but left out what its passage says.
    Incomplete,
}

/// What to add after `shown` so that a new paragraph begins: nothing at the start or after a
/// blank line, otherwise the line breaks that are missing.
fn paragraph_break(shown: &str) -> &'static str {
    let trimmed = shown.trim_end_matches([' ', '\t']);
    if trimmed.trim().is_empty() || trimmed.ends_with("\n\n") {
        ""
    } else if trimmed.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Streams a ready text as token events, a word at a time, so every answer reaches the
/// visitor the same way.
pub(crate) async fn stream_text(
    events: &TurnEvents,
    message_id: &str,
    text: &str,
    started: Instant,
) -> Result<Usage> {
    let mut usage = Usage { ttft_ms: elapsed_ms(started), ..Usage::default() };
    for piece in text.split_inclusive(' ') {
        usage.completion_tokens += 1;
        emit(events, TurnEvent::Token { message_id: message_id.to_owned(), text: piece.to_owned() }).await?;
    }
    usage.prompt_tokens = u32::try_from(estimate_tokens(text)).unwrap_or(u32::MAX);
    Ok(usage)
}
