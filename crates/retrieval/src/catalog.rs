//! The product and course catalogue: read from CSV or JSON (every row checked, the file
//! accepted whole or not at all), kept in the store under
//! [`frontdesk_core::catalog::CATALOG_DOCUMENT`], and held here with each item's embedding.
//! Every replica loads it at start and again when another announces a change, like a
//! document, so an upload is searchable everywhere as soon as the event arrives.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use frontdesk_core::catalog::{
    is_catalog_file, language_code, refusal, Availability, Catalog, CatalogItem, CatalogSummary, Catalogue,
    IndexedCatalog, ItemKind, Level, RowError, CATALOG_DOCUMENT, CATALOG_VECTORS, MAX_CATALOG_BYTES,
};
use frontdesk_core::documents::{sha256_hex, Document, DocumentStore};
use frontdesk_core::retrieve::CosineScale;
use frontdesk_core::store::{SessionStore, StoreEvent};
use frontdesk_core::{Error, Result};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::FaqIndex;

/// One row's fields, by lower-case column name, as text.
type Fields = BTreeMap<String, String>;

/// Reads a catalogue file: CSV with a header row, or JSON (a list of objects, or an object
/// with an `items` list). Every row is checked; a file with any bad row is refused with every
/// bad row and its reason.
pub fn parse_catalog(file_name: &str, bytes: &[u8]) -> Result<Catalog> {
    if bytes.len() > MAX_CATALOG_BYTES {
        return Err(Error::TooLarge(format!("a catalogue file may have at most {MAX_CATALOG_BYTES} bytes")));
    }
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes))
        .map_err(|_| Error::BadRequest("the catalogue is not UTF-8 text".into()))?;
    let lower = file_name.to_ascii_lowercase();
    let rows = if lower.ends_with(".csv") {
        csv_rows(text)?
    } else if lower.ends_with(".json") {
        json_rows(text)?
    } else {
        return Err(Error::BadRequest("a catalogue is a .csv or .json file".into()));
    };
    if rows.is_empty() {
        return Err(Error::BadRequest("the catalogue has no items".into()));
    }
    let mut items = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (i, fields) in rows.iter().enumerate() {
        match item_from(fields) {
            Ok(item) => items.push(item),
            Err(reasons) => {
                let id = fields.get("id").filter(|id| !id.trim().is_empty()).cloned();
                errors.extend(reasons.into_iter().map(|reason| RowError {
                    row: i + 1,
                    id: id.clone(),
                    reason,
                }));
            }
        }
    }
    if !errors.is_empty() {
        return Err(refusal(&errors));
    }
    Catalog::new(items).map_err(|errors| refusal(&errors))
}

fn csv_rows(text: &str) -> Result<Vec<Fields>> {
    let mut reader =
        csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::BadRequest(format!("the catalogue's header row does not read: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for needed in ["id", "name", "price"] {
        if !headers.iter().any(|h| h == needed) {
            return Err(Error::BadRequest(format!("the catalogue has no {needed:?} column")));
        }
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::BadRequest(format!("row {}: {e}", i + 1)))?;
        rows.push(headers.iter().cloned().zip(record.iter().map(str::to_owned)).collect());
    }
    Ok(rows)
}

fn json_rows(text: &str) -> Result<Vec<Fields>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::BadRequest(format!("the catalogue is not JSON: {e}")))?;
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut object) => match object.remove("items") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(Error::BadRequest(
                    "a JSON catalogue is a list of items or {\"items\": [...]}".into(),
                ))
            }
        },
        _ => {
            return Err(Error::BadRequest("a JSON catalogue is a list of items or {\"items\": [...]}".into()))
        }
    };
    list.into_iter()
        .enumerate()
        .map(|(i, row)| match row {
            Value::Object(object) => Ok(object
                .into_iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(s) => s,
                        Value::Array(parts) => parts
                            .into_iter()
                            .map(|p| match p {
                                Value::String(s) => s,
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(";"),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (key.to_ascii_lowercase(), text)
                })
                .collect()),
            _ => Err(Error::BadRequest(format!("row {}: an item is a JSON object", i + 1))),
        })
        .collect()
}

