//! Records to their API form.

use freedumb_kit::time::timestamp;
use freedumb_proto::ledger as pb;

use crate::recurrence::Frequency;
use crate::store::{AccountRecord, CategoryRecord, RuleRecord, TransactionRecord, TransferRecord};

pub use freedumb_kit::domain::{date, money};

fn account_kind(name: &str) -> pb::AccountKind {
    match name {
        "checking" => pb::AccountKind::Checking,
        "savings" => pb::AccountKind::Savings,
        "credit_card" => pb::AccountKind::CreditCard,
        "cash" => pb::AccountKind::Cash,
        "loan" => pb::AccountKind::Loan,
        "investment" => pb::AccountKind::Investment,
        _ => pb::AccountKind::Unspecified,
    }
}

/// The API frequency of a stored one.
pub fn frequency(f: Frequency) -> pb::Frequency {
    match f {
        Frequency::Daily => pb::Frequency::Daily,
        Frequency::Weekly => pb::Frequency::Weekly,
        Frequency::Monthly => pb::Frequency::Monthly,
        Frequency::Yearly => pb::Frequency::Yearly,
    }
}

/// An account as the API shows it.
pub fn account(a: &AccountRecord) -> pb::Account {
    pb::Account {
        id: a.id.to_string(),
        name: a.name.clone(),
        kind: account_kind(&a.kind).into(),
        opening_balance: Some(money(&a.currency, a.opening_balance_minor)),
        balance: Some(money(&a.currency, a.balance_minor)),
        archived: a.archived,
        create_time: Some(timestamp(a.create_time)),
        update_time: Some(timestamp(a.update_time)),
    }
}

/// A category as the API shows it.
pub fn category(c: &CategoryRecord) -> pb::Category {
    pb::Category {
        id: c.id.to_string(),
        name: c.name.clone(),
        kind: match c.kind.as_str() {
            "income" => pb::CategoryKind::Income,
            "expense" => pb::CategoryKind::Expense,
            _ => pb::CategoryKind::Unspecified,
        }
        .into(),
        parent_id: c.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        create_time: Some(timestamp(c.create_time)),
    }
}

/// A transaction as the API shows it.
pub fn transaction(t: &TransactionRecord) -> pb::Transaction {
    pb::Transaction {
        id: t.id.to_string(),
        account_id: t.account_id.to_string(),
        amount: Some(money(&t.currency, t.amount_minor)),
        date: Some(date(t.date)),
        description: t.description.clone(),
        merchant: t.merchant.clone(),
        category_id: t.category_id.map(|c| c.to_string()).unwrap_or_default(),
        splits: t
            .splits
            .iter()
            .map(|s| pb::Split {
                category_id: s.category_id.to_string(),
                amount_minor: s.amount_minor,
            })
            .collect(),
        tags: t.tags.clone(),
        notes: t.notes.clone(),
        transfer_id: t.transfer_id.map(|id| id.to_string()).unwrap_or_default(),
        recurring_rule_id: t
            .recurring
            .map(|(rule, _)| rule.to_string())
            .unwrap_or_default(),
        create_time: Some(timestamp(t.create_time)),
        update_time: Some(timestamp(t.update_time)),
        categorized_by: categorized_by(t).into(),
    }
}

/// Who chose a transaction's category.
fn categorized_by(t: &TransactionRecord) -> pb::CategorizedBy {
    if t.category_id.is_none() && t.splits.is_empty() {
        pb::CategorizedBy::Unspecified
    } else if t.ai_categorized {
        pb::CategorizedBy::Ai
    } else {
        pb::CategorizedBy::User
    }
}

/// A transfer as the API shows it.
pub fn transfer(t: &TransferRecord) -> pb::Transfer {
    pb::Transfer {
        id: t.id.to_string(),
        from_account_id: t.from.account_id.to_string(),
        to_account_id: t.to.account_id.to_string(),
        amount: Some(money(&t.from.currency, -t.from.amount_minor)),
        received_amount: Some(money(&t.to.currency, t.to.amount_minor)),
        exchange_rate: t.exchange_rate.clone(),
        date: Some(date(t.from.date)),
        description: t.description.clone(),
        from_transaction_id: t.from.id.to_string(),
        to_transaction_id: t.to.id.to_string(),
        create_time: Some(timestamp(t.create_time)),
    }
}

