//! A zone's wall clock: what Django's `datetime.now()` reads when
//! `TIME_ZONE` names that zone. The original's reset tokens count seconds
//! of wall-clock time (contract §18, `AUTHGATE_TIME_ZONE`).

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// The zone whose wall clock reset tokens count in; UTC by default.
#[derive(Clone, Default)]
pub struct WallClock {
    zone: Option<Arc<(String, tz::TimeZone)>>,
}

impl WallClock {
    /// UTC's wall clock.
    pub fn utc() -> WallClock {
        WallClock { zone: None }
    }

    /// The wall clock of the zone `name` (an IANA name such as
    /// `Europe/Paris`, or a POSIX TZ rule), its rules read from the
    /// system's zone files.
    pub fn named(name: &str) -> Result<WallClock, String> {
        let zone = tz::TimeZone::from_posix_tz(name).map_err(|e| e.to_string())?;
        Ok(WallClock { zone: Some(Arc::new((name.to_owned(), zone))) })
    }

    /// Seconds since the Unix epoch of the wall-clock time at `t`, as if
    /// that local time were UTC (what Django computes from a naive
    /// `datetime.now()`).
    pub fn seconds(&self, t: DateTime<Utc>) -> i64 {
        let unix = t.timestamp();
        let offset = self.zone.as_ref().and_then(|z| z.1.find_local_time_type(unix).ok()).map_or(0, |l| l.ut_offset());
        unix + i64::from(offset)
    }

    /// The zone's name, `UTC` by default.
    pub fn name(&self) -> &str {
        self.zone.as_ref().map_or("UTC", |z| z.0.as_str())
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WallClock({})", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn zone(name: &str) -> WallClock {
        WallClock::named(name).expect("the system has the zone")
    }

    /// Offsets as Python's zoneinfo gives them (`datetime.now(ZoneInfo(..))`
    /// at these instants), summer and winter, either side of UTC.
    #[test]
    fn wall_clocks_follow_the_zone_rules() {
        let cases = [
            ("Europe/Paris", "2026-07-01T12:00:00Z", 2 * 3600),
            ("Europe/Paris", "2026-12-01T12:00:00Z", 3600),
            ("America/New_York", "2026-07-01T12:00:00Z", -4 * 3600),
            ("America/New_York", "2026-12-01T12:00:00Z", -5 * 3600),
            ("Asia/Kolkata", "2026-12-01T12:00:00Z", 5 * 3600 + 1800),
            ("UTC", "2026-12-01T12:00:00Z", 0),
        ];
        for (name, instant, offset) in cases {
            let t = at(instant);
            assert_eq!(zone(name).seconds(t) - t.timestamp(), offset, "{name} at {instant}");
        }
        assert_eq!(WallClock::utc().seconds(at("2026-07-01T12:00:00Z")), at("2026-07-01T12:00:00Z").timestamp());
    }

    /// The night the clocks go back, the wall clock repeats an hour.
    #[test]
    fn the_wall_clock_repeats_an_hour_in_autumn() {
        let paris = zone("Europe/Paris");
        let before = at("2026-10-25T00:59:59Z");
        let after = at("2026-10-25T01:00:00Z");
        assert_eq!(paris.seconds(after) - paris.seconds(before), 1 - 3600);
    }
}
