//! Budgets on the embedded defaults: spending follows the ledger (splits in
//! their own categories, transfers and other currencies not counted,
//! updates and deletes moving it), the rebuild agrees, thresholds raise
//! alerts, watches stream the status, bad input and other users' ids are
//! refused, and REST reaches every route.

use std::time::Duration;

use chrono::Datelike as _;
use freedumb_proto::budget as bpb;
use freedumb_proto::budget::budget_service_client::BudgetServiceClient;
use freedumb_proto::ledger as pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{TestApp, authed, rest, spawn_app, violated_fields};
use crate::ledger_support::{
    Ledger, categories, create, mask, money, new_transaction, open_account,
};

pub type Budgets = BudgetServiceClient<Channel>;

pub async fn budgets(app: &TestApp) -> Budgets {
    BudgetServiceClient::connect(app.url())
        .await
        .expect("connect")
}

/// Today (UTC) as the API's date.
pub fn today() -> Option<freedumb_proto::google::r#type::Date> {
    let d = chrono::Utc::now().date_naive();
    Some(freedumb_kit::domain::date(d))
}

/// The first day of this month.
fn month_start() -> Option<freedumb_proto::google::r#type::Date> {
    let d = chrono::Utc::now().date_naive().with_day(1).expect("day 1");
    Some(freedumb_kit::domain::date(d))
}

/// Two of the caller's categories.
pub async fn two_categories(ledger: &mut Ledger, token: &str) -> (String, String) {
    let all = categories(ledger, token).await;
    (all[0].id.clone(), all[1].id.clone())
}

/// A monthly budget of `amount` EUR from this month over `categories`.
pub fn monthly(categories: &[&str], amount: i64, thresholds: &[i32]) -> bpb::Budget {
    bpb::Budget {
        name: "Everyday".into(),
        category_ids: categories.iter().map(|c| (*c).to_owned()).collect(),
        amount: money("EUR", amount),
        period: bpb::BudgetPeriod::Monthly.into(),
        start_date: month_start(),
        alert_thresholds_percent: thresholds.to_vec(),
        ..Default::default()
    }
}

pub async fn create_budget(budgets: &mut Budgets, token: &str, budget: bpb::Budget) -> bpb::Budget {
    budgets
        .create_budget(authed(
            bpb::CreateBudgetRequest {
                budget: Some(budget),
            },
            token,
        ))
        .await
        .expect("create budget")
        .into_inner()
        .budget
        .expect("budget")
}

pub async fn status(budgets: &mut Budgets, token: &str, id: &str) -> bpb::BudgetStatus {
    budgets
        .get_budget_status(authed(
            bpb::GetBudgetStatusRequest {
                budget_id: id.into(),
                date: today(),
            },
            token,
        ))
        .await
        .expect("status")
        .into_inner()
        .status
        .expect("status")
}

pub fn spent(status: &bpb::BudgetStatus) -> i64 {
    status.spent.as_ref().map_or(0, |m| m.amount_minor)
}

