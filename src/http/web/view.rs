//! What every page shows around its content (the header with the account, the style sheet and
//! scripts, the CSRF token for the scripts), and the small formatting the pages share: times,
//! durations, statuses.

use super::Viewer;
use super::assets;
use crate::domain::Status;

/// The frame of a page.
pub struct Chrome {
    pub title: String,
    /// Empty when nobody is signed in (error pages).
    pub login: String,
    pub csrf: String,
    pub admin: bool,
    pub css: String,
    pub js: String,
}

impl Chrome {
    pub fn new(title: impl Into<String>, viewer: &Viewer, admin: bool) -> Chrome {
        Chrome {
            title: title.into(),
            login: viewer.login.clone(),
            csrf: viewer.csrf.clone(),
            admin,
            css: assets::url("hangar.css"),
            js: assets::url("hangar.js"),
        }
    }

    /// The frame of a page shown without knowing who is looking (errors).
    pub fn bare(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            login: String::new(),
            csrf: String::new(),
            admin: false,
            css: assets::url("hangar.css"),
            js: assets::url("hangar.js"),
        }
    }
}

/// "3 min ago", "2 h ago", "5 d ago" from Unix milliseconds; empty for 0.
pub fn ago(now: i64, ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    let s = (now - ms).max(0) / 1000;
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// "in 3 d", "in 40 min" (or "expired" / "never") for an expiry in Unix milliseconds.
pub fn until(now: i64, ms: i64) -> String {
    if ms <= 0 {
        return "never".into();
    }
    let s = (ms - now) / 1000;
    match s {
        ..=0 => "expired".into(),
        1..60 => format!("in {s} s"),
        60..3600 => format!("in {} min", s / 60),
        3600..86_400 => format!("in {} h", s / 3600),
        _ => format!("in {} d", s / 86_400),
    }
}

/// How long something ran: "1m 05s"; still running counts to `now`; empty if it never started.
pub fn duration(started: i64, finished: i64, now: i64) -> String {
    if started <= 0 {
        return String::new();
    }
    let end = if finished > 0 { finished } else { now };
    let s = (end - started).max(0) / 1000;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A UTC date and time, "2026-11-26 06:30 UTC".
pub fn date(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The CSS class of a status (`st-success`, `st-running`...).
pub fn status_class(status: Status) -> String {
    format!("st st-{}", status.as_str())
}

/// The first line of a commit message, at most 100 characters.
pub fn headline(message: &str) -> String {
    let line = message.lines().next().unwrap_or("");
    match line.char_indices().nth(100) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_minutes_and_seconds() {
        assert_eq!(duration(1_000, 66_000, 0), "1m 05s");
        assert_eq!(duration(1_000, 0, 11_000), "10s");
        assert_eq!(duration(0, 5_000, 9_000), "");
        assert_eq!(duration(1, 7_200_001, 0), "2h 00m");
    }

    #[test]
    fn times_read_as_how_long_ago() {
        assert_eq!(ago(120_000, 0), "");
        assert_eq!(ago(130_000, 10_000), "2 min ago");
        assert_eq!(until(0, 3 * 86_400_000), "in 3 d");
        assert_eq!(until(10, 5), "expired");
        assert_eq!(until(10, 0), "never");
    }

    #[test]
    fn a_headline_is_the_first_line_cut_short() {
        assert_eq!(headline("Fix it\n\nbody"), "Fix it");
        assert_eq!(headline(&"x".repeat(150)).chars().count(), 101);
    }
}
