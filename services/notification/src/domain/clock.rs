//! Local times of day in the user's time zone: quiet hours and the digest.

use chrono::{DateTime, Days, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;

/// Parses `HH:MM` (24-hour).
pub fn parse_time(raw: &str) -> Result<NaiveTime, String> {
    let valid = raw.len() == 5 && raw.as_bytes()[2] == b':';
    valid
        .then(|| NaiveTime::parse_from_str(raw, "%H:%M").ok())
        .flatten()
        .ok_or_else(|| {
            format!(
                "`{}` is not a time of day as HH:MM",
                freedumb_kit::domain::truncate(raw, 10)
            )
        })
}

/// Parses an IANA time zone name; empty means UTC.
pub fn parse_zone(raw: &str) -> Result<Tz, String> {
    if raw.is_empty() {
        return Ok(Tz::UTC);
    }
    raw.parse::<Tz>().map_err(|_| {
        format!(
            "`{}` is not an IANA time zone such as Europe/Paris",
            freedumb_kit::domain::truncate(raw, 40)
        )
    })
}

/// Quiet hours: from `start` to `end`, local, possibly over midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// When they begin.
    pub start: NaiveTime,
    /// When they end.
    pub end: NaiveTime,
}

impl QuietHours {
    /// When email may go out again: `now` itself outside quiet hours, their
    /// end otherwise.
    pub fn release(&self, zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&zone);
        let time = local.time();
        let quiet = if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !quiet || self.start == self.end {
            return now;
        }
        // The end today, or tomorrow when it is already past.
        let today = local.date_naive();
        let day = if time < self.end {
            today
        } else {
            today.checked_add_days(Days::new(1)).unwrap_or(today)
        };
        local_instant(zone, day.and_time(self.end)).unwrap_or(now)
    }
}

/// The next instant at `at` local time strictly after `now`.
pub fn next_local(zone: Tz, at: NaiveTime, now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&zone);
    let today = local.date_naive();
    let candidate = local_instant(zone, today.and_time(at)).filter(|t| *t > now);
    candidate.unwrap_or_else(|| {
        let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
        local_instant(zone, tomorrow.and_time(at)).unwrap_or(now)
    })
}

/// A local wall time as an instant: the earlier one when the clocks go back,
/// the first instant after the gap when they go forward.
fn local_instant(zone: Tz, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(early, _) => Some(early.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            let later = local + chrono::Duration::hours(1);
            zone.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn times_and_zones_are_checked() {
        assert_eq!(
            parse_time("07:30"),
            Ok(NaiveTime::from_hms_opt(7, 30, 0).expect("time"))
        );
        assert!(parse_time("7:30").is_err());
        assert!(parse_time("24:00").is_err());
        assert_eq!(parse_zone(""), Ok(Tz::UTC));
        assert_eq!(parse_zone("Europe/Paris"), Ok(Tz::Europe__Paris));
        assert!(parse_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn quiet_hours_over_midnight_hold_email_until_they_end_in_local_time() {
        let quiet = QuietHours {
            start: parse_time("22:00").expect("time"),
            end: parse_time("07:00").expect("time"),
        };
        let paris = Tz::Europe__Paris;
        // 23:30 in Paris (UTC+1 in January): held until 07:00 Paris.
        assert_eq!(
            quiet.release(paris, utc("2024-01-10T22:30:00Z")),
            utc("2024-01-11T06:00:00Z")
        );
        // 05:00 in Paris: held until 07:00 the same day.
        assert_eq!(
            quiet.release(paris, utc("2024-01-10T04:00:00Z")),
            utc("2024-01-10T06:00:00Z")
        );
        // Noon: not quiet.
        let noon = utc("2024-01-10T11:00:00Z");
        assert_eq!(quiet.release(paris, noon), noon);
    }

    #[test]
    fn the_next_digest_is_the_next_local_occurrence() {
        let eight = parse_time("08:00").expect("time");
        let ny = Tz::America__New_York;
        assert_eq!(
            next_local(ny, eight, utc("2024-07-01T11:00:00Z")),
            utc("2024-07-01T12:00:00Z")
        );
        assert_eq!(
            next_local(ny, eight, utc("2024-07-01T12:00:00Z")),
            utc("2024-07-02T12:00:00Z")
        );
    }
}
