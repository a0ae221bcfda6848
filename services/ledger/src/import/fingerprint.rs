//! Duplicate fingerprints: the same line imported twice gets the same fingerprint, and
//! identical lines within one file get different ones.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};

/// Separates fingerprints of this encoding from any other SHA-256 use.
const FINGERPRINT_DOMAIN: &[u8] = b"freedumb.ledger.import.v1";

/// The fingerprints of one file, counting how many identical lines came before each.
///
/// It keeps 16 bytes of hash and a count per distinct line (about 40 bytes
/// each), not the lines themselves.
#[derive(Debug, Default)]
pub(super) struct Fingerprints {
    seen: HashMap<u128, u64>,
}

impl Fingerprints {
    /// The fingerprint of the next good line of the file (lines come in file order).
    pub(super) fn of_line(
        &mut self,
        date: NaiveDate,
        amount_minor: i64,
        description: &str,
        merchant: &str,
    ) -> [u8; 32] {
        let line = line_hasher(date, amount_minor, description, merchant);
        let digest = line.clone().finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
        let earlier = self.seen.entry(u128::from_be_bytes(key)).or_insert(0);
        let n = *earlier;
        *earlier += 1;
        with_occurrence(line, n)
    }
}

/// Separates bank-id fingerprints from content fingerprints.
const BANK_ID_DOMAIN: &[u8] = b"freedumb.ledger.import.bank-id.v1";

/// The fingerprint of an entry the bank gave an id (OFX `FITID`, CAMT
/// `AcctSvcrRef`, MT940 bank reference): unique per account by the
/// formats' own rules, so the id alone is the duplicate key.
pub(super) fn of_bank_id(id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(BANK_ID_DOMAIN);
    hasher.update((id.len() as u64).to_be_bytes());
    hasher.update(id.as_bytes());
    hasher.finalize().into()
}

/// SHA-256 over a domain tag, the date (days from the common era, i32), the amount (i64),
/// the description and merchant (each u64 length then UTF-8 bytes) and `n` (u64), all
/// big-endian.
#[cfg(test)]
fn compute_fingerprint(
    date: NaiveDate,
    amount_minor: i64,
    description: &str,
    merchant: &str,
    n: u64,
) -> [u8; 32] {
    with_occurrence(line_hasher(date, amount_minor, description, merchant), n)
}

/// The hasher after the tag and the line's fields.
fn line_hasher(date: NaiveDate, amount_minor: i64, description: &str, merchant: &str) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_DOMAIN);
    hasher.update(date.num_days_from_ce().to_be_bytes());
    hasher.update(amount_minor.to_be_bytes());
    for field in [description, merchant] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher
}

/// The fingerprint of the `n`th occurrence of the line in `hasher`.
fn with_occurrence(mut hasher: Sha256, n: u64) -> [u8; 32] {
    hasher.update(n.to_be_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::super::RawOptions;
    use super::super::test_support::{date, header_options, options, run};
    use super::*;

    #[test]
    fn identical_lines_get_distinct_but_reproducible_fingerprints() {
        let format = options(&RawOptions {
            description_column: "Description",
            merchant_column: "Merchant",
            ..header_options()
        });
        let data = "Date,Amount,Description,Merchant\n\
                    2024-05-01,-3.50,Coffee,Cafe\n\
                    2024-05-01,-3.50,Coffee,Cafe\n\
                    2024-05-01,-3.50,Coffee,Bakery\n";
        let first: Vec<[u8; 32]> = run(&format, 2, data)
            .lines
            .iter()
            .map(|line| line.fingerprint)
            .collect();
        let second: Vec<[u8; 32]> = run(&format, 2, data)
            .lines
            .iter()
            .map(|line| line.fingerprint)
            .collect();
        assert_eq!(first.len(), 3);
        assert_ne!(first[0], first[1]);
        assert_ne!(first[0], first[2]);
        assert_ne!(first[1], first[2]);
        assert_eq!(first, second);
        let day = date(2024, 5, 1);
        assert_eq!(
            first[0],
            compute_fingerprint(day, -350, "Coffee", "Cafe", 0)
        );
        assert_eq!(
            first[1],
            compute_fingerprint(day, -350, "Coffee", "Cafe", 1)
        );
        assert_eq!(
            first[2],
            compute_fingerprint(day, -350, "Coffee", "Bakery", 0)
        );
        // Length prefixes keep field boundaries apart.
        assert_ne!(
            compute_fingerprint(day, 1, "ab", "c", 0),
            compute_fingerprint(day, 1, "a", "bc", 0)
        );
    }
}
