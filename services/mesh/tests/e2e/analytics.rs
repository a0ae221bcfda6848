//! Analytics on the embedded defaults: totals per category, cash flow,
//! top merchants and net worth follow the ledger's writes (transfers
//! neither income nor spending), a rebuild gives the same figures, bad
//! input names its field, users see only their own figures, and REST
//! reaches the routes.

use std::time::Duration;

use freedumb_proto::analytics as apb;
use freedumb_proto::analytics::analytics_service_client::AnalyticsServiceClient;
use freedumb_proto::ledger as pb;
use tonic::transport::Channel;

use crate::helpers::{TestApp, authed, rest, spawn_app, violated_fields};
use crate::ledger_support::{Ledger, categories, create, date, money, open_account};

type Analytics = AnalyticsServiceClient<Channel>;

async fn analytics(app: &TestApp) -> Analytics {
    AnalyticsServiceClient::connect(app.url())
        .await
        .expect("connect")
}

#[allow(clippy::too_many_arguments)]
async fn spend(
    ledger: &mut Ledger,
    token: &str,
    account: &pb::Account,
    minor: i64,
    day: (i32, i32, i32),
    merchant: &str,
    category_id: &str,
) -> pb::Transaction {
    create(
        ledger,
        token,
        pb::CreateTransactionRequest {
            account_id: account.id.clone(),
            amount: money("EUR", minor),
            date: date(day.0, day.1, day.2),
            description: format!("Card payment {merchant}"),
            merchant: merchant.into(),
            category_id: category_id.into(),
            ..Default::default()
        },
    )
    .await
}

fn q1() -> (
    Option<freedumb_proto::google::r#type::Date>,
    Option<freedumb_proto::google::r#type::Date>,
) {
    (date(2024, 1, 1), date(2024, 3, 31))
}

async fn cash_flow(analytics: &mut Analytics, token: &str) -> apb::GetCashFlowResponse {
    let (start_date, end_date) = q1();
    analytics
        .get_cash_flow(authed(
            apb::GetCashFlowRequest {
                start_date,
                end_date,
                interval: apb::Interval::Month.into(),
                currency_code: "EUR".into(),
            },
            token,
        ))
        .await
        .expect("cash flow")
        .into_inner()
}

/// Waits until the cash flow over the quarter shows `spending`.
async fn await_spending(
    analytics: &mut Analytics,
    token: &str,
    spending: i64,
) -> apb::GetCashFlowResponse {
    let mut last = None;
    for _ in 0..100 {
        let flow = cash_flow(analytics, token).await;
        if flow
            .total
            .as_ref()
            .and_then(|t| t.spending.as_ref())
            .map(|m| m.amount_minor)
            == Some(spending)
        {
            return flow;
        }
        last = Some(flow);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the read model did not catch up: {last:?}");
}

#[tokio::test]
async fn figures_follow_the_ledger_and_a_rebuild_agrees() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let mut an = analytics(&app).await;
    let checking = open_account(&mut ledger, &token, "EUR", 100_000).await;
    let savings = open_account(&mut ledger, &token, "EUR", 0).await;
    let cats = categories(&mut ledger, &token).await;
    let (food, rent) = (cats[0].id.clone(), cats[1].id.clone());
    // January: salary 3,000, rent 1,000, food 50 + 25. February: salary
    // 3,000, rent 1,000, food 100 (a refund of 10 later). March: food 30.
    for month in [1, 2] {
        spend(
            &mut ledger,
            &token,
            &checking,
            300_000,
            (2024, month, 1),
            "Employer",
            "",
        )
        .await;
        spend(
            &mut ledger,
            &token,
            &checking,
            -100_000,
            (2024, month, 3),
            "Landlord",
            &rent,
        )
        .await;
    }
    spend(
        &mut ledger,
        &token,
        &checking,
        -5_000,
        (2024, 1, 10),
        "Grocer",
        &food,
    )
    .await;
    spend(
        &mut ledger,
        &token,
        &checking,
        -2_500,
        (2024, 1, 20),
        "Bakery",
        &food,
    )
    .await;
    spend(
        &mut ledger,
        &token,
        &checking,
        -10_000,
        (2024, 2, 10),
        "Grocer",
        &food,
    )
    .await;
    spend(
        &mut ledger,
        &token,
        &checking,
        1_000,
        (2024, 2, 12),
        "Grocer",
        &food,
    )
    .await;
    let march = spend(
        &mut ledger,
        &token,
        &checking,
        -3_000,
        (2024, 3, 5),
        "Bakery",
        &food,
    )
    .await;
    // A transfer to savings is neither income nor spending.
    ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: checking.id.clone(),
                to_account_id: savings.id.clone(),
                amount: money("EUR", 50_000),
                date: date(2024, 2, 15),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("transfer");
    let spending = 200_000 + 5_000 + 2_500 + 10_000 + 3_000;
    let flow = await_spending(&mut an, &token, spending).await;
    let total = flow.total.expect("total");
    assert_eq!(total.income, money("EUR", 601_000));
    let jan = &flow.periods[0];
    assert_eq!(jan.spending, money("EUR", 107_500));
    assert_eq!(jan.net, money("EUR", 300_000 - 107_500));
    assert!((jan.savings_rate.expect("rate") - 192_500.0 / 300_000.0).abs() < 1e-12);
    let feb = &flow.periods[1];
    assert_eq!(feb.spending, money("EUR", 110_000));
    // February against January: 110,000 / 107,500 − 1.
    assert!((feb.spending_change.expect("change") - (110_000.0 / 107_500.0 - 1.0)).abs() < 1e-12);
    assert_eq!(feb.spending_change_year_ago, None);

    let (start_date, end_date) = q1();
    let totals = an
        .get_category_totals(authed(
            apb::GetCategoryTotalsRequest {
                start_date,
                end_date,
                interval: apb::Interval::Month.into(),
                currency_code: "EUR".into(),
            },
            &token,
        ))
        .await
        .expect("totals")
        .into_inner();
    let food_total = totals
        .totals
        .iter()
        .find(|c| c.category_id == food)
        .expect("food");
    assert_eq!(food_total.outflow, money("EUR", 20_500));
    assert_eq!(food_total.inflow, money("EUR", 1_000));
    assert_eq!(food_total.count, 5);
    assert_eq!(totals.periods.len(), 3);

    let merchants = an
        .list_top_merchants(authed(
            apb::ListTopMerchantsRequest {
                start_date,
                end_date,
                currency_code: "EUR".into(),
                limit: 2,
            },
            &token,
        ))
        .await
        .expect("merchants")
        .into_inner()
        .merchants;
    let names: Vec<&str> = merchants.iter().map(|m| m.merchant.as_str()).collect();
    assert_eq!(names, ["Landlord", "Grocer"]);
    assert_eq!(merchants[1].spent, money("EUR", 14_000));

    // Net worth at the end of each month: the opening balance plus what
    // happened up to then, in both accounts.
    let worth = an
        .get_net_worth(authed(
            apb::GetNetWorthRequest {
                start_date,
                end_date,
                interval: apb::Interval::Month.into(),
            },
            &token,
        ))
        .await
        .expect("net worth")
        .into_inner();
    let eur = &worth.series[0];
    assert_eq!(eur.currency_code, "EUR");
    let end_of = |i: usize| eur.points[i].total.as_ref().map(|m| m.amount_minor);
    assert_eq!(end_of(0), Some(100_000 + 300_000 - 107_500));
    assert_eq!(end_of(2), Some(100_000 + 601_000 - spending));

    // A rebuild gives the same figures; a deletion moves them.
    let rebuilt = an
        .rebuild_analytics(authed(apb::RebuildAnalyticsRequest {}, &token))
        .await
        .expect("rebuild")
        .into_inner();
    assert_eq!(rebuilt.transactions_read, 11);
    assert_eq!(cash_flow(&mut an, &token).await.total, Some(total));
    ledger
        .delete_transaction(authed(
            pb::DeleteTransactionRequest {
                transaction_id: march.id,
            },
            &token,
        ))
        .await
        .expect("delete");
    await_spending(&mut an, &token, spending - 3_000).await;
}

