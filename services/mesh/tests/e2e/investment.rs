//! Investments on the embedded defaults: a portfolio linked to a ledger
//! investment account, activities checked (a sale of more than is held,
//! every wrong field named), closes fetched by the price worker from a
//! directory of CSV files, holdings and performance computed from them,
//! other users' ids answered NOT_FOUND, and REST reaching the routes.

use std::time::Duration;

use freedumb_proto::investment as ipb;
use freedumb_proto::investment::investment_service_client::InvestmentServiceClient;
use freedumb_proto::ledger as pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{Backends, TestApp, authed, rest, spawn_app, spawn_app_with, violated_fields};
use crate::ledger_support::{date, money, open_account};

type Investments = InvestmentServiceClient<Channel>;

async fn investments(app: &TestApp) -> Investments {
    InvestmentServiceClient::connect(app.url())
        .await
        .expect("connect")
}

/// A ledger account of kind INVESTMENT in `code`.
async fn investment_account(app: &TestApp, token: &str, code: &str) -> pb::Account {
    app.ledger()
        .await
        .create_account(authed(
            pb::CreateAccountRequest {
                account: Some(pb::Account {
                    name: "Broker".into(),
                    kind: pb::AccountKind::Investment.into(),
                    opening_balance: money(code, 0),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .expect("investment account")
        .into_inner()
        .account
        .expect("account")
}

async fn portfolio(inv: &mut Investments, token: &str, account_id: &str) -> ipb::Portfolio {
    inv.create_portfolio(authed(
        ipb::CreatePortfolioRequest {
            portfolio: Some(ipb::Portfolio {
                name: "Long term".into(),
                account_id: account_id.into(),
                base_currency_code: "USD".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        },
        token,
    ))
    .await
    .expect("portfolio")
    .into_inner()
    .portfolio
    .expect("portfolio")
}

async fn instrument(inv: &mut Investments, token: &str, symbol: &str) -> ipb::Instrument {
    inv.create_instrument(authed(
        ipb::CreateInstrumentRequest {
            instrument: Some(ipb::Instrument {
                symbol: symbol.into(),
                isin: "US0378331005".into(),
                name: "Apple Inc.".into(),
                kind: ipb::InstrumentKind::Stock.into(),
                currency_code: "USD".into(),
                ..Default::default()
            }),
        },
        token,
    ))
    .await
    .expect("instrument")
    .into_inner()
    .instrument
    .expect("instrument")
}

fn trade(
    portfolio: &ipb::Portfolio,
    instrument: &ipb::Instrument,
    kind: ipb::ActivityKind,
    day: (i32, i32, i32),
    quantity: &str,
    price: &str,
) -> ipb::Activity {
    ipb::Activity {
        portfolio_id: portfolio.id.clone(),
        kind: kind.into(),
        date: date(day.0, day.1, day.2),
        instrument_id: instrument.id.clone(),
        quantity: quantity.into(),
        price: price.into(),
        ..Default::default()
    }
}

async fn record(
    inv: &mut Investments,
    token: &str,
    activity: ipb::Activity,
) -> Result<ipb::Activity, tonic::Status> {
    inv.create_activity(authed(
        ipb::CreateActivityRequest {
            activity: Some(activity),
            request_id: String::new(),
        },
        token,
    ))
    .await
    .map(|r| r.into_inner().activity.expect("activity"))
}

/// The binary with its price worker reading `dir` every second.
async fn spawn_with_prices(dir: &std::path::Path) -> TestApp {
    spawn_app_with(
        Backends::default(),
        &[
            (
                "FREEDUMB_INVESTMENT__PRICES_DIR",
                dir.to_str().expect("utf-8"),
            ),
            ("FREEDUMB_INVESTMENT__PRICE_INTERVAL_SECS", "1"),
            ("FREEDUMB_INVESTMENT__PRICE_RETRY_SECS", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn holdings_and_performance_follow_the_activities_and_the_fetched_closes() {
    let prices = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        prices.path().join("AAPL.csv"),
        "Date,Open,High,Low,Close,Adj Close,Volume\n\
         2024-01-02,99,101,98,100,99,1000\n\
         2024-02-01,109,111,108,110,109,1000\n\
         2024-03-01,119,121,118,120,119,1000\n\
         2024-06-28,129,131,128,130,129,1000\n",
    )
    .expect("write closes");
    let app = spawn_with_prices(prices.path()).await;
    let token = app.token().await;
    let mut inv = investments(&app).await;
    let account = investment_account(&app, &token, "USD").await;
    let p = portfolio(&mut inv, &token, &account.id).await;
    let aapl = instrument(&mut inv, &token, "aapl").await;
    assert_eq!(aapl.symbol, "AAPL");
    use ipb::ActivityKind::{Buy, Sell};
    record(
        &mut inv,
        &token,
        trade(&p, &aapl, Buy, (2024, 1, 2), "10", "100"),
    )
    .await
    .expect("buy");
    record(
        &mut inv,
        &token,
        trade(&p, &aapl, Sell, (2024, 3, 1), "4", "120"),
    )
    .await
    .expect("sell");
    record(
        &mut inv,
        &token,
        ipb::Activity {
            portfolio_id: p.id.clone(),
            kind: ipb::ActivityKind::Dividend.into(),
            date: date(2024, 4, 1),
            instrument_id: aapl.id.clone(),
            amount: money("USD", 500),
            ..Default::default()
        },
    )
    .await
    .expect("dividend");
    // Selling more than the 6 left is refused, naming the quantity.
    let err = record(
        &mut inv,
        &token,
        trade(&p, &aapl, Sell, (2024, 5, 1), "7", "125"),
    )
    .await
    .expect_err("oversold");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["activity.quantity"]);

    // The worker fetches the closes from a week before the first activity.
    let mut closes = Vec::new();
    for _ in 0..100 {
        closes = inv
            .list_prices(authed(
                ipb::ListPricesRequest {
                    instrument_id: aapl.id.clone(),
                    start_date: date(2024, 1, 1),
                    end_date: date(2024, 12, 31),
                },
                &token,
            ))
            .await
            .expect("prices")
            .into_inner()
            .closes;
        if closes.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(closes.len(), 4, "the worker did not fetch the closes");
    assert_eq!(closes[3].close, "130");

    let holdings = inv
        .list_holdings(authed(
            ipb::ListHoldingsRequest {
                portfolio_id: p.id.clone(),
                as_of: date(2024, 6, 30),
                include_closed: false,
            },
            &token,
        ))
        .await
        .expect("holdings")
        .into_inner();
    let h = &holdings.holdings[0];
    assert_eq!(h.quantity, "6");
    assert_eq!(h.cost_basis, money("USD", 60_000));
    assert_eq!(h.price, "130");
    assert_eq!(h.market_value, money("USD", 78_000));
    assert_eq!(h.unrealized_gain, money("USD", 18_000));
    assert_eq!(h.realized_gain, money("USD", 8_000));
    assert_eq!(h.dividends, money("USD", 500));
    assert_eq!(holdings.market_value, money("USD", 78_000));

    let perf = inv
        .get_performance(authed(
            ipb::GetPerformanceRequest {
                portfolio_id: p.id.clone(),
                instrument_id: String::new(),
                start_date: None,
                end_date: date(2024, 6, 30),
            },
            &token,
        ))
        .await
        .expect("performance")
        .into_inner();
    let total = perf.total.expect("total");
    // 780 − 0 − 1000 + 480 + 5.
    assert_eq!(total.absolute_gain, money("USD", 26_500));
    // Jan 2: 0; Feb 1: 1100/1000; Mar 1: (720 + 480)/1100; Apr 1:
    // (720 + 5)/720; Jun 28: 780/720.
    let twr = 1.1 * (1200.0 / 1100.0) * (725.0 / 720.0) * (780.0 / 720.0) - 1.0;
    assert!((total.time_weighted_return - twr).abs() < 1e-9, "{total:?}");
    assert!(total.money_weighted_return.is_some(), "{total:?}");
    assert_eq!(perf.start_date, date(2024, 1, 2));

    // A range ending before it starts is refused, naming the end.
    let err = inv
        .get_performance(authed(
            ipb::GetPerformanceRequest {
                portfolio_id: p.id.clone(),
                instrument_id: String::new(),
                start_date: date(2024, 6, 1),
                end_date: date(2024, 5, 1),
            },
            &token,
        ))
        .await
        .expect_err("backwards range");
    assert_eq!(violated_fields(&err), ["end_date"]);
}

#[tokio::test]
async fn every_wrong_field_of_an_activity_is_named() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut inv = investments(&app).await;
    let p = portfolio(&mut inv, &token, "").await;
    let aapl = instrument(&mut inv, &token, "AAPL").await;
    let mut bad = trade(&p, &aapl, ipb::ActivityKind::Buy, (2024, 1, 2), "-1", "1,5");
    bad.split_ratio = "2".into();
    let err = record(&mut inv, &token, bad).await.expect_err("bad");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        [
            "activity.quantity",
            "activity.price",
            "activity.split_ratio"
        ]
    );
    let mut unknown = trade(&p, &aapl, ipb::ActivityKind::Buy, (2024, 1, 2), "1", "1");
    unknown.instrument_id = uuid::Uuid::now_v7().to_string();
    let err = record(&mut inv, &token, unknown)
        .await
        .expect_err("unknown");
    assert_eq!(violated_fields(&err), ["activity.instrument_id"]);
    // Ledger money needs the portfolio linked to an account.
    let mut linked = trade(&p, &aapl, ipb::ActivityKind::Buy, (2024, 1, 2), "1", "1");
    linked.cash_account_id = uuid::Uuid::now_v7().to_string();
    let err = record(&mut inv, &token, linked)
        .await
        .expect_err("unlinked");
    assert_eq!(violated_fields(&err), ["activity.cash_account_id"]);
    // A portfolio's account must be the caller's investment account.
    let mut ledger = app.ledger().await;
    let checking = open_account(&mut ledger, &token, "USD", 0).await;
    let err = inv
        .create_portfolio(authed(
            ipb::CreatePortfolioRequest {
                portfolio: Some(ipb::Portfolio {
                    name: "x".into(),
                    account_id: checking.id,
                    base_currency_code: "USD".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &token,
        ))
        .await
        .expect_err("checking account");
    assert_eq!(violated_fields(&err), ["portfolio.account_id"]);
}

#[tokio::test]
async fn another_users_ids_are_not_found() {
    let app = spawn_app().await;
    let (alice, bob) = (app.token().await, app.token().await);
    let mut inv = investments(&app).await;
    let p = portfolio(&mut inv, &alice, "").await;
    let i = instrument(&mut inv, &alice, "AAPL").await;
    let a = record(
        &mut inv,
        &alice,
        trade(&p, &i, ipb::ActivityKind::Buy, (2024, 1, 2), "1", "100"),
    )
    .await
    .expect("buy");
    let (pid, iid, aid) = (p.id.clone(), i.id.clone(), a.id.clone());
    let results: Vec<(&str, Result<(), tonic::Status>)> = vec![
        (
            "GetPortfolio",
            inv.get_portfolio(authed(
                ipb::GetPortfolioRequest {
                    portfolio_id: pid.clone(),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "UpdatePortfolio",
            inv.update_portfolio(authed(
                ipb::UpdatePortfolioRequest {
                    portfolio: Some(ipb::Portfolio {
                        id: pid.clone(),
                        name: "Taken".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["name".into()],
                    }),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "UpdateInstrument",
            inv.update_instrument(authed(
                ipb::UpdateInstrumentRequest {
                    instrument: Some(ipb::Instrument {
                        id: iid.clone(),
                        name: "Taken".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["name".into()],
                    }),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "DeletePortfolio",
            inv.delete_portfolio(authed(
                ipb::DeletePortfolioRequest {
                    portfolio_id: pid.clone(),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "GetInstrument",
            inv.get_instrument(authed(
                ipb::GetInstrumentRequest {
                    instrument_id: iid.clone(),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "DeleteInstrument",
            inv.delete_instrument(authed(
                ipb::DeleteInstrumentRequest {
                    instrument_id: iid.clone(),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "GetActivity",
            inv.get_activity(authed(
                ipb::GetActivityRequest {
                    activity_id: aid.clone(),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "DeleteActivity",
            inv.delete_activity(authed(
                ipb::DeleteActivityRequest {
                    activity_id: aid.clone(),
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "ListActivities",
            inv.list_activities(authed(
                ipb::ListActivitiesRequest {
                    portfolio_id: pid.clone(),
                    ..Default::default()
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "ListHoldings",
            inv.list_holdings(authed(
                ipb::ListHoldingsRequest {
                    portfolio_id: pid.clone(),
                    ..Default::default()
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "GetPerformance",
            inv.get_performance(authed(
                ipb::GetPerformanceRequest {
                    portfolio_id: pid.clone(),
                    ..Default::default()
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "ListPortfolioValues",
            inv.list_portfolio_values(authed(
                ipb::ListPortfolioValuesRequest {
                    portfolio_id: pid.clone(),
                    start_date: date(2024, 1, 1),
                    ..Default::default()
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
        (
            "ListPrices",
            inv.list_prices(authed(
                ipb::ListPricesRequest {
                    instrument_id: iid.clone(),
                    start_date: date(2024, 1, 1),
                    ..Default::default()
                },
                &bob,
            ))
            .await
            .map(|_| ()),
        ),
    ];
    for (rpc, result) in results {
        let err = result.expect_err(rpc);
        assert_eq!(err.code(), Code::NotFound, "{rpc}: {err:?}");
    }
    // Bob recording into Alice's portfolio is NOT_FOUND too.
    let err = record(
        &mut inv,
        &bob,
        trade(&p, &i, ipb::ActivityKind::Buy, (2024, 1, 2), "1", "1"),
    )
    .await
    .expect_err("intrusion");
    assert_eq!(err.code(), Code::NotFound);
    // Alice's objects are intact.
    let mine = inv
        .list_activities(authed(
            ipb::ListActivitiesRequest {
                portfolio_id: pid,
                ..Default::default()
            },
            &alice,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(mine.activities.len(), 1);
}

#[tokio::test]
async fn a_replayed_request_id_records_one_activity() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut inv = investments(&app).await;
    let p = portfolio(&mut inv, &token, "").await;
    let i = instrument(&mut inv, &token, "AAPL").await;
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let created = inv
            .create_activity(authed(
                ipb::CreateActivityRequest {
                    activity: Some(trade(
                        &p,
                        &i,
                        ipb::ActivityKind::Buy,
                        (2024, 1, 2),
                        "1",
                        "100",
                    )),
                    request_id: "buy-aapl-1".into(),
                },
                &token,
            ))
            .await
            .expect("create")
            .into_inner();
        ids.insert(created.activity.expect("activity").id);
    }
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn rest_reaches_the_investment_routes() {
    let app = spawn_app().await;
    let token = app.token().await;
    let gw = app.gateway_addr.expect("gateway");
    let (status, _, p) = rest(
        gw,
        "POST",
        "/v1/portfolios",
        Some(&token),
        Some(r#"{"name": "Broker", "baseCurrencyCode": "EUR"}"#),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    let pid = p["portfolio"]["id"].as_str().expect("id").to_owned();
    let (status, _, i) = rest(
        gw,
        "POST",
        "/v1/instruments",
        Some(&token),
        Some(r#"{"symbol": "VWCE.DE", "name": "FTSE All-World", "kind": "INSTRUMENT_KIND_ETF", "currencyCode": "EUR"}"#),
    )
    .await;
    assert_eq!(status, 200, "{i}");
    let iid = i["instrument"]["id"].as_str().expect("id");
    let body = format!(
        r#"{{"portfolioId": "{pid}", "kind": "ACTIVITY_KIND_BUY", "date": {{"year": 2024, "month": 1, "day": 2}}, "instrumentId": "{iid}", "quantity": "3", "price": "110.5"}}"#
    );
    let (status, _, a) = rest(gw, "POST", "/v1/activities", Some(&token), Some(&body)).await;
    assert_eq!(status, 200, "{a}");
    let (status, _, h) = rest(
        gw,
        "GET",
        &format!("/v1/portfolios/{pid}/holdings"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["holdings"][0]["quantity"], "3");
    assert_eq!(h["holdings"][0]["price"], "110.5");
    let (status, _, _) = rest(
        gw,
        "GET",
        &format!("/v1/portfolios/{pid}/performance"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, err) = rest(
        gw,
        "POST",
        "/v1/activities",
        Some(&token),
        Some(&body.replace("\"3\"", "\"three\"")),
    )
    .await;
    assert_eq!(status, 400, "{err}");
}

/// The balance of one of the caller's ledger accounts.
async fn balance(app: &TestApp, token: &str, id: &str) -> i64 {
    app.ledger()
        .await
        .get_account(authed(
            pb::GetAccountRequest {
                account_id: id.to_owned(),
            },
            token,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .and_then(|a| a.balance)
        .map_or(0, |m| m.amount_minor)
}

/// Waits until both balances are as expected.
async fn await_balances(app: &TestApp, token: &str, expected: [(&str, i64); 2]) {
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.clear();
        for (id, _) in expected {
            seen.push(balance(app, token, id).await);
        }
        if seen == expected.map(|(_, b)| b) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("balances {seen:?}, expected {expected:?}");
}

#[tokio::test]
async fn a_linked_purchase_and_sale_move_money_between_ledger_accounts() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut inv = investments(&app).await;
    let mut ledger = app.ledger().await;
    let checking = open_account(&mut ledger, &token, "USD", 1_000_000).await;
    let broker = investment_account(&app, &token, "USD").await;
    let p = portfolio(&mut inv, &token, &broker.id).await;
    let aapl = instrument(&mut inv, &token, "AAPL").await;
    let mut buy = trade(&p, &aapl, ipb::ActivityKind::Buy, (2024, 1, 2), "10", "100");
    buy.fee = money("USD", 100);
    buy.cash_account_id = checking.id.clone();
    let buy = record(&mut inv, &token, buy).await.expect("buy");
    // 10 × 100.00 + 1.00 leaves checking for the broker account.
    await_balances(
        &app,
        &token,
        [(&checking.id, 1_000_000 - 100_100), (&broker.id, 100_100)],
    )
    .await;
    let transfer = ledger
        .get_transfer(authed(
            pb::GetTransferRequest {
                transfer_id: buy.id.clone(),
            },
            &token,
        ))
        .await
        .expect("the transfer has the activity's id")
        .into_inner()
        .transfer
        .expect("transfer");
    assert_eq!(transfer.description, "Buy 10 AAPL at 100 USD");

    let mut sell = trade(&p, &aapl, ipb::ActivityKind::Sell, (2024, 2, 1), "4", "120");
    sell.cash_account_id = checking.id.clone();
    let sell = record(&mut inv, &token, sell).await.expect("sell");
    await_balances(
        &app,
        &token,
        [
            (&checking.id, 1_000_000 - 100_100 + 48_000),
            (&broker.id, 100_100 - 48_000),
        ],
    )
    .await;
    // Deleting the sale deletes its transfer.
    inv.delete_activity(authed(
        ipb::DeleteActivityRequest {
            activity_id: sell.id,
        },
        &token,
    ))
    .await
    .expect("delete");
    await_balances(
        &app,
        &token,
        [(&checking.id, 1_000_000 - 100_100), (&broker.id, 100_100)],
    )
    .await;

    // The cash account must be in the activity's currency.
    let eur = open_account(&mut ledger, &token, "EUR", 0).await;
    let mut wrong = trade(&p, &aapl, ipb::ActivityKind::Buy, (2024, 3, 1), "1", "100");
    wrong.cash_account_id = eur.id;
    let err = record(&mut inv, &token, wrong)
        .await
        .expect_err("EUR account");
    assert_eq!(violated_fields(&err), ["activity.cash_account_id"]);
}
