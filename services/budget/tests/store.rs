//! The budget store contract on SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI): the projection applies
//! ledger changes by version and once per event, a rebuild gives exactly
//! the figures the events gave (over 10,000 random ledger operations), and
//! an alert is raised once per budget, period and threshold however many
//! writers cross it at once, and a goal is reached once per target.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use freedumb_budget::domain::{GoalSource, Period, Schedule, Span, Thresholds};
use freedumb_budget::outbox;
use freedumb_budget::store::{
    BudgetRecord, Entry, GoalRecord, LedgerChange, LedgerEventChanges, Stores,
};
use freedumb_kit::time::now;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use uuid::Uuid;

freedumb_kit::store_contract!(
    freedumb_budget::NAME,
    freedumb_budget::MIGRATIONS,
    freedumb_budget::store::for_database;
    changes_apply_by_version_and_events_once,
    a_deleted_category_moves_or_drops_its_spending,
    random_ledger_operations_give_the_figures_a_rebuild_gives,
    sixteen_concurrent_writers_cross_each_threshold_once,
    budgets_are_scoped_to_their_owner,
    goals_are_reached_once_per_target,
);

fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn span(start: &str, end: &str) -> Span {
    Span {
        start: day(start),
        end: day(end),
    }
}

fn event(changes: Vec<LedgerChange>) -> LedgerEventChanges {
    LedgerEventChanges {
        event_id: Uuid::now_v7(),
        changes,
    }
}

fn entry(category: Uuid, date: &str, amount_minor: i64, split: bool) -> Entry {
    Entry {
        category_id: category,
        currency: "EUR".into(),
        day: day(date),
        amount_minor,
        split,
    }
}

fn upsert(user_id: Uuid, transaction_id: Uuid, version: i64, entries: Vec<Entry>) -> LedgerChange {
    LedgerChange::Upsert {
        user_id,
        transaction_id,
        version,
        entries,
    }
}

async fn apply(stores: &Stores, events: &[LedgerEventChanges], today: &str) -> usize {
    stores
        .projection
        .apply_events(events, day(today), now(), &outbox::build)
        .await
        .expect("apply")
        .events
}

async fn spent(
    stores: &Stores,
    user: Uuid,
    categories: &[Uuid],
    span: Span,
) -> BTreeMap<Uuid, i64> {
    stores
        .user
        .sum_spending(user, "EUR", categories, span)
        .await
        .expect("sum")
        .into_iter()
        .filter(|(_, sum)| *sum != 0)
        .collect()
}

fn budget(
    user_id: Uuid,
    categories: Vec<Uuid>,
    amount_minor: i64,
    thresholds: &[i32],
) -> BudgetRecord {
    let now = now();
    BudgetRecord {
        id: Uuid::now_v7(),
        user_id,
        name: "Food".into(),
        category_ids: categories,
        currency: "EUR".into(),
        amount_minor,
        schedule: Schedule {
            period: Period::Monthly,
            start: day("2024-01-01"),
            end: None,
        },
        thresholds: Thresholds::parse(thresholds).expect("thresholds"),
        create_time: now,
        update_time: now,
    }
}

async fn changes_apply_by_version_and_events_once(stores: Stores) {
    let (user, food) = (Uuid::now_v7(), Uuid::now_v7());
    let t = Uuid::now_v7();
    let march = span("2024-03-01", "2024-03-31");
    let v2 = event(vec![upsert(
        user,
        t,
        2,
        vec![entry(food, "2024-03-05", -700, false)],
    )]);
    let v1 = event(vec![upsert(
        user,
        t,
        1,
        vec![entry(food, "2024-03-05", -100, false)],
    )]);
    assert_eq!(
        apply(&stores, std::slice::from_ref(&v2), "2024-03-10").await,
        1
    );
    // An older version arriving late changes nothing.
    assert_eq!(apply(&stores, &[v1], "2024-03-10").await, 1);
    assert_eq!(
        spent(&stores, user, &[food], march).await,
        BTreeMap::from([(food, -700)])
    );
    // The same event again is not applied again.
    assert_eq!(
        apply(&stores, &[v2.clone(), v2.clone()], "2024-03-10").await,
        0
    );
    // A deletion wins over every older version, whenever it arrives.
    let deleted = event(vec![LedgerChange::Delete {
        user_id: user,
        transaction_id: t,
        version: 3,
    }]);
    let late = event(vec![upsert(
        user,
        t,
        2,
        vec![entry(food, "2024-03-05", -700, false)],
    )]);
    apply(&stores, &[deleted, late], "2024-03-10").await;
    assert!(spent(&stores, user, &[food], march).await.is_empty());
    // Moving a transaction to another day moves its spending.
    let u = Uuid::now_v7();
    apply(
        &stores,
        &[event(vec![upsert(
            user,
            u,
            1,
            vec![entry(food, "2024-03-31", -50, false)],
        )])],
        "2024-03-10",
    )
    .await;
    apply(
        &stores,
        &[event(vec![upsert(
            user,
            u,
            2,
            vec![entry(food, "2024-04-01", -50, false)],
        )])],
        "2024-03-10",
    )
    .await;
    assert!(spent(&stores, user, &[food], march).await.is_empty());
    assert_eq!(
        spent(&stores, user, &[food], span("2024-04-01", "2024-04-30")).await,
        BTreeMap::from([(food, -50)])
    );
}

