//! The cascade: the caller's rules, then their history with the merchant,
//! then the global model, then no category. Each step says what it found,
//! so every answer can be explained.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::input::Input;
use super::merchant::Merchant;
use super::rule::CompiledRule;

/// Which step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A rule.
    Rule,
    /// The history.
    History,
    /// The global model.
    Model,
    /// Nothing was sure enough.
    None,
}

/// What one step found.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step.
    pub source: Source,
    /// Whether its answer is the decision.
    pub decided: bool,
    /// What it proposes.
    pub category_id: Option<Uuid>,
    /// How sure it is.
    pub confidence: f64,
    /// In words.
    pub reason: String,
    /// The rules that matched, in order (rules step).
    pub matched_rules: Vec<Uuid>,
    /// Recent transactions per category, most first (history step).
    pub history: Vec<(Uuid, usize)>,
    /// The features that pulled hardest towards its category, with their
    /// weights (model step).
    pub features: Vec<(String, f64)>,
}

/// What the global model proposes, as one of the caller's categories.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelGuess {
    /// The caller's category named like the model's class.
    pub category_id: Uuid,
    /// Calibrated, 0 to 1.
    pub confidence: f64,
    /// The strongest features, with their weights.
    pub features: Vec<(String, f64)>,
}

/// The cascade's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The category, if any step was sure enough.
    pub category_id: Option<Uuid>,
    /// The merchant the cascade saw.
    pub merchant: Option<Merchant>,
    /// How sure.
    pub confidence: f64,
    /// Which step decided.
    pub source: Source,
    /// The last rule that set the category.
    pub rule_id: Option<Uuid>,
    /// Every step that ran.
    pub steps: Vec<Step>,
}

/// The confidence of a category chosen `k` times in the merchant's last
/// `n` categorized transactions: k/n × min(n, 3)/3.
pub fn history_confidence(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let (k, n) = (k as f64, n as f64);
    k / n * n.min(3.0) / 3.0
}

/// Runs `rules` (in order), then `history` (the merchant's last
/// categories, newest first), then the global model's `guess` on `input`;
/// proposes nothing below `min_confidence`.
///
/// The model speaks for merchants the caller has not categorized, or
/// agrees with their history: when both name the same category their
/// confidences combine (1 − (1 − h)(1 − m)); when they differ, the caller's
/// own choice stands and the model is not used.
pub fn decide(
    input: &Input,
    rules: &[CompiledRule],
    history: &[Uuid],
    guess: Option<ModelGuess>,
    min_confidence: f64,
) -> Decision {
    decide_known(input, rules, history, min_confidence).finish(|| guess, min_confidence)
}

/// Where the rules and the history left the cascade.
#[derive(Debug, Clone)]
pub enum Known {
    /// One of them decided.
    Decided(Decision),
    /// Neither did: the model's step is next.
    Undecided(Undecided),
}

impl Known {
    /// The decision, asking the model (`guess`) only when it is needed.
    pub fn finish(
        self,
        guess: impl FnOnce() -> Option<ModelGuess>,
        min_confidence: f64,
    ) -> Decision {
        match self {
            Self::Decided(decision) => decision,
            Self::Undecided(undecided) => undecided.consult(guess(), min_confidence),
        }
    }
}

/// The cascade so far when neither the rules nor the history decided: what
/// the model's step needs, so its guess is made only then.
#[derive(Debug, Clone)]
pub struct Undecided {
    steps: Vec<Step>,
    merchant: Option<Merchant>,
    merchant_name: String,
    /// The history's best category and its confidence.
    best: Option<(Uuid, f64)>,
}

