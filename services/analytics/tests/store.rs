//! The analytics store contract on SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI): after 10,000 random ledger
//! operations (delivered in batches, some twice) the read model's sums
//! equal a recomputation from the ledger's final state, and equal
//! themselves after a rebuild from that state; users never see each
//! other's sums.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use freedumb_analytics::domain::{Fact, Span};
use freedumb_analytics::store::{Change, EventChanges, Stores};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use uuid::Uuid;

freedumb_kit::store_contract!(
    freedumb_analytics::NAME,
    freedumb_analytics::MIGRATIONS,
    freedumb_analytics::store::for_database;
    random_ledger_operations_sum_to_a_recomputation_and_a_rebuild,
    sums_are_scoped_to_their_owner,
    a_category_deleted_moves_its_sums,
    operations_are_scoped_report_progress_and_end_once,
    report_chunks_read_back_in_order,
);

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).expect("date") + Days::new(n)
}

fn all_days() -> Span {
    Span::parse(day(0), day(400)).expect("span")
}

/// The ledger as the test keeps it: each live transaction's version and
/// facts.
#[derive(Default)]
struct Ledger {
    transactions: BTreeMap<Uuid, (i64, Vec<Fact>)>,
    clock: i64,
}

impl Ledger {
    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }
}

/// What the sums should be: (currency, day, category) → (inflow, outflow,
/// count), merchants → spent, (account, day) → net.
type Expected = (
    BTreeMap<(String, NaiveDate, Option<Uuid>), (i64, i64, i64)>,
    BTreeMap<String, i64>,
    BTreeMap<(Uuid, NaiveDate), i64>,
);

fn expected(ledger: &Ledger) -> Expected {
    let (mut cats, mut merchants, mut accounts) = Expected::default();
    for (_, facts) in ledger.transactions.values() {
        for f in facts {
            *accounts.entry((f.account_id, f.day)).or_default() += f.amount_minor;
            if f.transfer {
                continue;
            }
            let e = cats
                .entry((f.currency.clone(), f.day, f.category_id))
                .or_default();
            if f.amount_minor >= 0 {
                e.0 += f.amount_minor;
            } else {
                e.1 -= f.amount_minor;
            }
            e.2 += 1;
            if f.currency == "EUR" {
                *merchants.entry(f.merchant.clone()).or_default() -= f.amount_minor;
            }
        }
    }
    accounts.retain(|_, v| *v != 0);
    (cats, merchants, accounts)
}

async fn actual(stores: &Stores, user: Uuid) -> Expected {
    let (mut cats, mut merchants, mut accounts) = Expected::default();
    for currency in ["EUR", "USD"] {
        for d in stores
            .user
            .list_category_days(user, currency, all_days())
            .await
            .expect("category days")
        {
            cats.insert(
                (currency.to_owned(), d.day, d.category_id),
                (d.inflow_minor, d.outflow_minor, d.count),
            );
        }
    }
    for m in stores
        .user
        .list_top_merchants(user, "EUR", all_days(), 1000)
        .await
        .expect("merchants")
    {
        merchants.insert(m.merchant, m.spent_minor);
    }
    for a in stores
        .user
        .list_account_days_after(user, day(0).pred_opt().expect("day"))
        .await
        .expect("accounts")
    {
        accounts.insert((a.account_id, a.day), a.net_minor);
    }
    accounts.retain(|_, v| *v != 0);
    (cats, merchants, accounts)
}

