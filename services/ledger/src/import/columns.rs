//! Where the values of a line are: the column specs of a format ([`Column`],
//! [`AmountColumns`]) and their resolution to indexes against the header row.

use super::rows::Row;
use super::{FileError, ImportFormat};

/// Where a value is in a row: a header name, or a 1-based column number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// A header cell, compared trimmed and case-insensitively.
    Name(String),
    /// A column number, counted from 1.
    Number(usize),
}

/// Where the amount of a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountColumns {
    /// One column holding a signed amount (negative is money out).
    Signed(Column),
    /// Two columns holding unsigned amounts: money out and money in. Exactly
    /// one of them is set (non-empty and non-zero) on each line.
    DebitCredit {
        /// Money out: the amount becomes negative.
        debit: Column,
        /// Money in: the amount stays positive.
        credit: Column,
    },
}

/// Which option a column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Date,
    Amount,
    Debit,
    Credit,
    Description,
    Merchant,
}

impl Role {
    /// The option name as used in [`LineError::field`](super::LineError::field).
    pub(super) fn field(self) -> &'static str {
        match self {
            Self::Date => "date_column",
            Self::Amount => "amount_column",
            Self::Debit => "debit_column",
            Self::Credit => "credit_column",
            Self::Description => "description_column",
            Self::Merchant => "merchant_column",
        }
    }

    /// The option name as used in option problems and [`FileError::MissingColumn`].
    pub(super) fn option(self) -> &'static str {
        match self {
            Self::Date => "options.date_column",
            Self::Amount => "options.amount_column",
            Self::Debit => "options.debit_column",
            Self::Credit => "options.credit_column",
            Self::Description => "options.description_column",
            Self::Merchant => "options.merchant_column",
        }
    }
}

/// A column resolved to a 0-based index.
#[derive(Debug, Clone, Copy)]
pub(super) struct Col {
    pub(super) index: usize,
    pub(super) role: Role,
}

impl Col {
    /// The 1-based column number, for messages.
    pub(super) fn number(self) -> usize {
        self.index.saturating_add(1)
    }
}

/// [`AmountColumns`] resolved to indexes.
#[derive(Debug, Clone, Copy)]
pub(super) enum AmountCols {
    Signed(Col),
    DebitCredit { debit: Col, credit: Col },
}

/// All columns of a format resolved to indexes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Columns {
    pub(super) date: Col,
    pub(super) amount: AmountCols,
    pub(super) description: Option<Col>,
    pub(super) merchant: Option<Col>,
}

impl Columns {
    /// Resolves the format's columns against the header cells (trimmed and lowercased; `None`
    /// for a cell that is not UTF-8), or numbers only when there is no header.
    pub(super) fn resolve(
        format: &ImportFormat,
        header: Option<&[Option<String>]>,
    ) -> Result<Self, FileError> {
        let date = resolve_column(&format.date_column, Role::Date, header)?;
        let amount = match &format.amount {
            AmountColumns::Signed(column) => {
                AmountCols::Signed(resolve_column(column, Role::Amount, header)?)
            }
            AmountColumns::DebitCredit { debit, credit } => AmountCols::DebitCredit {
                debit: resolve_column(debit, Role::Debit, header)?,
                credit: resolve_column(credit, Role::Credit, header)?,
            },
        };
        let description = format
            .description_column
            .as_ref()
            .map(|column| resolve_column(column, Role::Description, header))
            .transpose()?;
        let merchant = format
            .merchant_column
            .as_ref()
            .map(|column| resolve_column(column, Role::Merchant, header))
            .transpose()?;
        Ok(Self {
            date,
            amount,
            description,
            merchant,
        })
    }
}

