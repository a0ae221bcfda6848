//! A multinomial naive Bayes classifier over hashed features, with a
//! temperature that turns its scores into calibrated confidences. Stored as
//! a protobuf message: feature hashes sorted and delta-encoded, counts
//! packed.

use std::collections::{BTreeMap, HashMap};

use prost::Message as _;

/// Additive smoothing of the feature counts.
const ALPHA: f64 = 0.1;
/// Temperatures tried when calibrating.
const TEMPERATURES: [f64; 12] = [
    1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0,
];

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct NaiveBayes {
    classes: Vec<String>,
    /// Per class, its group: a prediction is made among one group's
    /// classes (for categories: expense or income).
    groups: Vec<u32>,
    /// Log prior per class.
    log_prior: Vec<f64>,
    /// log(N_c + αV) per class: the denominator of every likelihood.
    log_total: Vec<f64>,
    /// Counts per feature, per class (sparse: (class, count)).
    counts: HashMap<u32, Vec<(u16, u32)>>,
    /// The stored form's counts, kept for re-encoding.
    docs: Vec<u32>,
    tokens: Vec<u64>,
    /// Scores are divided by this before the softmax.
    temperature: f64,
}

/// One labelled example: its features and its class.
#[derive(Debug, Clone)]
pub struct Example<'a> {
    /// Feature hashes, repeats kept.
    pub features: &'a [u32],
    /// Index into the class list.
    pub class: usize,
}

/// A class and how sure the model is of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Index into [`NaiveBayes::classes`].
    pub class: usize,
    /// Calibrated probability, 0 to 1.
    pub confidence: f64,
}