fn random_facts(rng: &mut StdRng, accounts: &[Uuid], categories: &[Uuid]) -> Vec<Fact> {
    let account = accounts[rng.gen_range(0..accounts.len())];
    let currency = if rng.gen_range(0..5) == 0 {
        "USD"
    } else {
        "EUR"
    };
    let d = day(rng.gen_range(0..366));
    let merchant = format!("Merchant {}", rng.gen_range(0..12));
    let transfer = rng.gen_range(0..10) == 0;
    let category = |rng: &mut StdRng| {
        (rng.gen_range(0..6) != 0).then(|| categories[rng.gen_range(0..categories.len())])
    };
    let amount = |rng: &mut StdRng| {
        let a = rng.gen_range(1..50_000_i64);
        if rng.gen_range(0..4) == 0 { a } else { -a }
    };
    let parts = if !transfer && rng.gen_range(0..8) == 0 {
        2
    } else {
        1
    };
    let sign = if rng.gen_range(0..4) == 0 { 1 } else { -1 };
    (0..parts)
        .map(|_| Fact {
            account_id: account,
            currency: currency.into(),
            day: d,
            category_id: if transfer { None } else { category(rng) },
            merchant: merchant.clone(),
            amount_minor: if parts > 1 {
                sign * rng.gen_range(1..10_000)
            } else {
                amount(rng)
            },
            transfer,
        })
        .collect()
}

async fn random_ledger_operations_sum_to_a_recomputation_and_a_rebuild(stores: Stores) {
    let mut rng = StdRng::seed_from_u64(5);
    let user = Uuid::now_v7();
    let accounts: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut categories: Vec<Uuid> = (0..8).map(|_| Uuid::now_v7()).collect();
    let mut ledger = Ledger::default();
    let mut pending: Vec<EventChanges> = Vec::new();
    for n in 0..10_000 {
        let roll = rng.gen_range(0..100);
        let ids: Vec<Uuid> = ledger.transactions.keys().copied().collect();
        let change = if roll < 55 || ids.is_empty() {
            let id = Uuid::now_v7();
            let version = ledger.tick();
            let facts = random_facts(&mut rng, &accounts, &categories);
            ledger.transactions.insert(id, (version, facts.clone()));
            Change::Upsert {
                user_id: user,
                transaction_id: id,
                version,
                facts,
            }
        } else if roll < 80 {
            let id = ids[rng.gen_range(0..ids.len())];
            let version = ledger.tick();
            let facts = random_facts(&mut rng, &accounts, &categories);
            ledger.transactions.insert(id, (version, facts.clone()));
            Change::Upsert {
                user_id: user,
                transaction_id: id,
                version,
                facts,
            }
        } else if roll < 99 {
            let id = ids[rng.gen_range(0..ids.len())];
            ledger.transactions.remove(&id);
            Change::Delete {
                user_id: user,
                transaction_id: id,
                version: ledger.tick(),
            }
        } else {
            // A category is deleted: moved to another, or dropped (a split
            // with a part in it loses all its splits).
            let gone = categories.remove(rng.gen_range(0..categories.len()));
            let target = (rng.gen_range(0..2) == 0).then(|| categories[0]);
            let version = ledger.tick();
            for (_, facts) in ledger.transactions.values_mut() {
                if !facts.iter().any(|f| f.category_id == Some(gone)) {
                    continue;
                }
                if target.is_none() && facts.len() > 1 {
                    let sum = facts.iter().map(|f| f.amount_minor).sum();
                    facts.truncate(1);
                    facts[0].amount_minor = sum;
                    facts[0].category_id = None;
                } else {
                    for f in facts.iter_mut().filter(|f| f.category_id == Some(gone)) {
                        f.category_id = target;
                    }
                }
            }
            categories.push(Uuid::now_v7());
            Change::CategoryDeleted {
                user_id: user,
                category_id: gone,
                reassigned_to: target,
                version,
            }
        };
        let event = EventChanges {
            event_id: Uuid::now_v7(),
            changes: vec![change],
        };
        // Some events are delivered twice.
        if rng.gen_range(0..20) == 0 {
            pending.push(event.clone());
        }
        pending.push(event);
        if pending.len() >= 200 || n == 9_999 {
            stores.model.apply_events(&pending, 0).await.expect("apply");
            pending.clear();
        }
    }
    let want = expected(&ledger);
    let got = actual(&stores, user).await;
    assert_eq!(got.0, want.0, "category sums");
    assert_eq!(
        got.1,
        want.1.into_iter().filter(|(_, v)| *v > 0).collect(),
        "merchants"
    );
    assert_eq!(got.2, want.2, "account days");

    // A rebuild from the ledger's state gives the same sums.
    let read: Vec<(Uuid, i64, Vec<Fact>)> = ledger
        .transactions
        .iter()
        .map(|(id, (v, facts))| (*id, *v, facts.clone()))
        .collect();
    stores
        .user
        .rebuild(user, &read, i64::MAX)
        .await
        .expect("rebuild");
    assert_eq!(actual(&stores, user).await, got);
}