#[tokio::test]
async fn bad_input_is_named_and_users_see_only_their_own_figures() {
    let app = spawn_app().await;
    let (alice, bob) = (app.token().await, app.token().await);
    let mut ledger = app.ledger().await;
    let mut an = analytics(&app).await;
    let account = open_account(&mut ledger, &alice, "EUR", 0).await;
    spend(
        &mut ledger,
        &alice,
        &account,
        -4_200,
        (2024, 2, 1),
        "Cinema",
        "",
    )
    .await;
    await_spending(&mut an, &alice, 4_200).await;
    let bobs = cash_flow(&mut an, &bob).await;
    assert_eq!(bobs.total.and_then(|t| t.spending), money("EUR", 0));

    let err = an
        .get_cash_flow(authed(
            apb::GetCashFlowRequest {
                start_date: date(2024, 3, 1),
                end_date: date(2024, 1, 1),
                interval: 9,
                currency_code: "euro".into(),
            },
            &alice,
        ))
        .await
        .expect_err("bad");
    assert_eq!(
        violated_fields(&err),
        ["end_date", "interval", "currency_code"]
    );
    let err = an
        .get_category_totals(authed(
            apb::GetCategoryTotalsRequest {
                start_date: date(1950, 1, 1),
                end_date: date(2040, 1, 1),
                interval: apb::Interval::Day.into(),
                currency_code: "EUR".into(),
            },
            &alice,
        ))
        .await
        .expect_err("too many days");
    assert_eq!(violated_fields(&err), ["interval"]);
    let err = an
        .list_top_merchants(authed(
            apb::ListTopMerchantsRequest {
                start_date: date(2024, 1, 1),
                end_date: date(2024, 12, 31),
                currency_code: "EUR".into(),
                limit: 1000,
            },
            &alice,
        ))
        .await
        .expect_err("limit");
    assert_eq!(violated_fields(&err), ["limit"]);

    let gw = app.gateway_addr.expect("gateway");
    let (status, _, body) = rest(
        gw,
        "GET",
        "/v1/analytics/topMerchants?startDate=2024-01-01&endDate=2024-12-31&currencyCode=EUR",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["merchants"][0]["merchant"], "Cinema");
    assert_eq!(body["merchants"][0]["spent"]["amountMinor"], "4200");
}
