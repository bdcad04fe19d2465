//! Leads: a visitor who wants to be contacted (a quote, a group enrolment, an item out of stock)
//! leaves an e-mail address or a phone number with their consent. The lead keeps the contact,
//! the consent text exactly as shown and when it was given, what the visitor was interested
//! in, the catalogue items discussed, and the conversation; agents list and export leads, and a
//! configured webhook receives each one (signed, retried; its delivery state kept on the lead).
//! A visitor withdrawing consent, or deleted through the privacy API, takes their leads along.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Phrases of a visitor asking to be contacted or for what only a person can close.
const WANTS_CONTACT_EN: &[&str] = &[
    "contact me",
    "call me",
    "email me",
    "e-mail me",
    "get in touch",
    "reach me",
    "reach out to me",
    "talk to sales",
    "speak to sales",
    "sales team",
    "a quote",
    "quotation",
    "group enrolment",
    "group enrollment",
    "enrol my team",
    "enroll my team",
    "bulk order",
    "bulk purchase",
    "wholesale",
    "custom order",
    "notify me",
    "let me know when",
    "back in stock",
];

/// Chinese phrases of the same.
const WANTS_CONTACT_ZH: &[&str] = &[
    "联系我",
    "给我打电话",
    "报价",
    "团购",
    "批量",
    "企业采购",
    "团队报名",
    "到货通知",
    "有货时通知",
    "销售",
];

/// Whether a question asks to be contacted, or for something only a person can close.
pub fn wants_contact(question: &str) -> bool {
    let lower = question.to_lowercase();
    WANTS_CONTACT_EN.iter().any(|p| lower.contains(p)) || WANTS_CONTACT_ZH.iter().any(|p| lower.contains(p))
}

/// The consent a visitor gives with their contact details, unless configured otherwise.
pub fn default_consent(company: &str) -> String {
    format!(
        "I agree that {company} may contact me about this request using the details I give here, \
         and keep them until it is answered or I withdraw my consent."
    )
}

/// What the assistant says when it offers to take the visitor's contact details.
pub fn offer_text(chinese: bool) -> &'static str {
    if chinese {
        "我可以把您的需求转给我们的团队。请在下方留下您的邮箱或电话，他们会与您联系。"
    } else {
        "I can pass this on to our team so they can get back to you: leave your e-mail address or \
         phone number below and they will contact you."
    }
}

/// The contact form the widget shows under an answer that offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactOffer {
    /// The consent the visitor gives by sending the form, as shown.
    pub consent: String,
    /// The privacy notice linked beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_url: Option<String>,
}

/// Where a lead's webhook delivery stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// No webhook is configured: the lead waits in the list for agents.
    #[default]
    NotConfigured,
    /// Being sent, or waiting for the next try.
    Pending,
    /// The webhook answered 2xx.
    Delivered,
    /// Every try failed.
    Failed,
}

/// A lead's webhook delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Where it stands.
    pub state: DeliveryState,
    /// Tries made.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure (status or error), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the webhook took it, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_ms: Option<i64>,
}

/// A visitor who asked to be contacted, with their consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// The lead's id (also the webhook's delivery id, so a receiver can drop repeats).
    pub id: String,
    /// The conversation it came from.
    pub conversation_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// The e-mail address given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The phone number given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The consent text exactly as the visitor saw it.
    pub consent_text: String,
    /// When the visitor gave consent, ms since the epoch.
    pub consented_ms: i64,
    /// What the visitor asked about (their question before the offer).
    pub interest: String,
    /// The catalogue items recommended in the conversation, by id.
    #[serde(default)]
    pub items: Vec<String>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// The webhook delivery.
    #[serde(default)]
    pub delivery: Delivery,
}

/// Most leads one listing returns.
pub const MAX_LEADS_LISTED: usize = 1_000;

/// Whether `text` is one plausible e-mail address.
pub fn valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    let local_ok = (1..=64).contains(&local.len())
        && local.chars().all(|c| c.is_alphanumeric() || "._%+-'".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(char::is_alphabetic));
    local_ok && domain_ok && text.len() <= 254
}

/// Whether `text` is one plausible phone number: 7 to 15 digits, an optional leading `+`, and
/// spaces, dashes, dots or brackets between groups.
pub fn valid_phone(text: &str) -> bool {
    let trimmed = text.trim();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && body.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c))
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '(')
}

/// The contact a visitor typed, as an e-mail address or a phone number, or the reason it is
/// refused (shown to the visitor).
pub fn contact_of(text: &str) -> Result<(Option<String>, Option<String>)> {
    let text = text.trim();
    if text.contains('@') {
        if valid_email(text) {
            return Ok((Some(text.to_owned()), None));
        }
        return Err(Error::BadRequest(
            "that e-mail address does not look right; check it and send it again".into(),
        ));
    }
    if valid_phone(text) {
        return Ok((None, Some(text.to_owned())));
    }
    Err(Error::BadRequest(
        "give an e-mail address, or a phone number of 7 to 15 digits (with + and the country code from abroad)"
            .into(),
    ))
}

/// The signature of a webhook body: `sha256=` and the hex HMAC-SHA256 of the body under the
/// webhook's secret, sent as `X-Frontdesk-Signature` so the receiver can check who sent it.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends leads on to the company's CRM. The server's implementation posts each to the
/// configured webhook, signed and retried, and keeps the delivery state on the lead.
pub trait LeadSink: Send + Sync + 'static {
    /// Starts delivering a stored lead; returns at once.
    fn deliver(&self, lead: Lead);
    /// Whether a webhook is configured.
    fn configured(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_checked_as_visitors_type_them() {
        for good in ["ana@example.com", "a.b+shop@mail.example.co.uk", "li.wei@公司.cn"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a..b@example.com",
            "ana@exa mple.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
        for good in ["+49 30 1234567", "(030) 123-4567", "13812345678", "+1.415.555.0100"] {
            assert!(valid_phone(good), "{good}");
        }
        for bad in ["12345", "call me", "+49 30 12a4567", "1234567890123456"] {
            assert!(!valid_phone(bad), "{bad}");
        }
        assert!(matches!(contact_of("ana@example"), Err(Error::BadRequest(m)) if m.contains("e-mail")));
        assert_eq!(contact_of(" ana@example.com ").ok(), Some((Some("ana@example.com".into()), None)));
    }

    #[test]
    fn requests_only_a_person_can_close_are_recognised() {
        for question in [
            "Can I get a quote for 20 laptops?",
            "We want a group enrolment for my team",
            "Please contact me when the outdoor camera is back in stock",
            "能给我们公司报价吗？",
        ] {
            assert!(wants_contact(question), "{question}");
        }
        // A company or a team alone is no wish to be contacted: the FAQ answers these.
        for question in [
            "How long does delivery take?",
            "Which laptop is best for video editing?",
            "need an invoice for my company",
            "team licences for my company",
        ] {
            assert!(!wants_contact(question), "{question}");
        }
    }
}
