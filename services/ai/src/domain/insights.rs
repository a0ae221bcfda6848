//! Insights from the caller's transactions: payments that recur (with their
//! period, the next date expected and price changes) and transactions far
//! from what the merchant usually costs. Pure functions over the ledger's
//! transactions, explainable by the numbers they report.

use std::collections::BTreeMap;

use chrono::{Datelike as _, Days, Months, NaiveDate};

use super::merchant::Merchant;

/// A transaction as insights see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// The ledger's id.
    pub id: String,
    /// Its booking date.
    pub date: NaiveDate,
    /// Signed minor units.
    pub amount_minor: i64,
    /// Its currency.
    pub currency: String,
    /// Its merchant, if one is named.
    pub merchant: Option<Merchant>,
    /// Its category (empty: none).
    pub category_id: String,
    /// Its account.
    pub account_id: String,
    /// Its splits (category, signed minor units), if split.
    pub splits: Vec<(String, i64)>,
    /// Whether it is a transfer leg.
    pub transfer: bool,
}

/// How often a payment recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Every 7 days.
    Weekly,
    /// Every 14 days.
    Biweekly,
    /// Every month.
    Monthly,
    /// Every 3 months.
    Quarterly,
    /// Every year.
    Yearly,
}

impl Period {
    /// The period whose gaps (in days) `median` is, if any.
    fn of(median: i64) -> Option<Self> {
        match median {
            5..=9 => Some(Self::Weekly),
            12..=16 => Some(Self::Biweekly),
            26..=35 => Some(Self::Monthly),
            84..=98 => Some(Self::Quarterly),
            355..=376 => Some(Self::Yearly),
            _ => None,
        }
    }

    /// Whether a gap of `days` fits the period.
    fn fits(self, days: i64) -> bool {
        match self {
            Self::Weekly => (5..=9).contains(&days),
            Self::Biweekly => (11..=17).contains(&days),
            Self::Monthly => (26..=35).contains(&days),
            Self::Quarterly => (82..=100).contains(&days),
            Self::Yearly => (350..=380).contains(&days),
        }
    }

    /// The date one period after `date`.
    pub fn after(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Weekly => date.checked_add_days(Days::new(7)),
            Self::Biweekly => date.checked_add_days(Days::new(14)),
            Self::Monthly => date.checked_add_months(Months::new(1)),
            Self::Quarterly => date.checked_add_months(Months::new(3)),
            Self::Yearly => date.checked_add_months(Months::new(12)),
        }
    }

    /// Days of grace after the expected date before the series counts as
    /// ended.
    fn grace(self) -> u64 {
        match self {
            Self::Weekly => 4,
            Self::Biweekly => 6,
            Self::Monthly => 10,
            Self::Quarterly => 20,
            Self::Yearly => 30,
        }
    }
}

/// A payment that recurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurring {
    /// Who is paid.
    pub merchant: Merchant,
    /// How often.
    pub period: Period,
    /// The latest amount (negative).
    pub amount_minor: i64,
    /// The one before, when the price changed.
    pub previous_amount_minor: Option<i64>,
    /// Its currency.
    pub currency: String,
    /// The latest payment.
    pub last_date: NaiveDate,
    /// When the next is expected.
    pub next_date: NaiveDate,
    /// How many payments the series has.
    pub occurrences: usize,
    /// The latest payment's category and account.
    pub category_id: String,
    /// The latest payment's account.
    pub account_id: String,
    /// The latest payments' ids, newest first (at most 12).
    pub transaction_ids: Vec<String>,
}

/// A transaction far from what its merchant usually costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusual {
    /// The transaction.
    pub transaction: Txn,
    /// The merchant's usual amount (the median of earlier ones, signed).
    pub typical_minor: i64,
    /// How many times the usual it is, in tenths.
    pub ratio_tenths: i64,
}

/// The fewest payments that make a series.
const MIN_OCCURRENCES: usize = 3;
/// The fewest earlier transactions a merchant needs before one can be
/// unusual.
const MIN_HISTORY: usize = 4;
/// How many days back a transaction may be unusual.
const UNUSUAL_DAYS: u64 = 30;

