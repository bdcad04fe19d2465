//! The lead webhook: each lead is posted as JSON to the configured address, signed with
//! HMAC-SHA256 (`X-Frontdesk-Signature: sha256=...`), and tried again with growing pauses
//! when the receiver fails or cannot be reached; the delivery state (attempts, last error,
//! delivered) is kept on the lead, so agents see it in the list. The lead's id goes along as
//! `X-Frontdesk-Delivery`, so a receiver can drop a repeat.

use std::sync::Arc;
use std::time::Duration;

use frontdesk_core::leads::{signature, DeliveryState, Lead, LeadSink};
use frontdesk_core::metrics::Metrics;
use frontdesk_core::store::SessionStore;

/// Tries per lead, and the pause before the first retry (doubled each time): 1, 2, 4, 8 s.
pub const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts leads to a webhook.
#[derive(Clone)]
pub struct WebhookSink {
    url: String,
    secret: String,
    http: reqwest::Client,
    store: Arc<dyn SessionStore>,
    metrics: Arc<Metrics>,
    /// Deliveries in flight at most; past it a lead waits in the list as pending.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Deliveries running at once at most.
const MAX_IN_FLIGHT: usize = 64;

impl WebhookSink {
    /// A sink posting to `url`, signing with `secret`.
    pub fn new(
        url: String,
        secret: String,
        store: Arc<dyn SessionStore>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(TRY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            secret,
            http,
            store,
            metrics,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// One try: `Ok` when the receiver answered 2xx.
    async fn send(&self, body: &[u8], lead_id: &str) -> Result<(), String> {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-frontdesk-event", "lead.created")
            .header("x-frontdesk-delivery", lead_id)
            .header("x-frontdesk-signature", signature(&self.secret, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status().as_u16()))
        }
    }

    /// Tries until delivered or out of tries, keeping the state on the lead after each.
    async fn run(self, mut lead: Lead) {
        let body = match serde_json::to_vec(&serde_json::json!({"event": "lead.created", "lead": &lead})) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "could not encode a lead");
                return;
            }
        };
        let mut pause = FIRST_PAUSE;
        for attempt in 1..=ATTEMPTS {
            let result = self.send(&body, &lead.id).await;
            lead.delivery.attempts = attempt;
            match result {
                Ok(()) => {
                    lead.delivery.state = DeliveryState::Delivered;
                    lead.delivery.delivered_ms = Some(frontdesk_core::now_ms());
                    lead.delivery.last_error = None;
                    self.metrics.lead_delivered();
                }
                Err(error) => {
                    tracing::warn!(lead = %lead.id, attempt, %error, "lead webhook failed");
                    lead.delivery.last_error = Some(error);
                    if attempt == ATTEMPTS {
                        lead.delivery.state = DeliveryState::Failed;
                    }
                }
            }
            // A lead withdrawn meanwhile stays deleted, and is not tried again.
            match self.store.update_lead(&lead).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(lead = %lead.id, %error, "could not keep a lead's delivery state")
                }
            }
            if lead.delivery.state != DeliveryState::Pending {
                return;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

impl LeadSink for WebhookSink {
    fn deliver(&self, lead: Lead) {
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            tracing::warn!(lead = %lead.id, "too many lead deliveries at once; this one stays pending");
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            this.run(lead).await;
            drop(permit);
        });
    }

    fn configured(&self) -> bool {
        true
    }
}
