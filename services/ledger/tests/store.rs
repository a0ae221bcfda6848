//! The ledger store contract on SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI): the parts the end-to-end
//! tests cannot reach from the API (balance bounds, outbox claims, the
//! recurring claim).

use std::sync::Arc;

use chrono::NaiveDate;
use freedumb_kit::time::now;
use freedumb_ledger::domain::{MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR};
use freedumb_ledger::outbox;
use freedumb_ledger::recurrence::{Frequency, Schedule};
use freedumb_ledger::store::{
    AccountRecord, AiCategory, CategoryRecord, Created, ImportCounts, LedgerStore, RuleRecord,
    StoreError, Stores, TransactionFilter, TransactionRecord,
};
use freedumb_proto::ledger as pb;
use prost::Message as _;
use uuid::Uuid;

freedumb_kit::store_contract!(
    freedumb_ledger::NAME,
    freedumb_ledger::MIGRATIONS,
    freedumb_ledger::store::for_database;
    balances_never_leave_their_bounds,
    outbox_claims_are_exclusive_and_expire,
    archived_accounts_take_no_transactions,
    a_due_occurrence_is_recorded_once,
    an_import_records_each_line_once,
    an_import_larger_than_one_statement_is_recorded_whole,
    ai_categories_apply_only_to_untouched_uncategorized_transactions,
    text_search_matches_substrings_of_description_or_merchant,
);

/// On Postgres the text filter can be answered from an index instead of a
/// scan: a single word (`search_text LIKE '%…%' ESCAPE '\'`) from the
/// trigram index, a term of several words from the word index.
#[tokio::test]
async fn postgres_text_search_reads_an_index() {
    let Some(test) = freedumb_kit::testing::postgres_database(
        freedumb_ledger::NAME,
        &freedumb_ledger::MIGRATIONS,
    )
    .await
    else {
        return;
    };
    let freedumb_kit::Database::Postgres(pool) = &test.db else {
        panic!("a Postgres database");
    };
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .expect("set");
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM transactions WHERE search_text LIKE $1 ESCAPE '\\'",
    )
    .bind("%coffee 50\\%%")
    .fetch_all(&mut *conn)
    .await
    .expect("explain");
    assert!(
        plan.iter()
            .any(|line| line.contains("transactions_search_trgm")),
        "{plan:#?}"
    );
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM transactions \
         WHERE to_tsvector('simple', search_text) @@ $1::tsquery \
         AND strpos(search_text, $2) > 0",
    )
    .bind("'payment' & '1234':*")
    .bind("card payment 1234")
    .fetch_all(&mut *conn)
    .await
    .expect("explain");
    assert!(
        plan.iter()
            .any(|line| line.contains("transactions_search_words")),
        "{plan:#?}"
    );
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

async fn account(store: &Arc<dyn LedgerStore>, user_id: Uuid) -> AccountRecord {
    let now = now();
    let account = AccountRecord {
        id: Uuid::now_v7(),
        user_id,
        name: "Test".into(),
        kind: "checking".into(),
        currency: "USD".into(),
        opening_balance_minor: 0,
        balance_minor: 0,
        archived: false,
        create_time: now,
        update_time: now,
    };
    assert_eq!(
        store.create_account(&account, None).await.expect("account"),
        Created::New
    );
    account
}

fn transaction(account: &AccountRecord, amount_minor: i64) -> TransactionRecord {
    let now = now();
    TransactionRecord {
        id: Uuid::now_v7(),
        user_id: account.user_id,
        account_id: account.id,
        currency: account.currency.clone(),
        amount_minor,
        date: day(2026, 1, 1),
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
        revision: 0,
        create_time: now,
        update_time: now,
    }
}

