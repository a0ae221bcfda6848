//! Records for unit tests.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::store::TransactionRecord;

/// A stored USD transaction of -3.00 on 2026-01-01, at revision 4, without
/// category, splits, tags or text.
pub(crate) fn transaction_record() -> TransactionRecord {
    let id = Uuid::now_v7();
    let now = freedumb_kit::time::now();
    TransactionRecord {
        id,
        user_id: id,
        account_id: id,
        currency: "USD".into(),
        amount_minor: -300,
        date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
        description: String::new(),
        merchant: String::new(),
        category_id: None,
        splits: Vec::new(),
        tags: Vec::new(),
        notes: String::new(),
        transfer_id: None,
        recurring: None,
        import_key: None,
        ai_categorized: false,
        revision: 4,
        create_time: now,
        update_time: now,
    }
}
