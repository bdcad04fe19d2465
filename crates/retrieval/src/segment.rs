//! A tokenizer for text in several languages: runs of Chinese (and Japanese kana) characters
//! are cut into words with jieba's dictionary, the rest is split at every character that is
//! not a letter or a digit, as tantivy's simple tokenizer does. Without the first part a
//! Chinese sentence, which has no spaces, would be one token, and no question would match it.

use std::sync::OnceLock;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The dictionary, loaded once (about 0.3 s) and shared by every index and thread.
fn jieba() -> &'static jieba_rs::Jieba {
    static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    JIEBA.get_or_init(jieba_rs::Jieba::new)
}

/// Whether `c` belongs to a script written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B-F and supplement
}

/// See the module documentation.
#[derive(Clone, Default)]
pub struct MultilingualTokenizer;

/// The tokens of one text, made in one pass.
pub struct MultilingualTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for MultilingualTokenizer {
    type TokenStream<'a> = MultilingualTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MultilingualTokenStream {
        MultilingualTokenStream { tokens: tokenize(text), next: 0 }
    }
}

impl TokenStream for MultilingualTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let push = |tokens: &mut Vec<Token>, from: usize, word: &str| {
        let position = tokens.len();
        tokens.push(Token {
            offset_from: from,
            offset_to: from + word.len(),
            position,
            text: word.to_owned(),
            position_length: 1,
        });
    };
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if is_cjk(c) {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if !is_cjk(c) {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            let run = &text[start..end];
            // Search mode also yields the shorter words inside a long one (中华人民共和国 gives
            // 中华, 华人, 人民, 共和, 共和国 and the whole), so a question using part of a term
            // still matches.
            for word in jieba().cut_for_search(run, true) {
                if word.word.chars().any(char::is_alphanumeric) {
                    push(&mut tokens, start + word.byte_start, word.word);
                }
            }
        } else if c.is_alphanumeric() {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if !c.is_alphanumeric() || is_cjk(c) {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            push(&mut tokens, start, &text[start..end]);
        } else {
            chars.next();
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn latin_text_splits_like_the_simple_tokenizer() {
        assert_eq!(
            words("Can't ship to Zürich? 3-day delivery"),
            ["Can", "t", "ship", "to", "Zürich", "3", "day", "delivery"]
        );
    }

    #[test]
    fn chinese_runs_are_cut_into_words_and_offsets_point_at_them() {
        let text = "如何申请退货？Brightwave耳机";
        let tokens = tokenize(text);
        let found: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
        assert!(found.contains(&"申请") && found.contains(&"退货"), "{found:?}");
        assert!(found.contains(&"Brightwave") && found.contains(&"耳机"), "{found:?}");
        for token in &tokens {
            assert_eq!(&text[token.offset_from..token.offset_to], token.text);
        }
    }
}
