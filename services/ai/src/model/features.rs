//! What the global model reads of a transaction: the words of its
//! description, their character 3- to 5-grams, word pairs, the normalized
//! merchant, and the sign and size of the amount. Features are hashed
//! (FNV-1a, 32 bits) so the model stores numbers, not strings; the strings
//! are rebuilt from the input when a decision is explained.

use crate::domain::normalize;

/// The shortest and longest character n-grams.
const NGRAMS: std::ops::RangeInclusive<usize> = 3..=5;
/// The most words of a description read.
const MAX_WORDS: usize = 24;

/// One feature: its hash and, for explanations, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// FNV-1a of `text`.
    pub hash: u32,
    /// `w:bottle`, `c:<bo`, `b:blue bottle`, `m:blue bottle`, `a:-1`.
    pub text: String,
}

/// The features of a transaction, in a stable order, repeats kept (the
/// model counts them).
pub fn extract(description: &str, amount_minor: i64) -> Vec<Feature> {
    let mut out = Vec::with_capacity(64);
    let words = words(description);
    for word in &words {
        push(&mut out, format!("w:{word}"));
        let padded: Vec<char> = format!("<{word}>").chars().collect();
        for n in NGRAMS {
            for gram in padded.windows(n) {
                push(&mut out, format!("c:{}", gram.iter().collect::<String>()));
            }
        }
    }
    for pair in words.windows(2) {
        push(&mut out, format!("b:{} {}", pair[0], pair[1]));
    }
    if let Some(merchant) = normalize(description) {
        push(&mut out, format!("m:{}", merchant.key));
    }
    push(&mut out, format!("a:{}", amount_bucket(amount_minor)));
    out
}

/// The hashes of [`extract`], without the texts.
pub fn hashes(description: &str, amount_minor: i64) -> Vec<u32> {
    extract(description, amount_minor)
        .into_iter()
        .map(|f| f.hash)
        .collect()
}

/// The words of a description: lower-case runs of letters, two or more
/// long (digits, store numbers and punctuation dropped).
fn words(description: &str) -> Vec<String> {
    description
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 2)
        .take(MAX_WORDS)
        .map(str::to_lowercase)
        .collect()
}

/// The sign and order of magnitude of an amount in major units, in half
/// decades: `-3` is a spending of 10 to 31.6, `+4` an income of 31.6 to 100.
fn amount_bucket(amount_minor: i64) -> String {
    let sign = if amount_minor < 0 { '-' } else { '+' };
    let major = (amount_minor.unsigned_abs() as f64 / 100.0).max(0.01);
    // At most ±19 half-decades: `as` saturates and the range is small.
    let bucket = (major.log10() * 2.0).floor().clamp(-4.0, 30.0) as i32;
    format!("{sign}{bucket}")
}

fn push(out: &mut Vec<Feature>, text: String) {
    out.push(Feature {
        hash: fnv1a(text.as_bytes()),
        text,
    });
}

/// 32-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_ngrams_pairs_merchant_and_amount_are_read() {
        let f = extract("SQ *BLUE BOTTLE 0042 OAKLAND CA", -450);
        let texts: Vec<&str> = f.iter().map(|f| f.text.as_str()).collect();
        for expected in [
            "w:blue",
            "c:<bl",
            "c:ttle>",
            "b:blue bottle",
            "m:blue bottle",
            "a:-1",
        ] {
            assert!(texts.contains(&expected), "{expected} in {texts:?}");
        }
        assert!(!texts.iter().any(|t| t.contains("0042")), "{texts:?}");
    }

    #[test]
    fn amounts_fall_in_half_decades_by_sign() {
        assert_eq!(amount_bucket(-2_000), "-2");
        assert_eq!(amount_bucket(-5_000), "-3");
        assert_eq!(amount_bucket(250_000), "+6");
        assert_eq!(amount_bucket(0), "+-4");
        assert_eq!(amount_bucket(i64::MIN), "-30");
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }
}
