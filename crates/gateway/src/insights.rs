//! What visitors ask, what the FAQ lacks, and the review queue that fills it:
//!
//! - `GET /api/v1/insights/topics?from=&to=&limit=&offset=`: the period's questions grouped by
//!   meaning, with outcomes, ratings, trend and examples.
//! - `GET /api/v1/suggestions?from=&to=`: the content gaps' suggested entries not yet reviewed,
//!   and the reviews made.
//! - `POST /api/v1/suggestions/{id}/approve` (`{question, answer, document_id, new_document}`):
//!   the entry goes into a Markdown document (or edits the entry it improves), searchable on
//!   every replica like an upload.
//! - `POST /api/v1/suggestions/{id}/dismiss`: not suggested again for the same topic.
//! - `POST /api/v1/conversations/{id}/messages/{message_id}/correction`: an agent's right
//!   answer replaces the cited entry's.
//!
//! Computed on demand from the store (at most [`MAX_QUESTIONS`] questions, newest first), the
//! grouping on the blocking pool, so a visitor's turn never waits for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use frontdesk_core::documents::{Document, DocumentStore, EntryEdit, EntryWritten};
use frontdesk_core::insights::{
    self, dot, gaps, lexical_vectors, questions_of, reviewed, suggest, Asked, Decision, ImprovedEntry,
    Period, Quantised, QuestionEmbedder, Review, Suggestion, Thresholds, Topic, REVIEWS_DOCUMENT,
};
use frontdesk_core::store::{ConversationQuery, SessionStore};
use frontdesk_core::Error;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::api::ApiResult;
use crate::auth::AdminKey;
use crate::AppState;

/// Most questions one computation reads (the period and the one before it together).
pub const MAX_QUESTIONS: usize = 20_000;
/// Largest page of topics.
pub const MAX_TOPICS_PAGE: usize = 500;
/// Longest period, in days.
pub const MAX_DAYS: i64 = 366;
/// Most suggestions listed: the worst gaps.
pub const MAX_SUGGESTIONS: usize = 20;
/// Longest question and answer an admin may approve.
const MAX_QUESTION_CHARS: usize = 300;
const MAX_ANSWER_CHARS: usize = 4_000;

/// The insights' parts: the embedding model (none in keyword-only mode, when questions are
/// grouped by their words) and where reviews are kept.
pub struct Insights {
    embedder: Option<Arc<dyn QuestionEmbedder>>,
    documents: Arc<dyn DocumentStore>,
    thresholds: Thresholds,
    /// One review at a time on this replica, so approving twice cannot add an entry twice.
    reviewing: tokio::sync::Mutex<()>,
    /// This replica, as the holder of the indexing lease.
    holder: String,
    /// The stored vectors of recent days as last read: document id → (its SHA-256, vectors).
    days: std::sync::Mutex<HashMap<String, (String, Arc<StoredDay>)>>,
}

/// One day's stored question vectors, by message id.
type StoredDay = BTreeMap<String, Quantised>;

/// Days of stored vectors kept in memory (two periods of a month, with room).
const DAYS_KEPT: usize = 70;
/// How often the indexer looks for new questions; its lease lasts three rounds.
pub const INDEX_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
const LEASE_MS: u64 = 90_000;
/// Most questions one indexing round embeds (the rest wait for the next round), so it never
/// holds the CPU for long.
const INDEX_BATCH: usize = 2_000;
/// How far back the first round looks: the default period and the one before it.
const INDEX_BACK_MS: i64 = 62 * 86_400_000;

impl Insights {
    /// Insights over the model (if any) and the store's documents.
    pub fn new(embedder: Option<Arc<dyn QuestionEmbedder>>, documents: Arc<dyn DocumentStore>) -> Self {
        let thresholds =
            embedder.as_ref().map_or_else(Thresholds::default, |e| Thresholds::for_scale(e.scale()));
        Self {
            embedder,
            documents,
            thresholds,
            reviewing: tokio::sync::Mutex::new(()),
            holder: frontdesk_core::new_id(),
            days: std::sync::Mutex::default(),
        }
    }

    /// The SHA-256 of every stored day of vectors, by document id (the documents' records,
    /// without their content).
    async fn stored_days(&self) -> frontdesk_core::Result<HashMap<String, String>> {
        Ok(self
            .documents
            .list_documents()
            .await?
            .into_iter()
            .filter(|d| d.id.starts_with(&insights::vectors_document("")))
            .map(|d| (d.id, d.sha256))
            .collect())
    }

