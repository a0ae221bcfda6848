//! Investment returns: money-weighted (XIRR), time-weighted (TWR) and annualization.
//!
//! Conventions used throughout this module:
//!
//! * **Sign of cash flows** ([`Flow`]): seen from the investor. Money paid in (a
//!   purchase) is negative; money coming back (a sale, a dividend, the final
//!   market value) is positive.
//! * **Year length**: a year is 365 days, leap years included (Excel's and
//!   LibreOffice's XIRR convention). Time is counted in whole calendar days.
//! * **Money-weighted return** ([`xirr`]): the annual rate `r` that makes the
//!   net present value of the flows, discounted to the earliest date, zero.
//!   Rates are fractions (`0.05` is 5 %) and lie in `(-1, +inf)`.
//! * **Time-weighted return** ([`time_weighted`]): daily chained. Money put in
//!   during a day counts as invested from the start of that day; money taken
//!   out and income count at the end of that day. A day with nothing invested
//!   contributes nothing.
//! * **Number types**: money is [`Decimal`]; ratios and rates are `f64`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Days in a year, for discounting (XIRR) and annualizing.
const DAYS_PER_YEAR: f64 = 365.0;
/// Newton's method starts here (Excel's default guess).
const NEWTON_GUESS: f64 = 0.1;
/// Newton's method gives up after this many steps.
const NEWTON_MAX_STEPS: usize = 100;
/// Relative tolerance on the rate, for Newton's method and for bisection.
const RATE_TOLERANCE: f64 = 1e-12;
/// A Newton result is accepted only if |NPV| is below this fraction of the sum
/// of the absolute discounted flows (guards against false convergence near -1).
const RESIDUAL_TOLERANCE: f64 = 1e-9;

/// A dated cash flow from the investor's side: negative when money goes in (a
/// purchase), positive when it comes back (a sale, a dividend, the final value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flow {
    /// The day the money moves.
    pub date: NaiveDate,
    /// The amount, signed from the investor's side (see [`Flow`]).
    pub amount: f64,
}

/// Why [`xirr`] could not compute a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum XirrError {
    /// Fewer than two flows, or all on one date.
    #[error("a money-weighted return needs cash flows on at least two different dates")]
    TooFewFlows,
    /// All flows have the same sign (or are zero).
    #[error("a money-weighted return needs money both paid in and paid out")]
    NoSignChange,
    /// No root found in (-1, +inf), or an amount is not a finite number.
    #[error("no rate of return solves these cash flows")]
    NoRoot,
}

/// Excel's XIRR: the annual rate `r` with
/// `sum(amount_i / (1+r)^((date_i - date_0)/365)) = 0`, `date_0` the earliest
/// date. Flows need not be sorted; several flows may share a date.
///
/// Method: Newton's method from `r = 0.1` (as Excel). If it does not converge
/// within 100 steps, leaves `(-1, +inf)` or stops on a point that is not a root,
/// the rate is bracketed instead: the NPV's sign is scanned on a grid of rates
/// (fine from `-1 + 2e-9` to about `1.2e6`, coarse beyond on both sides, up to
/// about `1e304`) and the bracket is bisected to a relative precision of
/// `1e-12`. A rate closer to -1 than `f64` can tell apart (an extreme loss over
/// a few days) is returned as the smallest `f64` above -1.
///
/// When several rates solve the flows (possible when money goes in again after
/// coming out), the one Newton's method finds from 0.1 is returned; when Newton
/// fails, the root nearest to 0.1 among those the grid brackets is returned.
/// Two roots closer together than one grid step may be missed by the scan.
///
/// # Errors
/// [`XirrError::TooFewFlows`] with fewer than two flows or a single date;
/// [`XirrError::NoSignChange`] unless some amount is negative and some positive;
/// [`XirrError::NoRoot`] when no rate in `(-1, +inf)` solves the flows, or an
/// amount is NaN or infinite.
pub fn xirr(flows: &[Flow]) -> Result<f64, XirrError> {
    let (Some(first), Some(last)) = (
        flows.iter().map(|f| f.date).min(),
        flows.iter().map(|f| f.date).max(),
    ) else {
        return Err(XirrError::TooFewFlows);
    };
    if flows.len() < 2 || first == last {
        return Err(XirrError::TooFewFlows);
    }
    if flows.iter().any(|f| !f.amount.is_finite()) {
        return Err(XirrError::NoRoot);
    }
    let paid_in = flows.iter().any(|f| f.amount < 0.0);
    let paid_out = flows.iter().any(|f| f.amount > 0.0);
    if !(paid_in && paid_out) {
        return Err(XirrError::NoSignChange);
    }
    // (years since the earliest date, amount)
    let timed: Vec<(f64, f64)> = flows
        .iter()
        .map(|f| ((f.date - first).num_days() as f64 / DAYS_PER_YEAR, f.amount))
        .collect();
    newton(&timed)
        .or_else(|| bracket_and_bisect(&timed))
        .ok_or(XirrError::NoRoot)
}

