//! Turns a stored document's bytes into the text its parser reads: text extracted from a PDF,
//! UTF-8 as it is (without a byte-order mark), UTF-16 with a byte-order mark decoded. Anything
//! else is refused with a message that says what to do, never guessed at.

use frontdesk_core::documents::DocumentFormat;

use crate::RetrievalError;

/// The text of document `id` (its extension says its type).
pub fn document_text(id: &str, bytes: &[u8]) -> Result<String, RetrievalError> {
    if DocumentFormat::of(id) == Some(DocumentFormat::Pdf) {
        return pdf_text(id, bytes);
    }
    let refuse = |reason: &str| RetrievalError::Parse { document: id.to_owned(), reason: reason.to_owned() };
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8(rest.to_vec()).map_err(|_| refuse("not valid UTF-8 text"));
    }
    let utf16 = |little: bool, rest: &[u8]| {
        if rest.len() % 2 != 0 {
            return Err(refuse("not valid UTF-16 text (odd length)"));
        }
        let units = rest.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if little {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        char::decode_utf16(units).collect::<Result<String, _>>().map_err(|_| refuse("not valid UTF-16 text"))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(true, rest);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(false, rest);
    }
    String::from_utf8(bytes.to_vec()).map_err(|error| {
        refuse(&format!(
            "not UTF-8 text (invalid byte at offset {}); save it as UTF-8 and upload it again",
            error.utf8_error().valid_up_to()
        ))
    })
}

/// Most pages a PDF may have.
pub const MAX_PDF_PAGES: usize = 2_000;

/// Most bytes a PDF's page contents may inflate to, every use of a stream counted (a page may
/// draw the same stream many times): text extraction holds them whole.
pub const MAX_PDF_CONTENT_BYTES: u64 = 64 << 20;

/// Deepest page tree followed; real PDFs nest a few levels.
const MAX_PAGE_TREE_DEPTH: usize = 64;

/// Checks that the PDF's pages stay within [`MAX_PDF_PAGES`] and [`MAX_PDF_CONTENT_BYTES`]
/// before any text is extracted, inflating each content stream only up to what is left of
/// the budget (a small file cannot make the server hold hundreds of megabytes).
fn check_pdf_size(document: &pdf_extract::Document) -> Result<(), String> {
    use std::io::Read as _;
    let pages = document.get_pages();
    if pages.len() > MAX_PDF_PAGES {
        return Err(format!("{} pages: at most {MAX_PDF_PAGES} per document", pages.len()));
    }
    // pdf-extract follows each page's /Parent chain without end when it loops (a page its own
    // ancestor): found by the fuzzer, a 715-byte file held a thread forever.
    for page in pages.values() {
        let mut seen = std::collections::HashSet::new();
        let mut at = *page;
        loop {
            if !seen.insert(at) || seen.len() > MAX_PAGE_TREE_DEPTH {
                return Err("its page tree loops: a page is its own ancestor".into());
            }
            let parent = document
                .get_dictionary(at)
                .and_then(|d| d.get(b"Parent"))
                .and_then(pdf_extract::Object::as_reference);
            match parent {
                Ok(parent) => at = parent,
                Err(_) => break,
            }
        }
    }
    let mut total: u64 = 0;
    for page in pages.values() {
        for id in document.get_page_contents(*page) {
            let Ok(stream) = document.get_object(id).and_then(pdf_extract::Object::as_stream) else {
                continue;
            };
            let left = MAX_PDF_CONTENT_BYTES - total;
            let flate = stream.filters().is_ok_and(|filters| filters.iter().any(|f| *f == b"FlateDecode"));
            let size = if flate {
                let decoder = flate2::read::ZlibDecoder::new(stream.content.as_slice());
                std::io::copy(&mut decoder.take(left + 1), &mut std::io::sink()).unwrap_or(0)
            } else {
                stream.content.len() as u64
            };
            total = total.saturating_add(size);
            if total > MAX_PDF_CONTENT_BYTES {
                return Err(format!(
                    "its pages' contents inflate to more than {} MiB, the most a document may",
                    MAX_PDF_CONTENT_BYTES >> 20
                ));
            }
        }
    }
    Ok(())
}