    /// The stored vectors of `day` (`YYYY-MM-DD`), whose document has `listed` as its SHA-256
    /// (none when there is none): read from the store only when it changed since last read.
    async fn stored_day(
        &self,
        day: &str,
        model: &str,
        listed: Option<&String>,
    ) -> frontdesk_core::Result<Arc<StoredDay>> {
        let id = insights::vectors_document(day);
        let Some(listed) = listed else { return Ok(Arc::default()) };
        let lock = || self.days.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((sha, day)) = lock().get(&id) {
            if sha == listed {
                return Ok(Arc::clone(day));
            }
        }
        let Some(document) = self.documents.get_document(&id).await? else { return Ok(Arc::default()) };
        let (model, content) = (model.to_owned(), document.content);
        let decoded =
            tokio::task::spawn_blocking(move || Arc::new(insights::decode_vectors(&content, &model)))
                .await
                .map_err(|e| Error::Internal(format!("insights task failed: {e}")))?;
        let mut days = lock();
        if days.len() >= DAYS_KEPT && !days.contains_key(&id) {
            // The oldest day goes first (the ids end with the date).
            if let Some(oldest) = days.keys().min().cloned() {
                days.remove(&oldest);
            }
        }
        days.insert(id, (document.info.sha256, Arc::clone(&decoded)));
        Ok(decoded)
    }

    /// The stored vectors of these questions, by message id.
    async fn stored_for(&self, asked: &[&Asked]) -> frontdesk_core::Result<HashMap<String, Vec<f32>>> {
        let Some(embedder) = &self.embedder else { return Ok(HashMap::new()) };
        let mut by_day: BTreeMap<String, Vec<&Asked>> = BTreeMap::new();
        for a in asked {
            by_day.entry(crate::export::iso_time(a.created_ms)[..10].to_owned()).or_default().push(a);
        }
        let mut out = HashMap::new();
        let listed = self.stored_days().await?;
        for (day, asked) in by_day {
            let stored = self
                .stored_day(&day, embedder.model(), listed.get(&insights::vectors_document(&day)))
                .await?;
            for a in asked {
                if let Some(q) = stored.get(&a.message_id) {
                    out.insert(a.message_id.clone(), q.vector());
                }
            }
        }
        Ok(out)
    }

    /// One indexing round: the visitor questions asked since `since_ms` that have no stored
    /// vector get one (at most [`INDEX_BATCH`]), written into their day's document. Only the
    /// replica holding the lease works. Returns how many were embedded, and whether every
    /// question since `since_ms` now has its vector.
    pub async fn index_questions(
        &self,
        store: &dyn SessionStore,
        since_ms: i64,
    ) -> frontdesk_core::Result<(usize, bool)> {
        let Some(embedder) = self.embedder.clone() else { return Ok((0, true)) };
        if !store.try_lease("insights", &self.holder, LEASE_MS).await? {
            return Ok((0, false));
        }
        let mut by_day: BTreeMap<String, Vec<Asked>> = BTreeMap::new();
        questions_since(store, since_ms, |asked| {
            // (Questions the model cannot place get no vector: asking costs nothing.)
            if asked.created_ms >= since_ms {
                by_day
                    .entry(crate::export::iso_time(asked.created_ms)[..10].to_owned())
                    .or_default()
                    .push(asked);
            }
            true
        })
        .await?;
        let (mut embedded, mut complete) = (0, true);
        let listed = self.stored_days().await?;
        for (day, asked) in by_day {
            let stored = self
                .stored_day(&day, embedder.model(), listed.get(&insights::vectors_document(&day)))
                .await?;
            let mut missing: Vec<Asked> =
                asked.into_iter().filter(|a| !stored.contains_key(&a.message_id)).collect();
            if missing.is_empty() {
                continue;
            }
            if embedded + missing.len() > INDEX_BATCH {
                missing.truncate(INDEX_BATCH - embedded);
                complete = false;
            }
            let embedder = Arc::clone(&embedder);
            let mut kept: StoredDay = (*stored).clone();
            let (content, count) =
                tokio::task::spawn_blocking(move || -> frontdesk_core::Result<(Vec<u8>, usize)> {
                    let texts: Vec<String> =
                        missing.iter().map(|a| insights::core_question(&a.text)).collect();
                    let vectors =
                        embedder.embed_questions(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
                    let mut count = 0;
                    for (asked, vector) in missing.iter().zip(vectors) {
                        if let Some(vector) = vector {
                            kept.insert(asked.message_id.clone(), Quantised::new(&vector));
                            count += 1;
                        }
                    }
                    Ok((insights::encode_vectors(embedder.model(), &kept), count))
                })
                .await
                .map_err(|e| Error::Internal(format!("insights task failed: {e}")))??;
            if count > 0 {
                let document = Document::new(insights::vectors_document(&day), content, count as u64);
                self.documents.put_document(&document).await?;
            }
            embedded += count;
            if !complete {
                break;
            }
        }
        Ok((embedded, complete))
    }

    /// Indexes new questions every [`INDEX_EVERY`] until `stop`, on every replica (the lease
    /// lets one work at a time).
    pub fn follow(
        self: &Arc<Self>,
        store: Arc<dyn SessionStore>,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut since = frontdesk_core::now_ms() - INDEX_BACK_MS;
            loop {
                let started = frontdesk_core::now_ms();
                match this.index_questions(store.as_ref(), since).await {
                    // Conversations updated shortly before the round started are read again
                    // next time, in case a write landed while this one read.
                    Ok((embedded, true)) => {
                        since = started - 60_000;
                        if embedded > 0 {
                            tracing::info!(embedded, "visitor questions embedded for the insights");
                        }
                    }
                    Ok((embedded, false)) => {
                        tracing::debug!(embedded, "insights indexing continues next round")
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not index questions for the insights; will retry")
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(INDEX_EVERY) => {}
                    () = stop.cancelled() => return,
                }
            }
        })
    }

