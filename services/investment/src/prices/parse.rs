//! Reading closes out of a provider's answer: CSV with a header naming a
//! date column and a close column (`date,close`, or a quote download's
//! `Date,Open,High,Low,Close,Adj Close,Volume`), or JSON: an array of
//! objects with `date` and `close` (a number or a decimal string),
//! optionally under a top-level `closes` key.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use super::ProviderError;
use crate::domain::units;

/// The most rows one answer may hold (a century of days).
const MAX_ROWS: usize = 40_000;

fn garbage(why: impl Into<String>) -> ProviderError {
    ProviderError::Garbage(why.into())
}

fn day(raw: &str) -> Result<NaiveDate, ProviderError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| garbage(format!("`{}` is not a YYYY-MM-DD date", truncate(raw))))
}

fn close(raw: &str) -> Result<Decimal, ProviderError> {
    units::close(raw.trim()).map_err(|e| garbage(format!("a close {e}")))
}

fn truncate(raw: &str) -> &str {
    freedumb_kit::domain::truncate(raw, 40)
}

/// The closes in `body`, JSON when it starts with `[` or `{`, CSV
/// otherwise.
pub fn parse_closes(body: &[u8]) -> Result<Vec<(NaiveDate, Decimal)>, ProviderError> {
    let text = std::str::from_utf8(body).map_err(|_| garbage("not UTF-8"))?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.starts_with('[') || text.starts_with('{') {
        json(text)
    } else {
        csv(text)
    }
}

fn csv(text: &str) -> Result<Vec<(NaiveDate, Decimal)>, ProviderError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| garbage(format!("CSV header: {e}")))?
        .clone();
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(date_col), Some(close_col)) = (find("date"), find("close")) else {
        return Err(garbage(
            "the CSV header names no `date` and `close` columns",
        ));
    };
    let mut out = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| garbage(format!("CSV row {}: {e}", n + 2)))?;
        if out.len() >= MAX_ROWS {
            return Err(garbage(format!("more than {MAX_ROWS} rows")));
        }
        let field = |i: usize| record.get(i).unwrap_or_default();
        // Quote downloads write "null" for days without trading.
        if field(close_col).eq_ignore_ascii_case("null") {
            continue;
        }
        out.push((day(field(date_col))?, close(field(close_col))?));
    }
    Ok(out)
}

fn json(text: &str) -> Result<Vec<(NaiveDate, Decimal)>, ProviderError> {
    let value: Value = serde_json::from_str(text).map_err(|e| garbage(format!("JSON: {e}")))?;
    let rows = match &value {
        Value::Array(rows) => rows,
        Value::Object(o) => match o.get("closes") {
            Some(Value::Array(rows)) => rows,
            _ => return Err(garbage("a JSON object without a `closes` array")),
        },
        _ => return Err(garbage("JSON that is not an array of closes")),
    };
    if rows.len() > MAX_ROWS {
        return Err(garbage(format!("more than {MAX_ROWS} rows")));
    }
    rows.iter()
        .map(|row| {
            let date = row
                .get("date")
                .and_then(Value::as_str)
                .ok_or_else(|| garbage("a row without a `date` string"))?;
            let raw = match row.get("close") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(garbage("a row without a `close` number")),
            };
            Ok((day(date)?, close(&raw)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_quote_download_is_read_by_its_close_column() {
        let body = b"\xef\xbb\xbfDate,Open,High,Low,Close,Adj Close,Volume\r\n\
            2024-01-02,187.15,188.44,183.89,185.64,184.94,82488700\r\n\
            2024-01-03,184.22,185.88,183.43,184.25,183.55,58414500\r\n\
            2024-01-04,null,null,null,null,null,null\r\n";
        let closes = parse_closes(body).unwrap();
        assert_eq!(
            closes,
            [
                (d("2024-01-02"), "185.64".parse().unwrap()),
                (d("2024-01-03"), "184.25".parse().unwrap())
            ]
        );
    }

    #[test]
    fn json_closes_may_be_numbers_or_strings() {
        let body = br#"{"closes": [{"date": "2024-01-02", "close": 1.0945}, {"date": "2024-01-03", "close": "1.0920"}]}"#;
        let closes = parse_closes(body).unwrap();
        assert_eq!(closes[0].1.to_string(), "1.0945");
        assert_eq!(closes[1].1.to_string(), "1.092");
    }

    #[test]
    fn one_bad_row_refuses_the_whole_answer() {
        for body in [
            &b"date,close\n2024-01-02,100\n2024-01-03,-5\n"[..],
            b"date,close\n2024-13-02,100\n",
            b"date,price\n2024-01-02,100\n",
            b"<html>rate limited</html>",
            br#"[{"date": "2024-01-02", "close": "abc"}]"#,
            br#"[{"date": "2024-01-02"}]"#,
            br#"{"error": "no such symbol"}"#,
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_closes(body), Err(ProviderError::Garbage(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