/// Resolves one column to an index.
fn resolve_column(
    column: &Column,
    role: Role,
    header: Option<&[Option<String>]>,
) -> Result<Col, FileError> {
    match column {
        Column::Number(number) => match number.checked_sub(1) {
            Some(index) => Ok(Col { index, role }),
            None => Err(FileError::MissingColumn {
                option: role.option(),
                name: number.to_string(),
            }),
        },
        Column::Name(name) => {
            let missing = || FileError::MissingColumn {
                option: role.option(),
                name: name.clone(),
            };
            let Some(header) = header else {
                return Err(missing());
            };
            let wanted = name.trim().to_lowercase();
            if let Some(index) = header
                .iter()
                .position(|cell| cell.as_deref() == Some(wanted.as_str()))
            {
                return Ok(Col { index, role });
            }
            if let Some(bad) = header.iter().position(Option::is_none) {
                return Err(FileError::BadHeader(format!(
                    "column {} is not valid UTF-8 text (the file must be UTF-8 encoded)",
                    bad + 1
                )));
            }
            Err(missing())
        }
    }
}

/// The header cells, trimmed and lowercased for matching; `None` for a cell that is not UTF-8.
pub(super) fn header_cells(row: &Row<'_>) -> Vec<Option<String>> {
    (0..row.width())
        .map(|index| {
            row.cell(index)
                .and_then(|cell| std::str::from_utf8(cell).ok())
                .map(|cell| cell.trim().to_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{amounts, date, header_options, options, run};
    use super::super::{RawOptions, parse};
    use super::*;

    #[test]
    fn header_names_match_case_insensitively_after_a_bom() {
        let format = options(&RawOptions {
            date_column: "date",
            amount_column: "AMOUNT",
            description_column: "description",
            merchant_column: " Merchant ",
            ..header_options()
        });
        let data = "\u{feff}DATE , amount,Description,MERCHANT\n\
                    2024-03-01,-4.50, Coffee ,Cafe Luna\n\
                    2024-03-02,1200.00,Salary,ACME\n";
        let parsed = run(&format, 2, data);
        assert_eq!(parsed.errors, Vec::new());
        assert_eq!(parsed.lines.len(), 2);
        let coffee = &parsed.lines[0];
        assert_eq!(coffee.line, 2);
        assert_eq!(coffee.date, date(2024, 3, 1));
        assert_eq!(coffee.amount_minor, -450);
        assert_eq!(coffee.description, "Coffee");
        assert_eq!(coffee.merchant, "Cafe Luna");
        assert_eq!(parsed.lines[1].line, 3);
        assert_eq!(parsed.lines[1].amount_minor, 120_000);
    }

    #[test]
    fn numbered_columns_without_a_header() {
        let format = options(&RawOptions {
            has_header: false,
            date_column: "2",
            date_format: "%d/%m/%Y",
            amount_column: "3",
            description_column: "1",
            ..RawOptions::default()
        });
        let parsed = run(
            &format,
            2,
            "Groceries,15/01/2024,-23.10\nRent,01/02/2024,-950\n",
        );
        assert_eq!(parsed.errors, Vec::new());
        assert_eq!(amounts(&parsed), vec![-2310, -95_000]);
        assert_eq!(parsed.lines[0].line, 1);
        assert_eq!(parsed.lines[0].description, "Groceries");
        assert_eq!(parsed.lines[0].date, date(2024, 1, 15));
        assert_eq!(parsed.lines[1].line, 2);
        assert_eq!(parsed.lines[1].date, date(2024, 2, 1));
        assert_eq!(parsed.lines[1].merchant, "");
    }

    #[test]
    fn missing_named_column_is_a_file_error() {
        let format = options(&RawOptions {
            description_column: "Memo",
            ..header_options()
        });
        let err = parse(&format, 2, b"Date,Amount\n2024-01-01,1.00\n").expect_err("no Memo");
        assert_eq!(
            err,
            FileError::MissingColumn {
                option: "options.description_column",
                name: "Memo".to_owned(),
            }
        );
        assert_eq!(err.to_string(), "the header row has no column named `Memo`");
    }
}