    async fn reviews(&self) -> frontdesk_core::Result<Vec<Review>> {
        match self.documents.get_document(REVIEWS_DOCUMENT).await? {
            Some(document) => serde_json::from_slice(&document.content)
                .map_err(|e| Error::Internal(format!("the stored reviews do not read: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    async fn save_reviews(&self, reviews: &[Review]) -> frontdesk_core::Result<()> {
        let content = serde_json::to_vec(reviews).map_err(|e| Error::Internal(e.to_string()))?;
        self.documents.put_document(&Document::new(REVIEWS_DOCUMENT, content, reviews.len() as u64)).await
    }
}

/// The period asked for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodParams {
    /// Start: `YYYY-MM-DD` (UTC) or ms since the epoch; default 30 days before `to`.
    from: Option<String>,
    /// End, exclusive: `YYYY-MM-DD` (that whole day included) or ms; default now.
    to: Option<String>,
    /// Topics per page (1 to 500, default 50).
    limit: Option<usize>,
    /// Topics skipped.
    offset: Option<usize>,
}

/// ms since the epoch of a `from`/`to` value; a date's end is the next day's start.
fn instant(value: &str, end: bool) -> Option<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return Some(ms);
    }
    let start = crate::export::day_start_ms(value)?;
    Some(if end { start + 86_400_000 } else { start })
}

impl PeriodParams {
    /// (from, to) in ms, checked.
    fn window(&self) -> Result<(i64, i64), Error> {
        let bad = |what: &str, value: &str| {
            Error::BadRequest(format!(
                "{what} {value:?} is neither a date (YYYY-MM-DD) nor ms since the epoch"
            ))
        };
        let to = match &self.to {
            Some(value) => instant(value, true).ok_or_else(|| bad("to", value))?,
            None => frontdesk_core::now_ms(),
        };
        let from = match &self.from {
            Some(value) => instant(value, false).ok_or_else(|| bad("from", value))?,
            None => to - 30 * 86_400_000,
        };
        if from >= to {
            return Err(Error::BadRequest("from must be before to".into()));
        }
        if to - from > MAX_DAYS * 86_400_000 {
            return Err(Error::BadRequest(format!("a period may last at most {MAX_DAYS} days")));
        }
        Ok((from, to))
    }
}

impl PeriodParams {
    /// (limit, offset) of a page, checked.
    fn page(&self) -> Result<(usize, usize), Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_TOPICS_PAGE).contains(&limit) {
            return Err(Error::BadRequest(format!("limit must be 1 to {MAX_TOPICS_PAGE}; page with offset")));
        }
        Ok((limit, self.offset.unwrap_or(0)))
    }
}

/// The period's questions (with the period before) and their topics.
async fn grouped(state: &AppState, from: i64, to: i64) -> frontdesk_core::Result<(Questions, Vec<Topic>)> {
    let insights = insights_of(state)?;
    let questions = read_questions(state, from, to).await?;
    topics_of(insights, questions).await
}

/// A topic of the last 30 days as a source for the content studio: its label, its count and
/// up to `limit` distinct questions, the most central first.
pub(crate) async fn topic_source(
    state: &AppState,
    id: &str,
    limit: usize,
) -> frontdesk_core::Result<frontdesk_core::content::TopicSource> {
    let to = frontdesk_core::now_ms();
    let (questions, topics) = grouped(state, to - 30 * 86_400_000, to).await?;
    let topic = topics
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::BadRequest(format!("no topic {id:?} in the last 30 days")))?;
    let mut texts: Vec<String> = Vec::new();
    for &i in &topic.members {
        let text = insights::core_question(&questions.current[i].text);
        if texts.len() < limit && !texts.iter().any(|t| t.eq_ignore_ascii_case(&text)) {
            texts.push(text);
        }
    }
    Ok(crate::content::topic_source_of(&topic, texts))
}

/// The questions of a period and of the one before it, newest conversations first.
struct Questions {
    current: Vec<Asked>,
    previous: Vec<Asked>,
    sampled: bool,
}

