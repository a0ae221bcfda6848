//! How good the categorization is, measured so that it cannot fool itself:
//!
//! - **random**: the global model alone, trained on a random 80% of the
//!   labelled descriptors and tested on the other 20%;
//! - **unseen merchants**: the same, with every merchant (normalized) on
//!   one side only, so no test merchant was seen in training;
//! - **per-user temporal**: simulated users, each with their own merchants
//!   (drawn only from merchants the model never saw), their own habits (one
//!   merchant in ten filed under a category of their choosing) and
//!   descriptors that vary from one statement to the next (store numbers,
//!   card prefixes). Month after month the whole cascade (history, then the
//!   model) proposes a category for each transaction; the user's choice is
//!   then fed back, as a correction in the ledger would be. Months 2 to 12
//!   are scored: learned from months 1..k, predicted k + 1.
//!
//! Accuracy is over the transactions that got a category; coverage is the
//! share that got one; macro-F1 averages the per-category F1, an abstention
//! counting against recall.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::GlobalModel;
use super::dataset::{Row, classes};
use super::features::fnv1a;
use crate::domain::{Input, decide_known, normalize};
use freedumb_proto::ai as pb;
use freedumb_proto::common::Money;

/// What an evaluation runs with.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Seeds every split and simulation.
    pub seed: u64,
    /// Simulated users in the temporal split.
    pub users: usize,
    /// Months per simulated user.
    pub months: u32,
    /// The cascade's abstention threshold.
    pub min_confidence: f64,
    /// The threshold above which a category is applied without asking.
    pub auto_apply_confidence: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 18_245,
            users: 200,
            months: 12,
            min_confidence: 0.5,
            auto_apply_confidence: 0.9,
        }
    }
}

/// Scores of one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Transactions scored.
    pub n: usize,
    /// Correct among those that got a category.
    pub accuracy: f64,
    /// Per-category F1, averaged.
    pub macro_f1: f64,
    /// Share that got a category.
    pub coverage: f64,
}

/// Every split's scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Random split, always answering.
    pub random_all: Metrics,
    /// Random split, abstaining below the threshold.
    pub random: Metrics,
    /// Unseen merchants, always answering.
    pub unseen_all: Metrics,
    /// Unseen merchants, abstaining below the threshold.
    pub unseen: Metrics,
    /// Per-user temporal, the whole cascade.
    pub temporal: Metrics,
    /// Per-user temporal, only categories above the auto-apply threshold.
    pub temporal_auto: Metrics,
}

/// A prediction against the truth.
type Scored = (String, Option<String>);

/// Runs every split.
pub fn evaluate(rows: &[Row], options: &Options) -> Report {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut rng);
    let cut = rows.len() / 5;
    let (test, train): (Vec<&Row>, Vec<&Row>) = order
        .iter()
        .enumerate()
        .map(|(i, r)| (i, &rows[*r]))
        .fold((Vec::new(), Vec::new()), |(mut test, mut train), (i, r)| {
            if i < cut {
                test.push(r)
            } else {
                train.push(r)
            }
            (test, train)
        });
    let (random_all, random) = model_only(&train, &test, options.min_confidence);

    let held_out = |r: &Row| {
        fnv1a(format!("{}:{}", options.seed, r.merchant_key()).as_bytes()).is_multiple_of(5)
    };
    let (test, train): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| held_out(r));
    let (unseen_all, unseen) = model_only(&train, &test, options.min_confidence);

    let model = GlobalModel::train(&train.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
    let (temporal, temporal_auto) = simulate(&model, &test, rows, options);
    Report {
        random_all,
        random,
        unseen_all,
        unseen,
        temporal,
        temporal_auto,
    }
}

/// The model trained on `train`, scored on `test`: always answering, and
/// abstaining below `min_confidence`.
fn model_only(train: &[&Row], test: &[&Row], min_confidence: f64) -> (Metrics, Metrics) {
    let model = GlobalModel::train(&train.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
    let (mut all, mut sure) = (Vec::new(), Vec::new());
    for r in test {
        let guess = model.guess(&r.description, r.amount_minor());
        let truth = r.category.clone();
        all.push((truth.clone(), guess.as_ref().map(|g| g.category.to_owned())));
        sure.push((
            truth,
            guess
                .filter(|g| g.confidence >= min_confidence)
                .map(|g| g.category.to_owned()),
        ));
    }
    (metrics(&all), metrics(&sure))
}

/// One simulated user's merchant.
struct Habit<'r> {
    row: &'r Row,
    /// Where this user files it.
    category: String,
    /// Expected visits per month; `None`: exactly once a month.
    rate: Option<f64>,
}

