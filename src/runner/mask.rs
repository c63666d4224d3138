//! Masking secret values in a step's output before it is stored: every occurrence becomes
//! `********`, also when a value arrives split across reads or spans lines. One Aho-Corasick
//! automaton finds all values in one pass; the bytes at the end of a read that could still be
//! the start of a value are held back until the next read (or the end of the output), and no
//! more than that, so live logs stay live.
//!
//! The values are found by the packed (Teddy) searcher when it can hold them, and by the full
//! automaton otherwise. The automaton's own prefilter picks the patterns' rarest bytes, and a
//! random token's rarest bytes may be common in ordinary output (digits, say), which once cut
//! a masked log to a tenth of its speed; Teddy keys on each value's first bytes and stays fast.

use aho_corasick::{AhoCorasick, MatchKind, packed};

/// What a masked value becomes.
pub const MASK: &[u8] = b"********";

/// Lines shorter than this inside a multi-line value are not masked on their own (they would
/// mask ordinary output); the value as a whole always is.
const MIN_LINE: usize = 4;

/// A streaming masker for a set of values.
#[derive(Debug)]
pub struct Masker {
    finder: Finder,
    patterns: Vec<Vec<u8>>,
    longest: usize,
    /// Bytes held back: a possible start of a value.
    held: Vec<u8>,
    /// Whether any byte starts a value (a quick test before comparing prefixes).
    starts: [bool; 256],
}

impl Masker {
    /// A masker for `values` (empty ones are ignored); `None` when there is nothing to mask.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Masker> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        for value in values {
            if value.is_empty() {
                continue;
            }
            patterns.push(value.as_bytes().to_vec());
            // Each line of a multi-line value (a key file, say), as printed line by line.
            if value.contains('\n') {
                for line in value.lines().map(str::trim_end) {
                    if line.len() >= MIN_LINE {
                        patterns.push(line.as_bytes().to_vec());
                    }
                }
            }
        }
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return None;
        }
        let finder = Finder::new(&patterns)?;
        let mut starts = [false; 256];
        for p in &patterns {
            starts[usize::from(p[0])] = true;
        }
        Some(Masker {
            finder,
            longest: patterns.iter().map(Vec::len).max().unwrap_or(0),
            patterns,
            held: Vec::new(),
            starts,
        })
    }

    /// Takes the next bytes of output; appends what can be shown already to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let joined;
        let data: &[u8] = if self.held.is_empty() {
            input
        } else {
            let mut j = std::mem::take(&mut self.held);
            j.extend_from_slice(input);
            joined = j;
            &joined
        };
        // A value starting before `limit` lies wholly inside `data`, so it is found now.
        let limit = data.len().saturating_sub(self.longest - 1);
        let mut pos = 0;
        self.finder.each(data, |start, end| {
            if start >= limit {
                return false;
            }
            out.extend_from_slice(&data[pos..start]);
            out.extend_from_slice(MASK);
            pos = end;
            true
        });
        // Past `limit`, hold back from the first byte where a value could begin.
        let from = pos.max(limit);
        let hold = (from..data.len())
            .find(|&i| self.could_start(&data[i..]))
            .unwrap_or(data.len());
        out.extend_from_slice(&data[pos..hold]);
        self.held = data[hold..].to_vec();
    }

    /// Whether `tail` is the beginning of some value (or holds one).
    fn could_start(&self, tail: &[u8]) -> bool {
        self.starts[usize::from(tail[0])]
            && self.patterns.iter().any(|p| {
                let n = p.len().min(tail.len());
                p[..n] == tail[..n]
            })
    }

    /// The end of the output: whatever was held back, masked.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let held = std::mem::take(&mut self.held);
        let mut pos = 0;
        self.finder.each(&held, |start, end| {
            out.extend_from_slice(&held[pos..start]);
            out.extend_from_slice(MASK);
            pos = end;
            true
        });
        out.extend_from_slice(&held[pos..]);
    }
}

