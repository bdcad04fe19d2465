//! Transcript exports: CSV and plain text (JSON is the transcript itself).

use frontdesk_core::model::{Conversation, Message, Role};
use frontdesk_core::Error;

/// ISO 8601 UTC time (`2026-11-28T19:20:21.123Z`) of a time in ms since the epoch.
pub fn iso_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hours, minutes) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (seconds, millis) = (in_day / 1_000 % 60, in_day % 1_000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z")
}

/// Gregorian date of a day count since 1970-01-01 (proleptic calendar, eras of 400 years).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The first ms of a UTC day written `YYYY-MM-DD`; `None` for anything else (or a day that
/// does not exist, such as 2026-02-30).
pub fn day_start_ms(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let (year, month, day): (i64, i64, i64) = (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 (the inverse of `civil_from_days`).
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    (civil_from_days(days) == (year, month, day)).then_some(days * 86_400_000)
}

fn author(message: &Message) -> String {
    match message.role {
        Role::Visitor => "Visitor".to_owned(),
        Role::Assistant => "Assistant".to_owned(),
        Role::Agent => message.agent.clone().unwrap_or_else(|| "Agent".to_owned()),
        Role::System => "System".to_owned(),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Visitor => "visitor",
        Role::Assistant => "assistant",
        Role::Agent => "agent",
        Role::System => "system",
    }
}

/// A cell as a spreadsheet shows it: text that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, so a visitor's
/// message `=HYPERLINK(...)` is shown as typed, never evaluated (OWASP's CSV injection advice).
pub(crate) fn inert_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A CSV document of `header` and `rows` (cells already made inert where they hold text).
pub(crate) fn csv_document(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<String, Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| Error::Internal(format!("csv export: {e}"));
    writer.write_record(header).map_err(internal)?;
    for row in rows {
        writer.write_record(&row).map_err(internal)?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Internal(format!("csv export: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(format!("csv export: {e}")))
}

/// One row per message: seq, time, role, author, text, sources (titles joined by `; `),
/// feedback. Text cells are made inert for spreadsheets ([`inert_cell`]).
pub fn to_csv(messages: &[Message]) -> Result<String, Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| Error::Internal(format!("csv export: {e}"));
    writer
        .write_record(["seq", "time", "role", "author", "text", "sources", "feedback"])
        .map_err(internal)?;
    for message in messages {
        let sources: Vec<&str> = message.sources.iter().map(|s| s.title.as_str()).collect();
        let feedback = message.feedback.as_ref().map_or("", |f| match f.value {
            frontdesk_core::model::FeedbackValue::Up => "up",
            frontdesk_core::model::FeedbackValue::Down => "down",
        });
        writer
            .write_record([
                message.seq.to_string().as_str(),
                &iso_time(message.created_ms),
                role_name(message.role),
                &inert_cell(&author(message)),
                &inert_cell(&message.text),
                &inert_cell(&sources.join("; ")),
                feedback,
            ])
            .map_err(internal)?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Internal(format!("csv export: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(format!("csv export: {e}")))
}

/// A readable transcript: a header, then `[time] Author: text` per message.
pub fn to_text(conversation: &Conversation, messages: &[Message]) -> String {
    let mut out = format!(
        "Conversation {}\nStarted {}\nStatus {}\n\n",
        conversation.id,
        iso_time(conversation.created_ms),
        conversation.status.as_str()
    );
    for message in messages {
        out.push_str(&format!("[{}] {}: {}\n", iso_time(message.created_ms), author(message), message.text));
        for source in &message.sources {
            out.push_str(&format!("    source: {}\n", source.title));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_back_to_their_first_ms() {
        for ms in [0_i64, 951_782_400_000, 1_796_000_000_000, -86_400_000] {
            let day = ms - ms.rem_euclid(86_400_000);
            assert_eq!(day_start_ms(&iso_time(ms)[..10]), Some(day), "{}", iso_time(ms));
        }
        for bad in ["2026-02-30", "2026-13-01", "2026-1-01", "yesterday", "2026-01-01-01", ""] {
            assert_eq!(day_start_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_iso_utc() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_time(1_795_893_621_123), "2026-11-28T19:20:21.123Z");
        assert_eq!(iso_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_formula_in_a_message_is_exported_as_text() {
        let mut rows = Vec::new();
        for text in ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd"] {
            let mut message = Message::new(Role::Visitor, text);
            message.created_ms = 0;
            rows.push(message);
        }
        let mut fine = Message::new(Role::Visitor, "a price: -5 euros? no, 5");
        fine.created_ms = 0;
        rows.push(fine);
        let csv = to_csv(&rows).expect("csv");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let texts: Vec<String> =
            reader.records().map(|r| r.expect("row").get(4).expect("text").to_owned()).collect();
        for text in &texts[..5] {
            assert!(text.starts_with('\''), "{text:?} would run as a formula");
        }
        assert_eq!(texts[0], "'=HYPERLINK(\"http://evil.example\",\"click\")");
        assert_eq!(texts[5], "a price: -5 euros? no, 5");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut message = Message::new(Role::Visitor, "Hi, \"there\"\nsecond line");
        message.created_ms = 0;
        let csv = to_csv(&[message]).expect("csv");
        assert!(csv.starts_with("seq,time,role,author,text,sources,feedback\n"));
        assert!(csv.contains("\"Hi, \"\"there\"\"\nsecond line\""), "{csv}");
    }
}
