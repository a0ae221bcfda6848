//! The investment store contract on SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI): every method is scoped by
//! its user, a replayed request id creates one object, concurrent sales
//! never sell more than is held, and two price workers record each close
//! once, with a changed close kept as a revision.

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use freedumb_investment::domain::activity::{Activity, Cash, Detail, Trade};
use freedumb_investment::domain::book::check_quantities;
use freedumb_investment::domain::{CostBasisMethod, InstrumentKind};
use freedumb_investment::error::InvestmentError;
use freedumb_investment::store::{
    Created, IdempotencyKey, InstrumentRecord, PortfolioRecord, StoreError, Stores, Wanted,
};
use freedumb_kit::domain::Currency;
use freedumb_kit::time::now;
use rust_decimal::Decimal;
use uuid::Uuid;

freedumb_kit::store_contract!(
    freedumb_investment::NAME,
    freedumb_investment::MIGRATIONS,
    freedumb_investment::store::for_database;
    every_object_is_scoped_to_its_owner,
    a_replayed_request_id_records_one_activity,
    sixteen_concurrent_sales_never_sell_more_than_is_held,
    two_workers_record_each_close_once_and_revisions_are_kept,
    the_worker_wants_each_symbol_and_rate_from_its_first_day,
    deleting_a_portfolio_deletes_its_activities,
);

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("currency")
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

async fn portfolio(stores: &Stores, user_id: Uuid, base: &str) -> PortfolioRecord {
    let t = now();
    let p = PortfolioRecord {
        id: Uuid::now_v7(),
        user_id,
        name: "Broker".into(),
        account_id: None,
        base_currency: currency(base),
        method: CostBasisMethod::Fifo,
        create_time: t,
        update_time: t,
    };
    stores
        .user
        .create_portfolio(&p, None)
        .await
        .expect("portfolio");
    p
}

async fn instrument(stores: &Stores, user_id: Uuid, symbol: &str, ccy: &str) -> InstrumentRecord {
    let i = InstrumentRecord {
        id: Uuid::now_v7(),
        user_id,
        symbol: symbol.into(),
        isin: None,
        name: symbol.into(),
        kind: InstrumentKind::Stock,
        currency: currency(ccy),
        create_time: now(),
    };
    stores.user.create_instrument(&i).await.expect("instrument");
    i
}

fn activity(p: &PortfolioRecord, date: &str, detail: Detail) -> Activity {
    Activity {
        id: Uuid::now_v7(),
        user_id: p.user_id,
        portfolio_id: p.id,
        date: day(date),
        detail,
        cash_account_id: None,
        note: String::new(),
        create_time: now(),
    }
}

fn trade(i: &InstrumentRecord, q: &str, price: &str) -> Trade {
    Trade {
        instrument_id: i.id,
        quantity: dec(q),
        price: dec(price),
        fee: None,
    }
}

fn check(all: &[&Activity]) -> Result<(), InvestmentError> {
    check_quantities(all).map_err(|e| InvestmentError::field("activity.quantity", e.to_string()))
}

async fn record(stores: &Stores, a: &Activity) -> Result<Created<Activity>, StoreError> {
    stores
        .user
        .create_activity(a, None, &check, &|_| None)
        .await
}

async fn every_object_is_scoped_to_its_owner(stores: Stores) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let p = portfolio(&stores, alice, "USD").await;
    let i = instrument(&stores, alice, "AAPL", "USD").await;
    // Bob may have his own AAPL: symbols are unique per user.
    let bobs = instrument(&stores, bob, "AAPL", "USD").await;
    let dup = stores
        .user
        .create_instrument(&InstrumentRecord {
            id: Uuid::now_v7(),
            ..i.clone()
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Duplicate(_))), "{dup:?}");
    let a = activity(&p, "2024-01-02", Detail::Buy(trade(&i, "3", "100")));
    record(&stores, &a).await.expect("buy");

    assert!(
        stores
            .user
            .get_portfolio(bob, p.id)
            .await
            .expect("store call")
            .is_none()
    );
    assert!(
        stores
            .user
            .get_instrument(bob, i.id)
            .await
            .expect("store call")
            .is_none()
    );
    assert!(
        stores
            .user
            .get_activity(bob, a.id)
            .await
            .expect("store call")
            .is_none()
    );
    assert!(
        stores
            .user
            .list_portfolios(bob, None, 10)
            .await
            .expect("store call")
            .is_empty()
    );
    let listed = stores
        .user
        .list_instruments(bob, None, 10)
        .await
        .expect("store call");
    assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), [bobs.id]);
    assert!(
        stores
            .user
            .list_activities(bob, p.id, None, None, 10)
            .await
            .expect("store call")
            .is_empty()
    );
    assert!(
        stores
            .user
            .replay_activities(bob, p.id)
            .await
            .expect("store call")
            .is_empty()
    );
    let theirs = PortfolioRecord {
        user_id: bob,
        ..p.clone()
    };
    assert!(matches!(
        stores.user.update_portfolio(&theirs).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        stores.user.delete_portfolio(bob, p.id, &|_| None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        stores
            .user
            .delete_activity(bob, a.id, &check, &|_| None)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        stores.user.delete_instrument(bob, i.id).await,
        Err(StoreError::NotFound(_))
    ));
    // Bob cannot record into Alice's portfolio.
    let intrusion = Activity {
        user_id: bob,
        ..activity(&p, "2024-01-03", Detail::Buy(trade(&bobs, "1", "1")))
    };
    assert!(matches!(
        record(&stores, &intrusion).await,
        Err(StoreError::NotFound("portfolio"))
    ));
    // An instrument an activity names stays.
    assert!(matches!(
        stores.user.delete_instrument(alice, i.id).await,
        Err(StoreError::Rejected(InvestmentError::FailedPrecondition(_)))
    ));
    assert_eq!(
        stores
            .user
            .replay_activities(alice, p.id)
            .await
            .expect("store call"),
        [a]
    );
}

