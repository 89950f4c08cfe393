//! Time: what time it is, and how times are written. One place, so time-dependent code takes
//! `now` as a value (and tests can pass any), and every page and export writes times alike.

/// Current time in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Unix seconds as RFC 3339 UTC (`2026-11-23T21:08:53Z`), for exports and APIs; empty when
/// out of range.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Unix seconds for people (`2026-11-23 21:08:53 UTC`); empty when out of range.
pub fn readable(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_alike_everywhere() {
        assert_eq!(rfc3339(1_795_468_133), "2026-11-23T21:08:53Z");
        assert_eq!(readable(1_795_468_133), "2026-11-23 21:08:53 UTC");
        assert_eq!(rfc3339(i64::MAX), "");
    }
}
