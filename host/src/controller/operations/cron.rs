//! The next run of a CronJob schedule, for `status.nextScheduleTime` (the CronJob controller
//! reports only the last one). Standard five-field cron (minute hour day-of-month month
//! day-of-week, with `*`, lists, ranges, steps and the `@hourly`-style macros), evaluated in
//! UTC, as a CronJob without `timeZone` is by a controller manager running in UTC.

use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Timestamp, ToSpan};

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Both day fields restricted: cron runs when either matches.
    either_day: bool,
}

/// Why a schedule cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("schedule {schedule:?}: {reason}")]
pub struct ScheduleError {
    schedule: String,
    reason: String,
}

impl Schedule {
    /// Parses a schedule.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let err = |reason: String| ScheduleError {
            schedule: text.to_owned(),
            reason,
        };
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let field = |i: usize, name: &str, min: u32, max: u32| {
            set(fields[i], min, max).map_err(|r| err(format!("{name}: {r}")))
        };
        let mut weekdays = field(4, "day of week", 0, 7)?;
        // 7 is Sunday too.
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Schedule {
            minutes: field(0, "minute", 0, 59)?,
            hours: field(1, "hour", 0, 23)?,
            days: field(2, "day of month", 1, 31)?,
            months: field(3, "month", 1, 12)?,
            weekdays,
            either_day: !fields[2].starts_with('*') && !fields[4].starts_with('*'),
        })
    }

    /// The first run strictly after `after`, within four years (`None` for a schedule that
    /// never runs, such as February 31st).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(TimeZone::UTC).datetime();
        // The next whole minute.
        let mut t = DateTime::from(start.date())
            .checked_add((start.hour() as i64).hours())
            .ok()?
            .checked_add((start.minute() as i64 + 1).minutes())
            .ok()?;
        let limit = start.date().checked_add(4.years()).ok()?;
        while t.date() <= limit {
            let date = t.date();
            if !self.months[date.month() as usize] {
                t = DateTime::from(first_of_next_month(date)?);
                continue;
            }
            if !self.day_matches(date) {
                t = DateTime::from(date.tomorrow().ok()?);
                continue;
            }
            if !self.hours[t.hour() as usize] {
                t = t
                    .checked_add(1.hour())
                    .ok()?
                    .with()
                    .minute(0)
                    .build()
                    .ok()?;
                continue;
            }
            if !self.minutes[t.minute() as usize] {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            return t.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
        }
        None
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days[date.day() as usize];
        let dow = self.weekdays[date.weekday().to_sunday_zero_offset() as usize];
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }
}

fn first_of_next_month(date: Date) -> Option<Date> {
    date.first_of_month().checked_add(1.month()).ok()
}

/// The values of one field, as flags indexed by value.
fn set(field: &str, min: u32, max: u32) -> Result<Vec<bool>, String> {
    let mut out = vec![false; max as usize + 1];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let number = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("{s:?} is not a number from {min} to {max}"))
        };
        let (lo, hi) = match range {
            "*" | "?" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None if part.contains('/') => (number(r)?, max),
                None => {
                    let n = number(r)?;
                    (n, n)
                }
            },
        };
        if lo > hi {
            return Err(format!("empty range {range:?}"));
        }
        for v in (lo..=hi).step_by(step as usize) {
            out[v as usize] = true;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(schedule: &str, after: &str) -> String {
        Schedule::parse(schedule)
            .unwrap()
            .next_after(at(after))
            .unwrap()
            .to_string()
    }

    #[test]
    fn common_schedules() {
        assert_eq!(
            next("* * * * *", "2026-11-26T12:00:30Z"),
            "2026-11-26T12:01:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-11-26T12:01:00Z"),
            "2026-11-26T12:15:00Z"
        );
        assert_eq!(
            next("0 2 * * *", "2026-11-26T12:00:00Z"),
            "2026-11-27T02:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-11-26T23:59:00Z"),
            "2026-11-27T00:00:00Z"
        );
        assert_eq!(
            next("30 4 1 * *", "2026-12-05T00:00:00Z"),
            "2027-01-01T04:30:00Z"
        );
        // 2026-11-26 is a Thursday; the next Monday is the 30th.
        assert_eq!(
            next("0 9 * * 1", "2026-11-26T10:00:00Z"),
            "2026-11-30T09:00:00Z"
        );
        assert_eq!(
            next("0 9 * * 7", "2026-11-26T10:00:00Z"),
            "2026-11-29T09:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("5-10/5 1,3 * * *", "2026-11-26T01:05:00Z"),
            "2026-11-26T01:10:00Z"
        );
    }

    #[test]
    fn either_day_field_matches_when_both_are_restricted() {
        // The 1st of the month or any Monday: Monday the 30th comes before December 1st.
        assert_eq!(
            next("0 0 1 * 1", "2026-11-26T00:00:00Z"),
            "2026-11-30T00:00:00Z"
        );
    }

    #[test]
    fn bad_schedules_are_refused_with_the_field() {
        for (s, word) in [
            ("* * * *", "5 fields"),
            ("61 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "empty range"),
        ] {
            let e = Schedule::parse(s).unwrap_err().to_string();
            assert!(e.contains(word), "{s}: {e}");
        }
        assert_eq!(
            Schedule::parse("0 0 31 2 *")
                .unwrap()
                .next_after(at("2026-01-01T00:00:00Z")),
            None
        );
    }
}