impl NaiveBayes {
    /// Counts `examples` over `classes` (each in its group of `groups`);
    /// temperature 1.
    pub fn fit(classes: Vec<String>, groups: Vec<u32>, examples: &[Example<'_>]) -> Self {
        let mut docs = vec![0u32; classes.len()];
        let mut tokens = vec![0u64; classes.len()];
        let mut table: BTreeMap<u32, BTreeMap<u16, u32>> = BTreeMap::new();
        for e in examples {
            docs[e.class] += 1;
            for f in e.features {
                tokens[e.class] += 1;
                // At most 65,535 classes: the list is built from names.
                *table
                    .entry(*f)
                    .or_default()
                    .entry(e.class as u16)
                    .or_default() += 1;
            }
        }
        let counts = table
            .into_iter()
            .map(|(f, by_class)| (f, by_class.into_iter().collect()))
            .collect();
        Self::from_counts(classes, groups, docs, tokens, counts, 1.0)
    }

    fn from_counts(
        classes: Vec<String>,
        groups: Vec<u32>,
        docs: Vec<u32>,
        tokens: Vec<u64>,
        counts: HashMap<u32, Vec<(u16, u32)>>,
        temperature: f64,
    ) -> Self {
        let total_docs: f64 = docs.iter().map(|d| f64::from(*d)).sum::<f64>().max(1.0);
        let vocabulary = counts.len() as f64;
        let log_prior = docs
            .iter()
            .map(|d| ((f64::from(*d) + 1.0) / (total_docs + classes.len() as f64)).ln())
            .collect();
        let log_total = tokens
            .iter()
            .map(|t| (*t as f64 + ALPHA * vocabulary).ln())
            .collect();
        Self {
            classes,
            groups,
            log_prior,
            log_total,
            counts,
            docs,
            tokens,
            temperature,
        }
    }

    /// The class names, in index order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The temperature in use.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Uses `temperature` from now on (positive).
    pub fn set_temperature(&mut self, temperature: f64) {
        if temperature.is_finite() && temperature > 0.0 {
            self.temperature = temperature;
        }
    }

    /// Sets the temperature that minimizes the log loss on `held_out`.
    pub fn calibrate(&mut self, held_out: &[Example<'_>]) {
        if held_out.is_empty() {
            return;
        }
        let scores: Vec<(Vec<f64>, usize)> = held_out
            .iter()
            .map(|e| (self.log_scores(e.features), e.class))
            .collect();
        // Calibrated as it predicts: among the classes of the example's group.
        let scores: Vec<(Vec<f64>, usize)> = scores
            .into_iter()
            .map(|(s, class)| (self.in_group(s, self.groups[class]), class))
            .collect();
        let loss = |t: f64| -> f64 {
            scores
                .iter()
                .map(|(s, class)| -softmax(s, t)[*class].max(1e-12).ln())
                .sum()
        };

        self.temperature = TEMPERATURES
            .iter()
            .copied()
            .min_by(|a, b| loss(*a).total_cmp(&loss(*b)))
            .unwrap_or(1.0);
    }

    /// Unnormalized log-probabilities per class. Features the model never
    /// saw say nothing and are skipped.
    pub fn log_scores(&self, features: &[u32]) -> Vec<f64> {
        // Every known feature adds ln(α) − ln(total) to every class, and
        // ln(n + α) − ln(α) to the classes it was seen with n times.
        let mut known = 0.0;
        let mut scores = self.log_prior.clone();
        for f in features {
            let Some(by_class) = self.counts.get(f) else {
                continue;
            };
            known += 1.0;
            for (class, n) in by_class {
                scores[usize::from(*class)] += (f64::from(*n) + ALPHA).ln() - ALPHA.ln();
            }
        }
        for (score, total) in scores.iter_mut().zip(&self.log_total) {
            *score += known * (ALPHA.ln() - total);
        }
        scores
    }

    /// The likeliest class of `group`, the probabilities normalized over
    /// the group's classes; `None` when the group has none.
    pub fn predict(&self, features: &[u32], group: u32) -> Option<Scored> {
        let scores = self.in_group(self.log_scores(features), group);
        if scores.iter().all(|s| *s == f64::NEG_INFINITY) {
            return None;
        }
        let p = softmax(&scores, self.temperature);
        p.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(class, confidence)| Scored {
                class,
                confidence: *confidence,
            })
    }

    /// `scores` with every class outside `group` ruled out.
    fn in_group(&self, scores: Vec<f64>, group: u32) -> Vec<f64> {
        scores
            .into_iter()
            .zip(&self.groups)
            .map(|(s, g)| if *g == group { s } else { f64::NEG_INFINITY })
            .collect()
    }

    /// How much `feature` pulls towards `class` rather than the average of
    /// the others (in nats); 0 for a feature never seen.
    pub fn weight(&self, feature: u32, class: usize) -> f64 {
        let Some(by_class) = self.counts.get(&feature) else {
            return 0.0;
        };
        let log_likelihood = |c: usize| {
            let n = by_class
                .iter()
                .find(|(k, _)| usize::from(*k) == c)
                .map_or(0.0, |(_, n)| f64::from(*n));
            (n + ALPHA).ln() - self.log_total[c]
        };
        let others = self.classes.len().saturating_sub(1).max(1) as f64;
        let rest: f64 = (0..self.classes.len())
            .filter(|c| *c != class)
            .map(log_likelihood)
            .sum::<f64>()
            / others;
        log_likelihood(class) - rest
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut hashes: Vec<&u32> = self.counts.keys().collect();
        hashes.sort_unstable();
        let mut stored = Stored {
            version: FORMAT,
            classes: self.classes.clone(),
            groups: self.groups.clone(),
            docs: self.docs.clone(),
            tokens: self.tokens.clone(),
            temperature: self.temperature,
            ..Stored::default()
        };
        let mut previous = 0u32;
        for hash in hashes {
            stored.hash_deltas.push(hash - previous);
            previous = *hash;
            let by_class = &self.counts[hash];
            // At most 65,535 classes, so the length fits.
            stored.entries.push(by_class.len() as u32);
            for (class, n) in by_class {
                stored.entry_classes.push(u32::from(*class));
                stored.entry_counts.push(*n);
            }
        }
        stored.encode_to_vec()
    }

    /// Reads the stored form, checking that it is whole.
    pub fn decode(bytes: &[u8]) -> Result<Self, ModelError> {
        let stored = Stored::decode(bytes).map_err(|e| ModelError(e.to_string()))?;
        if stored.version != FORMAT {
            return Err(ModelError(format!(
                "format {} is not the supported {FORMAT}",
                stored.version
            )));
        }
        let n = stored.classes.len();
        if n == 0 || n > usize::from(u16::MAX) {
            return Err(ModelError(format!("{n} classes")));
        }
        if stored.docs.len() != n || stored.tokens.len() != n || stored.groups.len() != n {
            return Err(ModelError("class counts do not match the classes".into()));
        }
        if !(stored.temperature.is_finite() && stored.temperature > 0.0) {
            return Err(ModelError("the temperature is not positive".into()));
        }
        if stored.hash_deltas.len() != stored.entries.len()
            || stored.entry_classes.len() != stored.entry_counts.len()
        {
            return Err(ModelError("feature tables differ in length".into()));
        }
        let mut counts = HashMap::with_capacity(stored.hash_deltas.len());
        let (mut hash, mut at) = (0u32, 0usize);
        for (delta, len) in stored.hash_deltas.iter().zip(&stored.entries) {
            hash = hash
                .checked_add(*delta)
                .ok_or_else(|| ModelError("feature hashes overflow".into()))?;
            let end = at
                .checked_add(*len as usize)
                .filter(|end| *end <= stored.entry_classes.len())
                .ok_or_else(|| ModelError("feature entries run past the end".into()))?;
            let mut by_class = Vec::with_capacity(end - at);
            for (class, count) in stored.entry_classes[at..end]
                .iter()
                .zip(&stored.entry_counts[at..end])
            {
                let class = u16::try_from(*class)
                    .ok()
                    .filter(|c| usize::from(*c) < n)
                    .ok_or_else(|| ModelError(format!("class {class} out of range")))?;
                by_class.push((class, *count));
            }
            counts.insert(hash, by_class);
            at = end;
        }
        if at != stored.entry_classes.len() {
            return Err(ModelError("feature entries left over".into()));
        }
        Ok(Self::from_counts(
            stored.classes,
            stored.groups,
            stored.docs,
            stored.tokens,
            counts,
            stored.temperature,
        ))
    }
}

/// A stored model that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the model cannot be read: {0}")]
pub struct ModelError(String);

/// The stored form's version.
const FORMAT: u32 = 1;

/// The stored form.
#[derive(Clone, PartialEq, prost::Message)]
struct Stored {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(string, repeated, tag = "2")]
    classes: Vec<String>,
    /// Examples per class.
    #[prost(uint32, repeated, tag = "3")]
    docs: Vec<u32>,
    /// Feature occurrences per class.
    #[prost(uint64, repeated, tag = "4")]
    tokens: Vec<u64>,
    #[prost(double, tag = "5")]
    temperature: f64,
    /// Sorted feature hashes, each as the difference from the previous.
    #[prost(uint32, repeated, tag = "6")]
    hash_deltas: Vec<u32>,
    /// Per feature, how many (class, count) entries follow.
    #[prost(uint32, repeated, tag = "7")]
    entries: Vec<u32>,
    #[prost(uint32, repeated, tag = "8")]
    entry_classes: Vec<u32>,
    #[prost(uint32, repeated, tag = "9")]
    entry_counts: Vec<u32>,
    /// Per class, its group.
    #[prost(uint32, repeated, tag = "10")]
    groups: Vec<u32>,
}