async fn read_questions(state: &AppState, from: i64, to: i64) -> frontdesk_core::Result<Questions> {
    let before = from - (to - from);
    let mut out = Questions { current: Vec::new(), previous: Vec::new(), sampled: false };
    questions_since(state.chat.store().as_ref(), before, |asked| {
        if out.current.len() + out.previous.len() >= MAX_QUESTIONS {
            out.sampled = true;
            return false;
        }
        if (from..to).contains(&asked.created_ms) {
            out.current.push(asked);
        } else if (before..from).contains(&asked.created_ms) {
            out.previous.push(asked);
        }
        true
    })
    .await?;
    Ok(out)
}

/// Hands `keep` each visitor question of the conversations updated since `since_ms`, newest
/// conversations first, until it says `false`.
async fn questions_since(
    store: &dyn SessionStore,
    since_ms: i64,
    mut keep: impl FnMut(Asked) -> bool + Send,
) -> frontdesk_core::Result<()> {
    let mut query =
        ConversationQuery { updated_from_ms: Some(since_ms), limit: 200, ..ConversationQuery::default() };
    loop {
        let page = store.list_conversations(&query).await?;
        for conversation in &page.conversations {
            for asked in questions_of(&conversation.id, &store.list_messages(&conversation.id).await?) {
                if !keep(asked) {
                    return Ok(());
                }
            }
        }
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// The topics of the questions, on the blocking pool: each question's stored vector, or one
/// embedded now (cached) when the indexer has not reached it yet.
async fn topics_of(
    insights: &Arc<Insights>,
    questions: Questions,
) -> frontdesk_core::Result<(Questions, Vec<Topic>)> {
    let stored =
        insights.stored_for(&questions.current.iter().chain(&questions.previous).collect::<Vec<_>>()).await?;
    let insights = Arc::clone(insights);
    tokio::task::spawn_blocking(move || {
        let vectors = |asked: &[Asked]| -> frontdesk_core::Result<Vec<Option<Vec<f32>>>> {
            let Some(embedder) = &insights.embedder else { return Ok(vec![None; asked.len()]) };
            let missing: Vec<&Asked> = asked.iter().filter(|a| !stored.contains_key(&a.message_id)).collect();
            let texts: Vec<String> = missing.iter().map(|a| insights::core_question(&a.text)).collect();
            let computed = embedder.embed_questions(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
            let mut computed: HashMap<&str, Option<Vec<f32>>> =
                missing.iter().map(|a| a.message_id.as_str()).zip(computed).collect();
            Ok(asked
                .iter()
                .map(|a| {
                    stored
                        .get(&a.message_id)
                        .cloned()
                        .or_else(|| computed.remove(a.message_id.as_str()).flatten())
                })
                .collect())
        };
        let (now, before) = (vectors(&questions.current)?, vectors(&questions.previous)?);
        let topics = insights::topics(
            &Period { asked: &questions.current, vectors: &now },
            &Period { asked: &questions.previous, vectors: &before },
            insights.thresholds,
        );
        Ok((questions, topics))
    })
    .await
    .map_err(|e| Error::Internal(format!("insights task failed: {e}")))?
}

fn insights_of(state: &AppState) -> Result<&Arc<Insights>, Error> {
    state.insights.as_ref().ok_or_else(|| Error::Busy("insights are not enabled on this server".into()))
}

/// `GET /api/v1/insights/topics`
#[derive(Debug, Serialize)]
pub struct TopicsPage {
    /// The period, ms since the epoch (`to` exclusive).
    pub from: i64,
    /// Its end.
    pub to: i64,
    /// Questions in it.
    pub questions: u64,
    /// Questions in the period before, of the same length.
    pub previous_questions: u64,
    /// Whether there were more questions than one computation reads (the newest were read).
    pub sampled: bool,
    /// Topics in all.
    pub total: usize,
    /// This page of them, largest first.
    pub topics: Vec<Topic>,
    /// The offset of the next page, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// `GET /api/v1/insights/topics`
pub async fn topics(
    State(state): State<AppState>,
    _admin: AdminKey,
    params: Result<Query<PeriodParams>, QueryRejection>,
) -> ApiResult<Json<TopicsPage>> {
    let Query(params) = params?;
    let (from, to) = params.window()?;
    let (limit, offset) = params.page()?;
    let (questions, topics) = grouped(&state, from, to).await?;
    let total = topics.len();
    let page: Vec<Topic> = topics.into_iter().skip(offset).take(limit).collect();
    let next_offset = (offset + page.len() < total).then_some(offset + page.len());
    Ok(Json(TopicsPage {
        from,
        to,
        questions: questions.current.len() as u64,
        previous_questions: questions.previous.len() as u64,
        sampled: questions.sampled,
        total,
        topics: page,
        next_offset,
    }))
}

/// A question of a topic, as listed.
#[derive(Debug, Serialize)]
pub struct TopicQuestion {
    /// As typed (personal details redacted or masked as stored).
    pub question: String,
    /// Its conversation.
    pub conversation_id: String,
    /// How it was served.
    pub outcome: insights::Outcome,
    /// The visitor's rating of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<frontdesk_core::model::FeedbackValue>,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// `GET /api/v1/insights/topics/{id}/questions`
#[derive(Debug, Serialize)]
pub struct TopicQuestions {
    /// The topic.
    pub topic: Topic,
    /// This page of its questions, the most central first.
    pub questions: Vec<TopicQuestion>,
    /// The offset of the next page, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// `GET /api/v1/insights/topics/{id}/questions`: a topic's questions, a page at a time.
pub async fn topic_questions(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
    params: Result<Query<PeriodParams>, QueryRejection>,
) -> ApiResult<Json<TopicQuestions>> {
    let Query(params) = params?;
    let (from, to) = params.window()?;
    let (limit, offset) = params.page()?;
    let (questions, topics) = grouped(&state, from, to).await?;
    let topic = topics
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::NotFound(format!("topic {id} in this period")))?;
    let page: Vec<TopicQuestion> = topic
        .members
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&i| {
            let asked = &questions.current[i];
            TopicQuestion {
                question: asked.text.clone(),
                conversation_id: asked.conversation_id.clone(),
                outcome: asked.outcome,
                feedback: asked.feedback,
                at_ms: asked.created_ms,
            }
        })
        .collect();
    let next_offset = (offset + page.len() < topic.members.len()).then_some(offset + page.len());
    Ok(Json(TopicQuestions { topic, questions: page, next_offset }))
}

/// A review as listed (without the topic's centre).
#[derive(Debug, Serialize)]
pub struct ReviewView {
    /// The suggestion.
    pub suggestion_id: String,
    /// Approved or dismissed.
    pub decision: Decision,
    /// The question.
    pub question: String,
    /// The answer approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The document it went into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// `GET /api/v1/suggestions`
#[derive(Debug, Serialize)]
pub struct Suggestions {
    /// The period, ms since the epoch.
    pub from: i64,
    /// Its end.
    pub to: i64,
    /// Whether the questions were sampled (see the topics).
    pub sampled: bool,
    /// Suggestions not reviewed yet, the worst gap first.
    pub pending: Vec<Suggestion>,
    /// Reviews made, newest first.
    pub reviewed: Vec<ReviewView>,
}

/// A pending suggestion with what it needs to be reviewed.
struct Pending {
    suggestion: Suggestion,
    topic: Topic,
}

/// The gaps' suggestions not reviewed yet (the worst [`MAX_SUGGESTIONS`]), or only the one
/// with the id `only`: the search for the entry each improves is made for those returned.
async fn pending(
    state: &AppState,
    insights: &Arc<Insights>,
    from: i64,
    to: i64,
    only: Option<&str>,
) -> frontdesk_core::Result<(Vec<Pending>, Vec<Review>, bool)> {
    let (questions, topics) = grouped(state, from, to).await?;
    let reviews = insights.reviews().await?;
    let mut out = Vec::new();
    let unreviewed =
        gaps(&topics).into_iter().filter(|t| reviewed(t, &reviews, insights.thresholds).is_none());
    for topic in unreviewed.take(MAX_SUGGESTIONS) {
        if only.is_some_and(|id| id != insights::suggestion_id(topic)) {
            continue;
        }
        let improves = improved_entry(state, insights, topic).await?;
        out.push(Pending { suggestion: suggest(&questions.current, topic, improves), topic: topic.clone() });
    }
    Ok((out, reviews, questions.sampled))
}

/// Entries of the search's best for a topic's question that are weighed as the entry it is
/// about.
const IMPROVES_CANDIDATES: usize = 3;

/// The existing entry a gap is about: of the search's best entries for its question, the one
/// whose question would itself join the topic (its cosine to the topic's centre reaches the
/// threshold a visitor's question needs), the closest first. For a topic grouped by words, the
/// entry's question is compared with the topic's by their words, at that threshold.
async fn improved_entry(
    state: &AppState,
    insights: &Arc<Insights>,
    topic: &Topic,
) -> frontdesk_core::Result<Option<ImprovedEntry>> {
    let candidates = state.chat.retriever().search(&topic.label, IMPROVES_CANDIDATES).await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let titles: Vec<String> = candidates.iter().map(|p| p.title.clone()).collect();
    let (label, centre) = (topic.label.clone(), topic.centre.clone());
    let embedder = insights.embedder.clone();
    let by_model = topic.grouped_by == "model";
    let cosines = tokio::task::spawn_blocking(move || -> frontdesk_core::Result<Vec<f32>> {
        let texts: Vec<&str> = titles.iter().map(String::as_str).collect();
        if let (true, Some(embedder)) = (by_model, embedder) {
            let vectors = embedder.embed_questions(&texts)?;
            return Ok(vectors.iter().map(|v| v.as_deref().map_or(0.0, |v| dot(v, &centre))).collect());
        }
        let mut all = vec![label.as_str()];
        all.extend(texts);
        let v = lexical_vectors(&all);
        Ok(v[1..].iter().map(|t| dot(&v[0], t)).collect())
    })
    .await
    .map_err(|e| Error::Internal(format!("insights task failed: {e}")))??;
    let threshold = if by_model { insights.thresholds.model } else { insights.thresholds.words };
    let best = candidates
        .into_iter()
        .zip(cosines)
        .filter(|(_, cosine)| *cosine >= threshold)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    Ok(best.map(|(entry, _)| ImprovedEntry {
        entry_id: entry.entry_id,
        document_id: entry.document_id,
        title: entry.title,
    }))
}

fn view(review: &Review) -> ReviewView {
    ReviewView {
        suggestion_id: review.suggestion_id.clone(),
        decision: review.decision,
        question: review.question.clone(),
        answer: review.answer.clone(),
        document_id: review.document_id.clone(),
        at_ms: review.at_ms,
    }
}

/// `GET /api/v1/suggestions`
pub async fn suggestions(
    State(state): State<AppState>,
    _admin: AdminKey,
    params: Result<Query<PeriodParams>, QueryRejection>,
) -> ApiResult<Json<Suggestions>> {
    let Query(params) = params?;
    let (from, to) = params.window()?;
    let insights = insights_of(&state)?;
    let (pending, reviews, sampled) = pending(&state, insights, from, to, None).await?;
    let mut reviewed: Vec<ReviewView> = reviews.iter().map(view).collect();
    reviewed.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
    Ok(Json(Suggestions {
        from,
        to,
        sampled,
        pending: pending.into_iter().map(|p| p.suggestion).collect(),
        reviewed,
    }))
}

/// The body of an approval.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The entry's question (default: as suggested).
    question: Option<String>,
    /// Its answer (default: as drafted; required when nothing was drafted).
    answer: Option<String>,
    /// The Markdown document it goes into (default: the improved entry's, else
    /// `suggested.md`).
    document_id: Option<String>,
    /// Create the document when it does not exist (otherwise that is an error: it may have
    /// been deleted meanwhile).
    #[serde(default)]
    new_document: bool,
}

async fn find_pending(
    state: &AppState,
    insights: &Arc<Insights>,
    id: &str,
    params: &PeriodParams,
) -> Result<(Pending, Vec<Review>), Error> {
    let (from, to) = params.window()?;
    let (pending, reviews, _) = pending(state, insights, from, to, Some(id)).await?;
    if let Some(done) = reviews.iter().find(|r| r.suggestion_id == id) {
        let what = match done.decision {
            Decision::Approved => "approved",
            Decision::Dismissed => "dismissed",
        };
        return Err(Error::Conflict(format!("suggestion {id} was already {what}")));
    }
    let found = pending.into_iter().find(|p| p.suggestion.id == id).ok_or_else(|| {
        Error::NotFound(format!("suggestion {id} (reload the suggestions: it may have changed)"))
    })?;
    Ok((found, reviews))
}

/// The lease that lets one review run at a time across replicas, how long it lasts if its
/// holder dies, and how long a review waits for it.
const REVIEW_LEASE: &str = "insights-review";
const REVIEW_LEASE_MS: u64 = 15_000;
const REVIEW_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs a review holding this replica's review lock and the store's review lease, so two
/// admins on two replicas cannot review at once (the reviews are one document: both would
/// read it, and the second write would drop the first's review). The second waits, at most
/// [`REVIEW_WAIT`], then is told to try again.
async fn exclusively<T>(
    state: &AppState,
    insights: &Insights,
    work: impl std::future::Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    let _reviewing = insights.reviewing.lock().await;
    let store = state.chat.store();
    let deadline = tokio::time::Instant::now() + REVIEW_WAIT;
    while !store.try_lease(REVIEW_LEASE, &insights.holder, REVIEW_LEASE_MS).await? {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Busy("another admin is reviewing a suggestion: try again".into()).into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let result = work.await;
    // Handed on at once (a lease of 1 ms), not left to run out.
    if let Err(error) = store.try_lease(REVIEW_LEASE, &insights.holder, 1).await {
        tracing::warn!(%error, "could not hand on the review lease; it runs out by itself");
    }
    result
}

/// `POST /api/v1/suggestions/{id}/approve`
pub async fn approve(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
    params: Result<Query<PeriodParams>, QueryRejection>,
    body: Result<Json<Approval>, JsonRejection>,
) -> ApiResult<Json<Approved>> {
    let Query(params) = params?;
    let Json(body) = body?;
    let insights = insights_of(&state)?;
    exclusively(&state, insights, approve_now(&state, insights, &id, &params, body)).await
}

/// An approval, while no other review runs.
async fn approve_now(
    state: &AppState,
    insights: &Arc<Insights>,
    id: &str,
    params: &PeriodParams,
    body: Approval,
) -> ApiResult<Json<Approved>> {
    let (Pending { suggestion, topic }, mut reviews) = find_pending(state, insights, id, params).await?;
    let question = body.question.unwrap_or_else(|| suggestion.question.clone());
    let question = question.split_whitespace().collect::<Vec<_>>().join(" ");
    let answer = body.answer.or_else(|| suggestion.answer.clone()).unwrap_or_default().trim().to_owned();
    if question.is_empty() || question.chars().count() > MAX_QUESTION_CHARS {
        return Err(Error::BadRequest(format!(
            "the question must have 1 to {MAX_QUESTION_CHARS} characters"
        ))
        .into());
    }
    if answer.is_empty() {
        return Err(Error::BadRequest(
            "write the answer before approving: no agent replied on this topic".into(),
        )
        .into());
    }
    if answer.chars().count() > MAX_ANSWER_CHARS {
        return Err(
            Error::BadRequest(format!("an answer may have at most {MAX_ANSWER_CHARS} characters")).into()
        );
    }
    let document_id = body
        .document_id
        .or_else(|| suggestion.improves.as_ref().map(|e| e.document_id.clone()))
        .unwrap_or_else(|| "suggested.md".to_owned());
    // The entry the suggestion improves is edited in place when it is in this document;
    // otherwise the entry is added at the document's end.
    let replaces =
        suggestion.improves.as_ref().filter(|e| e.document_id == document_id).map(|e| e.entry_id.clone());
    let edit =
        EntryEdit { question: question.clone(), answer: answer.clone(), replaces, create: body.new_document };
    let (_, written) = state.library.write_entry(&document_id, &edit).await?;
    let review = Review {
        suggestion_id: suggestion.id,
        decision: Decision::Approved,
        question,
        answer: Some(answer),
        document_id: Some(document_id),
        grouped_by: topic.grouped_by,
        centre: topic.centre,
        at_ms: frontdesk_core::now_ms(),
    };
    reviews.push(review.clone());
    insights.save_reviews(&reviews).await?;
    Ok(Json(Approved { review: view(&review), written }))
}

/// What an approval did.
#[derive(Debug, Serialize)]
pub struct Approved {
    /// The review kept.
    #[serde(flatten)]
    pub review: ReviewView,
    /// Whether an existing entry was edited or a new one added.
    pub written: EntryWritten,
}

/// `POST /api/v1/suggestions/{id}/dismiss`
pub async fn dismiss(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
    params: Result<Query<PeriodParams>, QueryRejection>,
) -> ApiResult<Json<ReviewView>> {
    let Query(params) = params?;
    let insights = insights_of(&state)?;
    exclusively(&state, insights, dismiss_now(&state, insights, &id, &params)).await
}

/// A dismissal, while no other review runs.
async fn dismiss_now(
    state: &AppState,
    insights: &Arc<Insights>,
    id: &str,
    params: &PeriodParams,
) -> ApiResult<Json<ReviewView>> {
    let (Pending { suggestion, topic }, mut reviews) = find_pending(state, insights, id, params).await?;
    let review = Review {
        suggestion_id: suggestion.id,
        decision: Decision::Dismissed,
        question: suggestion.question,
        answer: None,
        document_id: None,
        grouped_by: topic.grouped_by,
        centre: topic.centre,
        at_ms: frontdesk_core::now_ms(),
    };
    reviews.push(review.clone());
    insights.save_reviews(&reviews).await?;
    Ok(Json(view(&review)))
}

/// The body of a correction.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The right answer.
    answer: String,
}

/// What a correction changed.
#[derive(Debug, Serialize)]
pub struct Corrected {
    /// The document written.
    pub document_id: String,
    /// The entry's question.
    pub question: String,
    /// Whether the cited entry was edited or a new entry added.
    pub written: EntryWritten,
}

/// The document a correction of an answer that cited nothing goes into.
pub const CORRECTIONS_DOCUMENT: &str = "corrections.md";

/// `POST /api/v1/conversations/{id}/messages/{message_id}/correction`: an agent marks an
/// assistant answer wrong and writes the right one. The entry the answer cited gets the new
/// answer in place (not a second entry beside it); an answer that cited nothing becomes a new
/// entry, under the visitor's question, in [`CORRECTIONS_DOCUMENT`]. Searchable on every
/// replica at once, like an upload.
pub async fn correct(
    State(state): State<AppState>,
    crate::auth::AgentKey(agent): crate::auth::AgentKey,
    Path((conversation_id, message_id)): Path<(String, String)>,
    body: Result<Json<Correction>, JsonRejection>,
) -> ApiResult<Json<Corrected>> {
    let Json(body) = body?;
    let answer = body.answer.trim().to_owned();
    if answer.is_empty() || answer.chars().count() > MAX_ANSWER_CHARS {
        return Err(
            Error::BadRequest(format!("the answer must have 1 to {MAX_ANSWER_CHARS} characters")).into()
        );
    }
    let store = state.chat.store();
    if store.get_conversation(&conversation_id).await?.is_none() {
        return Err(Error::NotFound("conversation".into()).into());
    }
    let messages = store.list_messages(&conversation_id).await?;
    let position = messages
        .iter()
        .position(|m| m.id == message_id && m.role == frontdesk_core::model::Role::Assistant)
        .ok_or_else(|| Error::NotFound("assistant answer in this conversation".into()))?;
    let asked = messages[..position]
        .iter()
        .rev()
        .find(|m| m.role == frontdesk_core::model::Role::Visitor)
        .map(|m| m.text.clone())
        .unwrap_or_default();
    let (document_id, edit) = match messages[position].sources.first() {
        Some(cited) => (
            cited.document_id.clone(),
            EntryEdit {
                question: cited.title.clone(),
                answer,
                replaces: Some(cited.entry_id.clone()),
                create: false,
            },
        ),
        None if asked.trim().is_empty() => {
            return Err(
                Error::BadRequest("the answer follows no visitor question to file it under".into()).into()
            )
        }
        None => (
            CORRECTIONS_DOCUMENT.to_owned(),
            EntryEdit { question: insights::phrase_question(&asked), answer, replaces: None, create: true },
        ),
    };
    let (_, written) = state.library.write_entry(&document_id, &edit).await?;
    tracing::info!(agent = %agent.name, document = %document_id, ?written, "answer corrected");
    Ok(Json(Corrected { document_id, question: edit.question, written }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use frontdesk_core::model::{Conversation, Message, Role};
    use frontdesk_core::testing::MemoryStore;

    use super::*;

    /// A model that places every text on one of two axes by its first letter, and counts the
    /// texts it embeds.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl QuestionEmbedder for Counting {
        fn embed_questions(&self, texts: &[&str]) -> frontdesk_core::Result<Vec<Option<Vec<f32>>>> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| Some(if t.starts_with('H') { vec![1.0, 0.0] } else { vec![0.0, 1.0] }))
                .collect())
        }
        fn model(&self) -> &str {
            "counting"
        }
    }

    async fn ask(store: &MemoryStore, questions: &[&str]) {
        let conversation = Conversation::new("visitor-1", None);
        store.create_conversation(&conversation).await.expect("created");
        for question in questions {
            store
                .append_message(&conversation.id, Message::new(Role::Visitor, *question))
                .await
                .expect("stored");
        }
    }

    #[tokio::test]
    async fn each_question_is_embedded_once_by_the_lease_holder() {
        let store = Arc::new(MemoryStore::default());
        let model = Arc::new(Counting::default());
        let insights = Insights::new(Some(model.clone() as Arc<dyn QuestionEmbedder>), store.clone());
        ask(&store, &["How long does delivery take?", "Can I pay later?"]).await;
        ask(&store, &["hi, how long does delivery take"]).await;

        let since = frontdesk_core::now_ms() - 60_000;
        assert_eq!(insights.index_questions(store.as_ref(), since).await.expect("indexed"), (3, true));
        assert_eq!(model.0.load(Ordering::SeqCst), 3);
        assert_eq!(insights.index_questions(store.as_ref(), since).await.expect("again"), (0, true));
        assert_eq!(model.0.load(Ordering::SeqCst), 3, "not embedded again");

        // Another replica (a new process) reads them back from the store.
        let other = Insights::new(Some(model.clone() as Arc<dyn QuestionEmbedder>), store.clone());
        let conversations = store.list_conversations(&ConversationQuery::default()).await.expect("listed");
        let mut asked = Vec::new();
        for c in &conversations.conversations {
            asked.extend(questions_of(&c.id, &store.list_messages(&c.id).await.expect("messages")));
        }
        let stored = other.stored_for(&asked.iter().collect::<Vec<_>>()).await.expect("stored");
        assert_eq!(stored.len(), 3);
        assert_eq!(model.0.load(Ordering::SeqCst), 3, "read, not embedded");

        // While the first replica holds the lease, the other does nothing.
        ask(&store, &["Do you sell gift cards?"]).await;
        assert_eq!(other.index_questions(store.as_ref(), since).await.expect("skipped"), (0, false));
        assert_eq!(model.0.load(Ordering::SeqCst), 3);
        assert_eq!(insights.index_questions(store.as_ref(), since).await.expect("indexed"), (1, true));
    }
}
