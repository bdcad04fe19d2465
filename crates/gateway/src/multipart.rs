//! The file part of a `multipart/form-data` upload (RFC 7578), read from a body already held
//! in memory and bounded by the upload limit.

use frontdesk_core::Error;

/// The first part of a form that carries a file.
#[derive(Debug, PartialEq, Eq)]
pub struct FilePart<'a> {
    /// The file's name as the browser sent it (its last path segment).
    pub filename: String,
    /// The file's bytes.
    pub content: &'a [u8],
}

fn bad(reason: &str) -> Error {
    Error::BadRequest(format!("malformed multipart upload: {reason}"))
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The boundary parameter of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The `filename` parameter of a part's `Content-Disposition` header.
fn filename(headers: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        value.split(';').find_map(|param| {
            let (key, value) = param.split_once('=')?;
            (key.trim() == "filename").then(|| value.trim().trim_matches('"').to_owned())
        })
    })
}

/// Finds the first part with a file name.
pub fn file_part<'a>(content_type: &str, body: &'a [u8]) -> Result<FilePart<'a>, Error> {
    let boundary = boundary(content_type)
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or_else(|| bad("no boundary"))?;
    let delimiter = format!("--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or_else(|| bad("the boundary never appears"))?;
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--") {
            return Err(bad("no file part (send the file as a form field with a file name)"));
        }
        let headers_start = at + if body[at..].starts_with(b"\r\n") { 2 } else { 0 };
        let headers_end =
            find(body, b"\r\n\r\n", headers_start).ok_or_else(|| bad("a part has no headers"))?;
        let content_start = headers_end + 4;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), content_start)
            .ok_or_else(|| bad("the last part is not closed"))?;
        let headers = String::from_utf8_lossy(&body[headers_start..headers_end]);
        if let Some(name) = filename(&headers) {
            // Browsers on some systems send a whole path; only its last segment names the file.
            let name = name.rsplit(['/', '\\']).next().unwrap_or_default().to_owned();
            if name.is_empty() {
                return Err(bad("the file part has an empty file name"));
            }
            return Ok(FilePart { filename: name, content: &body[content_start..next] });
        }
        at = next + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=----x42";

    #[test]
    fn the_file_part_is_found_after_other_fields() {
        let body = b"------x42\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
------x42\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\docs\\\\faq.md\"\r\n\
Content-Type: text/markdown\r\n\r\n## Q\r\nA\r\n------x42--\r\n";
        let part = file_part(TYPE, body).expect("part");
        assert_eq!(part.filename, "faq.md");
        assert_eq!(part.content, b"## Q\r\nA");
    }

    #[test]
    fn malformed_forms_are_refused_with_the_reason() {
        let reason =
            |content_type: &str, body: &[u8]| file_part(content_type, body).expect_err("refused").to_string();
        assert!(reason("multipart/form-data", b"x").contains("no boundary"));
        assert!(reason(TYPE, b"nothing here").contains("never appears"));
        assert!(reason(
            TYPE,
            b"------x42\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n------x42--"
        )
        .contains("no file part"));
        assert!(reason(
            TYPE,
            b"------x42\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.md\"\r\n\r\ncut"
        )
        .contains("not closed"));
    }
}
