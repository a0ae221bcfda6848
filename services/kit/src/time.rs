//! Instants as every service stores and sends them.

use chrono::{DateTime, SubsecRound as _, Utc};

/// The current instant at the precision every backend keeps
/// (microseconds), so what is stored reads back equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `t` as a protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        // Sub-second nanos are below 2·10^9 (leap seconds included).
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(999_999_999),
    }
}

/// A protobuf timestamp in microseconds since the epoch (an event's
/// version); an error when it is missing.
pub fn micros(t: Option<&prost_types::Timestamp>) -> anyhow::Result<i64> {
    let t = t.ok_or_else(|| anyhow::anyhow!("no timestamp"))?;
    Ok(t.seconds.saturating_mul(1_000_000) + i64::from(t.nanos / 1000))
}

/// `secs` as a chrono duration (saturating; config values are validated).
pub fn seconds(secs: u64) -> chrono::Duration {
    i64::try_from(secs)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_keeps_microseconds_and_timestamps_round_trip() {
        let t = now();
        assert_eq!(t.timestamp_subsec_nanos() % 1000, 0);
        let ts = timestamp(t);
        let back = DateTime::from_timestamp(ts.seconds, ts.nanos.unsigned_abs());
        assert_eq!(back, Some(t));
        assert_eq!(micros(Some(&ts)).ok(), Some(t.timestamp_micros()));
        assert!(micros(None).is_err());
    }

    #[test]
    fn seconds_saturate() {
        assert_eq!(seconds(60), chrono::Duration::minutes(1));
        assert!(seconds(u64::MAX) > chrono::Duration::days(365 * 1000));
    }
}
