//! Personal data in what visitors type: found by [`detect`], and replaced by [`redact`]
//! according to a [`PrivacyPolicy`] before the text is stored, logged or shown to the model.
//!
//! Each kind has its own detector in [`detect`] (tested there with the near misses it must
//! leave alone). Where two findings overlap, the kind earlier in [`PiiKind::ALL`] wins: a
//! secret over everything, a card number over a phone number.

pub mod detect;
mod seal;

pub use seal::{PersonalDetail, Sealer};

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// A password, PIN, or API key.
    Secret,
    /// An e-mail address.
    Email,
    /// An IBAN.
    Iban,
    /// A payment card number.
    Card,
    /// A Chinese resident ID number.
    CnId,
    /// A US social security number.
    Ssn,
    /// A phone number.
    Phone,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A street address.
    Address,
    /// A personal name.
    Name,
}

impl PiiKind {
    /// Every kind, in the order overlapping findings are settled.
    /// Two checks (a checksum and a birth date) before one (Luhn), a strict shape (an IP
    /// address's four numbers up to 255) before a loose one (a phone number's groups).
    pub const ALL: [Self; 10] = [
        Self::Secret,
        Self::Email,
        Self::Iban,
        Self::CnId,
        Self::Card,
        Self::Ssn,
        Self::Ip,
        Self::Phone,
        Self::Address,
        Self::Name,
    ];

    /// The name in placeholders, settings and reports (`email`, `card` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Email => "email",
            Self::Iban => "iban",
            Self::Card => "card",
            Self::CnId => "cn_id",
            Self::Ssn => "ssn",
            Self::Phone => "phone",
            Self::Ip => "ip",
            Self::Address => "address",
            Self::Name => "name",
        }
    }

    /// Whether a checksum backs the detection (cards, IBANs, Chinese ID numbers).
    pub fn has_checksum(self) -> bool {
        matches!(self, Self::Card | Self::Iban | Self::CnId)
    }

    fn detector(self) -> fn(&str) -> Vec<Range<usize>> {
        match self {
            Self::Secret => detect::secrets,
            Self::Email => detect::emails,
            Self::Iban => detect::ibans,
            Self::Card => detect::cards,
            Self::CnId => detect::cn_ids,
            Self::Ssn => detect::ssns,
            Self::Phone => detect::phones,
            Self::Ip => detect::ips,
            Self::Address => detect::addresses,
            Self::Name => detect::names,
        }
    }
}

impl std::str::FromStr for PiiKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown kind of personal data {s:?}"))
    }
}

/// One piece of personal data in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is.
    pub kind: PiiKind,
    /// Where it is, in bytes.
    pub range: Range<usize>,
}

/// Every piece of personal data in `text`, in order, none overlapping.
pub fn detect(text: &str) -> Vec<Finding> {
    let mut all: Vec<Finding> = Vec::new();
    for kind in PiiKind::ALL {
        for range in (kind.detector())(text) {
            // Earlier kinds win overlaps.
            if all.iter().all(|f| f.range.end <= range.start || range.end <= f.range.start) {
                all.push(Finding { kind, range });
            }
        }
    }
    all.sort_by_key(|f| f.range.start);
    all
}

/// What happens to one kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// Replaced by a placeholder: `[email 1]`, `[card]`.
    Redact,
    /// Partly hidden, keeping a hint: `j***@example.com`, `**** 4242`.
    Mask,
    /// Left as typed.
    Keep,
}

impl std::str::FromStr for Treatment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "redact" => Ok(Self::Redact),
            "mask" => Ok(Self::Mask),
            "keep" => Ok(Self::Keep),
            other => Err(format!("unknown treatment {other:?} (redact, mask or keep)")),
        }
    }
}

/// How each kind is treated where text is kept (the store, what agents and exports see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyPolicy {
    treatments: BTreeMap<PiiKind, Treatment>,
}

impl Default for PrivacyPolicy {
    /// Cards, IBANs, ID numbers, SSNs and secrets redacted; e-mail addresses, phone numbers and
    /// the rest masked, so an agent still sees which address the visitor meant.
    fn default() -> Self {
        let treatments = PiiKind::ALL
            .into_iter()
            .map(|kind| {
                let treatment = match kind {
                    PiiKind::Secret | PiiKind::Iban | PiiKind::Card | PiiKind::CnId | PiiKind::Ssn => {
                        Treatment::Redact
                    }
                    PiiKind::Email | PiiKind::Phone | PiiKind::Ip | PiiKind::Address | PiiKind::Name => {
                        Treatment::Mask
                    }
                };
                (kind, treatment)
            })
            .collect();
        Self { treatments }
    }
}

impl PrivacyPolicy {
    /// Every kind redacted: what the model and the logs get.
    pub fn redact_all() -> Self {
        Self { treatments: PiiKind::ALL.into_iter().map(|k| (k, Treatment::Redact)).collect() }
    }