/// NPV at rate `r`, its derivative in `r`, and the sum of |discounted flows|.
fn npv_parts(timed: &[(f64, f64)], r: f64) -> (f64, f64, f64) {
    let log_growth = r.ln_1p();
    timed
        .iter()
        .fold((0.0, 0.0, 0.0), |(npv, slope, gross), &(t, amount)| {
            let discounted = amount * (-t * log_growth).exp();
            (
                npv + discounted,
                slope - t * discounted / (1.0 + r),
                gross + discounted.abs(),
            )
        })
}

/// Newton's method on the NPV from [`NEWTON_GUESS`]; `None` if it fails.
fn newton(timed: &[(f64, f64)]) -> Option<f64> {
    let mut rate = NEWTON_GUESS;
    for _ in 0..NEWTON_MAX_STEPS {
        let (npv, slope, _) = npv_parts(timed, rate);
        if !npv.is_finite() || !slope.is_finite() || slope == 0.0 {
            return None;
        }
        let next = rate - npv / slope;
        if !next.is_finite() || next <= -1.0 {
            return None;
        }
        if (next - rate).abs() <= RATE_TOLERANCE * next.abs().max(1.0) {
            let (npv, _, gross) = npv_parts(timed, next);
            return (npv.abs() <= RESIDUAL_TOLERANCE * gross).then_some(next);
        }
        rate = next;
    }
    None
}

/// The NPV as a function of `x = ln(1 + r)`, multiplied by a positive factor
/// chosen so that no term overflows: `sum(a_i * exp(-t_i*x - m))` with
/// `m = max_i(-t_i*x)`. It has the NPV's sign and roots, and is continuous.
fn scaled_npv(timed: &[(f64, f64)], x: f64) -> f64 {
    let shift = timed.iter().map(|&(t, _)| -t * x).fold(0.0, f64::max);
    timed
        .iter()
        .map(|&(t, amount)| amount * (-t * x - shift).exp())
        .sum()
}

/// Grid of `x = ln(1 + r)`, ascending: geometric (ratio 1.02) from about -1e6
/// to -20 (rates within 2e-9 of -1), step 0.01 on [-20, 14) (rates from about
/// -1 + 2e-9 to 1.2e6), step 0.5 on [14, 700] (rates up to about 1e304).
fn log_rate_grid() -> impl Iterator<Item = f64> {
    let far_low = (1..=550).rev().map(|k| -20.0 * 1.02_f64.powi(k));
    let fine = (0..3400).map(|i| -20.0 + 0.01 * f64::from(i));
    let far_high = (0..=1372).map(|i| 14.0 + 0.5 * f64::from(i));
    far_low.chain(fine).chain(far_high)
}

/// Finds the sign change of the NPV nearest to [`NEWTON_GUESS`] on
/// [`log_rate_grid`], then bisects it. `None` if the NPV never changes sign.
fn bracket_and_bisect(timed: &[(f64, f64)]) -> Option<f64> {
    let target = NEWTON_GUESS.ln_1p();
    let distance = |lo: f64, hi: f64| (lo - target).max(target - hi).max(0.0);
    let mut best: Option<(f64, f64, f64)> = None; // (distance, lo, hi)
    let mut previous: Option<(f64, f64)> = None; // (x, scaled npv)
    for x in log_rate_grid() {
        let value = scaled_npv(timed, x);
        if !value.is_finite() {
            previous = None;
            continue;
        }
        let bracket = match previous {
            _ if value == 0.0 => Some((x, x)),
            Some((px, pv)) if pv != 0.0 && (pv < 0.0) != (value < 0.0) => Some((px, x)),
            _ => None,
        };
        if let Some((lo, hi)) = bracket {
            let d = distance(lo, hi);
            if best.is_none_or(|(bd, _, _)| d < bd) {
                best = Some((d, lo, hi));
            }
        }
        previous = Some((x, value));
    }
    let (_, lo, hi) = best?;
    // A root too close to -1 for f64 is reported as the nearest rate above -1.
    Some(bisect(timed, lo, hi).exp_m1().max((-1.0_f64).next_up()))
}