async fn a_replayed_request_id_records_one_activity(stores: Stores) {
    let user = Uuid::now_v7();
    let p = portfolio(&stores, user, "USD").await;
    let i = instrument(&stores, user, "VWCE.DE", "EUR").await;
    let key = IdempotencyKey {
        method: "CreateActivity",
        request_id: "buy-1".into(),
        request_hash: vec![1; 32],
    };
    let fee = Cash {
        currency: currency("EUR"),
        minor: 150,
    };
    let mut first = None;
    for _ in 0..5 {
        let a = activity(
            &p,
            "2024-01-02",
            Detail::Buy(Trade {
                fee: Some(fee),
                ..trade(&i, "2.5", "110.42")
            }),
        );
        let created = stores
            .user
            .create_activity(&a, Some(&key), &check, &|_| None)
            .await
            .expect("create");
        let stored = created.clone().into_inner();
        match first.get_or_insert_with(|| stored.clone()) {
            kept if matches!(created, Created::Replayed(_)) => assert_eq!(*kept, stored),
            _ => assert!(matches!(created, Created::New(_))),
        }
    }
    let all = stores
        .user
        .replay_activities(user, p.id)
        .await
        .expect("store call");
    assert_eq!(all.len(), 1);
    assert_eq!(Some(&all[0]), first.as_ref());
    let other = IdempotencyKey {
        request_hash: vec![2; 32],
        ..key
    };
    let reused = stores
        .user
        .create_activity(
            &activity(&p, "2024-01-02", Detail::Buy(trade(&i, "1", "1"))),
            Some(&other),
            &check,
            &|_| None,
        )
        .await;
    assert!(
        matches!(reused, Err(StoreError::RequestIdReused)),
        "{reused:?}"
    );
}