/// Waits until the budget's spending is `expected` (the projection follows
/// the ledger within moments).
pub async fn await_spent(
    budgets: &mut Budgets,
    token: &str,
    id: &str,
    expected: i64,
) -> bpb::BudgetStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = status(budgets, token, id).await;
        if spent(&now) == expected {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spending stayed {} instead of {expected}",
            spent(&now)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn today_transaction(
    account: &pb::Account,
    minor: i64,
    category: &str,
) -> pb::CreateTransactionRequest {
    pb::CreateTransactionRequest {
        date: today(),
        category_id: category.into(),
        ..new_transaction(account, minor)
    }
}

#[tokio::test]
async fn spending_follows_the_ledger_and_a_rebuild_gives_the_same_figures() {
    let app = spawn_app().await;
    let token = app.token().await;
    let (mut ledger, mut budgets) = (app.ledger().await, budgets(&app).await);
    let (food, fun) = two_categories(&mut ledger, &token).await;
    let eur = open_account(&mut ledger, &token, "EUR", 100_000).await;
    let savings = open_account(&mut ledger, &token, "EUR", 0).await;
    let usd = open_account(&mut ledger, &token, "USD", 100_000).await;
    let budget = create_budget(&mut budgets, &token, monthly(&[&food, &fun], 10_000, &[])).await;
    assert_eq!(budget.alert_thresholds_percent, [80, 100], "the defaults");

    let groceries = create(&mut ledger, &token, today_transaction(&eur, -3_000, &food)).await;
    // A split counts each part in its own category.
    let split = create(
        &mut ledger,
        &token,
        pb::CreateTransactionRequest {
            category_id: String::new(),
            splits: vec![
                pb::Split {
                    category_id: food.clone(),
                    amount_minor: -1_000,
                },
                pb::Split {
                    category_id: fun.clone(),
                    amount_minor: -2_000,
                },
            ],
            ..today_transaction(&eur, -3_000, "")
        },
    )
    .await;
    // Not spending: another currency, a transfer, no category; a refund
    // gives money back.
    create(&mut ledger, &token, today_transaction(&usd, -9_999, &food)).await;
    ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: eur.id.clone(),
                to_account_id: savings.id.clone(),
                amount: money("EUR", 5_000),
                date: today(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("transfer");
    create(&mut ledger, &token, today_transaction(&eur, -777, "")).await;
    create(&mut ledger, &token, today_transaction(&eur, 500, &fun)).await;

    let now = await_spent(&mut budgets, &token, &budget.id, 3_000 + 3_000 - 500).await;
    let by_category: Vec<(String, i64)> = now
        .categories
        .iter()
        .map(|c| {
            (
                c.category_id.clone(),
                c.spent.as_ref().map_or(0, |m| m.amount_minor),
            )
        })
        .collect();
    assert_eq!(by_category, [(food.clone(), 4_000), (fun.clone(), 1_500)]);
    assert_eq!(now.remaining.as_ref().map(|m| m.amount_minor), Some(4_500));
    assert_eq!(now.percent_used, 55);

    // An update moves the spending out of the period; a delete removes it.
    let mut moved = groceries.clone();
    moved.date = Some(freedumb_kit::domain::date(
        chrono::Utc::now()
            .date_naive()
            .with_day(1)
            .expect("day")
            .pred_opt()
            .expect("previous month"),
    ));
    ledger
        .update_transaction(authed(
            pb::UpdateTransactionRequest {
                transaction: Some(moved),
                update_mask: mask(&["date"]),
            },
            &token,
        ))
        .await
        .expect("update");
    await_spent(&mut budgets, &token, &budget.id, 2_500).await;
    ledger
        .delete_transaction(authed(
            pb::DeleteTransactionRequest {
                transaction_id: split.id.clone(),
            },
            &token,
        ))
        .await
        .expect("delete");
    let incremental = await_spent(&mut budgets, &token, &budget.id, -500).await;

    let rebuilt = budgets
        .rebuild_spending(authed(bpb::RebuildSpendingRequest {}, &token))
        .await
        .expect("rebuild")
        .into_inner();
    assert_eq!(
        rebuilt.transactions_read, 6,
        "groceries, the USD one, two transfer legs, the uncategorized one, the refund"
    );
    assert_eq!(status(&mut budgets, &token, &budget.id).await, incremental);
}

/// The next status of a watch.
pub async fn next(
    watch: &mut tonic::Streaming<bpb::WatchBudgetStatusResponse>,
) -> bpb::BudgetStatus {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a status within 10 s")
        .expect("stream ok")
        .expect("a status")
        .status
        .expect("status")
}

#[tokio::test]
async fn a_threshold_crossing_is_alerted_once_and_the_watch_streams_each_change() {
    let app = spawn_app().await;
    let token = app.token().await;
    let (mut ledger, mut budgets) = (app.ledger().await, budgets(&app).await);
    let (food, _) = two_categories(&mut ledger, &token).await;
    let eur = open_account(&mut ledger, &token, "EUR", 0).await;
    let budget = create_budget(&mut budgets, &token, monthly(&[&food], 10_000, &[50, 100])).await;
    let mut watch = budgets
        .watch_budget_status(authed(
            bpb::WatchBudgetStatusRequest {
                budget_id: budget.id.clone(),
            },
            &token,
        ))
        .await
        .expect("watch")
        .into_inner();
    let first = next(&mut watch).await;
    assert_eq!(spent(&first), 0);
    assert!(first.crossed_thresholds_percent.is_empty());

    create(&mut ledger, &token, today_transaction(&eur, -6_000, &food)).await;
    let after = next(&mut watch).await;
    assert_eq!(spent(&after), 6_000);
    assert_eq!(after.crossed_thresholds_percent, [50]);
    create(&mut ledger, &token, today_transaction(&eur, -1_000, &food)).await;
    let more = next(&mut watch).await;
    assert_eq!(
        (spent(&more), more.crossed_thresholds_percent.as_slice()),
        (7_000, &[50][..])
    );
    create(&mut ledger, &token, today_transaction(&eur, -5_000, &food)).await;
    let over = next(&mut watch).await;
    assert_eq!(over.crossed_thresholds_percent, [50, 100]);
    assert_eq!(
        over.remaining.as_ref().map(|m| m.amount_minor),
        Some(-2_000)
    );
    assert_eq!(over.percent_used, 120);
}

#[tokio::test]
async fn bad_budgets_are_refused_field_by_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = app.token().await;
    let (mut ledger, mut budgets) = (app.ledger().await, budgets(&app).await);
    let (food, _) = two_categories(&mut ledger, &token).await;
    let someone_else = app.token().await;
    let (theirs, _) = two_categories(&mut ledger, &someone_else).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(bpb::Budget, &[&str])> = vec![
        (monthly(&[&unknown], 100, &[]), &["budget.category_ids[0]"]),
        (
            monthly(&[&food, &theirs], 100, &[]),
            &["budget.category_ids[1]"],
        ),
        (
            monthly(&[&food], -100, &[]),
            &["budget.amount.amount_minor"],
        ),
        (
            monthly(&[&food], 100, &[0, 1001]),
            &["budget.alert_thresholds_percent"],
        ),
        (
            bpb::Budget {
                end_date: Some(freedumb_proto::google::r#type::Date {
                    year: 2000,
                    month: 1,
                    day: 1,
                }),
                ..monthly(&[&food], 100, &[])
            },
            &["budget.end_date"],
        ),
        (
            bpb::Budget {
                name: String::new(),
                period: 0,
                ..monthly(&[&food], 100, &[])
            },
            &["budget.name", "budget.period"],
        ),
        (
            bpb::Budget {
                name: "x".repeat(10_000),
                ..monthly(&[&food], 100, &[])
            },
            &["budget.name"],
        ),
    ];
    for (budget, fields) in cases {
        let err = budgets
            .create_budget(authed(
                bpb::CreateBudgetRequest {
                    budget: Some(budget),
                },
                &token,
            ))
            .await
            .expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert_eq!(violated_fields(&err), fields);
    }
    let listed = budgets
        .list_budgets(authed(bpb::ListBudgetsRequest::default(), &token))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.budgets.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn another_users_budget_is_not_found_and_stays_unchanged() {
    let app = spawn_app().await;
    let (owner, intruder) = (app.token().await, app.token().await);
    let (mut ledger, mut budgets) = (app.ledger().await, budgets(&app).await);
    let (food, _) = two_categories(&mut ledger, &owner).await;
    let budget = create_budget(&mut budgets, &owner, monthly(&[&food], 5_000, &[])).await;
    let id = budget.id.clone();
    let b = &mut budgets;
    let t = intruder.as_str();
    let results = [
        b.get_budget(authed(
            bpb::GetBudgetRequest {
                budget_id: id.clone(),
            },
            t,
        ))
        .await
        .map(|_| ()),
        b.update_budget(authed(
            bpb::UpdateBudgetRequest {
                budget: Some(bpb::Budget {
                    id: id.clone(),
                    name: "Mine now".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["name"]),
            },
            t,
        ))
        .await
        .map(|_| ()),
        b.get_budget_status(authed(
            bpb::GetBudgetStatusRequest {
                budget_id: id.clone(),
                date: None,
            },
            t,
        ))
        .await
        .map(|_| ()),
        b.watch_budget_status(authed(
            bpb::WatchBudgetStatusRequest {
                budget_id: id.clone(),
            },
            t,
        ))
        .await
        .map(|_| ()),
        b.delete_budget(authed(
            bpb::DeleteBudgetRequest {
                budget_id: id.clone(),
            },
            t,
        ))
        .await
        .map(|_| ()),
    ];
    for result in results {
        assert_eq!(result.expect_err("not theirs").code(), Code::NotFound);
    }
    let listed = b
        .list_budgets(authed(bpb::ListBudgetsRequest::default(), t))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.budgets.is_empty());
    let unchanged = b
        .get_budget(authed(
            bpb::GetBudgetRequest {
                budget_id: id.clone(),
            },
            &owner,
        ))
        .await
        .expect("the owner's")
        .into_inner()
        .budget;
    assert_eq!(unchanged, Some(budget));
}

#[tokio::test]
async fn budgets_over_rest_through_the_gateway() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let (food, fun) = two_categories(&mut ledger, &token).await;
    let start = month_start().expect("date");
    let body = serde_json::json!({
        "name": "Food",
        "categoryIds": [food],
        "amount": { "currencyCode": "EUR", "amountMinor": "20000" },
        "period": "BUDGET_PERIOD_MONTHLY",
        "startDate": { "year": start.year, "month": start.month, "day": start.day },
    });
    let (status, _, created) = rest(
        gw,
        "POST",
        "/v1/budgets",
        Some(&token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["budget"]["id"].as_str().expect("id").to_owned();
    let (status, _, got) = rest(gw, "GET", &format!("/v1/budgets/{id}"), Some(&token), None).await;
    assert_eq!(
        (status, &got["budget"]["name"]),
        (200, &serde_json::json!("Food"))
    );
    let (status, _, listed) = rest(gw, "GET", "/v1/budgets?pageSize=10", Some(&token), None).await;
    assert_eq!(
        (status, listed["budgets"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let patch = serde_json::json!({ "categoryIds": [food, fun] });
    let (status, _, updated) = rest(
        gw,
        "PATCH",
        &format!("/v1/budgets/{id}?updateMask=categoryIds"),
        Some(&token),
        Some(&patch.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["budget"]["categoryIds"].as_array().map(Vec::len),
        Some(2)
    );
    let (status, _, now) = rest(
        gw,
        "GET",
        &format!("/v1/budgets/{id}/status"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["status"]["budgeted"]["amountMinor"], "20000");
    let goal_body = serde_json::json!({
        "name": "Holiday",
        "target": { "currencyCode": "EUR", "amountMinor": "100000" },
        "targetDate": { "year": start.year + 1, "month": start.month, "day": 1 },
        "categoryId": fun,
    });
    let (status, _, goal) = rest(
        gw,
        "POST",
        "/v1/goals",
        Some(&token),
        Some(&goal_body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{goal}");
    let goal_id = goal["goal"]["id"].as_str().expect("goal id").to_owned();
    let (status, _, got) = rest(
        gw,
        "GET",
        &format!("/v1/goals/{goal_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, &got["progress"]["monthsLeft"]),
        (200, &serde_json::json!(13)),
        "{got}"
    );
    let (status, _, _) = rest(
        gw,
        "DELETE",
        &format!("/v1/goals/{goal_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let plan_body = serde_json::json!({
        "name": "Household",
        "categoryIds": [food],
        "currencyCode": "EUR",
        "startMonth": this_month(),
        "overspending": "OVERSPENDING_RULE_CARRY_NEGATIVE",
    });
    let (status, _, plan) = rest(
        gw,
        "POST",
        "/v1/budgetPlans",
        Some(&token),
        Some(&plan_body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    let plan_id = plan["plan"]["id"].as_str().expect("plan id").to_owned();
    let assign = serde_json::json!({
        "month": this_month(),
        "categoryId": food,
        "amount": { "currencyCode": "EUR", "amountMinor": "700" },
    });
    let path = format!("/v1/budgetPlans/{plan_id}:assign");
    let (status, _, assigned) =
        rest(gw, "POST", &path, Some(&token), Some(&assign.to_string())).await;
    assert_eq!(status, 200, "{assigned}");
    let path = format!("/v1/budgetPlans/{plan_id}/months/{}", this_month());
    let (status, _, month) = rest(gw, "GET", &path, Some(&token), None).await;
    assert_eq!(
        (status, &month["month"]["toBeBudgeted"]["amountMinor"]),
        (200, &serde_json::json!("-700")),
        "{month}"
    );
    let watch_path = format!("/v1/budgets/{id}/status:watch");
    let mut watch = crate::helpers::ndjson(gw, &watch_path, &token).await;
    let first = watch.next_line().await;
    assert_eq!(
        first["status"]["budgetId"],
        serde_json::json!(id),
        "{first}"
    );
    let (status, _, rebuilt) =
        rest(gw, "POST", "/v1/spending:rebuild", Some(&token), Some("{}")).await;
    assert_eq!(status, 200, "{rebuilt}");
    let (status, _, _) = rest(
        gw,
        "DELETE",
        &format!("/v1/budgets/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, gone) = rest(gw, "GET", &format!("/v1/budgets/{id}"), Some(&token), None).await;
    assert_eq!(status, 404, "{gone}");
}

pub fn goal(name: &str, target: i64, months: u32, source: bpb::goal::Source) -> bpb::Goal {
    let end = chrono::Utc::now()
        .date_naive()
        .checked_add_months(chrono::Months::new(months))
        .expect("date");
    bpb::Goal {
        name: name.into(),
        target: money("EUR", target),
        target_date: Some(freedumb_kit::domain::date(end)),
        source: Some(source),
        ..Default::default()
    }
}

pub async fn create_goal(
    budgets: &mut Budgets,
    token: &str,
    goal: bpb::Goal,
) -> bpb::CreateGoalResponse {
    budgets
        .create_goal(authed(bpb::CreateGoalRequest { goal: Some(goal) }, token))
        .await
        .expect("create goal")
        .into_inner()
}

fn saved(progress: &Option<bpb::GoalProgress>) -> i64 {
    progress
        .as_ref()
        .and_then(|p| p.saved.as_ref())
        .map_or(0, |m| m.amount_minor)
}

#[tokio::test]
async fn goals_track_an_account_balance_or_what_goes_into_a_category() {
    use bpb::goal::Source;
    let app = spawn_app().await;
    let (token, intruder) = (app.token().await, app.token().await);
    let (mut ledger, mut budgets) = (app.ledger().await, budgets(&app).await);
    let (savings_category, _) = two_categories(&mut ledger, &token).await;
    let savings = open_account(&mut ledger, &token, "EUR", 10_000).await;

    let on_account = create_goal(
        &mut budgets,
        &token,
        goal(
            "Emergency fund",
            50_000,
            12,
            Source::AccountId(savings.id.clone()),
        ),
    )
    .await;
    let progress = on_account.progress.clone().expect("progress");
    assert_eq!(
        (
            saved(&on_account.progress),
            progress.percent,
            progress.reached
        ),
        (10_000, 20, false)
    );
    assert_eq!(progress.months_left, 13);
    assert_eq!(
        progress.monthly_needed.map(|m| m.amount_minor),
        Some((40_000 + 12) / 13)
    );
    create(&mut ledger, &token, today_transaction(&savings, 40_000, "")).await;
    let id = on_account.goal.expect("goal").id;
    let now = budgets
        .get_goal(authed(
            bpb::GetGoalRequest {
                goal_id: id.clone(),
            },
            &token,
        ))
        .await
        .expect("get")
        .into_inner();
    let progress = now.progress.clone().expect("progress");
    assert_eq!(
        (saved(&now.progress), progress.reached, progress.on_track),
        (50_000, true, true)
    );
    assert_eq!(progress.remaining.map(|m| m.amount_minor), Some(0));

    let on_category = create_goal(
        &mut budgets,
        &token,
        goal(
            "Holiday",
            10_000,
            3,
            Source::CategoryId(savings_category.clone()),
        ),
    )
    .await;
    let category_goal = on_category.goal.expect("goal").id;
    create(
        &mut ledger,
        &token,
        today_transaction(&savings, 3_000, &savings_category),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = budgets
            .get_goal(authed(
                bpb::GetGoalRequest {
                    goal_id: category_goal.clone(),
                },
                &token,
            ))
            .await
            .expect("get")
            .into_inner();
        if saved(&got.progress) == 3_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the category's deposit never counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = budgets
        .list_goals(authed(bpb::ListGoalsRequest::default(), &token))
        .await
        .expect("list")
        .into_inner()
        .goals;
    assert_eq!(listed.len(), 2);

    // Another user's goal: not found, and untouched.
    let t = intruder.as_str();
    let results = [
        budgets
            .get_goal(authed(
                bpb::GetGoalRequest {
                    goal_id: id.clone(),
                },
                t,
            ))
            .await
            .map(|_| ()),
        budgets
            .update_goal(authed(
                bpb::UpdateGoalRequest {
                    goal: Some(bpb::Goal {
                        id: id.clone(),
                        name: "Mine".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["name"]),
                },
                t,
            ))
            .await
            .map(|_| ()),
        budgets
            .delete_goal(authed(
                bpb::DeleteGoalRequest {
                    goal_id: id.clone(),
                },
                t,
            ))
            .await
            .map(|_| ()),
    ];
    for result in results {
        assert_eq!(result.expect_err("not theirs").code(), Code::NotFound);
    }
    let theirs = budgets
        .list_goals(authed(bpb::ListGoalsRequest::default(), t))
        .await
        .expect("list")
        .into_inner();
    assert!(theirs.goals.is_empty());

    // The owner renames and retargets it; the currency stays.
    let updated = budgets
        .update_goal(authed(
            bpb::UpdateGoalRequest {
                goal: Some(bpb::Goal {
                    id: id.clone(),
                    name: "Rainy days".into(),
                    target: money("", 60_000),
                    ..Default::default()
                }),
                update_mask: mask(&["name", "target"]),
            },
            &token,
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(
        updated.goal.as_ref().map(|g| g.name.as_str()),
        Some("Rainy days")
    );
    assert_eq!(updated.progress.map(|p| p.reached), Some(false));
    budgets
        .delete_goal(authed(bpb::DeleteGoalRequest { goal_id: id }, &token))
        .await
        .expect("delete");
}

#[tokio::test]
async fn bad_goals_are_refused_field_by_field() {
    use bpb::goal::Source;
    let app = spawn_app().await;
    let token = app.token().await;
    let (mut ledger, mut budgets) = (app.ledger().await, budgets(&app).await);
    let usd = open_account(&mut ledger, &token, "USD", 0).await;
    let other = app.token().await;
    let theirs = open_account(&mut ledger, &other, "EUR", 0).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(bpb::Goal, &[&str])> = vec![
        (
            goal("x", 100, 6, Source::AccountId(unknown.clone())),
            &["goal.account_id"],
        ),
        (
            goal("x", 100, 6, Source::AccountId(theirs.id.clone())),
            &["goal.account_id"],
        ),
        (
            goal("x", 100, 6, Source::AccountId(usd.id.clone())),
            &["goal.target.currency_code"],
        ),
        (
            goal("x", 100, 6, Source::CategoryId(unknown)),
            &["goal.category_id"],
        ),
        (
            goal("x", -100, 6, Source::AccountId(usd.id.clone())),
            &["goal.target.amount_minor"],
        ),
        (
            goal("x", 100, 0, Source::AccountId(usd.id.clone())),
            &["goal.target_date"],
        ),
        (
            bpb::Goal {
                source: None,
                ..goal("", 100, 6, Source::AccountId(usd.id.clone()))
            },
            &["goal.name", "goal.account_id"],
        ),
    ];
    for (g, fields) in cases {
        let err = budgets
            .create_goal(authed(bpb::CreateGoalRequest { goal: Some(g) }, &token))
            .await
            .expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert_eq!(violated_fields(&err), fields);
    }
    let listed = budgets
        .list_goals(authed(bpb::ListGoalsRequest::default(), &token))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.goals.is_empty(), "nothing was stored");
}

fn this_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

fn next_month() -> String {
    let d = chrono::Utc::now().date_naive().with_day(1).expect("day 1");
    d.checked_add_months(chrono::Months::new(1))
        .expect("next")
        .format("%Y-%m")
        .to_string()
}

async fn plan_month(budgets: &mut Budgets, token: &str, plan: &str, month: &str) -> bpb::PlanMonth {
    budgets
        .get_plan_month(authed(
            bpb::GetPlanMonthRequest {
                plan_id: plan.into(),
                month: month.into(),
            },
            token,
        ))
        .await
        .expect("month")
        .into_inner()
        .month
        .expect("month")
}

fn minor(m: &Option<freedumb_proto::common::Money>) -> i64 {
    m.as_ref().map_or(0, |m| m.amount_minor)
}

#[tokio::test]
async fn envelope_plans_roll_money_over_and_cover_or_carry_overspending() {
    let app = spawn_app().await;
    let (token, intruder) = (app.token().await, app.token().await);
    let (mut ledger, mut budgets) = (app.ledger().await, budgets(&app).await);
    let all = categories(&mut ledger, &token).await;
    let (food, fun, salary) = (all[0].id.clone(), all[1].id.clone(), all[2].id.clone());
    let eur = open_account(&mut ledger, &token, "EUR", 0).await;
    let plan = |rule: bpb::OverspendingRule| bpb::BudgetPlan {
        name: "Household".into(),
        category_ids: vec![food.clone(), fun.clone()],
        income_category_ids: vec![salary.clone()],
        currency_code: "EUR".into(),
        start_month: this_month(),
        overspending: rule.into(),
        ..Default::default()
    };
    let mut ids = Vec::new();
    for rule in [
        bpb::OverspendingRule::FromToBeBudgeted,
        bpb::OverspendingRule::CarryNegative,
    ] {
        let created = budgets
            .create_budget_plan(authed(
                bpb::CreateBudgetPlanRequest {
                    plan: Some(plan(rule)),
                },
                &token,
            ))
            .await
            .expect("plan")
            .into_inner()
            .plan
            .expect("plan");
        ids.push(created.id);
    }
    create(
        &mut ledger,
        &token,
        today_transaction(&eur, 300_000, &salary),
    )
    .await;
    for id in &ids {
        for (category, amount) in [(&food, 40_000), (&fun, 10_000)] {
            budgets
                .assign_money(authed(
                    bpb::AssignMoneyRequest {
                        plan_id: id.clone(),
                        month: this_month(),
                        category_id: category.clone(),
                        amount: money("EUR", amount),
                    },
                    &token,
                ))
                .await
                .expect("assign");
        }
    }
    create(&mut ledger, &token, today_transaction(&eur, -45_000, &food)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let now = loop {
        let now = plan_month(&mut budgets, &token, &ids[0], &this_month()).await;
        if minor(&now.envelopes[0].activity) == -45_000 && minor(&now.income) == 300_000 {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the plan never saw the month's transactions: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(minor(&now.to_be_budgeted), 250_000);
    assert_eq!(minor(&now.envelopes[0].available), -5_000);
    assert_eq!(minor(&now.envelopes[1].available), 10_000);

    // Next month: covered by "to be budgeted" in the first plan, carried
    // as a negative in the second; unspent money rolls over in both.
    let covered = plan_month(&mut budgets, &token, &ids[0], &next_month()).await;
    assert_eq!(minor(&covered.envelopes[0].carried_in), 0);
    assert_eq!(minor(&covered.overspending_covered), 5_000);
    assert_eq!(minor(&covered.to_be_budgeted), 245_000);
    assert_eq!(minor(&covered.envelopes[1].carried_in), 10_000);
    let carried = plan_month(&mut budgets, &token, &ids[1], &next_month()).await;
    assert_eq!(minor(&carried.envelopes[0].carried_in), -5_000);
    assert_eq!(minor(&carried.to_be_budgeted), 250_000);

    // Bad input, field by field.
    let err = budgets
        .assign_money(authed(
            bpb::AssignMoneyRequest {
                plan_id: ids[0].clone(),
                month: "2000-01".into(),
                category_id: salary.clone(),
                amount: money("USD", 1),
            },
            &token,
        ))
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&err),
        ["amount.currency_code", "category_id", "month"]
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    let err = budgets
        .create_budget_plan(authed(
            bpb::CreateBudgetPlanRequest {
                plan: Some(bpb::BudgetPlan {
                    category_ids: vec![unknown],
                    ..plan(bpb::OverspendingRule::CarryNegative)
                }),
            },
            &token,
        ))
        .await
        .expect_err("unknown category");
    assert_eq!(violated_fields(&err), ["plan.category_ids[0]"]);

    // Another user's plan: not found.
    let t = intruder.as_str();
    let id = ids[0].clone();
    let results = [
        budgets
            .get_budget_plan(authed(
                bpb::GetBudgetPlanRequest {
                    plan_id: id.clone(),
                },
                t,
            ))
            .await
            .map(|_| ()),
        budgets
            .get_plan_month(authed(
                bpb::GetPlanMonthRequest {
                    plan_id: id.clone(),
                    month: this_month(),
                },
                t,
            ))
            .await
            .map(|_| ()),
        budgets
            .assign_money(authed(
                bpb::AssignMoneyRequest {
                    plan_id: id.clone(),
                    month: this_month(),
                    category_id: food.clone(),
                    amount: money("EUR", 1),
                },
                t,
            ))
            .await
            .map(|_| ()),
        budgets
            .delete_budget_plan(authed(
                bpb::DeleteBudgetPlanRequest {
                    plan_id: id.clone(),
                },
                t,
            ))
            .await
            .map(|_| ()),
    ];
    for result in results {
        assert_eq!(result.expect_err("not theirs").code(), Code::NotFound);
    }
    let listed = budgets
        .list_budget_plans(authed(bpb::ListBudgetPlansRequest {}, &token))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.plans.len(), 2);
    budgets
        .delete_budget_plan(authed(bpb::DeleteBudgetPlanRequest { plan_id: id }, &token))
        .await
        .expect("delete");
}