/// Finds the leftmost-longest occurrences of the values.
#[derive(Debug)]
enum Finder {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl Finder {
    fn new(patterns: &[Vec<u8>]) -> Option<Finder> {
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(patterns)
            .build();
        if let Some(searcher) = packed {
            return Some(Finder::Packed(searcher));
        }
        Finder::automaton(patterns)
    }

    fn automaton(patterns: &[Vec<u8>]) -> Option<Finder> {
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns)
            .ok()
            .map(Finder::Automaton)
    }

    /// Calls `found(start, end)` for each match in order, until it returns false.
    fn each(&self, haystack: &[u8], mut found: impl FnMut(usize, usize) -> bool) {
        match self {
            Finder::Packed(s) => {
                for m in s.find_iter(haystack) {
                    if !found(m.start(), m.end()) {
                        return;
                    }
                }
            }
            Finder::Automaton(a) => {
                for m in a.find_iter(haystack) {
                    if !found(m.start(), m.end()) {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_in_pieces(values: &[&str], pieces: &[&[u8]]) -> String {
        let mut m = Masker::new(values.iter().copied()).expect("a masker");
        let mut out = Vec::new();
        for p in pieces {
            m.feed(p, &mut out);
        }
        m.finish(&mut out);
        String::from_utf8(out).expect("text")
    }

    #[test]
    fn a_value_in_the_output_is_masked() {
        assert_eq!(
            mask_in_pieces(&["hunter2"], &[b"password=hunter2 ok\n"]),
            "password=******** ok\n"
        );
    }

    #[test]
    fn a_value_split_across_reads_is_masked() {
        let got = mask_in_pieces(&["s3cr3t-value"], &[b"token: s3c", b"r3t-", b"value\n"]);
        assert_eq!(got, "token: ********\n");
        for cut in 0..20 {
            let text = b"xx s3cr3t-value yy";
            let (a, b) = text.split_at(cut.min(text.len()));
            assert_eq!(mask_in_pieces(&["s3cr3t-value"], &[a, b]), "xx ******** yy");
        }
    }

    #[test]
    fn a_multi_line_value_is_masked_whole_and_line_by_line() {
        let key = "-----BEGIN KEY-----\nAAAAbbbbCCCC\n-----END KEY-----";
        let got = mask_in_pieces(&[key], &[key.as_bytes(), b"\n"]);
        assert_eq!(got, "********\n");
        let got = mask_in_pieces(&[key], &[b"line: AAAAbbbbCCCC\n"]);
        assert_eq!(got, "line: ********\n");
    }

    #[test]
    fn the_longest_of_overlapping_values_is_masked() {
        let got = mask_in_pieces(&["abc", "abcdef"], &[b"1abcdef2abc3"]);
        assert_eq!(got, "1********2********3");
    }

    #[test]
    fn output_that_cannot_start_a_value_is_not_held_back() {
        let mut m = Masker::new(["secret-value"]).expect("a masker");
        let mut out = Vec::new();
        m.feed(b"hello\n", &mut out);
        assert_eq!(out, b"hello\n");
        m.feed(b"wait: secr", &mut out);
        assert_eq!(out, b"hello\nwait: ");
    }

    #[test]
    fn both_finders_mask_the_same_bytes() {
        let values = ["abc", "abcdef", "hgr_wt_k9Q0", "0123", "x"];
        let patterns: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        let text = b"x abcdefabc 0123456789 hgr_wt_k9Q0 abcab 0120123 xx";
        let mask_with = |finder: Finder| {
            let mut pos = 0;
            let mut out = Vec::new();
            finder.each(text, |start, end| {
                out.extend_from_slice(&text[pos..start]);
                out.extend_from_slice(MASK);
                pos = end;
                true
            });
            out.extend_from_slice(&text[pos..]);
            String::from_utf8(out).expect("text")
        };
        let packed = Finder::new(&patterns).expect("a finder");
        assert!(matches!(packed, Finder::Packed(_)));
        let automaton = Finder::automaton(&patterns).expect("an automaton");
        assert_eq!(mask_with(packed), mask_with(automaton));
    }

    #[test]
    fn no_values_means_no_masker() {
        assert!(Masker::new([""]).is_none());
    }
}