/// Categories paid once a month.
const MONTHLY: [(&str, usize); 4] = [
    ("Salary", 1),
    ("Rent & mortgage", 1),
    ("Utilities", 2),
    ("Subscriptions", 3),
];
/// The share of merchants a user files their own way.
const OWN_WAY: f64 = 0.1;

/// The temporal split: users drawn from `pool`, the cascade run with
/// `model`. Returns the cascade's scores and the auto-applied ones.
fn simulate(
    model: &GlobalModel,
    pool: &[&Row],
    all: &[Row],
    options: &Options,
) -> (Metrics, Metrics) {
    let names = classes(all);
    let income: Vec<&str> = names
        .iter()
        .filter(|n| all.iter().any(|r| &r.category == *n && r.amount_min > 0))
        .map(String::as_str)
        .collect();
    let (mut cascade, mut auto) = (Vec::new(), Vec::new());
    for user in 0..options.users {
        let mut rng = StdRng::seed_from_u64(options.seed ^ (user as u64).wrapping_mul(0x9e37_79b9));
        let habits = habits(pool, &names, &income, &mut rng);
        let mut history: HashMap<String, Vec<Uuid>> = HashMap::new();
        for month in 0..options.months {
            let mut visits: Vec<&Habit<'_>> = Vec::new();
            for h in &habits {
                let n = h.rate.map_or(1, |rate| poisson(rate, &mut rng));
                visits.extend(std::iter::repeat_n(h, n));
            }
            visits.shuffle(&mut rng);
            for h in visits {
                let description = vary(&h.row.description, &mut rng);
                let amount = rng.gen_range(h.row.amount_min..=h.row.amount_max);
                let key = normalize(&description).map(|m| m.key);
                if month > 0 {
                    let Ok(input) = Input::parse(
                        &pb::TransactionInput {
                            description: description.clone(),
                            merchant: String::new(),
                            amount: Some(Money {
                                currency_code: "USD".into(),
                                amount_minor: amount,
                            }),
                            account_id: String::new(),
                        },
                        "",
                    ) else {
                        continue;
                    };

                    let seen = key
                        .as_ref()
                        .and_then(|k| history.get(k))
                        .map_or(&[][..], Vec::as_slice);
                    let d = decide_known(&input, &[], seen, options.min_confidence).finish(
                        || model.guess_as_class(&description, amount),
                        options.min_confidence,
                    );
                    let predicted = d
                        .category_id
                        .and_then(|c| model.class_of(c))
                        .map(str::to_owned);
                    cascade.push((h.category.clone(), predicted.clone()));
                    auto.push((
                        h.category.clone(),
                        predicted.filter(|_| d.confidence >= options.auto_apply_confidence),
                    ));
                }
                // The user's choice, as the ledger reports it.
                if let (Some(key), Some(id)) = (key, model.class_id(&h.category)) {
                    let seen = history.entry(key).or_default();
                    seen.insert(0, id);
                    seen.truncate(5);
                }
            }
        }
    }
    (metrics(&cascade), metrics(&auto))
}

