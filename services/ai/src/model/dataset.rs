//! The labelled descriptors the global model learns from: a tab-separated
//! file with the columns `description category amount_min amount_max
//! weight source` (see `services/ai/model/data/SOURCES.md`).

use std::collections::BTreeSet;

use crate::domain::normalize;

/// The columns, in order.
pub const HEADER: [&str; 6] = [
    "description",
    "category",
    "amount_min",
    "amount_max",
    "weight",
    "source",
];

/// One labelled descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// As a statement shows it.
    pub description: String,
    /// A default category's name.
    pub category: String,
    /// The range of its amounts, in minor units, signed.
    pub amount_min: i64,
    /// See `amount_min`.
    pub amount_max: i64,
    /// How common the merchant is (relative).
    pub weight: u32,
    /// Where the row came from.
    pub source: String,
}

impl Row {
    /// The middle of its amount range.
    pub fn amount_minor(&self) -> i64 {
        self.amount_min / 2 + self.amount_max / 2
    }

    /// The merchant the row names, as a key: rows with the same key are
    /// one merchant (kept on one side of a split).
    pub fn merchant_key(&self) -> String {
        normalize(&self.description).map_or_else(|| self.description.to_lowercase(), |m| m.key)
    }
}

/// A line of the file that is not a row.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct DatasetError {
    /// 1-based.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Reads the file's text.
pub fn parse(text: &str) -> Result<Vec<Row>, DatasetError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.split('\t').eq(HEADER) => {}
        _ => {
            return Err(DatasetError {
                line: 1,
                problem: format!("the header must be {}", HEADER.join("\\t")),
            });
        }
    }
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            row(line).map_err(|problem| DatasetError {
                line: i + 1,
                problem,
            })
        })
        .collect()
}

fn row(line: &str) -> Result<Row, String> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [description, category, min, max, weight, source] = fields.as_slice() else {
        return Err(format!("{} columns, not 6", fields.len()));
    };
    let minor = |name: &str, text: &str| -> Result<i64, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() < 1e12)
            // Checked above: the product fits.
            .map(|x| (x * 100.0).round() as i64)
            .ok_or_else(|| format!("{name} {text:?} is not an amount"))
    };
    let (amount_min, amount_max) = (minor("amount_min", min)?, minor("amount_max", max)?);
    if amount_min > amount_max {
        return Err("amount_min is above amount_max".into());
    }
    if description.trim().is_empty() || category.trim().is_empty() {
        return Err("description and category are required".into());
    }
    Ok(Row {
        description: description.trim().to_owned(),
        category: category.trim().to_owned(),
        amount_min,
        amount_max,
        weight: weight
            .trim()
            .parse()
            .ok()
            .filter(|w| *w > 0)
            .ok_or_else(|| format!("weight {weight:?} is not a positive integer"))?,
        source: source.trim().to_owned(),
    })
}

/// The categories the rows name, sorted.
pub fn classes(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| r.category.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The group of an amount's categories: 1 for income (money in), 0 for
/// expenses.
pub fn group_of(amount_minor: i64) -> u32 {
    u32::from(amount_minor > 0)
}

/// Per class, its group: income when its rows bring money in.
pub fn groups(rows: &[Row], classes: &[String]) -> Vec<u32> {
    classes
        .iter()
        .map(|c| {
            let income = rows
                .iter()
                .filter(|r| &r.category == c)
                .all(|r| r.amount_min > 0);
            u32::from(income)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_bad_lines_are_named() {
        let text = "description\tcategory\tamount_min\tamount_max\tweight\tsource\n\
                    SQ *BLUE BOTTLE 0042 OAKLAND CA\tCoffee\t-9.50\t-3.25\t80\thandwritten\n";
        let rows = parse(text).expect("parses");
        assert_eq!(rows[0].amount_min, -950);
        assert_eq!(rows[0].amount_minor(), -475 - 162);
        assert_eq!(rows[0].merchant_key(), "blue bottle");
        assert_eq!(classes(&rows), ["Coffee"]);
        for (bad, line) in [
            ("nope\n", 1),
            (
                "description\tcategory\tamount_min\tamount_max\tweight\tsource\nx\tCoffee\t1\t0\t1\ts\n",
                2,
            ),
            (
                "description\tcategory\tamount_min\tamount_max\tweight\tsource\n\nx\tCoffee\t0\t1\t0\ts\n",
                3,
            ),
            (
                "description\tcategory\tamount_min\tamount_max\tweight\tsource\nx\tCoffee\tNaN\t1\t1\ts\n",
                2,
            ),
        ] {
            assert_eq!(parse(bad).expect_err(bad).line, line, "{bad}");
        }
    }
}