async fn a_deleted_category_moves_or_drops_its_spending(stores: Stores) {
    let user = Uuid::now_v7();
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (plain, split) = (Uuid::now_v7(), Uuid::now_v7());
    let all = span("2024-01-01", "2024-12-31");
    apply(
        &stores,
        &[
            event(vec![upsert(
                user,
                plain,
                1,
                vec![entry(a, "2024-02-01", -100, false)],
            )]),
            event(vec![upsert(
                user,
                split,
                1,
                vec![
                    entry(a, "2024-02-02", -30, true),
                    entry(c, "2024-02-02", -70, true),
                ],
            )]),
        ],
        "2024-02-03",
    )
    .await;
    let moved = event(vec![LedgerChange::CategoryDeleted {
        user_id: user,
        category_id: a,
        reassigned_to: Some(b),
        version: 10,
    }]);
    apply(&stores, &[moved], "2024-02-03").await;
    assert_eq!(
        spent(&stores, user, &[a, b, c], all).await,
        BTreeMap::from([(b, -130), (c, -70)])
    );
    // Without a target, the ledger drops the category, and every split of
    // a transaction that had one there.
    // A change made before the deletion and applied after it (another
    // replica was slower) lands where the deletion moved the rest.
    let late = event(vec![upsert(
        user,
        Uuid::now_v7(),
        5,
        vec![entry(a, "2024-02-04", -1, false)],
    )]);
    apply(&stores, &[late], "2024-02-05").await;
    assert_eq!(
        spent(&stores, user, &[a, b, c], all).await,
        BTreeMap::from([(b, -131), (c, -70)])
    );
    let dropped = event(vec![LedgerChange::CategoryDeleted {
        user_id: user,
        category_id: b,
        reassigned_to: None,
        version: 20,
    }]);
    apply(&stores, &[dropped], "2024-02-03").await;
    assert!(spent(&stores, user, &[a, b, c], all).await.is_empty());
    // A split made before that deletion loses all its splits, as in the ledger.
    let late_split = event(vec![upsert(
        user,
        Uuid::now_v7(),
        15,
        vec![
            entry(b, "2024-02-06", -5, true),
            entry(c, "2024-02-06", -5, true),
        ],
    )]);
    apply(&stores, &[late_split], "2024-02-07").await;
    assert!(spent(&stores, user, &[a, b, c], all).await.is_empty());
}

/// The ledger as the test drives it: each transaction's entries and
/// version, for a from-scratch answer and for the rebuild.
#[derive(Default)]
struct Ledger {
    clock: i64,
    transactions: HashMap<Uuid, (i64, Vec<Entry>)>,
}

impl Ledger {
    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    fn recomputed(&self, categories: &[Uuid], span: Span) -> BTreeMap<Uuid, i64> {
        let mut sums = BTreeMap::new();
        for (_, entries) in self.transactions.values() {
            for e in entries {
                if categories.contains(&e.category_id)
                    && span.contains(e.day)
                    && e.currency == "EUR"
                {
                    *sums.entry(e.category_id).or_insert(0) += e.amount_minor;
                }
            }
        }
        sums.retain(|_, sum| *sum != 0);
        sums
    }
}