async fn sums_are_scoped_to_their_owner(stores: Stores) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let fact = Fact {
        account_id: Uuid::now_v7(),
        currency: "EUR".into(),
        day: day(3),
        category_id: None,
        merchant: "Bakery".into(),
        amount_minor: -450,
        transfer: false,
    };
    stores
        .model
        .apply_events(
            &[EventChanges {
                event_id: Uuid::now_v7(),
                changes: vec![Change::Upsert {
                    user_id: alice,
                    transaction_id: Uuid::now_v7(),
                    version: 1,
                    facts: vec![fact],
                }],
            }],
            0,
        )
        .await
        .expect("apply");
    assert_eq!(actual(&stores, alice).await.0.len(), 1);
    assert_eq!(actual(&stores, bob).await, Expected::default());
    // Bob's rebuild of nothing leaves Alice's sums alone.
    stores
        .user
        .rebuild(bob, &[], i64::MAX)
        .await
        .expect("rebuild");
    assert_eq!(actual(&stores, alice).await.0.len(), 1);
}

async fn a_category_deleted_moves_its_sums(stores: Stores) {
    let user = Uuid::now_v7();
    let (food, home) = (Uuid::now_v7(), Uuid::now_v7());
    let fact = |category, amount| Fact {
        account_id: Uuid::nil(),
        currency: "EUR".into(),
        day: day(1),
        category_id: Some(category),
        merchant: "Shop".into(),
        amount_minor: amount,
        transfer: false,
    };
    let (split, single) = (Uuid::now_v7(), Uuid::now_v7());
    let event = |changes| EventChanges {
        event_id: Uuid::now_v7(),
        changes,
    };
    stores
        .model
        .apply_events(
            &[
                event(vec![Change::Upsert {
                    user_id: user,
                    transaction_id: split,
                    version: 1,
                    facts: vec![fact(food, -300), fact(home, -200)],
                }]),
                event(vec![Change::Upsert {
                    user_id: user,
                    transaction_id: single,
                    version: 1,
                    facts: vec![fact(food, -100)],
                }]),
                event(vec![Change::CategoryDeleted {
                    user_id: user,
                    category_id: food,
                    reassigned_to: None,
                    version: 5,
                }]),
            ],
            0,
        )
        .await
        .expect("apply");
    let sums = stores
        .user
        .list_category_days(user, "EUR", all_days())
        .await
        .expect("sums");
    // The split lost all its splits; the single lost its category.
    assert_eq!(sums.len(), 1, "{sums:?}");
    assert_eq!(
        (sums[0].category_id, sums[0].outflow_minor, sums[0].count),
        (None, 600, 2)
    );
    // An older version of the single arriving late moves the same way.
    stores
        .model
        .apply_events(
            &[event(vec![Change::Upsert {
                user_id: user,
                transaction_id: Uuid::now_v7(),
                version: 3,
                facts: vec![fact(food, -50)],
            }])],
            0,
        )
        .await
        .expect("apply");
    let sums = stores
        .user
        .list_category_days(user, "EUR", all_days())
        .await
        .expect("sums");
    assert_eq!(sums.len(), 1, "{sums:?}");
    assert_eq!(sums[0].outflow_minor, 650);
}