fn median(sorted: &[i64]) -> i64 {
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Outflows by merchant and currency, each group by date (then id).
fn groups(transactions: &[Txn]) -> BTreeMap<(String, String), Vec<&Txn>> {
    let mut groups: BTreeMap<(String, String), Vec<&Txn>> = BTreeMap::new();
    for t in transactions
        .iter()
        .filter(|t| t.amount_minor < 0 && !t.transfer)
    {
        if let Some(m) = &t.merchant {
            groups
                .entry((m.key.clone(), t.currency.clone()))
                .or_default()
                .push(t);
        }
    }
    for group in groups.values_mut() {
        group.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.id.cmp(&b.id)));
    }
    groups
}

/// The payments of `transactions` that recur and are still going on
/// `today`: at least three, three in four of the gaps between them fitting
/// one period and three in four of the amounts within a quarter of their
/// median. Soonest next date first.
pub fn recurring(transactions: &[Txn], today: NaiveDate) -> Vec<Recurring> {
    let mut out = Vec::new();
    for series in groups(transactions).into_values() {
        if series.len() < MIN_OCCURRENCES {
            continue;
        }
        let mut gaps: Vec<i64> = series
            .windows(2)
            .map(|w| (w[1].date - w[0].date).num_days())
            .collect();
        let fitting =
            |period: Period, gaps: &[i64]| gaps.iter().filter(|g| period.fits(**g)).count();
        let gaps_in_order = gaps.clone();
        gaps.sort_unstable();
        let Some(period) = Period::of(median(&gaps)) else {
            continue;
        };
        if fitting(period, &gaps_in_order) * 4 < gaps_in_order.len() * 3 {
            continue;
        }
        let mut amounts: Vec<i64> = series.iter().map(|t| t.amount_minor.abs()).collect();
        amounts.sort_unstable();
        let typical = median(&amounts);
        let close = series
            .iter()
            .filter(|t| (t.amount_minor.abs() - typical).abs() * 4 <= typical)
            .count();
        if close * 4 < series.len() * 3 {
            continue;
        }
        let (Some(last), Some(before)) = (series.last(), series.iter().rev().nth(1)) else {
            continue;
        };
        let Some(next_date) = period.after(last.date) else {
            continue;
        };
        // Ended: the next one is overdue by more than the grace.
        if next_date
            .checked_add_days(Days::new(period.grace()))
            .is_some_and(|latest| latest < today)
        {
            continue;
        }
        let Some(merchant) = last.merchant.clone() else {
            continue;
        };
        out.push(Recurring {
            merchant,
            period,
            amount_minor: last.amount_minor,
            previous_amount_minor: (before.amount_minor != last.amount_minor)
                .then_some(before.amount_minor),
            currency: last.currency.clone(),
            last_date: last.date,
            next_date,
            occurrences: series.len(),
            category_id: last.category_id.clone(),
            account_id: last.account_id.clone(),
            transaction_ids: series.iter().rev().take(12).map(|t| t.id.clone()).collect(),
        });
    }
    out.sort_by(|a, b| {
        a.next_date
            .cmp(&b.next_date)
            .then_with(|| a.merchant.name.cmp(&b.merchant.name))
    });
    out
}

/// The outflows of the last 30 days before `today` that cost at least
/// twice their merchant's median of the earlier ones (at least four
/// earlier) and stand out from its spread (more than three and a half
/// median absolute deviations). Largest ratio first.
pub fn unusual(transactions: &[Txn], today: NaiveDate) -> Vec<Unusual> {
    let since = today
        .checked_sub_days(Days::new(UNUSUAL_DAYS))
        .unwrap_or(today);
    let mut out = Vec::new();
    for series in groups(transactions).into_values() {
        for (i, t) in series.iter().enumerate() {
            if t.date <= since || t.date > today || i < MIN_HISTORY {
                continue;
            }
            let mut earlier: Vec<i64> = series[..i].iter().map(|e| e.amount_minor.abs()).collect();
            earlier.sort_unstable();
            let typical = median(&earlier);
            if typical == 0 {
                continue;
            }
            let mut deviations: Vec<i64> = earlier.iter().map(|a| (a - typical).abs()).collect();
            deviations.sort_unstable();
            let spread = median(&deviations);
            let amount = t.amount_minor.abs();
            // 3.5 MADs, as in Iglewicz and Hoaglin's modified z-score.
            let stands_out = i128::from(amount - typical) * 10 > i128::from(spread) * 35;
            if amount >= typical * 2 && stands_out {
                out.push(Unusual {
                    transaction: (*t).clone(),
                    typical_minor: -typical,
                    ratio_tenths: amount * 10 / typical,
                });
            }
        }
    }
    out.sort_by_key(|u| std::cmp::Reverse(u.ratio_tenths));
    out
}

