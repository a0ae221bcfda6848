use chrono::NaiveDate;
use freedumb_proto::google::r#type::Date;

/// A `google.type.Date` that must be a full calendar date (year 1 to 9999).
pub fn required_date(date: Option<&Date>) -> Result<NaiveDate, String> {
    let d = date.ok_or("is required")?;
    if !(1..=9999).contains(&d.year) {
        return Err(format!("year {} is outside 1 to 9999", d.year));
    }
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .ok_or_else(|| {
            format!(
                "{}-{:02}-{:02} is not a calendar date",
                d.year, d.month, d.day
            )
        })
}

/// An optional date: absent, or a full calendar date.
pub fn optional_date(d: Option<&Date>) -> Result<Option<NaiveDate>, String> {
    d.map(|d| required_date(Some(d))).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(year: i32, month: i32, day: i32) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn dates_are_calendar_dates() {
        assert_eq!(
            required_date(Some(&d(2024, 2, 29))),
            Ok(NaiveDate::from_ymd_opt(2024, 2, 29).expect("date"))
        );
        assert!(required_date(Some(&d(2023, 2, 29))).is_err());
        assert!(required_date(Some(&d(0, 1, 1))).is_err());
        assert!(required_date(Some(&d(10000, 1, 1))).is_err());
        assert!(required_date(Some(&d(2024, -1, 1))).is_err());
        assert!(required_date(None).is_err());
    }

    #[test]
    fn an_optional_date_may_be_absent_but_not_invalid() {
        assert_eq!(optional_date(None), Ok(None));
        assert!(optional_date(Some(&d(2024, 13, 1))).is_err());
    }
}