fn random_entries(rng: &mut StdRng, categories: &[Uuid]) -> Vec<Entry> {
    let first = day("2024-01-01");
    let date = first
        .checked_add_days(Days::new(rng.gen_range(0..180)))
        .expect("date");
    let currency = if rng.gen_bool(0.1) { "USD" } else { "EUR" };
    let one = |rng: &mut StdRng, split: bool| Entry {
        category_id: categories[rng.gen_range(0..categories.len())],
        currency: currency.into(),
        day: date,
        amount_minor: rng.gen_range(-50_000..20_000),
        split,
    };
    match rng.gen_range(0..10) {
        0 => Vec::new(),
        1 | 2 => {
            let mut parts = vec![one(rng, true), one(rng, true)];
            parts.dedup_by_key(|e| e.category_id);
            parts
        }
        _ => vec![one(rng, false)],
    }
}

async fn random_ledger_operations_give_the_figures_a_rebuild_gives(stores: Stores) {
    const OPERATIONS: usize = 10_000;
    let mut rng = StdRng::seed_from_u64(9);
    let user = Uuid::now_v7();
    let categories: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let mut ledger = Ledger::default();
    let mut pending = Vec::new();
    for _ in 0..OPERATIONS {
        let existing: Vec<Uuid> = ledger.transactions.keys().copied().collect();
        let pick = (!existing.is_empty()).then(|| existing[rng.gen_range(0..existing.len())]);
        let version = ledger.tick();
        let change = match (rng.gen_range(0..10), pick) {
            // Update: new entries (category, amount, day, splits).
            (0..=2, Some(id)) => {
                let entries = random_entries(&mut rng, &categories);
                ledger.transactions.insert(id, (version, entries.clone()));
                upsert(user, id, version, entries)
            }
            (3, Some(id)) => {
                ledger.transactions.remove(&id);
                LedgerChange::Delete {
                    user_id: user,
                    transaction_id: id,
                    version,
                }
            }
            // A transfer leg: tracked, never spending.
            (4, _) => {
                let id = Uuid::now_v7();
                ledger.transactions.insert(id, (version, Vec::new()));
                upsert(user, id, version, Vec::new())
            }
            _ => {
                let id = Uuid::now_v7();
                let entries = random_entries(&mut rng, &categories);
                ledger.transactions.insert(id, (version, entries.clone()));
                upsert(user, id, version, entries)
            }
        };
        pending.push(event(vec![change]));
        if pending.len() >= rng.gen_range(1..60) {
            // Now and then a batch comes twice (a redelivery).
            let again = rng.gen_bool(0.05);
            apply(&stores, &pending, "2024-03-15").await;
            if again {
                assert_eq!(apply(&stores, &pending, "2024-03-15").await, 0);
            }
            pending.clear();
        }
    }
    apply(&stores, &pending, "2024-03-15").await;

    let spans = [
        span("2024-01-01", "2024-01-31"),
        span("2024-02-15", "2024-03-14"),
        span("2024-01-01", "2024-12-31"),
    ];
    for s in spans {
        let expected = ledger.recomputed(&categories, s);
        assert!(!expected.is_empty());
        assert_eq!(
            spent(&stores, user, &categories, s).await,
            expected,
            "incremental, {s:?}"
        );
    }
    // The rebuild reads the ledger as it is now: the same figures.
    let listed: Vec<LedgerChange> = ledger
        .transactions
        .iter()
        .map(|(id, (version, entries))| upsert(user, *id, *version, entries.clone()))
        .collect();
    stores
        .user
        .rebuild_spending(user, &listed, now().timestamp_micros())
        .await
        .expect("rebuild");
    for s in spans {
        assert_eq!(
            spent(&stores, user, &categories, s).await,
            ledger.recomputed(&categories, s),
            "rebuilt, {s:?}"
        );
    }
    // A projection that missed events (here: all of them) is repaired.
    let other = Uuid::now_v7();
    let listed: Vec<LedgerChange> = ledger
        .transactions
        .iter()
        .map(|(id, (version, entries))| upsert(other, *id, *version, entries.clone()))
        .collect();
    stores
        .user
        .rebuild_spending(other, &listed, now().timestamp_micros())
        .await
        .expect("rebuild");
    for s in spans {
        assert_eq!(
            spent(&stores, other, &categories, s).await,
            ledger.recomputed(&categories, s)
        );
    }
    // What the ledger no longer has, and no event said so, is gone after a
    // rebuild.
    let (ghost_user, food) = (Uuid::now_v7(), Uuid::now_v7());
    let ghost = event(vec![upsert(
        ghost_user,
        Uuid::now_v7(),
        1,
        vec![entry(food, "2024-03-01", -9, false)],
    )]);
    apply(&stores, &[ghost], "2024-03-02").await;
    let march = span("2024-03-01", "2024-03-31");
    assert_eq!(spent(&stores, ghost_user, &[food], march).await.len(), 1);
    stores
        .user
        .rebuild_spending(ghost_user, &[], now().timestamp_micros() + 1)
        .await
        .expect("rebuild");
    assert!(spent(&stores, ghost_user, &[food], march).await.is_empty());
}

