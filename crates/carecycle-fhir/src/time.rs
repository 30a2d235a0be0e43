//! Time as FHIR writes it, and the clock every time-dependent rule is given.
//!
//! Nothing that decides by time calls `now()` itself: it is handed a [`Clock`],
//! so schedules, token expiry and due windows are tested at any instant.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};
use std::sync::Mutex;

/// Where the current instant comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that says what it is told, for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl FixedClock {
    pub fn new(at: Timestamp) -> Self {
        FixedClock(Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        if let Ok(mut guard) = self.0.lock() {
            *guard = at;
        }
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        if let Ok(mut guard) = self.0.lock() {
            *guard = guard.saturating_add(by).unwrap_or(*guard);
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0.lock().map(|t| *t).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// An instant as FHIR `instant`, in UTC with microseconds and fixed width, so that
/// instants written by one server sort as text in time order.
pub fn format_instant(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A FHIR `date`, `dateTime` or `instant` as written, keeping its precision and
/// the wall-clock offset it was written in (what the clinic's calendar says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FhirDateTime {
    /// A date without time (`2026-12-08`); also a year or year-month, taken as its first day.
    Date(Date),
    /// A time on a date, at a UTC offset.
    DateTime(Zoned0),
}

/// A civil date-time with the offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zoned0 {
    pub local: DateTime,
    pub offset: Offset,
}

impl Zoned0 {
    pub fn timestamp(&self) -> Timestamp {
        self.offset
            .to_timestamp(self.local)
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a FHIR date or dateTime")]
pub struct BadDateTime(pub String);

impl FhirDateTime {
    pub fn parse(s: &str) -> Result<Self, BadDateTime> {
        let bad = || BadDateTime(s.to_owned());
        let s_trim = s.trim();
        match s_trim.len() {
            4 => {
                let y: i16 = s_trim.parse().map_err(|_| bad())?;
                Date::new(y, 1, 1)
                    .map(FhirDateTime::Date)
                    .map_err(|_| bad())
            }
            7 => {
                let d: Date = format!("{s_trim}-01").parse().map_err(|_| bad())?;
                Ok(FhirDateTime::Date(d))
            }
            10 => s_trim.parse().map(FhirDateTime::Date).map_err(|_| bad()),
            _ => {
                let pieces = jiff::fmt::temporal::Pieces::parse(s_trim).map_err(|_| bad())?;
                let offset = match pieces.offset() {
                    Some(jiff::fmt::temporal::PiecesOffset::Zulu) => Offset::UTC,
                    Some(jiff::fmt::temporal::PiecesOffset::Numeric(n)) => n.offset(),
                    // FHIR requires an offset when a time is given.
                    _ => return Err(bad()),
                };
                let time = pieces.time().ok_or_else(bad)?;
                Ok(FhirDateTime::DateTime(Zoned0 {
                    local: pieces.date().to_datetime(time),
                    offset,
                }))
            }
        }
    }

    /// The calendar date as written (for a date-time, in its own offset).
    pub fn date(&self) -> Date {
        match self {
            FhirDateTime::Date(d) => *d,
            FhirDateTime::DateTime(z) => z.local.date(),
        }
    }

    /// The wall-clock time as written, if any.
    pub fn time(&self) -> Option<Time> {
        match self {
            FhirDateTime::Date(_) => None,
            FhirDateTime::DateTime(z) => Some(z.local.time()),
        }
    }

    /// The earliest instant this value can mean: a date starts at midnight in `tz`.
    pub fn start_instant(&self, tz: &TimeZone) -> Timestamp {
        match self {
            FhirDateTime::Date(d) => tz
                .to_timestamp(d.to_datetime(Time::midnight()))
                .unwrap_or(Timestamp::UNIX_EPOCH),
            FhirDateTime::DateTime(z) => z.timestamp(),
        }
    }
}

/// A date-time at the clinic, written as FHIR `dateTime` with its offset
/// (`2026-12-08T10:00:00-06:00`).
pub fn format_zoned(z: &Zoned) -> String {
    z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_fixed_width_utc() {
        let t: Timestamp = "2026-11-22T10:27:00Z".parse().unwrap();
        assert_eq!(format_instant(t), "2026-11-22T10:27:00.000000Z");
    }

    #[test]
    fn parses_every_precision() {
        assert_eq!(
            FhirDateTime::parse("2026").unwrap().date(),
            Date::new(2026, 1, 1).unwrap()
        );
        assert_eq!(
            FhirDateTime::parse("2026-02").unwrap().date(),
            Date::new(2026, 2, 1).unwrap()
        );
        let dt = FhirDateTime::parse("2026-12-08T10:00:00-06:00").unwrap();
        assert_eq!(dt.date(), Date::new(2026, 12, 8).unwrap());
        assert_eq!(dt.time(), Some(Time::new(10, 0, 0, 0).unwrap()));
        assert_eq!(
            dt.start_instant(&TimeZone::UTC),
            "2026-12-08T16:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(FhirDateTime::parse("2026-12-08T10:00:00").is_err());
        assert!(FhirDateTime::parse("tomorrow").is_err());
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let t: Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        let clock = FixedClock::new(t);
        clock.advance(jiff::SignedDuration::from_hours(1));
        assert_eq!(clock.now(), "2026-11-22T01:00:00Z".parse().unwrap());
    }
}
