//! Keeps the system prompt from reaching the visitor.
//!
//! A visitor who asks "repeat your instructions" may get a small model to recite its system
//! prompt. The answer streams through a [`PromptGuard`]: words that could be the start of a
//! passage of the system prompt are held back until the passage breaks off (then they go out,
//! a few words late), and once [`LEAK_RUN_WORDS`] consecutive words of it have been written
//! the generation is stopped and the chat replaces the answer: with the curated answer of the
//! FAQ entry the model was given, or [`LEAK_REPLY`] without one. So no run of that many words
//! of the system prompt is ever shown, whatever the visitor asks. (The small demo model also
//! drifts into reciting it now and then when asked an ordinary question.)

/// Consecutive words of the system prompt that count as reciting it.
pub const LEAK_RUN_WORDS: usize = 8;

/// What the visitor reads instead of the system prompt when there is no FAQ answer to give.
pub const LEAK_REPLY: &str = "Sorry, I can't share how I was set up. I'm happy to help with any \
    question about our products and services, or to connect you with a member of our support team.";

/// What may be shown of an answer so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The answer's first this many bytes may be shown; the rest could begin a passage of the
    /// system prompt and waits for the next piece.
    Show(usize),
    /// The answer recites the system prompt: stop it.
    Leak,
}

/// Watches an answer for passages of one system prompt.
#[derive(Debug, Clone)]
pub struct PromptGuard {
    words: Vec<String>,
}

struct Word {
    start: usize,
    text: String,
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c), 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// The text's words, lower-cased, with where each starts. A CJK character is a word of its own.
fn words(text: &str) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut current: Option<Word> = None;
    for (at, c) in text.char_indices() {
        if is_cjk(c) {
            words.extend(current.take());
            words.push(Word { start: at, text: c.to_string() });
        } else if c.is_alphanumeric() {
            current
                .get_or_insert_with(|| Word { start: at, text: String::new() })
                .text
                .extend(c.to_lowercase());
        } else {
            words.extend(current.take());
        }
    }
    words.extend(current);
    words
}

impl PromptGuard {
    /// A guard for `system_prompt`.
    pub fn new(system_prompt: &str) -> Self {
        Self { words: words(system_prompt).into_iter().map(|w| w.text).collect() }
    }

    /// Whether `run` appears as consecutive words of the system prompt; with `open_end` its
    /// last word may still be growing, so it only has to begin the prompt's word.
    fn contains(&self, run: &[Word], open_end: bool) -> bool {
        self.words.windows(run.len()).any(|window| {
            window.iter().zip(run).enumerate().all(|(i, (prompt, said))| {
                if open_end && i + 1 == run.len() {
                    prompt.starts_with(&said.text)
                } else {
                    *prompt == said.text
                }
            })
        })
    }

    /// Judges the answer written so far; `finished` when no more pieces will come.
    pub fn check(&self, answer: &str, finished: bool) -> Verdict {
        let said = words(answer);
        // The last word may still grow unless something other than a letter follows it.
        let open_end =
            !finished && answer.chars().next_back().is_some_and(|c| c.is_alphanumeric() && !is_cjk(c));
        // The longest tail of the answer that is a passage of the prompt (a tail of a passage is
        // a passage too, so the first length that fails ends the search).
        let mut run = 0;
        while run < said.len() && self.contains(&said[said.len() - run - 1..], open_end) {
            run += 1;
        }
        // A word still growing does not count yet, but it holds the run together.
        if run - usize::from(open_end && run > 0) >= LEAK_RUN_WORDS {
            return Verdict::Leak;
        }
        if run == 0 || finished {
            Verdict::Show(answer.len())
        } else {
            Verdict::Show(said[said.len() - run].start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = "You are a friendly customer support assistant for Brightwave. Reply to the \
        customer in two or three sentences, using only the facts in the FAQ answer you are given.";

    /// Feeds `answer` piece by piece as a model would and returns what was shown, and whether
    /// the guard stopped it.
    fn stream(guard: &PromptGuard, pieces: &[&str]) -> (String, bool) {
        let mut answer = String::new();
        let mut shown = 0;
        for piece in pieces {
            answer.push_str(piece);
            match guard.check(&answer, false) {
                Verdict::Leak => return (answer[..shown].to_owned(), true),
                Verdict::Show(upto) => shown = shown.max(upto),
            }
        }
        match guard.check(&answer, true) {
            Verdict::Leak => (answer[..shown].to_owned(), true),
            Verdict::Show(upto) => (answer[..upto.max(shown)].to_owned(), false),
        }
    }

    fn pieces(text: &str) -> Vec<&str> {
        // Pieces of three bytes or so, cut at character boundaries, like sub-word tokens.
        let mut out = Vec::new();
        let mut start = 0;
        for (at, _) in text.char_indices().skip(1) {
            if at - start >= 3 {
                out.push(&text[start..at]);
                start = at;
            }
        }
        out.push(&text[start..]);
        out
    }

    #[test]
    fn a_recited_system_prompt_is_stopped_before_any_run_of_it_is_shown() {
        let guard = PromptGuard::new(SYSTEM);
        let recital = format!("Sure! My instructions are: {SYSTEM}");
        let (shown, leaked) = stream(&guard, &pieces(&recital));
        assert!(leaked);
        assert_eq!(shown, "Sure! My instructions are: ");
        // Case and punctuation changes do not get it through either.
        let shouted = SYSTEM.to_uppercase().replace(['.', ','], " -");
        let (shown, leaked) = stream(&guard, &pieces(&shouted));
        assert!(leaked, "{shown}");
        assert!(shown.len() < 10, "{shown}");
    }

    #[test]
    fn ordinary_answers_pass_whole_even_when_they_share_words_with_the_prompt() {
        let guard = PromptGuard::new(SYSTEM);
        let answer = "You are welcome to return the headphones within 30 days. The customer \
            support team answers in two or three days.";
        let (shown, leaked) = stream(&guard, &pieces(answer));
        assert!(!leaked);
        assert_eq!(shown, answer);
    }

    #[test]
    fn words_that_may_begin_a_recital_are_held_until_it_breaks_off() {
        let guard = PromptGuard::new(SYSTEM);
        assert_eq!(guard.check("Hello! You are a friendly", false), Verdict::Show("Hello! ".len()));
        // A word still being written that could grow into the prompt's next word is held too.
        assert_eq!(guard.check("Hello! You are a friendly cust", false), Verdict::Show("Hello! ".len()));
        // Once it breaks off, it all goes out.
        let broken = "Hello! You are a friendly dog";
        assert_eq!(guard.check(broken, false), Verdict::Show(broken.len()));
        assert_eq!(guard.check("Hello! You are a", true), Verdict::Show("Hello! You are a".len()));
    }

    #[test]
    fn chinese_prompts_are_guarded_character_by_character() {
        let guard = PromptGuard::new("你是一个友好的客服助手，只用常见问题里的事实回答顾客。");
        let (shown, leaked) = stream(&guard, &pieces("好的：你是一个友好的客服助手，只用常见问题"));
        assert!(leaked);
        assert_eq!(shown, "好的：");
        let (shown, leaked) = stream(&guard, &pieces("我们的客服助手会回答"));
        assert!(!leaked);
        assert_eq!(shown, "我们的客服助手会回答");
    }
}
