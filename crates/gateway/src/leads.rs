//! Leads: the visitor's contact form (`lead` frame) kept with its consent, and the agents'
//! list and export, `GET /api/v1/leads[?format=csv]`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontdesk_core::leads::{contact_of, Delivery, DeliveryState, Lead, MAX_LEADS_LISTED};
use frontdesk_core::model::Role;
use frontdesk_core::{Error, Result};
use serde::Deserialize;

use crate::api::ApiResult;
use crate::auth::AgentKey;
use crate::visitor::Opened;
use crate::AppState;

/// Most catalogue items a lead names.
const MAX_LEAD_ITEMS: usize = 10;

/// Keeps the contact details a visitor sent from the contact form, with the consent shown,
/// and starts sending them on; returns the lead's id. Refused with a clear message without
/// consent, with a contact that is no e-mail address or phone number, or before the visitor
/// has written anything (nothing to follow up).
pub(crate) async fn save(state: &AppState, opened: &Opened, contact: &str, consent: bool) -> Result<String> {
    if !consent {
        return Err(Error::BadRequest(
            "tick the box to agree to be contacted, then send the form again".into(),
        ));
    }
    if contact.chars().count() > 254 {
        return Err(Error::BadRequest("that contact is too long".into()));
    }
    if opened.unsaved.is_some() {
        return Err(Error::BadRequest("ask your question first, then leave your contact details".into()));
    }
    let (email, phone) = contact_of(contact)?;
    let store = state.chat.store();
    let conversation = &opened.conversation;
    let messages = store.list_messages(&conversation.id).await?;
    let interest =
        messages.iter().rev().find(|m| m.role == Role::Visitor).map(|m| m.text.clone()).unwrap_or_default();
    let mut items: Vec<String> = Vec::new();
    for card in messages.iter().rev().flat_map(|m| &m.cards) {
        if !items.contains(&card.id) && items.len() < MAX_LEAD_ITEMS {
            items.push(card.id.clone());
        }
    }
    let now = frontdesk_core::now_ms();
    let sink = state.lead_sink.clone();
    let lead = Lead {
        id: frontdesk_core::new_id(),
        conversation_id: conversation.id.clone(),
        visitor_id: conversation.visitor_id.clone(),
        email,
        phone,
        consent_text: state.chat.config().contact_offer.consent.clone(),
        consented_ms: now,
        interest,
        items,
        created_ms: now,
        delivery: Delivery {
            state: if sink.is_some() { DeliveryState::Pending } else { DeliveryState::NotConfigured },
            ..Delivery::default()
        },
    };
    store.put_lead(&lead).await?;
    state.chat.metrics().lead_captured();
    tracing::info!(lead = %lead.id, conversation_id = %conversation.id, "lead captured");
    let id = lead.id.clone();
    if let Some(sink) = sink {
        sink.deliver(lead);
    }
    Ok(id)
}

/// Query of `GET /api/v1/leads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadParams {
    /// `json` (default) or `csv`.
    format: Option<String>,
    /// How many, newest first (1 to 1,000, default 200).
    limit: Option<usize>,
}

/// `GET /api/v1/leads?format=json|csv&limit=N`: the newest leads with their delivery state.
pub async fn list(
    State(state): State<AppState>,
    _agent: AgentKey,
    params: std::result::Result<Query<LeadParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(200).clamp(1, MAX_LEADS_LISTED);
    let leads = state.chat.store().list_leads(limit).await?;
    match params.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(leads).into_response()),
        "csv" => {
            let body = to_csv(&leads)?;
            let headers = [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"leads.csv\""),
            ];
            Ok((headers, body).into_response())
        }
        other => Err(Error::BadRequest(format!("unknown format {other:?} (json, csv)")).into()),
    }
}

/// One row per lead; text cells made inert for spreadsheets.
fn to_csv(leads: &[Lead]) -> Result<String> {
    use crate::export::{inert_cell, iso_time};
    let header = [
        "id",
        "created",
        "email",
        "phone",
        "interest",
        "items",
        "consent",
        "consented",
        "conversation",
        "delivery",
        "attempts",
    ];
    crate::export::csv_document(
        &header,
        leads.iter().map(|lead| {
            let delivery = match lead.delivery.state {
                DeliveryState::NotConfigured => "not_configured",
                DeliveryState::Pending => "pending",
                DeliveryState::Delivered => "delivered",
                DeliveryState::Failed => "failed",
            };
            vec![
                lead.id.clone(),
                iso_time(lead.created_ms),
                inert_cell(lead.email.as_deref().unwrap_or_default()).into_owned(),
                inert_cell(lead.phone.as_deref().unwrap_or_default()).into_owned(),
                inert_cell(&lead.interest).into_owned(),
                lead.items.join("; "),
                inert_cell(&lead.consent_text).into_owned(),
                iso_time(lead.consented_ms),
                lead.conversation_id.clone(),
                delivery.to_owned(),
                lead.delivery.attempts.to_string(),
            ]
        }),
    )
}
