//! `freedumb ai train` and `freedumb ai eval`.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::dataset::{self, Row};
use super::eval::{self, Metrics, Options, Report};
use super::{GlobalModel, SHIPPED_DATA};

/// The figures the CI run of the evaluation must hold (within two points).
pub const FIGURES: &str = include_str!("../../model/figures.json");
/// The simulated users of the CI run.
pub const CI_USERS: usize = 40;

/// An evaluation and what it ran with, as `figures.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Simulated users.
    pub users: usize,
    /// Seed.
    pub seed: u64,
    /// Scores.
    pub report: Report,
}

/// The rows of `data`, or the shipped ones.
pub fn rows(data: Option<&Path>) -> anyhow::Result<Vec<Row>> {
    let text = match data {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => SHIPPED_DATA.to_owned(),
    };
    dataset::parse(&text).context("reading the training data")
}

/// Trains on `data` (default: the shipped data) and writes the model to
/// `out`; returns a summary.
pub fn train(data: Option<&Path>, out: &Path) -> anyhow::Result<String> {
    let rows = rows(data)?;
    let model = GlobalModel::train(&rows);
    let bytes = model.encode();
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(format!(
        "trained on {} descriptors, {} categories; temperature {}; wrote {} ({} bytes)\n",
        rows.len(),
        model.categories().len(),
        model.temperature(),
        out.display(),
        bytes.len()
    ))
}

/// Evaluates on `data` (default: the shipped data) with `users` simulated
/// users; writes the figures to `record` when given; returns the table.
pub fn eval(data: Option<&Path>, users: usize, record: Option<&Path>) -> anyhow::Result<String> {
    let rows = rows(data)?;
    let options = Options {
        users,
        ..Options::default()
    };
    let report = eval::evaluate(&rows, &options);
    if let Some(path) = record {
        let figures = Figures {
            users,
            seed: options.seed,
            report,
        };
        let json = serde_json::to_string_pretty(&figures)? + "\n";
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(table(&rows, &options, &report))
}

/// The report as a Markdown table.
pub fn table(rows: &[Row], options: &Options, report: &Report) -> String {
    let line = |name: &str, m: &Metrics| {
        format!(
            "| {name} | {} | {:.1}% | {:.3} | {:.1}% |\n",
            m.n,
            m.accuracy * 100.0,
            m.macro_f1,
            m.coverage * 100.0
        )
    };
    let mut out = format!(
        "{} labelled descriptors; {} simulated users x {} months; seed {}; \
         abstain below {}, auto-apply from {}\n\n\
         | split | n | accuracy | macro-F1 | coverage |\n|---|---:|---:|---:|---:|\n",
        rows.len(),
        options.users,
        options.months,
        options.seed,
        options.min_confidence,
        options.auto_apply_confidence
    );
    out += &line("random, model only, always answering", &report.random_all);
    out += &line("random, model only", &report.random);
    out += &line("unseen merchants, always answering", &report.unseen_all);
    out += &line("unseen merchants", &report.unseen);
    out += &line("per-user temporal, cascade", &report.temporal);
    out += &line("per-user temporal, auto-applied", &report.temporal_auto);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CI run of the evaluation: no score may fall more than two
    /// points below the committed figures.
    #[test]
    fn the_evaluation_holds_the_committed_figures() {
        let committed: Figures = serde_json::from_str(FIGURES).expect("figures.json reads");
        assert_eq!(committed.users, CI_USERS, "figures.json is the CI run");
        let rows = rows(None).expect("the shipped data");
        let options = Options {
            users: committed.users,
            seed: committed.seed,
            ..Options::default()
        };
        let now = eval::evaluate(&rows, &options);
        let pairs = [
            ("random_all", committed.report.random_all, now.random_all),
            ("random", committed.report.random, now.random),
            ("unseen_all", committed.report.unseen_all, now.unseen_all),
            ("unseen", committed.report.unseen, now.unseen),
            ("temporal", committed.report.temporal, now.temporal),
            (
                "temporal_auto",
                committed.report.temporal_auto,
                now.temporal_auto,
            ),
        ];
        for (split, was, is) in pairs {
            for (what, was, is) in [
                ("accuracy", was.accuracy, is.accuracy),
                ("macro-F1", was.macro_f1, is.macro_f1),
                ("coverage", was.coverage, is.coverage),
            ] {
                assert!(
                    is >= was - 0.02,
                    "{split} {what} fell from {was:.3} to {is:.3}:\n{}",
                    table(&rows, &options, &now)
                );
            }
        }
        // The targets, on the CI run.
        assert!(
            now.temporal.accuracy > 0.9 && now.temporal.coverage >= 0.9,
            "{now:?}"
        );
        assert!(now.unseen_all.accuracy > 0.54, "{now:?}");
        assert!(now.temporal_auto.accuracy > 0.97, "{now:?}");
    }
}