/// A recurring rule as the API shows it.
pub fn rule(r: &RuleRecord) -> pb::RecurringRule {
    pb::RecurringRule {
        id: r.id.to_string(),
        account_id: r.account_id.to_string(),
        amount: Some(money(&r.currency, r.amount_minor)),
        description: r.description.clone(),
        merchant: r.merchant.clone(),
        category_id: r.category_id.map(|c| c.to_string()).unwrap_or_default(),
        tags: r.tags.clone(),
        frequency: frequency(r.schedule.frequency).into(),
        interval: i32::try_from(r.schedule.interval).unwrap_or(i32::MAX),
        start_date: Some(date(r.schedule.start)),
        end_date: r.schedule.end.map(date),
        next_date: r.next_date.map(date),
        create_time: Some(timestamp(r.create_time)),
    }
}

/// The API form of a statement format (`None`: unknown).
pub fn statement_format(kind: Option<crate::import::Kind>) -> pb::StatementFormat {
    use crate::import::Kind;
    match kind {
        Some(Kind::Csv) => pb::StatementFormat::Csv,
        Some(Kind::Ofx) => pb::StatementFormat::Ofx,
        Some(Kind::Qif) => pb::StatementFormat::Qif,
        Some(Kind::Camt) => pb::StatementFormat::Camt053,
        Some(Kind::Mt940) => pb::StatementFormat::Mt940,
        None => pb::StatementFormat::Unspecified,
    }
}

/// CSV options as the API shows them.
pub fn csv_options(hints: &crate::import::CsvHints) -> pb::CsvOptions {
    pb::CsvOptions {
        encoding: hints
            .encoding
            .map(|e| e.name().to_owned())
            .unwrap_or_default(),
        has_header: hints.has_header,
        delimiter: hints.delimiter.clone(),
        date_column: hints.date_column.clone(),
        date_format: hints.date_format.clone(),
        amount_column: hints.amount_column.clone(),
        debit_column: hints.debit_column.clone(),
        credit_column: hints.credit_column.clone(),
        decimal_separator: hints.decimal_separator.clone(),
        thousands_separator: hints.thousands_separator.clone(),
        description_column: hints.description_column.clone(),
        merchant_column: hints.merchant_column.clone(),
    }
}

/// A preview as the API shows it, amounts in `currency`.
pub fn preview(
    planned: &crate::import::Planned,
    preview: &crate::import::Preview,
    currency: &str,
) -> pb::PreviewImportResponse {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    pb::PreviewImportResponse {
        format: statement_format(Some(planned.plan.kind())).into(),
        csv: planned.csv.as_ref().map(csv_options),
        entries: preview
            .lines
            .iter()
            .map(|line| pb::PreviewEntry {
                line: count(line.line),
                date: Some(date(line.date)),
                amount: Some(money(currency, line.amount_minor)),
                description: line.description.clone(),
                merchant: line.merchant.clone(),
            })
            .collect(),
        errors: preview
            .errors
            .iter()
            .map(|e| pb::ImportLineError {
                line: count(e.line),
                field: e.field.clone(),
                message: e.message.clone(),
            })
            .collect(),
        warnings: planned.warnings.clone(),
        skipped_pending: count(preview.pending),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn dates_round_trip() {
        let d = NaiveDate::from_ymd_opt(1999, 12, 31).expect("date");
        let api = date(d);
        assert_eq!((api.year, api.month, api.day), (1999, 12, 31));
        assert_eq!(
            crate::domain::required_date(Some(&api)),
            Ok(d),
            "the API form parses back"
        );
    }

    #[test]
    fn stored_kinds_map_back_to_the_api() {
        for kind in [
            pb::AccountKind::Checking,
            pb::AccountKind::Savings,
            pb::AccountKind::CreditCard,
            pb::AccountKind::Cash,
            pb::AccountKind::Loan,
            pb::AccountKind::Investment,
        ] {
            let stored = crate::domain::AccountKind::parse(kind.into()).expect("known kind");
            assert_eq!(account_kind(stored.as_str()), kind);
        }
    }
}