/// A category whose spending last month moved away from the three months
/// before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendingChange {
    /// The category.
    pub category_id: String,
    /// The currency.
    pub currency: String,
    /// The first day of the month compared.
    pub month: NaiveDate,
    /// Spent that month (positive).
    pub spent_minor: i64,
    /// The average of the three months before (positive).
    pub usual_minor: i64,
    /// The change, in whole percent (none when nothing was spent before).
    pub change_percent: Option<i64>,
}

/// The smallest change worth reporting, in minor units.
const MIN_CHANGE_MINOR: i64 = 1_000;
/// The smallest change worth reporting, in percent.
const MIN_CHANGE_PERCENT: i64 = 20;

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The categories whose spending in the last full month before `today`
/// differs from the average of the three months before it by at least
/// 20% and 10.00 (in minor units, 1,000); largest change first.
pub fn spending_changes(transactions: &[Txn], today: NaiveDate) -> Vec<SpendingChange> {
    let this_month = month_start(today);
    let (Some(last), Some(baseline_start)) = (
        this_month.checked_sub_months(Months::new(1)),
        this_month.checked_sub_months(Months::new(4)),
    ) else {
        return Vec::new();
    };
    // (category, currency) → (spent last month, spent in the three before).
    let mut sums: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for t in transactions {
        if t.amount_minor >= 0
            || t.transfer
            || t.category_id.is_empty()
            || t.date < baseline_start
            || t.date >= this_month
        {
            continue;
        }
        let entry = sums
            .entry((t.category_id.as_str(), t.currency.as_str()))
            .or_default();
        if t.date >= last {
            entry.0 = entry.0.saturating_add(-t.amount_minor);
        } else {
            entry.1 = entry.1.saturating_add(-t.amount_minor);
        }
    }
    let mut out: Vec<SpendingChange> = sums
        .into_iter()
        .filter_map(|((category, currency), (spent, before))| {
            let usual = before / 3;
            let delta = spent - usual;
            let change_percent = (usual > 0).then(|| delta.saturating_mul(100) / usual);
            let notable = delta.abs() >= MIN_CHANGE_MINOR
                && change_percent.is_none_or(|p| p.abs() >= MIN_CHANGE_PERCENT);
            notable.then(|| SpendingChange {
                category_id: category.to_owned(),
                currency: currency.to_owned(),
                month: last,
                spent_minor: spent,
                usual_minor: usual,
                change_percent,
            })
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse((c.spent_minor - c.usual_minor).abs()));
    out
}

/// An account's balance at the end of the month, forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    /// The account.
    pub account_id: String,
    /// Its currency.
    pub currency: String,
    /// Its balance at the end of `today`.
    pub balance_minor: i64,
    /// The last day of the month.
    pub date: NaiveDate,
    /// The forecast balance then.
    pub expected_minor: i64,
    /// A 90% interval around it.
    pub low_minor: i64,
    /// A 90% interval around it.
    pub high_minor: i64,
}

/// Days of history the day-to-day flow is read from.
const FLOW_DAYS: u64 = 90;