/// Runs `rules` and then `history` on `input`: their decision, or what the
/// model's step needs ([`Known::finish`]).
pub fn decide_known(
    input: &Input,
    rules: &[CompiledRule],
    history: &[Uuid],
    min_confidence: f64,
) -> Known {
    let mut steps = Vec::with_capacity(3);
    let mut set: Option<&CompiledRule> = None;
    let mut matched = Vec::new();
    for rule in rules {
        if rule.matches(input) {
            matched.push(rule.id);
            set = Some(rule);
            if rule.stop {
                break;
            }
        }
    }
    if let Some(rule) = set {
        steps.push(Step {
            source: Source::Rule,
            decided: true,
            category_id: Some(rule.category_id),
            confidence: 1.0,
            reason: if matched.len() == 1 {
                format!("rule {} matched", rule.id)
            } else {
                format!(
                    "{} rules matched; rule {} ran last{}",
                    matched.len(),
                    rule.id,
                    if rule.stop {
                        " and stopped the run"
                    } else {
                        ""
                    }
                )
            },
            matched_rules: matched,
            history: Vec::new(),
            features: Vec::new(),
        });
        return Known::Decided(Decision {
            category_id: Some(rule.category_id),
            merchant: input.merchant.clone(),
            confidence: 1.0,
            source: Source::Rule,
            rule_id: Some(rule.id),
            steps,
        });
    }
    steps.push(Step {
        source: Source::Rule,
        decided: false,
        category_id: None,
        confidence: 0.0,
        reason: format!("none of {} rules matched", rules.len()),
        matched_rules: Vec::new(),
        history: Vec::new(),
        features: Vec::new(),
    });
    let counts = count(history);
    let best = counts.first().copied();
    let confidence = best.map_or(0.0, |(_, k)| history_confidence(k, history.len()));
    let decided = best.is_some() && confidence >= min_confidence;
    let merchant_name = input.merchant.as_ref().map_or_else(
        || "no merchant".to_owned(),
        |m| format!("merchant {:?}", m.name),
    );
    steps.push(Step {
        source: Source::History,
        decided,
        category_id: best.map(|(c, _)| c),
        confidence,
        reason: match best {
            None => format!("{merchant_name}: no categorized transactions yet"),
            Some((c, k)) => format!(
                "{merchant_name}: {k} of the last {} categorized transactions in {c}",
                history.len()
            ),
        },
        matched_rules: Vec::new(),
        history: counts,
        features: Vec::new(),
    });
    if decided {
        return Known::Decided(Decision {
            category_id: best.map(|(c, _)| c),
            merchant: input.merchant.clone(),
            confidence,
            source: Source::History,
            rule_id: None,
            steps,
        });
    }
    Known::Undecided(Undecided {
        steps,
        merchant: input.merchant.clone(),
        merchant_name,
        best: best.map(|(c, _)| (c, confidence)),
    })
}

impl Undecided {
    /// The model's step on the global model's `guess` (none: no category),
    /// then the decision.
    fn consult(self, guess: Option<ModelGuess>, min_confidence: f64) -> Decision {
        let Self {
            mut steps,
            merchant,
            merchant_name,
            best,
        } = self;
        if let Some(guess) = guess {
            let (confidence, reason) = match best {
                None => (
                    guess.confidence,
                    format!("{merchant_name} is new to you: the global model read the description"),
                ),
                Some((c, h)) if c == guess.category_id => (
                    1.0 - (1.0 - h) * (1.0 - guess.confidence),
                    format!("{merchant_name}: the global model agrees with your history"),
                ),
                Some(_) => (
                    0.0,
                    format!(
                        "{merchant_name}: the global model disagrees with your history, which stands"
                    ),
                ),
            };
            let decided = confidence >= min_confidence;
            steps.push(Step {
                source: Source::Model,
                decided,
                category_id: Some(guess.category_id),
                confidence,
                reason,
                matched_rules: Vec::new(),
                history: Vec::new(),
                features: guess.features,
            });
            if decided {
                return Decision {
                    category_id: Some(guess.category_id),
                    merchant,
                    confidence,
                    source: Source::Model,
                    rule_id: None,
                    steps,
                };
            }
        }
        steps.push(Step {
            source: Source::None,
            decided: true,
            category_id: None,
            confidence: 0.0,
            reason: format!("no step reached the confidence threshold {min_confidence}"),
            matched_rules: Vec::new(),
            history: Vec::new(),
            features: Vec::new(),
        });
        Decision {
            category_id: None,
            merchant,
            confidence: 0.0,
            source: Source::None,
            rule_id: None,
            steps,
        }
    }
}

/// Categories by count, most first; ties go to the most recent.
fn count(history: &[Uuid]) -> Vec<(Uuid, usize)> {
    let mut counts: BTreeMap<Uuid, (usize, usize)> = BTreeMap::new();
    for (age, category) in history.iter().enumerate() {
        let entry = counts.entry(*category).or_insert((0, age));
        entry.0 += 1;
    }
    let mut sorted: Vec<(Uuid, usize, usize)> = counts
        .into_iter()
        .map(|(c, (k, first))| (c, k, first))
        .collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    sorted.into_iter().map(|(c, k, _)| (c, k)).collect()
}

#[cfg(test)]
mod tests {
    use freedumb_kit::domain::money;
    use freedumb_proto::ai as pb;

    use super::*;
    use crate::domain::rule::{CompiledRule, Condition};