/// A list field: `;`-separated (and `,` too, for tags written as a sentence).
fn list(text: &str, commas: bool) -> Vec<String> {
    text.split(|c| c == ';' || c == '|' || (commas && c == ','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A price with an optional currency sign or code around it: `749`, `€749`, `749.00 EUR`.
fn price_of(text: &str) -> (Option<f64>, Option<String>) {
    let signs = [("€", "EUR"), ("$", "USD"), ("£", "GBP"), ("¥", "CNY")];
    let mut currency = None;
    let mut rest = text.trim().to_owned();
    for (sign, code) in signs {
        if rest.contains(sign) {
            currency = Some(code.to_owned());
            rest = rest.replace(sign, "");
        }
    }
    let letters: String = rest.chars().filter(char::is_ascii_alphabetic).collect();
    if letters.len() == 3 {
        currency = Some(letters.to_ascii_uppercase());
        rest.retain(|c| !c.is_ascii_alphabetic());
    }
    let number = rest.trim().replace(',', "");
    (number.parse::<f64>().ok().filter(|p| p.is_finite()), currency)
}

/// One item from its fields, or every problem of the row.
fn item_from(fields: &Fields) -> std::result::Result<CatalogItem, Vec<String>> {
    let get = |key: &str| fields.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut problems = Vec::new();
    let id = get("id").unwrap_or_default().to_owned();
    if id.is_empty() {
        problems.push("no id".to_owned());
    }
    let kind = match get("kind").or_else(|| get("type")).map(str::to_ascii_lowercase).as_deref() {
        None | Some("product") => ItemKind::Product,
        Some("course") => ItemKind::Course,
        Some(other) => {
            problems.push(format!("kind {other:?} is neither product nor course"));
            ItemKind::Product
        }
    };
    let (price, sign) = match get("price") {
        None => {
            problems.push("no price".into());
            (0.0, None)
        }
        Some(text) => match price_of(text) {
            (Some(price), sign) => (price, sign),
            (None, _) => {
                problems.push(format!("price {text:?} is not a number"));
                (0.0, None)
            }
        },
    };
    let currency = match get("currency").map(str::to_ascii_uppercase).or(sign) {
        Some(currency) => currency,
        None => {
            problems.push("no currency (a currency column, or a sign such as € in the price)".into());
            String::new()
        }
    };
    let level = get("level").and_then(|text| {
        let level = Level::parse(text);
        if level.is_none() {
            problems.push(format!("level {text:?} is not beginner, intermediate or advanced"));
        }
        level
    });
    let availability = match get("availability") {
        None => Availability::InStock,
        Some(text) => Availability::parse(text).unwrap_or_else(|| {
            problems.push(format!("availability {text:?} is not in_stock, preorder or out_of_stock"));
            Availability::InStock
        }),
    };
    let duration_hours = get("duration_hours").or_else(|| get("duration")).and_then(|text| {
        let hours =
            text.trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace()).parse::<f64>().ok();
        if hours.is_none() {
            problems.push(format!("duration {text:?} is not a number of hours"));
        }
        hours
    });
    let language = get("language").and_then(|text| {
        let code = language_code(text);
        if code.is_none() {
            problems.push(format!("language {text:?} is not a language name or ISO 639-1 code"));
        }
        code
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(CatalogItem {
        id,
        kind,
        name: get("name").unwrap_or_default().to_owned(),
        description: get("description").unwrap_or_default().to_owned(),
        price,
        currency,
        category: get("category").unwrap_or_default().to_owned(),
        tags: get("tags").map(|t| list(t, true)).unwrap_or_default(),
        url: get("url").map(str::to_owned),
        image_url: get("image_url").or_else(|| get("image")).map(str::to_owned),
        availability,
        level,
        duration_hours,
        language,
        start_dates: get("start_dates").map(|t| list(t, true)).unwrap_or_default(),
        prerequisites: get("prerequisites").map(|t| list(t, true)).unwrap_or_default(),
    })
}

/// The items' embeddings as stored: a header line naming the model and the catalogue's
/// SHA-256 they belong to, then each vector's little-endian floats.
fn vectors_document(model: &str, catalogue_sha: &str, vectors: &[Vec<f32>]) -> Vec<u8> {
    let dimensions = vectors.first().map_or(0, Vec::len);
    let mut out = format!("{model}\t{catalogue_sha}\t{}\t{dimensions}\n", vectors.len()).into_bytes();
    for vector in vectors {
        out.extend(crate::embed::to_bytes(vector));
    }
    out
}

/// The stored embeddings, if they are this model's for this catalogue.
fn read_vectors(bytes: &[u8], model: &str, catalogue_sha: &str) -> Option<Vec<Vec<f32>>> {
    let end = bytes.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..end]).ok()?;
    let fields: Vec<&str> = header.split('\t').collect();
    let [stored_model, stored_sha, count, dimensions] = fields.as_slice() else { return None };
    if *stored_model != model || *stored_sha != catalogue_sha {
        return None;
    }
    let (count, dimensions): (usize, usize) = (count.parse().ok()?, dimensions.parse().ok()?);
    let body = &bytes[end + 1..];
    if dimensions == 0 || body.len() != count * dimensions * 4 {
        return None;
    }
    body.chunks(dimensions * 4).map(crate::embed::from_bytes).collect()
}

/// Each item's embedding in order, and the table of embeddings by text hash kept for the next
/// upload.
type Embedded = (Vec<Vec<f32>>, HashMap<String, Vec<f32>>);

/// The catalogue in the store, held here with its items' embeddings.
pub struct CatalogStore {
    events: Arc<dyn SessionStore>,
    documents: Arc<dyn DocumentStore>,
    /// Embeds items and questions (its model, its query batcher); none without a model.
    index: FaqIndex,
    current: RwLock<Arc<IndexedCatalog>>,
    /// The SHA-256 of the stored catalogue held now.
    held: Mutex<Option<String>>,
    /// Embeddings by the SHA-256 of the item's text, so an upload embeds only what changed.
    vectors: Mutex<HashMap<String, Vec<f32>>>,
    /// One change at a time.
    writing: tokio::sync::Mutex<()>,
}

impl CatalogStore {
    /// An empty catalogue over the store; [`Self::sync`] loads the stored one.
    pub fn new(events: Arc<dyn SessionStore>, documents: Arc<dyn DocumentStore>, index: FaqIndex) -> Self {
        Self {
            events,
            documents,
            index,
            current: RwLock::new(Arc::new(IndexedCatalog::default())),
            held: Mutex::new(None),
            vectors: Mutex::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// Holds `catalog`, embedding the items whose text is new (on the blocking pool), unless
    /// `stored` holds every item's embedding already (another replica's).
    async fn hold(&self, catalog: Catalog, sha: String, stored: Option<Vec<Vec<f32>>>) -> Result<()> {
        let texts: Vec<String> = catalog.items().iter().map(CatalogItem::search_text).collect();
        let mut known = self.vectors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let index = self.index.clone();
        let vectors = tokio::task::spawn_blocking(move || -> Result<Option<Embedded>> {
            let Some(embedder) = index.embedder() else { return Ok(None) };
            let keys: Vec<String> = texts.iter().map(|t| sha256_hex(t.as_bytes())).collect();
            if let Some(stored) = stored.filter(|s| s.len() == keys.len()) {
                known.extend(keys.iter().cloned().zip(stored));
            }
            let missing: Vec<(usize, &str)> = texts
                .iter()
                .enumerate()
                .filter(|(i, _)| !known.contains_key(&keys[*i]))
                .map(|(i, t)| (i, t.as_str()))
                .collect();
            let computed = embedder
                .embed(&missing.iter().map(|(_, t)| *t).collect::<Vec<_>>())
                .map_err(|e| Error::Internal(format!("cannot embed the catalogue: {e}")))?;
            let mut table: HashMap<String, Vec<f32>> = HashMap::new();
            for ((i, _), vector) in missing.iter().zip(computed) {
                table.insert(keys[*i].clone(), vector);
            }
            let vectors = keys
                .iter()
                .map(|k| table.get(k).or_else(|| known.get(k)).cloned().unwrap_or_default())
                .collect::<Vec<_>>();
            let kept = keys.into_iter().zip(vectors.iter().cloned()).collect();
            Ok(Some((vectors, kept)))
        })
        .await
        .map_err(|e| Error::Internal(format!("catalogue task failed: {e}")))??;
        let vectors = match vectors {
            Some((vectors, kept)) => {
                *self.vectors.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = kept;
                vectors
            }
            None => Vec::new(),
        };
        let scale = self.index.embedder().map_or_else(CosineScale::default, |e| e.scale());
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::new(IndexedCatalog { catalog, vectors, scale });
        *self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sha);
        Ok(())
    }

    /// Loads the stored catalogue when it is not the one held; returns how many items it has.
    pub async fn sync(&self) -> Result<usize> {
        let _writing = self.writing.lock().await;
        let stored = self.documents.get_document(CATALOG_DOCUMENT).await?;
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match stored {
            Some(document) if held.as_deref() == Some(document.info.sha256.as_str()) => {}
            Some(document) => {
                let catalog = Catalog::from_json(&document.content)?;
                let vectors =
                    match (self.index.embedder(), self.documents.get_document(CATALOG_VECTORS).await?) {
                        (Some(embedder), Some(stored)) => {
                            read_vectors(&stored.content, embedder.name(), &document.info.sha256)
                        }
                        _ => None,
                    };
                self.hold(catalog, document.info.sha256, vectors).await?;
            }
            None => {
                *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Arc::new(IndexedCatalog::default());
                *self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            }
        }
        Ok(self.current().catalog.items().len())
    }

    /// Stores the folder's catalogue file (`*.catalog.csv` or `*.catalog.json`) when it
    /// differs from the stored catalogue. Returns whether it did; a bad file is skipped with a
    /// warning, the stored catalogue kept.
    pub async fn seed_folder(&self, folder: &Path) -> Result<bool> {
        let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(folder) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_catalog_file))
                .collect(),
            Err(_) => return Ok(false),
        };
        files.sort();
        let Some(path) = files.first() else { return Ok(false) };
        if files.len() > 1 {
            tracing::warn!(file = %path.display(), "several catalogue files; only the first is used");
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let bytes =
            tokio::fs::read(path).await.map_err(|e| Error::BadRequest(format!("{}: {e}", path.display())))?;
        let catalog = match parse_catalog(&name, &bytes) {
            Ok(catalog) => catalog,
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "catalogue file skipped");
                return Ok(false);
            }
        };
        let stored = self.documents.get_document(CATALOG_DOCUMENT).await?;
        if stored.is_some_and(|d| d.info.sha256 == sha256_hex(&catalog.to_json())) {
            return Ok(false);
        }
        self.store(catalog).await?;
        Ok(true)
    }

    /// Stores a checked catalogue, holds it and tells the other replicas.
    async fn store(&self, catalog: Catalog) -> Result<CatalogSummary> {
        let _writing = self.writing.lock().await;
        let before = self.current();
        let items = catalog.items();
        let summary = CatalogSummary {
            items: items.len(),
            products: items.iter().filter(|i| i.kind == ItemKind::Product).count(),
            courses: items.iter().filter(|i| i.kind == ItemKind::Course).count(),
            added: items.iter().filter(|i| before.catalog.get(&i.id).is_none()).count(),
            removed: before.catalog.items().iter().filter(|i| catalog.get(&i.id).is_none()).count(),
        };
        let document = Document::new(CATALOG_DOCUMENT, catalog.to_json(), items.len() as u64);
        let sha = document.info.sha256.clone();
        // Embedded first: a model failure leaves the stored catalogue as it was.
        self.hold(catalog, sha.clone(), None).await?;
        // The embeddings go beside it, so the other replicas need not embed every item again.
        if let Some(embedder) = self.index.embedder() {
            let content = vectors_document(embedder.name(), &sha, &self.current().vectors);
            self.documents
                .put_document(&Document::new(CATALOG_VECTORS, content, summary.items as u64))
                .await?;
        }
        self.documents.put_document(&document).await?;
        self.events.publish(&StoreEvent::Document { document_id: CATALOG_DOCUMENT.to_owned() }).await?;
        Ok(summary)
    }

    /// Follows catalogue events from every replica until `stop`.
    pub fn follow(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        crate::library::follow_documents(self.events.as_ref(), stop, "catalogue", move |changed| {
            let this = Arc::clone(&this);
            async move {
                match changed {
                    Some(id) if id != CATALOG_DOCUMENT => Ok(()),
                    _ => this.sync().await.map(|_| ()),
                }
            }
        })
    }
}

#[async_trait]
impl Catalogue for CatalogStore {
    fn current(&self) -> Arc<IndexedCatalog> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    async fn embed_query(&self, text: &str) -> Result<Option<Vec<f32>>> {
        // An English-only model (all-MiniLM) places Chinese text at random: keywords decide.
        let multilingual = self.index.embedder().is_some_and(|e| e.multilingual());
        if !multilingual && frontdesk_core::catalog::intent::is_chinese(text) {
            return Ok(None);
        }
        let index = self.index.clone();
        let text = text.to_owned();
        tokio::task::spawn_blocking(move || index.embed_query(&text))
            .await
            .map_err(|e| Error::Internal(format!("embedding task failed: {e}")))?
            .map_err(Into::into)
    }

    async fn replace(&self, file_name: &str, content: Vec<u8>) -> Result<CatalogSummary> {
        let name = file_name.to_owned();
        let catalog = tokio::task::spawn_blocking(move || parse_catalog(&name, &content))
            .await
            .map_err(|e| Error::Internal(format!("catalogue task failed: {e}")))??;
        self.store(catalog).await
    }
}

#[cfg(test)]
mod tests;