/// The balance of an account at the end of the month of `today`: its
/// balance then (`balance_minor`), plus the recurring payments still due
/// this month (`recurring`), plus its average daily flow of the last 90
/// days apart from them for each day left, with a 90% interval from the
/// spread of that flow (±1.645 σ √days).
pub fn forecast(
    account_id: &str,
    currency: &str,
    balance_minor: i64,
    transactions: &[Txn],
    recurring: &[Recurring],
    today: NaiveDate,
) -> Forecast {
    let month_end = month_start(today)
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(today);
    let days_left = (month_end - today).num_days().max(0);
    let mine: Vec<&Recurring> = recurring
        .iter()
        .filter(|r| r.account_id == account_id && r.currency == currency)
        .collect();
    let mut due = 0_i64;
    for r in &mine {
        let mut next = Some(r.next_date);
        while let Some(date) = next.filter(|d| *d <= month_end) {
            if date > today {
                due = due.saturating_add(r.amount_minor);
            }
            next = r.period.after(date);
        }
    }
    let recurring_ids: std::collections::HashSet<&str> = mine
        .iter()
        .flat_map(|r| r.transaction_ids.iter().map(String::as_str))
        .collect();
    let since = today
        .checked_sub_days(Days::new(FLOW_DAYS))
        .unwrap_or(today);
    let mut daily: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for t in transactions {
        if t.account_id == account_id
            && t.currency == currency
            && t.date > since
            && t.date <= today
            && !recurring_ids.contains(t.id.as_str())
        {
            *daily.entry(t.date).or_default() += t.amount_minor;
        }
    }
    let n = FLOW_DAYS as f64;
    let mean = daily.values().map(|v| *v as f64).sum::<f64>() / n;
    let variance = (daily
        .values()
        .map(|v| (*v as f64 - mean).powi(2))
        .sum::<f64>()
        + (n - daily.len() as f64) * mean.powi(2))
        / n;
    let days = days_left as f64;
    let expected = balance_minor as f64 + due as f64 + mean * days;
    let half_width = 1.645 * variance.sqrt() * days.sqrt();
    Forecast {
        account_id: account_id.to_owned(),
        currency: currency.to_owned(),
        balance_minor,
        date: month_end,
        expected_minor: expected.round() as i64,
        low_minor: (expected - half_width).round() as i64,
        high_minor: (expected + half_width).round() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::normalize;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn txn(id: &str, date: &str, minor: i64, descriptor: &str) -> Txn {
        Txn {
            id: id.into(),
            date: d(date),
            amount_minor: minor,
            currency: "EUR".into(),
            merchant: normalize(descriptor),
            category_id: "fun".into(),
            account_id: "a1".into(),
            splits: Vec::new(),
            transfer: false,
        }
    }

    fn netflix() -> Vec<Txn> {
        [
            ("n1", "2026-06-03", -1549),
            ("n2", "2026-07-03", -1549),
            ("n3", "2026-08-04", -1549),
            ("n4", "2026-09-03", -1549),
            ("n5", "2026-10-03", -1799),
            ("n6", "2026-11-03", -1799),
        ]
        .into_iter()
        .map(|(id, date, minor)| txn(id, date, minor, "NETFLIX.COM 866-579-7172 CA"))
        .collect()
    }

    #[test]
    fn a_monthly_subscription_and_a_weekly_gym_are_found_with_their_next_dates() {
        let mut all = netflix();
        // Coffee most days: no period. Three gym payments a week apart.
        for (i, day) in [1, 2, 4, 5, 9, 10, 11, 15, 16, 20].iter().enumerate() {
            all.push(txn(
                &format!("c{i}"),
                &format!("2026-11-{day:02}"),
                -450,
                "SQ *BLUE BOTTLE 0042 OAKLAND CA",
            ));
        }
        for (i, day) in ["2026-11-02", "2026-11-09", "2026-11-16"]
            .iter()
            .enumerate()
        {
            all.push(txn(&format!("g{i}"), day, -2500, "PURE GYM LTD"));
        }
        // Income never counts.
        for month in ["2026-09-28", "2026-10-28", "2026-11-27"] {
            all.push(txn(month, month, 300_000, "ACME PAYROLL"));
        }
        let found = recurring(&all, d("2026-11-20"));
        let summary: Vec<(&str, Period, NaiveDate)> = found
            .iter()
            .map(|r| (r.merchant.name.as_str(), r.period, r.next_date))
            .collect();
        assert_eq!(
            summary,
            [
                ("Pure Gym", Period::Weekly, d("2026-11-23")),
                ("Netflix", Period::Monthly, d("2026-12-03")),
            ]
        );
        let netflix = &found[1];
        assert_eq!(
            (
                netflix.amount_minor,
                netflix.previous_amount_minor,
                netflix.occurrences
            ),
            (-1799, None, 6),
            "the last two are the same price"
        );
        assert_eq!(netflix.transaction_ids[0], "n6");
    }

    #[test]
    fn a_price_change_in_the_last_payment_is_reported_and_an_ended_series_is_not() {
        let mut all = netflix();
        all.pop();
        let found = recurring(&all, d("2026-10-20"));
        assert_eq!(found[0].previous_amount_minor, Some(-1549));
        assert_eq!(found[0].amount_minor, -1799);
        // Nothing since October: by mid-December it has ended.
        assert!(recurring(&all, d("2026-12-15")).is_empty());
    }

    #[test]
    fn a_category_that_moved_last_month_is_reported() {
        let mut all = Vec::new();
        for (month, groceries, fun) in [
            ("07", 30_000, 5_000),
            ("08", 32_000, 5_200),
            ("09", 28_000, 4_800),
            ("10", 45_000, 5_300),
        ] {
            let mut g = txn(
                &format!("g{month}"),
                &format!("2026-{month}-10"),
                -groceries,
                "WHOLEFDS MKT",
            );
            g.category_id = "groceries".into();
            let f = txn(
                &format!("f{month}"),
                &format!("2026-{month}-12"),
                -fun,
                "CINEMA CITY",
            );
            all.extend([g, f]);
        }
        // November is this month: not compared yet.
        let mut now = txn("g11", "2026-11-02", -90_000, "WHOLEFDS MKT");
        now.category_id = "groceries".into();
        all.push(now);
        let changes = spending_changes(&all, d("2026-11-20"));
        assert_eq!(changes.len(), 1, "{changes:?}");
        let c = &changes[0];
        assert_eq!(
            (
                c.category_id.as_str(),
                c.month,
                c.spent_minor,
                c.usual_minor,
                c.change_percent
            ),
            ("groceries", d("2026-10-01"), 45_000, 30_000, Some(50))
        );
    }

    #[test]
    fn the_forecast_adds_what_is_due_and_the_usual_daily_flow() {
        let recurring_rent = Recurring {
            merchant: normalize("ACME PROPERTIES").expect("merchant"),
            period: Period::Monthly,
            amount_minor: -100_000,
            previous_amount_minor: None,
            currency: "EUR".into(),
            last_date: d("2026-10-25"),
            next_date: d("2026-11-25"),
            occurrences: 5,
            category_id: String::new(),
            account_id: "a1".into(),
            transaction_ids: vec!["rent".into()],
        };
        // Every day of the last 90: -1,000, the same each day.
        let today = d("2026-11-20");
        let mut all: Vec<Txn> = (0..90)
            .map(|i| {
                let date = today.checked_sub_days(Days::new(i)).expect("date");
                Txn {
                    date,
                    ..txn(&format!("d{i}"), "2026-01-01", -1_000, "SQ *BLUE BOTTLE")
                }
            })
            .collect();
        all.push(txn("rent", "2026-10-25", -100_000, "ACME PROPERTIES"));
        let f = forecast("a1", "EUR", 500_000, &all, &[recurring_rent], today);
        // Ten days left: the rent and ten days of -1,000; no spread.
        assert_eq!(f.date, d("2026-11-30"));
        assert_eq!(
            (f.expected_minor, f.low_minor, f.high_minor),
            (390_000, 390_000, 390_000)
        );
        let other = forecast("a2", "EUR", 7, &all, &[], today);
        assert_eq!(other.expected_minor, 7, "nothing moves another account");
    }

    #[test]
    fn a_transaction_far_above_its_merchants_usual_amount_is_unusual() {
        let mut all: Vec<Txn> = (1..=6)
            .map(|i| {
                txn(
                    &format!("s{i}"),
                    &format!("2026-10-{:02}", i * 3),
                    -4_000 - i * 100,
                    "WHOLEFDS MKT 10234 AUSTIN TX",
                )
            })
            .collect();
        all.push(txn(
            "big",
            "2026-11-18",
            -19_000,
            "WHOLEFDS MKT 10234 AUSTIN TX",
        ));
        all.push(txn(
            "normal",
            "2026-11-19",
            -4_500,
            "WHOLEFDS MKT 10234 AUSTIN TX",
        ));
        // Too little history elsewhere.
        all.push(txn("x1", "2026-11-01", -100, "TST* JOE'S PIZZA #12"));
        all.push(txn("x2", "2026-11-18", -9_000, "TST* JOE'S PIZZA #12"));
        let found = unusual(&all, d("2026-11-20"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].transaction.id, "big");
        assert_eq!(found[0].typical_minor, -4_350);
        assert_eq!(found[0].ratio_tenths, 43);
        assert!(
            unusual(&all, d("2027-01-20")).is_empty(),
            "older than 30 days"
        );
    }
}
