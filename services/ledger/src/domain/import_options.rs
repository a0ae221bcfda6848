use freedumb_kit::FieldViolations;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{optional_id, required_id, validated};
use crate::import::{ImportFormat, RawOptions};

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