/// Probabilities from log-scores divided by `temperature`.
fn softmax(scores: &[f64], temperature: f64) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores
        .iter()
        .map(|s| ((s - max) / temperature).exp())
        .collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> NaiveBayes {
        let a = [1u32, 2, 3];
        let b = [4u32, 5, 6];
        let a2 = [1u32, 2, 7];
        NaiveBayes::fit(
            vec!["a".into(), "b".into()],
            vec![0, 0],
            &[
                Example {
                    features: &a,
                    class: 0,
                },
                Example {
                    features: &b,
                    class: 1,
                },
                Example {
                    features: &a2,
                    class: 0,
                },
            ],
        )
    }

    #[test]
    fn the_class_whose_features_appear_wins_and_unknown_features_say_nothing() {
        let m = toy();
        let p = m.predict(&[1, 2], 0).expect("classes");
        assert_eq!(p.class, 0);
        assert!(p.confidence > 0.9, "{p:?}");
        assert_eq!(m.predict(&[5], 0).map(|p| p.class), Some(1));
        // Only the prior speaks: class a was seen twice as often.
        let prior = m.predict(&[99], 0).expect("classes");
        assert_eq!(prior.class, 0);
        assert!((prior.confidence - 0.6).abs() < 1e-9, "{prior:?}");
        assert!(m.weight(1, 0) > 0.0 && m.weight(1, 1) < 0.0);
        assert_eq!(m.weight(99, 0), 0.0);
        assert_eq!(m.predict(&[1, 2], 1), None, "no class in group 1");
    }

    #[test]
    fn the_stored_form_reads_back_the_same_model() {
        let mut m = toy();
        m.calibrate(&[Example {
            features: &[1, 5],
            class: 1,
        }]);
        let back = NaiveBayes::decode(&m.encode()).expect("decodes");
        assert_eq!(back, m);
        assert!(NaiveBayes::decode(b"\x08\x02").is_err());
        assert!(NaiveBayes::decode(&[0xff; 7]).is_err());
    }

    #[test]
    fn calibration_softens_overconfident_scores() {
        let mut m = toy();
        // A held-out example the model gets wrong with full confidence:
        // a higher temperature lowers the loss.
        let before = m.predict(&[1, 2, 5], 0).expect("classes").confidence;
        m.calibrate(&[Example {
            features: &[1, 2, 5],
            class: 1,
        }]);
        assert!(m.temperature() > 1.0);
        assert!(m.predict(&[1, 2, 5], 0).expect("classes").confidence < before);
    }
}
