//! The catalogue's routes: the admin uploads it and reads it; visitors follow the cards of
//! recommendations through `/r/{card}`, which counts the click and redirects to the item's page.
//!
//! An upload is a raw body with the file's name (`POST /api/v1/catalog?name=shop.csv`) or a
//! multipart form whose file part carries it; the extension picks CSV or JSON. It replaces the
//! whole catalogue, or, with any bad row, is refused with every bad row and its reason and
//! changes nothing.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontdesk_core::catalog::{CatalogItem, CatalogSummary, Catalogue};
use frontdesk_core::Error;
use serde::Deserialize;

use crate::api::ApiResult;
use crate::auth::AdminKey;
use crate::AppState;

fn catalogue(state: &AppState) -> Result<&std::sync::Arc<dyn Catalogue>, Error> {
    state.chat.catalogue().ok_or_else(|| Error::NotFound("catalogue".into()))
}

/// Query of `POST /api/v1/catalog`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The file's name, `*.csv` or `*.json`; for a multipart upload it overrides the part's.
    name: Option<String>,
}

/// `GET /api/v1/catalog`: every item.
pub async fn list(State(state): State<AppState>, _admin: AdminKey) -> ApiResult<Json<Vec<CatalogItem>>> {
    Ok(Json(catalogue(&state)?.current().catalog.items().to_vec()))
}

/// `GET /api/v1/catalog/{id}`: one item.
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
) -> ApiResult<Json<CatalogItem>> {
    let current = catalogue(&state)?.current();
    let item = current.catalog.get(&id).cloned().ok_or_else(|| Error::NotFound("catalogue item".into()))?;
    Ok(Json(item))
}

/// `POST /api/v1/catalog?name=FILE` with the file as the body, or a multipart form: replaces
/// the catalogue.
pub async fn upload(
    State(state): State<AppState>,
    _admin: AdminKey,
    headers: HeaderMap,
    params: Result<Query<UploadParams>, QueryRejection>,
    content: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CatalogSummary>> {
    let Query(params) = params?;
    let content = crate::admin::body(content)?;
    let (name, bytes) =
        crate::admin::named_file(&headers, params.name, content, "/api/v1/catalog?name=catalog.csv")?;
    let summary = catalogue(&state)?.replace(&name, bytes.to_vec()).await?;
    tracing::info!(
        items = summary.items,
        added = summary.added,
        removed = summary.removed,
        "catalogue replaced"
    );
    Ok(Json(summary))
}

/// `GET /r/{card}`: counts the click on a recommendation's card and redirects to the item's
/// page. Only catalogue items' own addresses are redirected to, so the route is no open
/// redirect.
pub async fn follow_card(State(state): State<AppState>, Path(card): Path<String>) -> Response {
    let url =
        state.chat.catalogue().and_then(|c| c.current().catalog.get(&card).and_then(|item| item.url.clone()));
    match url {
        Some(url) => {
            state.chat.metrics().card_clicked();
            let day = &crate::export::iso_time(frontdesk_core::now_ms())[..10];
            // The visitor is redirected even when the count cannot be kept.
            if let Err(error) = state.chat.store().add_count(&format!("clicks:{day}"), &card).await {
                tracing::warn!(%error, "could not count a card's click");
            }
            tracing::info!(item = %card, "card followed");
            (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such item").into_response(),
    }
}