async fn operations_are_scoped_report_progress_and_end_once(stores: Stores) {
    use freedumb_kit::operations::{OperationRecord, Outcome, State};
    let ops = stores.operations.clone();
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let op = OperationRecord::start(alice, "report", "starting");
    ops.create(&op).await.expect("create");
    assert!(ops.get(bob, op.id).await.expect("get").is_none());
    assert!(ops.list(bob, None, 10).await.expect("list").is_empty());
    assert!(matches!(
        ops.cancel(bob, op.id).await,
        Err(freedumb_kit::storage::StoreError::NotFound(_))
    ));
    assert!(ops.progress(op.id, 40, "halfway").await.expect("progress"));
    let read = ops.get(alice, op.id).await.expect("get").expect("found");
    assert_eq!(
        (read.state, read.percent, read.message.as_str()),
        (State::Running, 40, "halfway")
    );
    // Cancelled: the work is told to stop, and finishing changes nothing.
    let cancelled = ops.cancel(alice, op.id).await.expect("cancel");
    assert_eq!(cancelled.state, State::Cancelled);
    assert!(!ops.progress(op.id, 60, "more").await.expect("progress"));
    ops.finish(op.id, Outcome::Succeeded).await.expect("finish");
    assert_eq!(
        ops.get(alice, op.id)
            .await
            .expect("get")
            .expect("found")
            .state,
        State::Cancelled
    );
    // A failure keeps its reason; a second ending is ignored.
    let failing = OperationRecord::start(alice, "report", "starting");
    ops.create(&failing).await.expect("create");
    ops.finish(
        failing.id,
        Outcome::Failed("INTERNAL".into(), "broke".into()),
    )
    .await
    .expect("finish");
    ops.finish(failing.id, Outcome::Succeeded)
        .await
        .expect("finish again");
    let read = ops
        .get(alice, failing.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(read.state, State::Failed);
    assert_eq!(read.error, Some(("INTERNAL".into(), "broke".into())));
    let listed = ops.list(alice, None, 10).await.expect("list");
    assert_eq!(
        listed.iter().map(|o| o.id).collect::<Vec<_>>(),
        [op.id, failing.id]
    );
    let after = ops.list(alice, Some(op.id), 10).await.expect("list");
    assert_eq!(after.len(), 1);
}

async fn report_chunks_read_back_in_order(stores: Stores) {
    use freedumb_analytics::store::ReportFile;
    use freedumb_kit::operations::OperationRecord;
    let user = Uuid::now_v7();
    let op = OperationRecord::start(user, "report", "starting");
    stores.operations.create(&op).await.expect("operation");
    let file = ReportFile {
        operation_id: op.id,
        user_id: user,
        content_type: "text/csv; charset=utf-8".into(),
        file_name: "r.csv".into(),
    };
    stores
        .reports
        .create_report_file(&file)
        .await
        .expect("file");
    for seq in 0..3 {
        stores
            .reports
            .append_report_chunk(op.id, seq, vec![u8::try_from(seq).expect("small"); 1000])
            .await
            .expect("chunk");
    }
    assert_eq!(
        stores
            .reports
            .get_report_file(user, op.id)
            .await
            .expect("file"),
        Some(file)
    );
    assert_eq!(
        stores
            .reports
            .get_report_file(Uuid::now_v7(), op.id)
            .await
            .expect("file"),
        None
    );
    for seq in 0..3 {
        let chunk = stores
            .reports
            .get_report_chunk(op.id, seq)
            .await
            .expect("chunk");
        assert_eq!(chunk, Some(vec![u8::try_from(seq).expect("small"); 1000]));
    }
    assert_eq!(
        stores
            .reports
            .get_report_chunk(op.id, 3)
            .await
            .expect("chunk"),
        None
    );
    stores
        .reports
        .delete_report_chunks(op.id)
        .await
        .expect("delete");
    assert_eq!(
        stores
            .reports
            .get_report_chunk(op.id, 0)
            .await
            .expect("chunk"),
        None
    );
}
