//! The `text` filter of a listing: a case-insensitive substring of a
//! transaction's description or merchant (its `search_text`, lower case).
//!
//! SQLite, and Postgres for a single word, match it with `LIKE '%…%'`
//! (on Postgres through the trigram index, `transactions_search_trgm`).
//! A trigram index answers a term of several words slowly when one of them
//! is common: Postgres reads every posting list of the term's trigrams in
//! full, a million entries each for a word every row holds, however rare
//! the rest of the term is. So on Postgres a term of several words is
//! found through the word index (`transactions_search_words`, a GIN index
//! of `to_tsvector('simple', search_text)`), whose scan skips through a
//! common word's list to the few rows a rare word names. The words give a
//! condition every match meets ([`word_query`]); the substring itself is
//! then checked on those rows with `strpos`, which no index serves, so the
//! planner cannot fall back to the trigram scan for it.

/// `text` as a LIKE pattern matching it anywhere (with `\` escaping).
pub(super) fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A `tsquery` (for the `simple` configuration) that every `search_text`
/// containing `text` satisfies, or `None` when `text` names no whole word
/// the index can use (a single word, which may sit inside a longer one).
///
/// Postgres' parser ends a token at every whitespace character, so a word
/// of `text` with whitespace on both sides is a whole token of every
/// matching text (`word`), and one with whitespace before it begins one
/// (`word:*`, a prefix: `tesco` of `tesco-express` or `tesco.com`). A word
/// at the start of `text` may end a longer token and gives no condition.
/// Only words of ASCII letters and digits are used, which every parser
/// rule keeps as they are (lower case is the `simple` dictionary's only
/// change, and both sides are lower case already); others are left to
/// the substring check.
pub(super) fn word_query(text: &str) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !c.is_ascii_whitespace()) {
        // Every word after the first follows whitespace.
        let bounded_before = start > 0;
        let word_and_after = &rest[start..];
        let end = word_and_after
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(word_and_after.len());
        let word = &word_and_after[..end];
        let bounded_after = end < word_and_after.len();
        rest = &word_and_after[end..];
        let usable = bounded_before
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !usable {
            continue;
        }
        let term = if bounded_after {
            format!("'{word}'")
        } else {
            format!("'{word}':*")
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    (!terms.is_empty()).then(|| terms.join(" & "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn a_single_word_gives_no_word_query() {
        assert_eq!(word_query("bucks"), None);
        assert_eq!(word_query("777777"), None);
        assert_eq!(word_query(""), None);
    }

    #[test]
    fn inner_words_are_whole_and_the_last_a_prefix() {
        assert_eq!(word_query("purchase 777777").as_deref(), Some("'777777':*"));
        assert_eq!(
            word_query("card payment to tesco").as_deref(),
            Some("'payment' & 'to' & 'tesco':*")
        );
    }

    #[test]
    fn a_trailing_space_makes_the_last_word_whole() {
        assert_eq!(word_query("coffee shop ").as_deref(), Some("'shop'"));
    }

    #[test]
    fn the_first_word_counts_after_leading_whitespace() {
        assert_eq!(word_query(" coffee").as_deref(), Some("'coffee':*"));
    }

    #[test]
    fn words_the_parser_may_split_or_change_are_left_out() {
        // Punctuation (a host, an e-mail, a decimal), upper case and
        // non-ASCII letters are checked by the substring match alone.
        assert_eq!(word_query("paid amzn.com"), None);
        assert_eq!(
            word_query("paid 12.50 at cafe").as_deref(),
            Some("'at' & 'cafe':*")
        );
        assert_eq!(word_query("paid café"), None);
        assert_eq!(word_query("x AB"), None);
    }

    #[test]
    fn any_whitespace_separates_words_and_repeats_are_dropped() {
        assert_eq!(word_query("a\tb\nb c").as_deref(), Some("'b' & 'c':*"));
    }
}
