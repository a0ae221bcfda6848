//! When a recurring rule falls due. Occurrence `n` is computed from the
//! start date (never from the previous occurrence), so a monthly rule on the
//! 31st is on the 30th in April and back on the 31st in May.

use chrono::{Days, Months, NaiveDate};

/// How often a rule repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// Every `interval` days.
    Daily,
    /// Every `interval` weeks.
    Weekly,
    /// Every `interval` months (clamped to the month's last day).
    Monthly,
    /// Every `interval` years (29 February falls on the 28th).
    Yearly,
}

impl Frequency {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }

    /// Parses a stored name.
    pub fn from_str_name(s: &str) -> Option<Self> {
        Some(match s {
            "daily" => Self::Daily,
            "weekly" => Self::Weekly,
            "monthly" => Self::Monthly,
            "yearly" => Self::Yearly,
            _ => return None,
        })
    }
}

/// A validated schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The unit.
    pub frequency: Frequency,
    /// Units between occurrences, 1 to 1000.
    pub interval: u32,
    /// The first occurrence.
    pub start: NaiveDate,
    /// The last possible occurrence (inclusive).
    pub end: Option<NaiveDate>,
}

impl Schedule {
    /// The `n`th occurrence (0 is the start), or `None` past the end or the
    /// calendar's range.
    pub fn occurrence(&self, n: u64) -> Option<NaiveDate> {
        let steps = n.checked_mul(u64::from(self.interval))?;
        let date = match self.frequency {
            Frequency::Daily => self.start.checked_add_days(Days::new(steps))?,
            Frequency::Weekly => self
                .start
                .checked_add_days(Days::new(steps.checked_mul(7)?))?,
            Frequency::Monthly => self
                .start
                .checked_add_months(Months::new(u32::try_from(steps).ok()?))?,
            Frequency::Yearly => self
                .start
                .checked_add_months(Months::new(u32::try_from(steps.checked_mul(12)?).ok()?))?,
        };
        match self.end {
            Some(end) if date > end => None,
            _ => Some(date),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    fn schedule(frequency: Frequency, interval: u32, start: NaiveDate) -> Schedule {
        Schedule {
            frequency,
            interval,
            start,
            end: None,
        }
    }

    #[test]
    fn monthly_on_the_31st_clamps_without_drifting() {
        let s = schedule(Frequency::Monthly, 1, d(2025, 1, 31));
        let got: Vec<_> = (0..4).filter_map(|n| s.occurrence(n)).collect();
        assert_eq!(
            got,
            [
                d(2025, 1, 31),
                d(2025, 2, 28),
                d(2025, 3, 31),
                d(2025, 4, 30)
            ]
        );
    }

    #[test]
    fn intervals_and_units() {
        assert_eq!(
            schedule(Frequency::Daily, 3, d(2025, 1, 1)).occurrence(2),
            Some(d(2025, 1, 7))
        );
        assert_eq!(
            schedule(Frequency::Weekly, 2, d(2025, 1, 1)).occurrence(1),
            Some(d(2025, 1, 15))
        );
        assert_eq!(
            schedule(Frequency::Yearly, 1, d(2024, 2, 29)).occurrence(1),
            Some(d(2025, 2, 28))
        );
        assert_eq!(
            schedule(Frequency::Yearly, 1, d(2024, 2, 29)).occurrence(4),
            Some(d(2028, 2, 29))
        );
    }

    #[test]
    fn end_is_inclusive_and_overflow_ends_the_rule() {
        let mut s = schedule(Frequency::Daily, 1, d(2025, 1, 1));
        s.end = Some(d(2025, 1, 3));
        assert_eq!(s.occurrence(2), Some(d(2025, 1, 3)));
        assert_eq!(s.occurrence(3), None);
        let far = schedule(Frequency::Yearly, 1000, d(9000, 1, 1));
        assert_eq!(far.occurrence(u64::MAX), None);
        assert_eq!(far.occurrence(300), None);
    }

    #[test]
    fn names_round_trip() {
        for f in [
            Frequency::Daily,
            Frequency::Weekly,
            Frequency::Monthly,
            Frequency::Yearly,
        ] {
            assert_eq!(Frequency::from_str_name(f.as_str()), Some(f));
        }
        assert_eq!(Frequency::from_str_name("hourly"), None);
    }
}