/// Bisection in `x = ln(1 + r)` on a bracket `[lo, hi]` of a sign change.
fn bisect(timed: &[(f64, f64)], mut lo: f64, mut hi: f64) -> f64 {
    let lo_negative = scaled_npv(timed, lo) < 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        let rate_width = hi.exp() - lo.exp();
        if mid <= lo || mid >= hi || rate_width <= RATE_TOLERANCE * mid.exp_m1().abs().max(1.0) {
            return mid;
        }
        let value = scaled_npv(timed, mid);
        if value == 0.0 {
            return mid;
        }
        if (value < 0.0) == lo_negative {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// One day of a holding or of a portfolio, in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// The calendar day.
    pub date: NaiveDate,
    /// Market value at the day's close (after the day's flows).
    pub value: Decimal,
    /// Money put in during the day (purchases, fees included): treated as invested from the start of the day.
    pub inflow: Decimal,
    /// Money taken out during the day (sale proceeds, net of fees): counted at the end of the day.
    pub outflow: Decimal,
    /// Income paid out during the day (dividends, interest; standalone fees as a negative amount): counted at the end of the day.
    pub income: Decimal,
}

/// Time-weighted return over `days`, daily chained:
/// `r_d = (value_d + outflow_d + income_d) / (value_{d-1} + inflow_d) - 1`,
/// with `value_{-1} = start_value` (the value at the close before the first
/// day), and `TWR = prod(1 + r_d) - 1`. No days gives 0.
///
/// A day whose denominator is zero or negative (nothing invested) contributes
/// nothing (`r_d = 0`); so does a day whose sums overflow [`Decimal`] or do not
/// convert to `f64`. Income or outflow on a day with nothing invested is
/// therefore not counted as return.
///
/// `days` must be in date order (checked by a `debug_assert!`); missing
/// calendar days are fine, as the value simply carries over.
pub fn time_weighted(start_value: Decimal, days: &[Day]) -> f64 {
    debug_assert!(
        days.windows(2).all(|w| w[0].date <= w[1].date),
        "days must be in date order"
    );
    let mut previous_value = start_value;
    let mut growth = 1.0;
    for day in days {
        if let Some(factor) = day_factor(previous_value, day) {
            growth *= factor;
        }
        previous_value = day.value;
    }
    growth - 1.0
}

/// `1 + r_d` for one day, or `None` when the day contributes nothing.
fn day_factor(previous_value: Decimal, day: &Day) -> Option<f64> {
    let invested = previous_value.checked_add(day.inflow)?;
    if invested <= Decimal::ZERO {
        return None;
    }
    let ended = day
        .value
        .checked_add(day.outflow)?
        .checked_add(day.income)?;
    Some(ended.to_f64()? / invested.to_f64()?)
}

/// A total return over `days` calendar days, annualized with a 365-day year:
/// `(1 + total)^(365 / days) - 1`. `None` when `days <= 0`, `total <= -1`,
/// `total` is not finite, or the result overflows `f64`.
pub fn annualized(total: f64, days: i64) -> Option<f64> {
    if days <= 0 || !total.is_finite() || total <= -1.0 {
        return None;
    }
    let rate = (1.0 + total).powf(DAYS_PER_YEAR / days as f64) - 1.0;
    rate.is_finite().then_some(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn flows(list: &[((i32, u32, u32), f64)]) -> Vec<Flow> {
        list.iter()
            .map(|&((y, m, d), amount)| Flow {
                date: date(y, m, d),
                amount,
            })
            .collect()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    /// A day with the given value and flows, as strings.
    fn day(d: u32, value: &str, inflow: &str, outflow: &str, income: &str) -> Day {
        Day {
            date: date(2024, 1, d),
            value: dec(value),
            inflow: dec(inflow),
            outflow: dec(outflow),
            income: dec(income),
        }
    }

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "actual {actual} expected {expected} (tolerance {tolerance})"
        );
    }

    // ---- XIRR: published examples -------------------------------------------

    #[test]
    fn xirr_excel_documentation_example() {
        let f = flows(&[
            ((2008, 1, 1), -10000.0),
            ((2008, 3, 1), 2750.0),
            ((2008, 10, 30), 4250.0),
            ((2009, 2, 15), 3250.0),
            ((2009, 4, 1), 2750.0),
        ]);
        // Source: Microsoft Support, "XIRR function" (support.microsoft.com),
        // example: =XIRR(A3:A7, B3:B7, 0.1) -> 0.373362535 (37.34%).
        assert_close(xirr(&f).unwrap(), 0.373362535, 1e-6);
    }

    #[test]
    fn xirr_libreoffice_help_example() {
        let f = flows(&[
            ((2001, 1, 1), -10000.0),
            ((2001, 1, 2), 2000.0),
            ((2001, 3, 15), 2500.0),
            ((2001, 5, 12), 5000.0),
            ((2001, 8, 10), 1000.0),
        ]);
        // The LibreOffice help (LibreOffice/help, source/text/scalc/01/04060118.xhp,
        // section "xirr") prints "returns 0.1828" for these flows, but LibreOffice's
        // own test sheet computes this exact data as 0.194818475056105
        // (LibreOffice/core sc/qa/unit/data/functions/financial/fods/xirr.fods,
        // Sheet2 row 2: =XIRR(J1:J5; I1:I5; 0.1)); pyxirr agrees (0.1948184750561055).
        // The help value is wrong, so the test-file value is asserted.
        assert_close(xirr(&f).unwrap(), 0.194818475056105, 1e-6);
    }

    #[test]
    fn xirr_libreoffice_test_file_cases() {
        // Source: LibreOffice/core sc/qa/unit/data/functions/financial/fods/xirr.fods,
        // Sheet2 (column B "Expected"). Row numbers in the comments.
        let cases: Vec<(Vec<Flow>, f64)> = vec![
            (
                // row 4: =XIRR(P2:P6; R2:R6)
                flows(&[
                    ((2016, 1, 1), -7500.0),
                    ((2016, 2, 1), 3000.0),
                    ((2016, 4, 15), 5000.0),
                    ((2016, 8, 1), 1200.0),
                    ((2017, 3, 26), 4000.0),
                ]),
                2.6602420360887,
            ),
            (
                // row 5: =XIRR(S2:S6; U2:U6)
                flows(&[
                    ((2016, 4, 30), -5000.0),
                    ((2016, 5, 31), 800.0),
                    ((2016, 9, 1), 1300.0),
                    ((2016, 12, 31), 600.0),
                    ((2017, 1, 31), 7500.0),
                ]),
                2.18630968237577,
            ),
            (
                // row 18 (AOO#27002): =XIRR(I9:I12; J9:J12)
                flows(&[
                    ((2004, 1, 1), -100.0),
                    ((2005, 1, 1), 10.0),
                    ((2006, 1, 1), 10.0),
                    ((2007, 1, 1), 110.0),
                ]),
                0.0998951090083094,
            ),
            (
                // row 20 (AOO118154): =XIRR(I18:I20; J18:J20), money out first
                flows(&[
                    ((2016, 1, 1), 10.0),
                    ((2016, 3, 1), 20.0),
                    ((2017, 1, 1), -35.0),
                ]),
                0.18826194159203,
            ),
            (
                // row 15: =XIRR(K43:O43; P43:T43; U43)
                flows(&[
                    ((1998, 1, 1), -10000.0),
                    ((1998, 3, 1), 2750.0),
                    ((1998, 10, 30), 4250.0),
                    ((1999, 2, 15), 3250.0),
                    ((1999, 4, 1), 2750.0),
                ]),
                0.374858597687371,
            ),
            (
                // row 16: =XIRR(K44:O44; P44:T44; U44)
                flows(&[
                    ((1998, 1, 1), -10000.0),
                    ((1999, 3, 1), 2750.0),
                    ((2000, 10, 30), 4250.0),
                    ((2002, 2, 15), 3250.0),
                    ((2004, 4, 1), 2750.0),
                ]),
                0.0799495862990467,
            ),
            (
                // row 17: =XIRR(K45:O45; P45:T45; U45)
                flows(&[
                    ((1998, 1, 1), -10000.0),
                    ((1998, 3, 1), 1.0),
                    ((1998, 10, 30), 2.0),
                    ((1999, 2, 15), 3250.0),
                    ((1999, 4, 1), 2750.0),
                ]),
                -0.351015039169015,
            ),
        ];
        for (f, expected) in cases {
            assert_close(xirr(&f).unwrap(), expected, 1e-6);
        }
    }

    #[test]
    fn xirr_libreoffice_aoo95167_series() {
        // Source: LibreOffice/core sc/qa/unit/data/functions/financial/fods/xirr.fods,
        // Sheet2 rows 6-14 (AOO#95167, AOO#2130): 100 on the 1st of each month
        // 2007-10..2008-09, then a final payment on 2008-10-01 of -2000 (column J),
        // -1800 (K), ..., -400 (R); =XIRR(J$28:J$40; $I$28:$I$40) etc.
        let expected = [
            1.41526706548978,
            1.03112197466669,
            0.665339866487698,
            0.320513615664647,
            3.75808762269898E-16,
            -0.29171165478267,
            -0.548371585025588,
            -0.760852514281991,
            -0.915227454539025,
        ];
        for (k, &want) in expected.iter().enumerate() {
            let mut f: Vec<Flow> = (0..12)
                .map(|i| Flow {
                    date: date(2007 + (9 + i) / 12, ((9 + i) % 12 + 1) as u32, 1),
                    amount: 100.0,
                })
                .collect();
            f.push(Flow {
                date: date(2008, 10, 1),
                amount: -2000.0 + 200.0 * k as f64,
            });
            assert_close(xirr(&f).unwrap(), want, 1e-6);
        }
    }

    // ---- XIRR: independent oracle ---------------------------------------------

    #[test]
    fn xirr_matches_pyxirr() {
        // expected from pyxirr 0.10.8 xirr(), computed offline
        let mut monthly: Vec<Flow> = (0..60)
            .map(|i| Flow {
                date: date(2015 + i / 12, (i as u32) % 12 + 1, 1),
                amount: -500.0,
            })
            .collect();
        monthly.push(Flow {
            date: date(2020, 1, 1),
            amount: 36500.0,
        });
        let mut dividends = flows(&[
            ((2010, 2, 1), -5000.0),
            ((2012, 5, 15), -3000.0),
            ((2015, 9, 10), 2000.0),
            ((2020, 1, 31), 9000.0),
        ]);
        for y in 2010..2020 {
            for m in [3, 6, 9, 12] {
                dividends.push(Flow {
                    date: date(y, m, 15),
                    amount: 60.0,
                });
            }
        }
        let cases: Vec<(&str, Vec<Flow>, f64)> = vec![
            ("monthly savings, 5 years", monthly, 0.07765314170757161),
            (
                "loss over several years",
                flows(&[
                    ((2015, 3, 10), -10000.0),
                    ((2016, 7, 1), -2000.0),
                    ((2019, 12, 31), 7000.0),
                ]),
                -0.11101429824147495,
            ),
            (
                "large gain in under a year",
                flows(&[((2020, 3, 16), -1000.0), ((2020, 11, 9), 5000.0)]),
                10.801842012112791,
            ),
            (
                "unsorted input",
                flows(&[
                    ((2019, 6, 30), 1200.0),
                    ((2017, 1, 15), -1000.0),
                    ((2018, 3, 1), -500.0),
                    ((2018, 12, 24), 40.0),
                    ((2017, 12, 20), 35.0),
                ]),
                -0.07754040457225886,
            ),
            (
                // Newton from 0.1 fails here; the rate is found by bracketing.
                "near total loss",
                flows(&[((2021, 1, 1), -1000.0), ((2023, 1, 1), 10.0)]),
                -0.9,
            ),
            (
                "dividends and a partial sale",
                dividends,
                0.07229025446792796,
            ),
            (
                "two days across a leap day",
                flows(&[((2020, 2, 28), -100.0), ((2020, 3, 1), 101.0)]),
                5.146823108963465,
            ),
            (
                "flows sharing a date",
                flows(&[
                    ((2022, 1, 3), -1000.0),
                    ((2022, 6, 30), -500.0),
                    ((2022, 6, 30), 200.0),
                    ((2023, 1, 3), 1400.0),
                ]),
                0.08691309540095854,
            ),
            (
                "thirty years",
                flows(&[((1990, 1, 1), -1000.0), ((2020, 1, 1), 10000.0)]),
                0.0797222175050405,
            ),
            (
                "almost flat",
                flows(&[((2019, 1, 1), -1000.0), ((2020, 1, 1), 1000.01)]),
                1.0000000000065512e-05,
            ),
            (
                "sell-out and re-buy",
                flows(&[
                    ((2018, 1, 1), -1000.0),
                    ((2018, 12, 31), 1100.0),
                    ((2019, 6, 30), -1200.0),
                    ((2020, 6, 30), 1300.0),
                ]),
                0.09144671460787443,
            ),
        ];
        for (name, f, expected) in cases {
            let actual = xirr(&f).unwrap();
            assert!(
                (actual - expected).abs() <= 1e-6,
                "{name}: {actual} vs {expected}"
            );
        }
    }

    #[test]
    fn xirr_huge_rate() {
        // Doubling in 10 days: r = 2^(365/10) - 1 = 97184015998.2336...
        // (expected from pyxirr 0.10.8 xirr(), computed offline; asserted relatively).
        let f = flows(&[((2024, 1, 1), -100.0), ((2024, 1, 11), 200.0)]);
        let expected = 97184015998.2336;
        assert_close(xirr(&f).unwrap() / expected, 1.0, 1e-9);
    }

    #[test]
    fn xirr_extreme_loss_stays_above_minus_one() {
        // Half lost in one day: 1 + r = 0.5^365 ~ 1.3e-110, which rounds to -1 in
        // f64; the smallest f64 above -1 is returned instead.
        let f = flows(&[((2024, 1, 1), -100.0), ((2024, 1, 2), 50.0)]);
        assert_eq!(xirr(&f), Ok((-1.0_f64).next_up()));
    }

    #[test]
    fn xirr_prefers_newton_root() {
        // -100, +230, -132 one and two 365-day years apart:
        // -100 + 230/(1+r) - 132/(1+r)^2 = 0  <=>  (1+r)^2 - 2.3(1+r) + 1.32 = 0
        // <=> 1+r = 1.1 or 1.2: roots 10% and 20%. Newton from 0.1 stays on 10%.
        let f = flows(&[
            ((2001, 1, 1), -100.0),
            ((2002, 1, 1), 230.0),
            ((2003, 1, 1), -132.0),
        ]);
        assert_close(xirr(&f).unwrap(), 0.1, 1e-9);
    }

    // ---- XIRR: errors ------------------------------------------------------------

    #[test]
    fn xirr_errors() {
        assert_eq!(xirr(&[]), Err(XirrError::TooFewFlows));
        assert_eq!(
            xirr(&flows(&[((2020, 1, 1), -100.0)])),
            Err(XirrError::TooFewFlows)
        );
        assert_eq!(
            xirr(&flows(&[((2020, 1, 1), -100.0), ((2020, 1, 1), 110.0)])),
            Err(XirrError::TooFewFlows)
        );
        assert_eq!(
            xirr(&flows(&[((2020, 1, 1), -100.0), ((2021, 1, 1), -10.0)])),
            Err(XirrError::NoSignChange)
        );
        assert_eq!(
            xirr(&flows(&[((2020, 1, 1), 100.0), ((2021, 1, 1), 10.0)])),
            Err(XirrError::NoSignChange)
        );
        assert_eq!(
            xirr(&flows(&[((2020, 1, 1), 0.0), ((2021, 1, 1), 0.0)])),
            Err(XirrError::NoSignChange)
        );
        assert_eq!(
            xirr(&flows(&[((2020, 1, 1), -100.0), ((2021, 1, 1), f64::NAN)])),
            Err(XirrError::NoRoot)
        );
    }

    #[test]
    fn xirr_no_root() {
        // -100 + 50v - 100v^2 with v = (1+r)^-1 > 0: its maximum over v is at
        // v = 0.25, where it is -93.75 < 0. The NPV never reaches zero.
        let f = flows(&[
            ((2020, 1, 1), -100.0),
            ((2021, 1, 1), 50.0),
            ((2022, 1, 1), -100.0),
        ]);
        assert_eq!(xirr(&f), Err(XirrError::NoRoot));
    }

    // ---- Time-weighted return -----------------------------------------------------

    #[test]
    fn twr_deposit_mid_period() {
        // start 1000
        // day 1: 1100 / 1000            = 1.1
        // day 2: 1650 / (1100 + 500)    = 1.03125
        // day 3: 1600 / 1650            = 0.969696...
        // product = 1.1 * 1650/1600 * 1600/1650 = 1.1  ->  TWR = 0.10
        let days = [
            day(1, "1100", "0", "0", "0"),
            day(2, "1650", "500", "0", "0"),
            day(3, "1600", "0", "0", "0"),
        ];
        let twr = time_weighted(dec("1000"), &days);
        assert_close(twr, 0.10, 1e-9);
        // 1000.00 invested throughout at this TWR ends at 1100.00, to the cent.
        assert_close(1000.0 * (1.0 + twr), 1100.0, 0.005);
    }

    #[test]
    fn twr_stock_split_is_invisible() {
        // 10 shares at 100 (start 1000): 105, then 106 (split 2:1: 20 shares at 53), then 110.
        // 1050/1000 * 1060/1050 * 1100/1060 = 1100/1000  ->  TWR = 0.10
        let split = [
            day(1, "1050", "0", "0", "0"), // 10 x 105
            day(2, "1060", "0", "0", "0"), // 20 x 53 after the split
            day(3, "1100", "0", "0", "0"), // 20 x 55
        ];
        let no_split = [
            day(1, "1050", "0", "0", "0"), // 10 x 105
            day(2, "1060", "0", "0", "0"), // 10 x 106
            day(3, "1100", "0", "0", "0"), // 10 x 110
        ];
        let with = time_weighted(dec("1000"), &split);
        let without = time_weighted(dec("1000"), &no_split);
        assert_close(with, 0.10, 1e-9);
        assert_close(with, without, 1e-15);
    }

    #[test]
    fn twr_dividend() {
        // start 1000
        // day 1: 1020 / 1000            = 1.02
        // day 2: (1000 + 30) / 1020     = 1030/1020   (30 dividend, price drops)
        // day 3: 1010 / 1000            = 1.01
        // product = 1.02 * 1030/1020 * 1.01 = 1.03 * 1.01 = 1.0403  ->  TWR = 0.0403
        let days = [
            day(1, "1020", "0", "0", "0"),
            day(2, "1000", "0", "0", "30"),
            day(3, "1010", "0", "0", "0"),
        ];
        let twr = time_weighted(dec("1000"), &days);
        assert_close(twr, 0.0403, 1e-9);
        // 1000.00 at this TWR ends at 1040.30, to the cent.
        assert_close(1000.0 * (1.0 + twr), 1040.30, 0.005);
    }

    #[test]
    fn twr_sell_out_gap_and_rebuy() {
        // start 1000
        // day 1: 1100 / 1000            = 1.1
        // day 2: (0 + 1120) / 1100      = 1120/1100   (sold everything for 1120)
        // day 3, 4: nothing held: denominator 0 -> factor 1
        // day 5: 510 / (0 + 500)        = 1.02        (re-bought for 500)
        // day 6: 535.50 / 510           = 1.05
        // product = 1.12 * 1.02 * 1.05 = 1.19952  ->  TWR = 0.19952
        let days = [
            day(1, "1100", "0", "0", "0"),
            day(2, "0", "0", "1120", "0"),
            day(3, "0", "0", "0", "0"),
            day(4, "0", "0", "0", "0"),
            day(5, "510", "500", "0", "0"),
            day(6, "535.50", "0", "0", "0"),
        ];
        assert_close(time_weighted(dec("1000"), &days), 0.19952, 1e-9);
    }

    #[test]
    fn twr_first_purchase_from_zero() {
        // start 0; day 1: 101 / (0 + 100) = 1.01  ->  TWR = 0.01
        let days = [day(1, "101", "100", "0", "0")];
        assert_close(time_weighted(Decimal::ZERO, &days), 0.01, 1e-9);
    }

    #[test]
    fn twr_without_days_is_zero() {
        assert_eq!(time_weighted(dec("1000"), &[]), 0.0);
    }

    // ---- Annualization --------------------------------------------------------------

    #[test]
    fn annualized_cases() {
        // 10% over 365 days is 10% a year.
        assert_close(annualized(0.10, 365).unwrap(), 0.10, 1e-12);
        // 21% over 730 days: 1.21^(1/2) - 1 = 0.10.
        assert_close(annualized(0.21, 730).unwrap(), 0.10, 1e-12);
        // 10% over 730 days: 1.1^(1/2) - 1 = 0.0488088481701516...
        assert_close(annualized(0.10, 730).unwrap(), 0.048808848170151, 1e-12);
        assert_eq!(annualized(0.10, 0), None);
        assert_eq!(annualized(0.10, -5), None);
        assert_eq!(annualized(-1.0, 365), None);
        assert_eq!(annualized(-1.5, 365), None);
        assert_eq!(annualized(f64::NAN, 365), None);
    }
}
