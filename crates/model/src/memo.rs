//! Answers remembered per thread, keyed by text the records repeat (image references,
//! names). The text is attacker-chosen, so the memory is bounded three ways: by count
//! (it starts over when full), by key length (longer keys are answered, not kept), and
//! by hashing with a per-process random seed (no precomputed collisions).

use std::collections::HashMap;

pub struct TextMemo<V> {
    answers: HashMap<Box<str>, V, foldhash::fast::RandomState>,
    kept: usize,
    key_len_max: usize,
}

impl<V: Clone> TextMemo<V> {
    /// At most `kept` answers, for keys of at most `key_len_max` bytes.
    pub fn new(kept: usize, key_len_max: usize) -> TextMemo<V> {
        TextMemo {
            answers: HashMap::default(),
            kept,
            key_len_max,
        }
    }

    /// The answer remembered for `key`, or `answer()`, remembered when the key is short
    /// enough.
    pub fn get_or(&mut self, key: &str, answer: impl FnOnce() -> V) -> V {
        if key.len() > self.key_len_max {
            return answer();
        }
        if let Some(known) = self.answers.get(key) {
            return known.clone();
        }
        let fresh = answer();
        if self.answers.len() >= self.kept {
            self.answers.clear();
        }
        self.answers.insert(key.into(), fresh.clone());
        fresh
    }

    pub fn clear(&mut self) {
        self.answers.clear();
    }

    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_short_keys_within_the_count() {
        let mut m = TextMemo::new(3, 4);
        let calls = std::cell::Cell::new(0);
        let mut ask = |k: &str| {
            m.get_or(k, || {
                calls.set(calls.get() + 1);
                k.len()
            })
        };
        assert_eq!(ask("ab"), 2);
        assert_eq!(ask("ab"), 2);
        assert_eq!(ask("abcde"), 5);
        assert_eq!(ask("abcde"), 5);
        for k in ["a", "b", "c", "d"] {
            ask(k);
        }
        // "ab" once, "abcde" twice (never kept), four more.
        assert_eq!(calls.get(), 7);
        assert!(m.len() <= 3);
    }
}