/// A user's merchants: the monthly ones, then 20 to 40 drawn by how common
/// they are.
fn habits<'r>(
    pool: &[&'r Row],
    names: &[String],
    income: &[&str],
    rng: &mut StdRng,
) -> Vec<Habit<'r>> {
    let mut habits = Vec::new();
    for (category, most) in MONTHLY {
        let candidates: Vec<&&Row> = pool.iter().filter(|r| r.category == category).collect();
        let n = rng.gen_range(1..=most).min(candidates.len());
        for row in candidates.choose_multiple(rng, n) {
            habits.push(Habit {
                row,
                category: row.category.clone(),
                rate: None,
            });
        }
    }
    let others: Vec<&&Row> = pool
        .iter()
        .filter(|r| MONTHLY.iter().all(|(c, _)| r.category != *c))
        .collect();
    let n = rng.gen_range(20..=40);
    if let Ok(chosen) = others.choose_multiple_weighted(rng, n, |r| f64::from(r.weight)) {
        for row in chosen {
            let own_way = rng.gen_bool(OWN_WAY);
            let is_income = row.amount_min > 0;
            let category = if own_way {
                let same_kind: Vec<&String> = names
                    .iter()
                    .filter(|n| income.contains(&n.as_str()) == is_income && **n != row.category)
                    .collect();
                same_kind
                    .choose(rng)
                    .map_or_else(|| row.category.clone(), |c| (*c).clone())
            } else {
                row.category.clone()
            };
            habits.push(Habit {
                row,
                category,
                rate: Some((f64::from(row.weight) / 40.0).clamp(0.3, 4.0)),
            });
        }
    }
    habits
}

/// A draw from a Poisson distribution (Knuth's method; small rates).
fn poisson(rate: f64, rng: &mut StdRng) -> usize {
    let limit = (-rate).exp();
    let (mut k, mut p) = (0, rng.r#gen::<f64>());
    while p > limit {
        k += 1;
        p *= rng.r#gen::<f64>();
    }
    k
}

/// The descriptor as another statement prints it: store numbers and other
/// digits change half the time, and one time in ten a card-terminal prefix
/// is added.
fn vary(description: &str, rng: &mut StdRng) -> String {
    let mut out: String = if rng.gen_bool(0.5) {
        description
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from(b'0' + rng.gen_range(0..10u8))
                } else {
                    c
                }
            })
            .collect()
    } else {
        description.to_owned()
    };
    if rng.gen_bool(0.1) {
        let prefix = ["POS ", "CHECKCARD 1104 ", "DEBIT CARD PURCHASE "]
            .choose(rng)
            .copied()
            .unwrap_or_default();
        out.insert_str(0, prefix);
    }
    out
}

/// The scores of predictions against the truth.
fn metrics(scored: &[Scored]) -> Metrics {
    let n = scored.len();
    let covered = scored.iter().filter(|(_, p)| p.is_some()).count();
    let correct = scored
        .iter()
        .filter(|(t, p)| p.as_deref() == Some(t.as_str()))
        .count();
    // Per category: (true positives, predicted, actual).
    let mut per: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (truth, predicted) in scored {
        per.entry(truth).or_default().2 += 1;
        if let Some(p) = predicted {
            per.entry(p).or_default().1 += 1;
            if p == truth {
                per.entry(truth).or_default().0 += 1;
            }
        }
    }
    let f1s: Vec<f64> = per
        .values()
        .map(|(tp, predicted, actual)| {
            if *tp == 0 {
                0.0
            } else {
                let (tp, predicted, actual) = (*tp as f64, *predicted as f64, *actual as f64);
                let (precision, recall) = (tp / predicted, tp / actual);
                2.0 * precision * recall / (precision + recall)
            }
        })
        .collect();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Metrics {
        n,
        accuracy: ratio(correct, covered),
        macro_f1: if f1s.is_empty() {
            0.0
        } else {
            f1s.iter().sum::<f64>() / f1s.len() as f64
        },
        coverage: ratio(covered, n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_abstentions_against_coverage_and_recall() {
        let s = |t: &str, p: Option<&str>| (t.to_owned(), p.map(str::to_owned));
        let m = metrics(&[
            s("a", Some("a")),
            s("a", None),
            s("b", Some("a")),
            s("b", Some("b")),
        ]);
        assert_eq!(m.n, 4);
        assert!((m.coverage - 0.75).abs() < 1e-9);
        assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-9);
        // a: precision 1/2, recall 1/2 → 0.5; b: precision 1, recall 1/2 → 2/3.
        assert!((m.macro_f1 - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn a_poisson_draw_averages_its_rate() {
        let mut rng = StdRng::seed_from_u64(7);
        let total: usize = (0..10_000).map(|_| poisson(2.0, &mut rng)).sum();
        let mean = total as f64 / 10_000.0;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
    }
}