/// The text of a PDF's pages, pages separated by blank lines. The file is read once: checked
/// against the size limits, then its pages' text extracted. The extractor panics on some
/// malformed files; that is caught and reported as a parse error like any other.
fn pdf_text(id: &str, bytes: &[u8]) -> Result<String, RetrievalError> {
    let refuse = |reason: String| RetrievalError::Parse { document: id.to_owned(), reason };
    if !bytes.starts_with(b"%PDF-") {
        return Err(refuse("not a PDF file (it does not start with %PDF-)".into()));
    }
    let extract = || -> Result<Vec<String>, String> {
        let unreadable = |e: pdf_extract::Error| format!("the PDF could not be read: {e}");
        let mut document = pdf_extract::Document::load_mem(bytes).map_err(unreadable)?;
        // As pdf-extract does: an encrypted file with an empty user password is read.
        if document.is_encrypted() {
            document.decrypt("").map_err(unreadable)?;
        }
        check_pdf_size(&document)?;
        let mut pages = Vec::new();
        // Page by page until the first that cannot be read, as pdf-extract does.
        for page in 1..=u32::try_from(document.get_pages().len()).unwrap_or(u32::MAX) {
            let mut text = String::new();
            let mut output = pdf_extract::PlainTextOutput::new(&mut text);
            if pdf_extract::output_doc_page(&document, &mut output, page).is_err() {
                break;
            }
            pages.push(text);
        }
        Ok(pages)
    };
    let extracted = std::panic::catch_unwind(extract)
        .map_err(|_| refuse("the PDF is malformed".into()))?
        .map_err(refuse)?;
    let text = extracted
        .iter()
        .map(|page| page.trim())
        .filter(|page| !page.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.trim().is_empty() {
        return Err(refuse("the PDF has no text (a scan? run it through OCR first)".into()));
    }
    Ok(text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn pdfs_whose_page_tree_loops_are_refused_at_once() {
        // Found by scripts/fuzz.sh (the pdf target): pdf-extract never returned on these.
        for found in [
            &include_bytes!("../../../fuzz/regressions/pdf-slow-1.pdf")[..],
            &include_bytes!("../../../fuzz/regressions/pdf-slow-2.pdf")[..],
        ] {
            let error = document_text("fuzzed.pdf", found).expect_err("refused").to_string();
            assert!(error.contains("loops") || error.contains("could not be read"), "{error}");
        }
    }

    #[test]
    fn a_pdf_that_makes_the_extractor_panic_is_refused_not_fatal() {
        // Found by scripts/fuzz.sh (the pdf target): pdf-extract panics on it.
        let found = include_bytes!("../../../fuzz/regressions/pdf-extract-panic.pdf");
        let error = document_text("fuzzed.pdf", found).expect_err("refused").to_string();
        assert!(error.contains("malformed") || error.contains("could not be read"), "{error}");
    }

    #[test]
    fn a_pdf_whose_page_repeats_a_stream_past_the_limit_is_refused() {
        use std::io::Write as _;
        // One 64 KiB content stream, compressed to almost nothing, drawn 1,100 times on one page.
        let content = "0 0 m 1 1 l S\n".repeat(64 * 1024 / 14);
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(content.as_bytes()).expect("compress");
        let packed = encoder.finish().expect("compress");
        let refs = vec!["4 0 R"; 1_100].join(" ");
        let mut objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [{refs}] >>")
                .into_bytes(),
        ];
        let mut stream =
            format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", packed.len()).into_bytes();
        stream.extend_from_slice(&packed);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
        let pdf = pdf_from_objects(&objects);
        assert!(pdf.len() < 64 * 1024, "a small file: {} bytes", pdf.len());
        let error = document_text("bomb.pdf", &pdf).expect_err("refused").to_string();
        assert!(error.contains("64 MiB"), "{error}");
        // The same stream drawn a few times is fine as far as size goes.
        let fine = pdf_extract::Document::load_mem(&pdf_with_lines(&["Q?", "A."])).expect("a PDF");
        assert!(check_pdf_size(&fine).is_ok());
    }

    /// A small, valid PDF with one page showing `lines` in Helvetica, written by hand so the
    /// tests need no PDF tool.
    pub(crate) fn pdf_with_lines(lines: &[&str]) -> Vec<u8> {
        let mut content = String::from("BT /F1 12 Tf 72 720 Td 16 TL\n");
        for line in lines {
            let escaped = line.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
            content.push_str(&format!("({escaped}) Tj T*\n"));
        }
        content.push_str("ET");
        let objects: Vec<Vec<u8>> = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        pdf_from_objects(&objects)
    }

    /// A PDF file of these objects (numbered from 1, the first the catalog), with its
    /// cross-reference table.
    pub(crate) fn pdf_from_objects(objects: &[Vec<u8>]) -> Vec<u8> {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (number, object) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{} 0 obj\n", number + 1).as_bytes());
            pdf.extend_from_slice(object);
            pdf.extend_from_slice(b"\nendobj\n");
        }
        let xref = pdf.len();
        pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for offset in offsets {
            pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        pdf.extend_from_slice(
            format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
                .as_bytes(),
        );
        pdf
    }

    #[test]
    fn a_pdfs_text_is_extracted() {
        let pdf = pdf_with_lines(&["Can I pay by invoice?", "Yes, for orders over 100 euros."]);
        let text = document_text("faq.pdf", &pdf).expect("a valid PDF");
        assert!(text.contains("Can I pay by invoice?"), "{text:?}");
        assert!(text.contains("Yes, for orders over 100 euros."), "{text:?}");
    }

    #[test]
    fn broken_pdfs_are_refused_with_a_reason() {
        let pdf = pdf_with_lines(&["Can I pay by invoice?"]);
        for (bytes, expected) in [
            (b"hello".to_vec(), "not a PDF"),
            (pdf[..pdf.len() / 2].to_vec(), "PDF"),
            (
                b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF".to_vec(),
                "PDF",
            ),
        ] {
            let error = document_text("broken.pdf", &bytes).expect_err("refused").to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn text_encodings_are_decoded_or_refused() {
        assert_eq!(document_text("a.md", b"\xEF\xBB\xBF# Hi").expect("utf-8 with a BOM"), "# Hi");
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain("# Grüße".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(document_text("a.md", &utf16).expect("utf-16le"), "# Grüße");
        let latin1 = b"# Gr\xFC\xDFe";
        let error = document_text("a.md", latin1).expect_err("refused").to_string();
        assert!(error.contains("not UTF-8") && error.contains("offset 4"), "{error}");
    }
}