async fn sixteen_concurrent_sales_never_sell_more_than_is_held(stores: Stores) {
    let user = Uuid::now_v7();
    let p = portfolio(&stores, user, "USD").await;
    let i = instrument(&stores, user, "MSFT", "USD").await;
    record(
        &stores,
        &activity(&p, "2024-01-02", Detail::Buy(trade(&i, "10", "300"))),
    )
    .await
    .expect("buy");
    let stores = Arc::new(stores);
    let sales: Vec<_> = (0..16)
        .map(|_| {
            let (stores, p, i) = (stores.clone(), p.clone(), i.clone());
            tokio::spawn(async move {
                let sale = activity(&p, "2024-02-01", Detail::Sell(trade(&i, "1", "310")));
                record(&stores, &sale).await
            })
        })
        .collect();
    let mut sold = 0;
    for sale in sales {
        match sale.await.expect("task") {
            Ok(_) => sold += 1,
            Err(StoreError::Rejected(InvestmentError::InvalidArgument(_))) => {}
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!(sold, 10);
    // A backdated sale before the purchase is refused too.
    let early = activity(&p, "2024-01-01", Detail::Sell(trade(&i, "1", "290")));
    assert!(matches!(
        record(&stores, &early).await,
        Err(StoreError::Rejected(_))
    ));
    // Deleting the purchase would leave the sales selling nothing.
    let buy = stores
        .user
        .replay_activities(user, p.id)
        .await
        .expect("store call")[0]
        .clone();
    assert!(matches!(
        stores
            .user
            .delete_activity(user, buy.id, &check, &|_| None)
            .await,
        Err(StoreError::Rejected(_))
    ));
}

async fn two_workers_record_each_close_once_and_revisions_are_kept(stores: Stores) {
    let closes: Vec<(NaiveDate, Decimal)> = (0..200)
        .map(|n| {
            (
                day("2024-01-01") + Days::new(n),
                Decimal::new(10_000 + i64::try_from(n).expect("small"), 2),
            )
        })
        .collect();
    let (a, b) = (stores.prices.clone(), stores.prices.clone());
    let (c1, c2) = (closes.clone(), closes.clone());
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.record_closes("AAPL", &c1, "test", now()).await }),
        tokio::spawn(async move { b.record_closes("AAPL", &c2, "test", now()).await }),
    );
    let (ra, rb) = (
        ra.expect("store call").expect("store call"),
        rb.expect("store call").expect("store call"),
    );
    assert_eq!(ra.inserted + rb.inserted, 200, "{ra:?} {rb:?}");
    assert_eq!(ra.unchanged + rb.unchanged, 200);
    assert_eq!(ra.revised + rb.revised, 0);
    let stored = stores
        .user
        .list_closes("AAPL", day("2024-01-01"), day("2025-01-01"))
        .await
        .expect("store call");
    assert_eq!(stored, closes);
    // The same close written differently ("100.10" vs "100.1") is no change.
    let same = [(day("2024-01-11"), dec("100.100"))];
    let r = stores
        .prices
        .record_closes("AAPL", &same, "test", now())
        .await
        .expect("store call");
    assert_eq!((r.unchanged, r.revised), (1, 0));
    // A corrected close replaces the old one and leaves a revision.
    let corrected = [(day("2024-01-11"), dec("99.5"))];
    let r = stores
        .prices
        .record_closes("AAPL", &corrected, "test", now())
        .await
        .expect("store call");
    assert_eq!(r.revised, 1);
    assert_eq!(
        stores
            .prices
            .list_close_revisions("AAPL", day("2024-01-11"))
            .await
            .expect("store call"),
        [(dec("100.1"), dec("99.5"))]
    );
    // Reading from a day without a close starts at the close before it.
    let from_gap = stores
        .user
        .list_closes("AAPL", day("2024-07-30"), day("2024-08-30"))
        .await
        .expect("store call");
    assert_eq!(from_gap.first().map(|c| c.0), Some(day("2024-07-18")));
    assert_eq!(
        stores
            .prices
            .latest_close_day("AAPL")
            .await
            .expect("store call"),
        Some(day("2024-07-18"))
    );
    assert_eq!(
        stores
            .prices
            .latest_close_day("NONE")
            .await
            .expect("store call"),
        None
    );
}

async fn the_worker_wants_each_symbol_and_rate_from_its_first_day(stores: Stores) {
    let user = Uuid::now_v7();
    let p = portfolio(&stores, user, "EUR").await;
    let aapl = instrument(&stores, user, "AAPL", "USD").await;
    let sap = instrument(&stores, user, "SAP.DE", "EUR").await;
    let gbp_fee = Cash {
        currency: currency("GBP"),
        minor: 500,
    };
    for a in [
        activity(&p, "2024-03-01", Detail::Buy(trade(&aapl, "1", "180"))),
        activity(&p, "2024-01-05", Detail::Buy(trade(&aapl, "1", "180"))),
        activity(
            &p,
            "2024-02-01",
            Detail::Buy(Trade {
                fee: Some(gbp_fee),
                ..trade(&sap, "1", "150")
            }),
        ),
    ] {
        record(&stores, &a).await.expect("record");
    }
    let wanted = stores
        .prices
        .list_wanted_series()
        .await
        .expect("store call");
    let expect = |series: &str, since: &str| Wanted {
        series: series.into(),
        since: day(since),
    };
    assert_eq!(
        wanted,
        [
            expect("AAPL", "2024-01-05"),
            expect("GBP/EUR", "2024-02-01"),
            expect("SAP.DE", "2024-02-01"),
            expect("USD/EUR", "2024-01-05"),
        ]
    );
}

async fn deleting_a_portfolio_deletes_its_activities(stores: Stores) {
    let user = Uuid::now_v7();
    let p = portfolio(&stores, user, "USD").await;
    let i = instrument(&stores, user, "AAPL", "USD").await;
    let a = activity(&p, "2024-01-02", Detail::Buy(trade(&i, "1", "1")));
    record(&stores, &a).await.expect("buy");
    let announced = std::sync::Mutex::new(Vec::new());
    stores
        .user
        .delete_portfolio(user, p.id, &|a| {
            announced.lock().expect("store call").push(a.id);
            None
        })
        .await
        .expect("delete");
    assert_eq!(*announced.lock().expect("store call"), [a.id]);
    assert!(
        stores
            .user
            .get_activity(user, a.id)
            .await
            .expect("store call")
            .is_none()
    );
    assert!(
        stores
            .user
            .get_portfolio(user, p.id)
            .await
            .expect("store call")
            .is_none()
    );
    stores
        .user
        .delete_instrument(user, i.id)
        .await
        .expect("unused now");
}