    /// The policy with `kind` treated as `treatment`.
    #[must_use]
    pub fn with(mut self, kind: PiiKind, treatment: Treatment) -> Self {
        self.treatments.insert(kind, treatment);
        self
    }

    /// How `kind` is treated.
    pub fn treatment(&self, kind: PiiKind) -> Treatment {
        self.treatments.get(&kind).copied().unwrap_or(Treatment::Redact)
    }
}

/// A text with its personal data replaced, and what was replaced (for the turn only: never
/// stored as such).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text as kept.
    pub text: String,
    /// Each placeholder or mask written, once, with the original it stands for.
    pub replaced: Vec<PersonalDetail>,
}

impl Redacted {
    /// What the visitor who typed the text may see filled in again where a placeholder comes
    /// back (in the model's answer): the kinds `policy` does not redact in the store (contact
    /// details, names), never a card, IBAN, ID number or secret.
    pub fn fill_for_visitor(&self, policy: &PrivacyPolicy) -> Fill {
        let pairs = self
            .replaced
            .iter()
            .filter(|d| policy.treatment(d.kind) != Treatment::Redact)
            .map(|d| (d.shown.clone(), d.original.clone()))
            .collect();
        Fill(pairs)
    }

    /// The details that were masked (hidden partly, not replaced by a placeholder): what an
    /// agent who takes the conversation over may see whole.
    pub fn masked(&self, policy: &PrivacyPolicy) -> Vec<PersonalDetail> {
        self.replaced.iter().filter(|d| policy.treatment(d.kind) == Treatment::Mask).cloned().collect()
    }
}

/// Placeholders and the originals they are filled with, for one turn (never stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fill(Vec<(String, String)>);

impl Fill {
    /// Whether there is nothing to fill.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with each placeholder replaced by its original.
    pub fn apply(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_owned(), |text, (placeholder, original)| text.replace(placeholder, original))
    }

    /// Where `text` ends in the beginning of a placeholder (`... at [ema`), which must wait for
    /// the rest before it is shown; `None` when it does not.
    pub fn pending(&self, text: &str) -> Option<usize> {
        let open = text.rfind('[')?;
        let tail = &text[open..];
        (!tail.contains(']') && self.0.iter().any(|(placeholder, _)| placeholder.starts_with(tail)))
            .then_some(open)
    }
}

/// `text` with every piece of personal data treated as `policy` says. Placeholders of kinds
/// that may occur several times in a message are numbered (`[email 1]`, `[email 2]`; the same
/// address twice gets one number).
pub fn redact(text: &str, policy: &PrivacyPolicy) -> Redacted {
    let findings = detect(text);
    if findings.is_empty() {
        return Redacted { text: text.to_owned(), replaced: Vec::new() };
    }
    let mut out = String::with_capacity(text.len());
    let mut replaced: Vec<PersonalDetail> = Vec::new();
    let mut numbers: BTreeMap<PiiKind, Vec<String>> = BTreeMap::new();
    let mut at = 0;
    for finding in findings {
        let original = &text[finding.range.clone()];
        out.push_str(&text[at..finding.range.start]);
        at = finding.range.end;
        let written = match policy.treatment(finding.kind) {
            Treatment::Keep => {
                out.push_str(original);
                continue;
            }
            Treatment::Mask => mask(finding.kind, original),
            Treatment::Redact => {
                let seen = numbers.entry(finding.kind).or_default();
                let n = match seen.iter().position(|s| s == original) {
                    Some(i) => i + 1,
                    None => {
                        seen.push(original.to_owned());
                        seen.len()
                    }
                };
                format!("[{} {n}]", finding.kind.as_str())
            }
        };
        out.push_str(&written);
        if !replaced.iter().any(|d| d.shown == written && d.original == original) {
            replaced.push(PersonalDetail {
                kind: finding.kind,
                shown: written,
                original: original.to_owned(),
            });
        }
    }
    out.push_str(&text[at..]);
    Redacted { text: out, replaced }
}

/// A hint of `original` that does not give it away.
fn mask(kind: PiiKind, original: &str) -> String {
    let stars = |s: &str| "*".repeat(s.chars().count().clamp(3, 8));
    match kind {
        PiiKind::Email => match original.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => stars(original),
        },
        PiiKind::Phone | PiiKind::Card | PiiKind::Iban | PiiKind::CnId | PiiKind::Ssn => {
            let last: String = {
                let tail: Vec<char> = original.chars().filter(char::is_ascii_alphanumeric).collect();
                tail[tail.len().saturating_sub(4)..].iter().collect()
            };
            format!("****{last}")
        }
        PiiKind::Name => {
            let first: String = original.chars().take(1).collect();
            format!("{first}***")
        }
        PiiKind::Address | PiiKind::Ip | PiiKind::Secret => format!("[{}]", kind.as_str()),
    }
}

#[cfg(test)]
mod tests;
