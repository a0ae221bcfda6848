//! The global model: the cascade's third step, for merchants the user has
//! not categorized yet. A naive Bayes classifier over the words, character
//! n-grams and merchant of a description and the sign and size of its
//! amount ([`features`]), trained in Rust on the labelled descriptors in
//! `services/ai/model/data` ([`dataset`]) and shipped as
//! `services/ai/model/global.model`. Its classes are the names of the
//! ledger's default categories; a user's category with the same name is
//! what it proposes. `freedumb ai train` rebuilds it, `freedumb ai eval`
//! measures it ([`eval`]).

pub mod bayes;
pub mod cli;
pub mod dataset;
pub mod eval;
pub mod features;

use std::collections::HashMap;
use std::sync::LazyLock;

use uuid::Uuid;

pub use self::bayes::ModelError;
use self::bayes::{Example, NaiveBayes};
use self::dataset::Row;
use crate::domain::{Input, ModelGuess};

/// The shipped model's bytes.
pub const SHIPPED: &[u8] = include_bytes!("../../model/global.model");
/// The shipped training data.
pub const SHIPPED_DATA: &str = include_str!("../../model/data/descriptors.tsv");

/// One of every this many merchants is held out to calibrate confidences.
const CALIBRATION_EVERY: u32 = 5;
/// The most features an explanation names.
const EXPLAINED_FEATURES: usize = 5;

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalModel {
    bayes: NaiveBayes,
}

/// What the model proposes for one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Guess<'m> {
    /// A default category's name.
    pub category: &'m str,
    /// Calibrated, 0 to 1.
    pub confidence: f64,
}

impl GlobalModel {
    /// The shipped model, read once.
    pub fn shipped() -> &'static Self {
        static MODEL: LazyLock<GlobalModel> = LazyLock::new(|| {
            // The bytes are checked by a test against the shipped data; a
            // build that cannot read them is broken, not a bad input.
            #[allow(clippy::expect_used)]
            GlobalModel::decode(SHIPPED).expect("the shipped model reads")
        });
        &MODEL
    }

    /// Trains on `rows`: counts on every row, calibrated on a fifth of the
    /// merchants first held out.
    pub fn train(rows: &[Row]) -> Self {
        let classes = dataset::classes(rows);
        let groups = dataset::groups(rows, &classes);
        let index = |name: &str| classes.iter().position(|c| c == name);
        let features: Vec<(Vec<u32>, usize, bool)> = rows
            .iter()
            .filter_map(|r| {
                let class = index(&r.category)?;
                let held_out =
                    features::fnv1a(r.merchant_key().as_bytes()).is_multiple_of(CALIBRATION_EVERY);
                Some((
                    features::hashes(&r.description, r.amount_minor()),
                    class,
                    held_out,
                ))
            })
            .collect();
        let examples = |keep: &dyn Fn(bool) -> bool| -> Vec<Example<'_>> {
            features
                .iter()
                .filter(|(_, _, held_out)| keep(*held_out))
                .map(|(features, class, _)| Example {
                    features,
                    class: *class,
                })
                .collect()
        };
        let mut calibration = NaiveBayes::fit(classes.clone(), groups.clone(), &examples(&|h| !h));
        calibration.calibrate(&examples(&|h| h));
        let mut bayes = NaiveBayes::fit(classes, groups, &examples(&|_| true));
        bayes.set_temperature(calibration.temperature());
        Self { bayes }
    }

    /// The likeliest default category for a transaction, among those of
    /// its kind (income for money in, expense for money out).
    pub fn guess(&self, description: &str, amount_minor: i64) -> Option<Guess<'_>> {
        self.bayes
            .predict(
                &features::hashes(description, amount_minor),
                dataset::group_of(amount_minor),
            )
            .map(|s| Guess {
                category: &self.bayes.classes()[s.class],
                confidence: s.confidence,
            })
    }

    /// The features of a transaction that pull hardest towards `category`,
    /// strongest first, with their weights (nats).
    pub fn strongest_features(
        &self,
        description: &str,
        amount_minor: i64,
        category: &str,
    ) -> Vec<(String, f64)> {
        let Some(class) = self.bayes.classes().iter().position(|c| c == category) else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::new();
        let mut weighted: Vec<(String, f64)> = features::extract(description, amount_minor)
            .into_iter()
            .filter(|f| seen.insert(f.hash))
            .map(|f| {
                let w = self.bayes.weight(f.hash, class);
                (f.text, w)
            })
            .filter(|(_, w)| *w > 0.0)
            .collect();
        weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        weighted.truncate(EXPLAINED_FEATURES);
        weighted
    }

    /// The cascade's view of a guess, with the class as a stand-in id
    /// (see [`GlobalModel::class_of`]), for callers that do not know the
    /// user's categories: the name is resolved later.
    pub fn guess_as_class(&self, description: &str, amount_minor: i64) -> Option<ModelGuess> {
        let guess = self.guess(description, amount_minor)?;
        Some(ModelGuess {
            category_id: self.class_id(guess.category)?,
            confidence: guess.confidence,
            features: Vec::new(),
        })
    }

    /// The stand-in id of the class named `category` (see
    /// [`GlobalModel::guess_as_class`]).
    pub fn class_id(&self, category: &str) -> Option<Uuid> {
        let index = self.categories().iter().position(|c| c == category)?;
        Some(Uuid::from_u128(index as u128 + 1))
    }

    /// The class a stand-in id of [`GlobalModel::guess_as_class`] names.
    pub fn class_of(&self, id: Uuid) -> Option<&str> {
        let index = usize::try_from(id.as_u128().checked_sub(1)?).ok()?;
        self.categories().get(index).map(String::as_str)
    }

    /// The cascade's view of a guess for `input`, as the caller's category
    /// of that name (`names`); with the strongest features when
    /// `explain`.
    pub fn guess_for(
        &self,
        input: &Input,
        names: &CategoryNames,
        explain: bool,
    ) -> Option<ModelGuess> {
        let guess = self.guess(&input.description, input.amount_minor)?;
        let category_id = names.resolve(guess.category, input.amount_minor)?;
        Some(ModelGuess {
            category_id,
            confidence: guess.confidence,
            features: if explain {
                self.strongest_features(&input.description, input.amount_minor, guess.category)
            } else {
                Vec::new()
            },
        })
    }

    /// The temperature its confidences are calibrated with.
    pub fn temperature(&self) -> f64 {
        self.bayes.temperature()
    }

    /// The category names it can propose.
    pub fn categories(&self) -> &[String] {
        self.bayes.classes()
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        self.bayes.encode()
    }

    /// Reads a stored model.
    pub fn decode(bytes: &[u8]) -> Result<Self, ModelError> {
        NaiveBayes::decode(bytes).map(|bayes| Self { bayes })
    }
}