    fn coffee() -> Input {
        Input::parse(
            &pb::TransactionInput {
                description: "SQ *BLUE BOTTLE 0042 OAKLAND CA".into(),
                merchant: String::new(),
                amount: Some(money("EUR", -450)),
                account_id: String::new(),
            },
            "",
        )
        .expect("valid")
    }

    fn rule(text: &str, category: Uuid, stop: bool) -> CompiledRule {
        let (condition, _) = Condition::compile(&pb::RuleCondition {
            field: pb::RuleField::Description.into(),
            operator: pb::RuleOperator::Contains.into(),
            value: text.into(),
        })
        .expect("valid");
        CompiledRule {
            id: Uuid::now_v7(),
            category_id: category,
            stop,
            conditions: vec![condition],
        }
    }

    #[test]
    fn confidence_grows_with_agreeing_sightings() {
        assert!((history_confidence(1, 1) - 1.0 / 3.0).abs() < 1e-9);
        assert!((history_confidence(2, 2) - 2.0 / 3.0).abs() < 1e-9);
        assert!((history_confidence(3, 3) - 1.0).abs() < 1e-9);
        assert!((history_confidence(3, 5) - 0.6).abs() < 1e-9);
        assert_eq!(history_confidence(0, 0), 0.0);
    }

    #[test]
    fn later_rules_override_earlier_ones_until_one_stops_the_run() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let rules = [
            rule("blue", a, false),
            rule("bottle", b, true),
            rule("oakland", c, false),
        ];
        let d = decide(&coffee(), &rules, &[], None, 0.5);
        assert_eq!(
            (d.category_id, d.source, d.rule_id),
            (Some(b), Source::Rule, Some(rules[1].id))
        );
        assert_eq!(d.steps[0].matched_rules, [rules[0].id, rules[1].id]);
        assert_eq!(d.merchant.map(|m| m.name), Some("Blue Bottle".to_owned()));
    }

    #[test]
    fn history_decides_when_it_agrees_enough_and_abstains_otherwise() {
        let (food, fun) = (Uuid::now_v7(), Uuid::now_v7());
        let d = decide(&coffee(), &[], &[food, food, fun], None, 0.5);
        assert_eq!((d.category_id, d.source), (Some(food), Source::History));
        assert!((d.confidence - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(d.steps[1].history, [(food, 2), (fun, 1)]);

        let once = decide(&coffee(), &[], &[food], None, 0.5);
        assert_eq!((once.category_id, once.source), (None, Source::None));
        assert_eq!(once.steps.len(), 3);
        assert_eq!(
            once.steps[1].category_id,
            Some(food),
            "proposed, not decided"
        );

        // A tie goes to the most recent category.
        let tie = decide(&coffee(), &[], &[fun, food, fun, food], None, 0.5);
        assert_eq!(tie.category_id, Some(fun));
    }

    #[test]
    fn the_model_speaks_for_new_merchants_and_never_against_the_history() {
        let (coffee_id, food) = (Uuid::now_v7(), Uuid::now_v7());
        let guess = |category_id, confidence| {
            Some(ModelGuess {
                category_id,
                confidence,
                features: vec![("w:bottle".into(), 2.0)],
            })
        };
        let new = decide(&coffee(), &[], &[], guess(coffee_id, 0.8), 0.5);
        assert_eq!(
            (new.category_id, new.source),
            (Some(coffee_id), Source::Model)
        );
        assert_eq!(new.steps[2].features, [("w:bottle".to_owned(), 2.0)]);

        let unsure = decide(&coffee(), &[], &[], guess(coffee_id, 0.4), 0.5);
        assert_eq!((unsure.category_id, unsure.source), (None, Source::None));

        // One sighting (0.33) and a model that agrees (0.4): 0.6.
        let agree = decide(&coffee(), &[], &[coffee_id], guess(coffee_id, 0.4), 0.5);
        assert_eq!(agree.source, Source::Model);
        assert!((agree.confidence - 0.6).abs() < 1e-9, "{agree:?}");

        let disagree = decide(&coffee(), &[], &[food], guess(coffee_id, 0.99), 0.5);
        assert_eq!(disagree.category_id, None);
        assert!(!disagree.steps[2].decided);

        // Rules and a sure history come first.
        let sure = decide(
            &coffee(),
            &[],
            &[food, food, food],
            guess(coffee_id, 0.99),
            0.5,
        );
        assert_eq!((sure.category_id, sure.steps.len()), (Some(food), 2));
    }
}