async fn balances_never_leave_their_bounds(stores: Stores) {
    let store = &stores.user;
    let acc = account(store, Uuid::now_v7()).await;
    let steps = MAX_BALANCE_MINOR / MAX_AMOUNT_MINOR;
    for _ in 0..steps {
        store
            .create_transaction(&transaction(&acc, MAX_AMOUNT_MINOR), None, &outbox::build)
            .await
            .expect("within bounds");
    }
    let err = store
        .create_transaction(&transaction(&acc, 1), None, &outbox::build)
        .await
        .expect_err("past the bound");
    assert!(matches!(err, StoreError::BalanceOutOfRange), "{err:?}");
    let now = store
        .get_account(acc.user_id, acc.id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(
        now.balance_minor, MAX_BALANCE_MINOR,
        "the refused write changed nothing"
    );
    assert_eq!(stores.outbox.count().await.expect("len"), steps);
}

async fn text_search_matches_substrings_of_description_or_merchant(stores: Stores) {
    let store = &stores.user;
    let acc = account(store, Uuid::now_v7()).await;
    let other = account(store, Uuid::now_v7()).await;
    for (owner, description, merchant) in [
        (&acc, "Card payment 50% off", "Corner Coffee Ltd"),
        (&acc, "Coffee beans", ""),
        (&acc, "Rent", "Landlord"),
        (&acc, "card payment 500 off", "Bakery"),
        (&acc, "Paid to TESCO-Express.co.uk 12.50", ""),
        (&other, "Coffee beans", "Corner Coffee Ltd"),
    ] {
        let mut t = transaction(owner, -100);
        t.description = description.into();
        t.merchant = merchant.into();
        store
            .create_transaction(&t, None, &outbox::build)
            .await
            .expect("create");
    }
    let search = |text: &str| {
        let filter = TransactionFilter {
            text: Some(text.into()),
            ..TransactionFilter::default()
        };
        async move {
            let mut found: Vec<String> = store
                .list_transactions(acc.user_id, &filter, None, 50)
                .await
                .expect("search")
                .into_iter()
                .map(|t| t.description)
                .collect();
            found.sort();
            found
        }
    };
    assert_eq!(
        search("coffee").await,
        ["Card payment 50% off", "Coffee beans"]
    );
    assert_eq!(search("corner coffee").await, ["Card payment 50% off"]);
    // `%` and `_` are literal characters, not wildcards.
    assert_eq!(search("50% off").await, ["Card payment 50% off"]);
    assert_eq!(search("50_").await, Vec::<String>::new());
    assert_eq!(search("landlord").await, ["Rent"]);
    assert_eq!(search("tea").await, Vec::<String>::new());
    // Terms of several words (on Postgres through the word index): the
    // first word may end a longer one, the last begin one; the words
    // between are whole.
    assert_eq!(search("ner coffee").await, ["Card payment 50% off"]);
    assert_eq!(search("corner coff").await, ["Card payment 50% off"]);
    assert_eq!(
        search("card payment 50").await,
        ["Card payment 50% off", "card payment 500 off"]
    );
    assert_eq!(search("payment 500 off").await, ["card payment 500 off"]);
    assert_eq!(search("payment 50 off").await, Vec::<String>::new());
    assert_eq!(
        search("paid to tesco").await,
        ["Paid to TESCO-Express.co.uk 12.50"]
    );
    assert_eq!(
        search("express.co.uk 12.5").await,
        ["Paid to TESCO-Express.co.uk 12.50"]
    );
    assert_eq!(search("to tesco express").await, Vec::<String>::new());
}

async fn outbox_claims_are_exclusive_and_expire(stores: Stores) {
    let acc = account(&stores.user, Uuid::now_v7()).await;
    for amount in [1, 2, 3] {
        stores
            .user
            .create_transaction(&transaction(&acc, amount), None, &outbox::build)
            .await
            .expect("create");
    }
    let store = &stores.outbox;
    let (one, two, three) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let first = store.claim(one, 1_000, 31_000, 2).await.expect("claim");
    assert_eq!(first.len(), 2);
    assert!(first[0].seq < first[1].seq, "oldest first");
    let second = store.claim(two, 1_000, 31_000, 10).await.expect("claim");
    assert_eq!(second.len(), 1, "claimed rows are not handed out twice");
    store
        .delete(one, &first.iter().map(|r| r.seq).collect::<Vec<_>>())
        .await
        .expect("delete");
    assert_eq!(store.count().await.expect("len"), 1);
    // Relay two died: after its claim expires another relay takes over.
    let retaken = store.claim(three, 40_000, 70_000, 10).await.expect("claim");
    assert_eq!(retaken, second);
    store
        .delete(two, &[second[0].seq])
        .await
        .expect("stale delete");
    assert_eq!(
        store.count().await.expect("len"),
        1,
        "a stale token deletes nothing"
    );
    store.delete(three, &[second[0].seq]).await.expect("delete");
    assert_eq!(store.count().await.expect("len"), 0);
}

async fn archived_accounts_take_no_transactions(stores: Stores) {
    let store = &stores.user;
    let acc = account(store, Uuid::now_v7()).await;
    store
        .archive_account(acc.user_id, acc.id, now())
        .await
        .expect("archive");
    let err = store
        .create_transaction(&transaction(&acc, 5), None, &outbox::build)
        .await
        .expect_err("archived");
    assert!(matches!(err, StoreError::AccountArchived), "{err:?}");
    let other_user = AccountRecord {
        user_id: Uuid::now_v7(),
        ..acc.clone()
    };
    let err = store
        .create_transaction(&transaction(&other_user, 5), None, &outbox::build)
        .await
        .expect_err("not theirs");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn a_due_occurrence_is_recorded_once(stores: Stores) {
    let (store, system) = (&stores.user, &stores.system);
    let acc = account(store, Uuid::now_v7()).await;
    let schedule = Schedule {
        frequency: Frequency::Monthly,
        interval: 1,
        start: day(2026, 1, 31),
        end: Some(day(2026, 3, 31)),
    };
    let rule = RuleRecord {
        id: Uuid::now_v7(),
        user_id: acc.user_id,
        account_id: acc.id,
        currency: "USD".into(),
        amount_minor: -100,
        description: "Rent".into(),
        merchant: String::new(),
        category_id: None,
        tags: vec!["home".into()],
        schedule,
        next_index: 0,
        next_date: schedule.occurrence(0),
        create_time: now(),
    };
    store.create_rule(&rule, None).await.expect("rule");
    let today = day(2026, 6, 1);
    assert_eq!(
        system.list_due_rules(today, 10).await.expect("due"),
        [rule.id]
    );
    // The worker's backlog: one rule, late since its first occurrence.
    assert_eq!(
        system.due_backlog(today).await.expect("backlog"),
        (1, Some(day(2026, 1, 31)))
    );
    assert_eq!(
        system.due_backlog(day(2026, 1, 30)).await.expect("backlog"),
        (0, None)
    );
    // Two workers race for each occurrence: exactly one records it.
    let mut dates = Vec::new();
    loop {
        let (a, b) = tokio::join!(
            system.record_next_occurrence(rule.id, today, now(), &outbox::build),
            system.record_next_occurrence(rule.id, today, now(), &outbox::build),
        );
        let recorded: Vec<TransactionRecord> = [a.expect("worker a"), b.expect("worker b")]
            .into_iter()
            .flatten()
            .collect();
        if recorded.is_empty() {
            break;
        }
        dates.extend(recorded.iter().map(|t| t.date));
    }
    dates.sort();
    assert_eq!(
        dates,
        [day(2026, 1, 31), day(2026, 2, 28), day(2026, 3, 31)]
    );
    let after = store
        .get_rule(acc.user_id, rule.id)
        .await
        .expect("get")
        .expect("rule");
    assert_eq!(after.next_date, None, "the rule has ended");
    assert_eq!(system.due_backlog(today).await.expect("backlog"), (0, None));
    assert!(
        system
            .list_due_rules(today, 10)
            .await
            .expect("due")
            .is_empty()
    );
    let now = store
        .get_account(acc.user_id, acc.id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(now.balance_minor, -300);
}

/// An imported statement line: its fingerprint and tags.
fn line(account: &AccountRecord, amount_minor: i64, key: &str, tags: &[&str]) -> TransactionRecord {
    TransactionRecord {
        import_key: Some(key.as_bytes().to_vec()),
        ai_categorized: false,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..transaction(account, amount_minor)
    }
}

async fn an_import_records_each_line_once(stores: Stores) {
    let store = &stores.user;
    let acc = account(store, Uuid::now_v7()).await;
    let first = [
        line(&acc, 1, "a", &["x"]),
        line(&acc, 2, "b", &[]),
        line(&acc, 4, "b", &["y"]),
        line(&acc, 8, "c", &["x", "y"]),
    ];
    let counts = store
        .import_transactions(&first, &outbox::build, None)
        .await
        .expect("import");
    assert_eq!(
        counts,
        ImportCounts {
            imported: 3,
            skipped: 1
        },
        "a line twice in one batch is recorded once"
    );
    let again = [line(&acc, 16, "a", &[]), line(&acc, 32, "d", &["z"])];
    let counts = store
        .import_transactions(&again, &outbox::build, None)
        .await
        .expect("import again");
    assert_eq!(
        counts,
        ImportCounts {
            imported: 1,
            skipped: 1
        },
        "a line imported before is skipped"
    );
    let account = store
        .get_account(acc.user_id, acc.id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.balance_minor, 1 + 2 + 8 + 32);
    let listed = store
        .list_transactions(acc.user_id, &TransactionFilter::default(), None, 10)
        .await
        .expect("list");
    let mut amounts: Vec<i64> = listed.iter().map(|t| t.amount_minor).collect();
    amounts.sort();
    assert_eq!(amounts, [1, 2, 8, 32]);
    let tagged = TransactionFilter {
        tags: vec!["y".into()],
        ..TransactionFilter::default()
    };
    let with_y = store
        .list_transactions(acc.user_id, &tagged, None, 10)
        .await
        .expect("list by tag");
    assert_eq!(with_y.len(), 1, "the skipped line's tags were not written");
    assert_eq!(with_y[0].tags, ["x", "y"]);
    // One event per recorded line, in line order.
    let events = stores
        .outbox
        .claim(Uuid::new_v4(), 1_000, 31_000, 10)
        .await
        .expect("claim");
    let announced: Vec<String> = events
        .iter()
        .map(|row| {
            let event = pb::LedgerEvent::decode(row.event.payload.as_slice()).expect("event");
            match event.change {
                Some(pb::ledger_event::Change::TransactionCreated(created)) => {
                    created.transaction.expect("transaction").id
                }
                other => panic!("not a created transaction: {other:?}"),
            }
        })
        .collect();
    let recorded = [first[0].id, first[1].id, first[3].id, again[1].id].map(|id| id.to_string());
    assert_eq!(announced, recorded);
}

async fn an_import_larger_than_one_statement_is_recorded_whole(stores: Stores) {
    // More rows, and more tags, than one statement may bind on SQLite
    // (32 766 parameters) or Postgres (65 535).
    const LINES: i64 = 4_000;
    let store = &stores.user;
    let acc = account(store, Uuid::now_v7()).await;
    // Text that CSV (Postgres takes large batches by `COPY … csv`) must
    // quote: delimiters, quotes, line breaks, what reads as NULL.
    let tricky = "Caf\u{e9} \"Le Coin\", Paris\r\nline two \\N \t end";
    let lines: Vec<TransactionRecord> = (0..LINES)
        .map(|i| TransactionRecord {
            description: format!("{tricky} {i}"),
            merchant: if i % 2 == 0 {
                String::new()
            } else {
                "\\N".into()
            },
            ..line(&acc, 1, &format!("line {i}"), &["a", "b", "c"])
        })
        .collect();
    let counts = store
        .import_transactions(&lines, &outbox::build, None)
        .await
        .expect("import");
    assert_eq!(counts.imported, LINES.unsigned_abs());
    let account = store
        .get_account(acc.user_id, acc.id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.balance_minor, LINES);
    assert_eq!(stores.outbox.count().await.expect("len"), LINES);
    let tagged = TransactionFilter {
        tags: vec!["c".into()],
        ..TransactionFilter::default()
    };
    let listed = store
        .list_transactions(acc.user_id, &tagged, None, 5_000)
        .await
        .expect("list");
    assert_eq!(listed.len(), 4_000);
    let mut stored: Vec<(String, String)> = listed
        .iter()
        .map(|t| (t.description.clone(), t.merchant.clone()))
        .collect();
    let mut written: Vec<(String, String)> = lines
        .iter()
        .map(|t| (t.description.clone(), t.merchant.clone()))
        .collect();
    stored.sort();
    written.sort();
    assert_eq!(stored, written, "text is stored as given");
    // The same lines again, with new ones among them: only those land.
    let again: Vec<TransactionRecord> = (0..LINES + 100)
        .map(|i| line(&acc, 1, &format!("line {i}"), &[]))
        .collect();
    let counts = store
        .import_transactions(&again, &outbox::build, None)
        .await
        .expect("import again");
    assert_eq!(
        counts,
        ImportCounts {
            imported: 100,
            skipped: LINES.unsigned_abs()
        }
    );
    let account = store
        .get_account(acc.user_id, acc.id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.balance_minor, LINES + 100);
    assert_eq!(stores.outbox.count().await.expect("len"), LINES + 100);
    let (pending, oldest) = stores.outbox.backlog().await.expect("backlog");
    assert_eq!(pending, LINES + 100);
    let oldest = oldest.expect("the oldest event's time");
    assert!(
        oldest <= chrono::Utc::now()
            && oldest >= lines[0].create_time - chrono::Duration::seconds(1)
    );
}

async fn ai_categories_apply_only_to_untouched_uncategorized_transactions(stores: Stores) {
    let store = &stores.user;
    let user = Uuid::now_v7();
    let acc = account(store, user).await;
    let category = |name: &str, kind: &str| CategoryRecord {
        id: Uuid::now_v7(),
        user_id: user,
        name: name.into(),
        kind: kind.into(),
        parent_id: None,
        create_time: now(),
    };
    let (fuel, refunds, food) = (
        category("Fuel", "expense"),
        category("Refunds", "income"),
        category("Food", "expense"),
    );
    store
        .ensure_profile(user, &[fuel.clone(), refunds.clone(), food.clone()], now())
        .await
        .expect("profile");
    let record = |t: TransactionRecord| async move {
        store
            .create_transaction(&t, None, &outbox::build)
            .await
            .expect("create");
        t
    };
    let spend = record(transaction(&acc, -500)).await;
    let refund = record(transaction(&acc, 900)).await;
    let edited = record(transaction(&acc, -100)).await;
    let chosen = record(TransactionRecord {
        category_id: Some(food.id),
        ..transaction(&acc, -200)
    })
    .await;
    let gone = record(transaction(&acc, -300)).await;
    let item = |t: &TransactionRecord, expense: Uuid| AiCategory {
        transaction_id: t.id,
        decided_on_micros: t.update_time.timestamp_micros(),
        expense: Some(expense),
        income: Some(refunds.id),
    };
    let before = stores.outbox.count().await.expect("count");
    let applied = store
        .apply_ai_categories(
            user,
            &[
                item(&spend, fuel.id),
                item(&refund, fuel.id),
                AiCategory {
                    decided_on_micros: 1,
                    ..item(&edited, fuel.id)
                },
                item(&chosen, fuel.id),
                AiCategory {
                    income: None,
                    ..item(&gone, Uuid::now_v7())
                },
            ],
            now(),
            &outbox::build,
        )
        .await
        .expect("apply");
    assert_eq!(applied, [spend.id, refund.id]);
    assert_eq!(stores.outbox.count().await.expect("count"), before + 2);
    for (t, category) in [(&spend, fuel.id), (&refund, refunds.id)] {
        let now = store
            .get_transaction(user, t.id)
            .await
            .expect("get")
            .expect("transaction");
        assert_eq!(
            (now.category_id, now.ai_categorized, now.revision),
            (Some(category), true, 1)
        );
    }
    let kept = store
        .get_transaction(user, chosen.id)
        .await
        .expect("get")
        .expect("transaction");
    assert_eq!(
        (kept.category_id, kept.ai_categorized),
        (Some(food.id), false)
    );
    // Once only, and never across users.
    let again = store
        .apply_ai_categories(user, &[item(&spend, food.id)], now(), &outbox::build)
        .await
        .expect("apply");
    assert!(again.is_empty());
    let other = store
        .apply_ai_categories(
            Uuid::now_v7(),
            &[item(&edited, fuel.id)],
            now(),
            &outbox::build,
        )
        .await
        .expect("apply");
    assert!(other.is_empty());
}