/// The caller's categories by name, for the model's guesses: a name
/// resolves when exactly one category of the right kind (income for money
/// in, expense for money out) has it, ignoring case.
#[derive(Debug, Clone, Default)]
pub struct CategoryNames(HashMap<(String, bool), Option<Uuid>>);

impl CategoryNames {
    /// From (id, name, is income) triples.
    pub fn new(categories: impl IntoIterator<Item = (Uuid, String, bool)>) -> Self {
        let mut names: HashMap<(String, bool), Option<Uuid>> = HashMap::new();
        for (id, name, income) in categories {
            names
                .entry((name.to_lowercase(), income))
                .and_modify(|seen| *seen = None)
                .or_insert(Some(id));
        }
        Self(names)
    }

    /// The category named `name` for an amount of that sign.
    pub fn resolve(&self, name: &str, amount_minor: i64) -> Option<Uuid> {
        self.0
            .get(&(name.to_lowercase(), amount_minor > 0))
            .copied()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_is_what_the_shipped_data_trains() {
        let rows = dataset::parse(SHIPPED_DATA).expect("the shipped data parses");
        let trained = GlobalModel::train(&rows);
        assert!(
            trained.encode() == SHIPPED,
            "services/ai/model/global.model is stale: run `cargo run -- ai train`"
        );
        assert_eq!(GlobalModel::shipped(), &trained);
    }

    #[test]
    fn the_shipped_model_knows_common_merchants_and_explains_itself() {
        let model = GlobalModel::shipped();
        for (description, amount, category) in [
            ("STARBUCKS STORE 01234 SEATTLE WA", -575, "Coffee"),
            ("SHELL OIL 57442 HOUSTON TX", -4_210, "Fuel"),
            ("NETFLIX.COM 866-579-7172 CA", -1_549, "Subscriptions"),
            ("ACME CORP PAYROLL PPD ID 123456", 412_000, "Salary"),
        ] {
            let guess = model.guess(description, amount).expect("a guess");
            assert_eq!(guess.category, category, "{description}: {guess:?}");
            let features = model.strongest_features(description, amount, category);
            assert!(!features.is_empty(), "{description}");
            assert!(
                features.windows(2).all(|w| w[0].1 >= w[1].1),
                "{features:?}"
            );
        }
        assert!(model.strongest_features("x", 1, "No such").is_empty());
        let guess = model
            .guess_as_class("SHELL OIL 57442 HOUSTON TX", -4_210)
            .expect("a guess");
        assert_eq!(model.class_of(guess.category_id), Some("Fuel"));
        assert_eq!(model.class_of(Uuid::nil()), None);
    }

    #[test]
    fn names_resolve_once_per_kind() {
        let (fuel, gifts, gifts2, refunds) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let names = CategoryNames::new([
            (fuel, "Fuel".to_owned(), false),
            (gifts, "Gifts".to_owned(), false),
            (gifts2, "gifts".to_owned(), false),
            (refunds, "Refunds".to_owned(), true),
        ]);
        assert_eq!(names.resolve("fuel", -1), Some(fuel));
        assert_eq!(names.resolve("Fuel", 1), None);
        assert_eq!(names.resolve("Gifts", -1), None);
        assert_eq!(names.resolve("Refunds", 5), Some(refunds));
    }
}