async fn sixteen_concurrent_writers_cross_each_threshold_once(stores: Stores) {
    let (user, food) = (Uuid::now_v7(), Uuid::now_v7());
    let b = budget(user, vec![food], 1_000, &[50, 100]);
    stores.user.create_budget(&b).await.expect("budget");
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let stores = stores.clone();
            tokio::spawn(async move {
                let t = Uuid::now_v7();
                let e = event(vec![upsert(
                    user,
                    t,
                    1,
                    vec![entry(food, "2024-05-10", -100, false)],
                )]);
                let mut attempts = 0;
                // SQLite serializes writers; a busy database is retried
                // as the consumer would.
                loop {
                    match stores
                        .projection
                        .apply_events(
                            std::slice::from_ref(&e),
                            day("2024-05-20"),
                            now(),
                            &outbox::build,
                        )
                        .await
                    {
                        Ok(applied) => return applied.alerts,
                        Err(error) if attempts < 20 => {
                            attempts += 1;
                            let _ = (i, error);
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                        Err(error) => panic!("apply: {error}"),
                    }
                }
            })
        })
        .collect();
    let mut alerts = 0;
    for w in writers {
        alerts += w.await.expect("writer");
    }
    assert_eq!(alerts, 2, "one alert for 50%, one for 100%");
    assert_eq!(
        stores
            .user
            .list_alerts(b.id, day("2024-05-01"))
            .await
            .expect("alerts"),
        [50, 100]
    );
    assert_eq!(stores.outbox.count().await.expect("outbox"), 2);
    // Spending that drops below and crosses again raises nothing new.
    let refund = Uuid::now_v7();
    let back = event(vec![upsert(
        user,
        refund,
        1,
        vec![entry(food, "2024-05-11", 900, false)],
    )]);
    apply(&stores, &[back], "2024-05-20").await;
    let again = event(vec![upsert(
        user,
        refund,
        2,
        vec![entry(food, "2024-05-11", 0, false)],
    )]);
    apply(&stores, &[again], "2024-05-20").await;
    assert_eq!(stores.outbox.count().await.expect("outbox"), 2);
    // Another period starts afresh.
    let june = event(vec![upsert(
        user,
        Uuid::now_v7(),
        1,
        vec![entry(food, "2024-06-02", -600, false)],
    )]);
    apply(&stores, &[june], "2024-06-03").await;
    assert_eq!(
        stores
            .user
            .list_alerts(b.id, day("2024-06-01"))
            .await
            .expect("alerts"),
        [50]
    );
}

