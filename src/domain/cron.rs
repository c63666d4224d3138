//! Cron jobs as the API shows them (Drone's shape, plus the time zone, the owner and why the
//! last due run did not start), and their schedule: Drone's six fields with seconds first
//! (`0 30 2 * * *`), the usual five (`30 2 * * *`) or a descriptor (`@daily`), read in an IANA
//! time zone. Pure: `now` comes in as Unix milliseconds.

use super::ids::RepoId;
use serde::Serialize;
use std::str::FromStr;

/// A stored cron job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cron {
    pub id: i64,
    pub repo_id: RepoId,
    pub name: String,
    pub expr: String,
    /// The IANA time zone the expression is read in (`UTC`, `Europe/Berlin`).
    pub zone: String,
    /// When it runs next (Unix seconds, as Drone).
    #[serde(serialize_with = "super::build::secs")]
    pub next: i64,
    /// The slot of its last due run (0: none yet).
    #[serde(serialize_with = "super::build::secs")]
    pub prev: i64,
    /// Drone's field, kept for its clients; cron builds' event is always `cron`.
    pub event: String,
    pub branch: String,
    /// The deploy target its builds get (empty: none).
    pub target: String,
    pub disabled: bool,
    /// The login its builds act as: the user who last created or changed it (empty: that
    /// user no longer exists).
    pub owner: String,
    /// Why the last due run did not start (empty: it did).
    pub error: String,
    #[serde(serialize_with = "super::build::secs")]
    pub created: i64,
    #[serde(serialize_with = "super::build::secs")]
    pub updated: i64,
}

/// A parsed expression in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

impl Schedule {
    /// Reads `expr` in the time zone `zone`; the error says what is wrong, for the caller.
    pub fn parse(expr: &str, zone: &str) -> Result<Schedule, String> {
        let zone = chrono_tz::Tz::from_str(zone).map_err(|_| {
            format!("time zone {zone:?} is not an IANA time zone name such as UTC or Europe/Berlin")
        })?;
        let fields = expr.split_whitespace().count();
        if !(expr.trim_start().starts_with('@') || matches!(fields, 5 | 6)) {
            return Err(format!(
                "cron expression {expr:?} has {fields} fields: give five (minute hour day month \
                 weekday) or six with seconds first (second minute hour day month weekday)"
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| format!("cron expression {expr:?} is not valid: {e}"))?;
        let schedule = Schedule { cron, zone };
        // An expression that never matches (`0 0 30 2 *`) is refused now rather than never run.
        if schedule.next_after(0).is_none() {
            return Err(format!("cron expression {expr:?} never matches a date"));
        }
        Ok(schedule)
    }

    /// The first time strictly after `now` (Unix ms) the expression matches; `None` if none.
    pub fn next_after(&self, now: i64) -> Option<i64> {
        use chrono::TimeZone;
        let start = self.zone.timestamp_millis_opt(now).single()?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.timestamp_millis())
    }
}

/// Checks a job's name: Drone's slug rule, letters, digits, `_`, `-` and `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    super::check_name("cron job name", name, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-02 10:00:00 UTC, a Monday.
    const MONDAY_10: i64 = 1_772_445_600_000;
    const HOUR: i64 = 3_600_000;

    fn next(expr: &str, zone: &str, now: i64) -> i64 {
        Schedule::parse(expr, zone)
            .expect("a valid schedule")
            .next_after(now)
            .expect("a next time")
    }

    #[test]
    fn five_fields_are_minute_hour_day_month_weekday() {
        assert_eq!(
            next("30 11 * * *", "UTC", MONDAY_10),
            MONDAY_10 + HOUR + HOUR / 2
        );
    }

    #[test]
    fn six_fields_put_seconds_first_as_drone_does() {
        assert_eq!(
            next("15 30 11 * * *", "UTC", MONDAY_10),
            MONDAY_10 + HOUR + HOUR / 2 + 15_000
        );
    }

    #[test]
    fn the_next_time_is_strictly_after_now() {
        assert_eq!(next("0 10 * * *", "UTC", MONDAY_10), MONDAY_10 + 24 * HOUR);
    }

    #[test]
    fn an_expression_is_read_in_its_time_zone() {
        // 09:00 in Berlin is 08:00 UTC in winter: tomorrow's, since today's has passed.
        assert_eq!(
            next("0 9 * * *", "Europe/Berlin", MONDAY_10),
            MONDAY_10 + 22 * HOUR
        );
        // 09:00 in New York is 14:00 UTC in early March (before the switch on March 8th).
        assert_eq!(
            next("0 9 * * *", "America/New_York", MONDAY_10),
            MONDAY_10 + 4 * HOUR
        );
    }

    #[test]
    fn descriptors_are_understood() {
        assert_eq!(next("@daily", "UTC", MONDAY_10), MONDAY_10 + 14 * HOUR);
        assert_eq!(next("@hourly", "UTC", MONDAY_10), MONDAY_10 + HOUR);
    }

    #[test]
    fn bad_expressions_and_zones_say_what_is_wrong() {
        let err = Schedule::parse("* * *", "UTC").expect_err("too few fields");
        assert!(err.contains("has 3 fields"), "{err}");
        let err = Schedule::parse("0 61 * * *", "UTC").expect_err("minute out of range");
        assert!(err.contains("is not valid"), "{err}");
        let err = Schedule::parse("0 0 * * *", "Mars/Olympus").expect_err("unknown zone");
        assert!(err.contains("IANA time zone"), "{err}");
        let err = Schedule::parse("0 0 0 30 2 *", "UTC").expect_err("February 30th");
        assert!(
            err.contains("never matches") || err.contains("is not valid"),
            "{err}"
        );
    }

    #[test]
    fn names_are_slugs() {
        assert!(check_name("nightly-build.v2").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
    }
}
