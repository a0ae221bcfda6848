use freedumb_kit::FieldViolations;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{optional_id, required_id, validated};
use crate::import::{CsvHints, ImportFormat, Kind, RawOptions, TextEncoding};

/// A validated `CreateImportRequest` or `PreviewImportRequest`, without
/// its file: where the lines go and what the request says of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    /// The account the lines are recorded in.
    pub account_id: Uuid,
    /// The format, when given.
    pub format: Option<Kind>,
    /// The CSV options given.
    pub csv: CsvHints,
    /// The category every line gets, if any.
    pub category_id: Option<Uuid>,
    /// The idempotency key.
    pub request_id: Option<String>,
    /// The file's declared content type (a hint for messages).
    pub content_type: String,
}

/// The fields of an import request (its two messages share them).
#[derive(Debug, Clone, Copy)]
pub struct ImportFields<'a> {
    /// `account_id`.
    pub account_id: &'a str,
    /// `format`.
    pub format: i32,
    /// `csv`.
    pub csv: Option<&'a pb::CsvOptions>,
    /// `category_id`.
    pub category_id: &'a str,
    /// `request_id`.
    pub request_id: &'a str,
    /// `file.content_type`.
    pub content_type: &'a str,
}

impl TryFrom<ImportFields<'_>> for ImportRequest {
    type Error = FieldViolations;

    fn try_from(f: ImportFields<'_>) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let account_id = v.check("account_id", required_id(f.account_id));
        let category_id = v.check("category_id", optional_id(f.category_id));
        let request_id = v.check(
            "request_id",
            freedumb_kit::domain::request_id(f.request_id).map(|r| r.map(str::to_owned)),
        );
        let format = match pb::StatementFormat::try_from(f.format) {
            Ok(pb::StatementFormat::Unspecified) => Some(None),
            Ok(pb::StatementFormat::Csv) => Some(Some(Kind::Csv)),
            Ok(pb::StatementFormat::Ofx) => Some(Some(Kind::Ofx)),
            Ok(pb::StatementFormat::Qif) => Some(Some(Kind::Qif)),
            Ok(pb::StatementFormat::Camt053) => Some(Some(Kind::Camt)),
            Ok(pb::StatementFormat::Mt940) => Some(Some(Kind::Mt940)),
            Err(_) => {
                v.add("format", format!("{} is not a statement format", f.format));
                None
            }
        };
        let csv = f.csv.cloned().unwrap_or_default();
        let encoding = if csv.encoding.is_empty() {
            Some(None)
        } else {
            let parsed = TextEncoding::parse(&csv.encoding);
            if parsed.is_none() {
                v.add("csv.encoding", "must be utf-8, windows-1252 or iso-8859-1");
            }
            parsed.map(Some)
        };
        if f.content_type.len() > 200 {
            v.add("file.content_type", "is longer than 200 characters");
        }
        validated(v, || {
            Some(Self {
                account_id: account_id?,
                format: format?,
                csv: CsvHints {
                    encoding: encoding?,
                    has_header: csv.has_header,
                    delimiter: csv.delimiter,
                    date_column: csv.date_column,
                    date_format: csv.date_format,
                    amount_column: csv.amount_column,
                    debit_column: csv.debit_column,
                    credit_column: csv.credit_column,
                    decimal_separator: csv.decimal_separator,
                    thousands_separator: csv.thousands_separator,
                    description_column: csv.description_column,
                    merchant_column: csv.merchant_column,
                },
                category_id: category_id?,
                request_id: request_id?,
                content_type: f.content_type.to_owned(),
            })
        })
    }
}

/// Validated `ImportOptions`: where the statement's lines go and how its
/// file is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The account the lines are recorded in.
    pub account_id: Uuid,
    /// The category every line gets, if any.
    pub category_id: Option<Uuid>,
    /// How to read the file.
    pub format: ImportFormat,
}

impl TryFrom<pb::ImportOptions> for ImportOptions {
    type Error = FieldViolations;

    fn try_from(options: pb::ImportOptions) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let account_id = v.check("options.account_id", required_id(&options.account_id));
        let category_id = v.check("options.category_id", optional_id(&options.category_id));
        let format = ImportFormat::parse(&RawOptions {
            has_header: options.has_header,
            delimiter: &options.delimiter,
            date_column: &options.date_column,
            date_format: &options.date_format,
            amount_column: &options.amount_column,
            debit_column: &options.debit_column,
            credit_column: &options.credit_column,
            decimal_separator: &options.decimal_separator,
            thousands_separator: &options.thousands_separator,
            description_column: &options.description_column,
            merchant_column: &options.merchant_column,
        })
        .map_err(|problems| {
            for (field, message) in problems {
                v.add(field, message);
            }
        })
        .ok();
        validated(v, || {
            Some(Self {
                account_id: account_id?,
                category_id: category_id?,
                format: format?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_problems_are_reported_with_the_ids() {
        let err = ImportOptions::try_from(pb::ImportOptions {
            account_id: "x".into(),
            amount_column: "2".into(),
            ..Default::default()
        })
        .expect_err("bad");
        let fields: Vec<_> = err.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields.first(), Some(&"options.account_id"));
        assert!(fields.contains(&"options.date_column"), "{fields:?}");
    }

    #[test]
    fn good_options_parse() {
        let id = Uuid::now_v7();
        let options = ImportOptions::try_from(pb::ImportOptions {
            account_id: id.to_string(),
            date_column: "1".into(),
            amount_column: "2".into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!((options.account_id, options.category_id), (id, None));
    }
}