async fn budgets_are_scoped_to_their_owner(stores: Stores) {
    let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
    let b = budget(owner, vec![Uuid::now_v7(), Uuid::now_v7()], 5_000, &[80]);
    stores.user.create_budget(&b).await.expect("create");
    let read = stores
        .user
        .get_budget(owner, b.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        read.category_ids, b.category_ids,
        "categories keep their order"
    );
    assert!(
        stores
            .user
            .get_budget(other, b.id)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        stores
            .user
            .list_budgets(other, None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    let mut stolen = b.clone();
    stolen.user_id = other;
    assert!(stores.user.update_budget(&stolen).await.is_err());
    assert!(stores.user.delete_budget(other, b.id).await.is_err());
    assert_eq!(
        stores
            .user
            .list_budgets(owner, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    stores
        .user
        .delete_budget(owner, b.id)
        .await
        .expect("delete");
    assert!(
        stores
            .user
            .get_budget(owner, b.id)
            .await
            .expect("get")
            .is_none()
    );
}

fn goal_on(user_id: Uuid, source: GoalSource, target_minor: i64) -> GoalRecord {
    let now = now();
    GoalRecord {
        id: Uuid::now_v7(),
        user_id,
        name: "Rainy day".into(),
        currency: "EUR".into(),
        target_minor,
        target_date: day("2025-01-01"),
        start_date: day("2024-03-01"),
        source,
        create_time: now,
        update_time: now,
    }
}

fn balance(
    user_id: Uuid,
    account_id: Uuid,
    currency: &str,
    balance_minor: i64,
) -> LedgerEventChanges {
    event(vec![LedgerChange::Balance {
        user_id,
        account_id,
        currency: currency.into(),
        balance_minor,
        at: now().timestamp_micros(),
    }])
}

/// Goals reached by applying `events` on 2024-03-10.
async fn reached(stores: &Stores, events: &[LedgerEventChanges]) -> usize {
    stores
        .projection
        .apply_events(events, day("2024-03-10"), now(), &outbox::build)
        .await
        .expect("apply")
        .goals_reached
}

async fn goals_are_reached_once_per_target(stores: Stores) {
    let (user, other, account, holiday) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let mut fund = goal_on(user, GoalSource::Account(account), 1_000);
    stores.user.create_goal(&fund, None).await.expect("create");

    assert_eq!(
        reached(&stores, &[balance(user, account, "EUR", 900)]).await,
        0
    );
    // A balance from before the goal was saved (a projection behind the
    // ledger) does not reach it.
    let mut stale = balance(user, account, "EUR", 5_000);
    if let LedgerChange::Balance { at, .. } = &mut stale.changes[0] {
        *at = fund.update_time.timestamp_micros() - 1;
    }
    assert_eq!(reached(&stores, &[stale]).await, 0);
    assert_eq!(
        reached(&stores, &[balance(user, account, "USD", 5_000)]).await,
        0,
        "another currency"
    );
    assert_eq!(
        reached(&stores, &[balance(other, account, "EUR", 5_000)]).await,
        0,
        "another user's account of the same id"
    );
    // The highest balance of a batch counts, whatever its order.
    let batch = [
        balance(user, account, "EUR", 1_200),
        balance(user, account, "EUR", 800),
    ];
    assert_eq!(reached(&stores, &batch).await, 1);
    assert_eq!(
        reached(&stores, &[balance(user, account, "EUR", 1_300)]).await,
        0,
        "once per target"
    );

    fund.target_minor = 2_000;
    stores.user.update_goal(&fund, None).await.expect("update");
    assert_eq!(
        reached(&stores, &[balance(user, account, "EUR", 2_500)]).await,
        1
    );

    // Created when already reached: recorded, never announced.
    let buffer = goal_on(user, GoalSource::Account(account), 500);
    stores
        .user
        .create_goal(&buffer, Some(2_500))
        .await
        .expect("create");
    assert_eq!(
        reached(&stores, &[balance(user, account, "EUR", 2_600)]).await,
        0
    );

    // A category goal: what was put in since its start date.
    let trip = goal_on(user, GoalSource::Category(holiday), 500);
    stores.user.create_goal(&trip, None).await.expect("create");
    let put_in = |date: &str, minor: i64| {
        event(vec![upsert(
            user,
            Uuid::now_v7(),
            1,
            vec![entry(holiday, date, minor, false)],
        )])
    };
    assert_eq!(
        reached(
            &stores,
            &[put_in("2024-02-20", 400), put_in("2024-03-02", 300)]
        )
        .await,
        0,
        "February is before the start"
    );
    assert_eq!(reached(&stores, &[put_in("2024-03-05", 200)]).await, 1);

    // Sixteen batches at once that all reach a new goal: announced once.
    let rush = goal_on(user, GoalSource::Account(account), 10_000);
    stores.user.create_goal(&rush, None).await.expect("create");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let stores = stores.clone();
            tokio::spawn(async move {
                reached(&stores, &[balance(user, account, "EUR", 10_000 + i)]).await
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    assert_eq!(total, 1);

    // A goal with targets reached deletes (and its record of them).
    stores
        .user
        .delete_goal(user, rush.id)
        .await
        .expect("delete");
    assert!(
        stores
            .user
            .get_goal(user, rush.id)
            .await
            .expect("get")
            .is_none()
    );
}
