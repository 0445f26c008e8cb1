//! Schedules, decided statelessly: an entry is due when its schedule fired since the previous
//! tick of the bot's own schedule. Standard 5-field crontab lines (POSIX weekdays, Sunday 0
//! or 7, day-of-month OR day-of-week when both are given) are translated for the `cron`
//! crate, evaluated on the wall clock of their time zone, and mapped to instants: a time that
//! does not exist on a spring-forward day fires when the clock resumes, one that happens twice
//! on a fall-back day fires once.

use crate::config::{Interval, Schedule, Weekday};
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    #[error("invalid cron expression `{expression}`: {detail}")]
    Cron { expression: String, detail: String },
    #[error("unknown time zone `{0}`")]
    TimeZone(String),
}

/// A crontab schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Cron {
    source: String,
    /// One schedule, or two whose union is crontab's "day of month OR day of week".
    parts: Vec<cron::Schedule>,
    tz: Tz,
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn day_number(word: &str) -> Option<u32> {
    let upper = word.to_ascii_uppercase();
    if let Some(i) = DAY_NAMES.iter().position(|d| upper.starts_with(d)) {
        return Some(i as u32);
    }
    let n: u32 = word.parse().ok()?;
    (n <= 7).then_some(n % 7)
}

/// The set of weekdays (0 = Sunday) a crontab day-of-week field names.
fn weekdays(field: &str) -> Option<[bool; 7]> {
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (item, 1),
        };
        let (start, end) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day_number(a)?, day_number(b)?);
                    // `5-7` ends on Sunday (7): treat 7 as the end of the week.
                    let b = if b == 0 && a > 0 { 7 } else { b };
                    (a, b)
                }
                None => {
                    let d = day_number(r)?;
                    (d, if step > 1 { 6 } else { d })
                }
            },
        };
        if start > end {
            return None;
        }
        let mut d = start;
        while d <= end {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    Some(days)
}

fn invalid(expression: &str, detail: impl Into<String>) -> ScheduleError {
    ScheduleError::Cron {
        expression: expression.to_string(),
        detail: detail.into(),
    }
}

impl Cron {
    /// A 5-field crontab line (or `@daily`, `@weekly`, `@monthly`, `@yearly`, `@hourly`).
    pub fn parse(expression: &str, tz: Tz) -> Result<Cron, ScheduleError> {
        let expanded = match expression.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(invalid(
                expression,
                format!("expected 5 fields, found {}", fields.len()),
            ));
        };
        let days =
            weekdays(dow).ok_or_else(|| invalid(expression, format!("bad day of week `{dow}`")))?;
        let all_days = days.iter().all(|d| *d);
        let dow_names: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| DAY_NAMES[d]).collect();
        let dow_field = if all_days {
            "*".to_string()
        } else {
            dow_names.join(",")
        };
        let build = |dom: &str, dow: &str| {
            cron::Schedule::from_str(&format!("0 {minute} {hour} {dom} {month} {dow} *"))
                .map_err(|e| invalid(expression, e.to_string()))
        };
        // crontab: when both day fields are restricted, either one matching fires.
        let parts = if dom != "*" && dow != "*" && !all_days {
            vec![build(dom, "*")?, build("*", &dow_field)?]
        } else {
            vec![build(dom, &dow_field)?]
        };
        Ok(Cron {
            source: expression.to_string(),
            parts,
            tz,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The instant a wall-clock time of this zone stands for (see the module docs).
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => {
                // In a spring-forward gap: the first existing minute after it.
                (1..=180).find_map(|m| {
                    match self.tz.from_local_datetime(&(local + Duration::minutes(m))) {
                        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
                        LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
                        LocalResult::None => None,
                    }
                })
            }
        }
    }

    /// Fire times strictly after `after`, ascending.
    pub fn after(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        // Walk the wall clock from a little before `after` (a fall-back hour repeats it).
        let local = after.with_timezone(&self.tz).naive_local() - Duration::hours(3);
        let start = Utc.from_utc_datetime(&local);
        let mut iters: Vec<_> = self
            .parts
            .iter()
            .map(|p| p.after(&start).peekable())
            .collect();
        let mut last: Option<DateTime<Utc>> = None;
        std::iter::from_fn(move || loop {
            let next = iters
                .iter_mut()
                .enumerate()
                .filter_map(|(i, it)| it.peek().map(|t| (i, *t)))
                .min_by_key(|(_, t)| *t)?;
            iters[next.0].next();
            let Some(instant) = self.instant(next.1.naive_utc()) else {
                continue;
            };
            if instant <= after || last.is_some_and(|l| instant <= l) {
                continue;
            }
            last = Some(instant);
            return Some(instant);
        })
    }

    /// The last fire time at or before `at`.
    pub fn previous(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Search backwards in growing windows (schedules fire at least yearly in practice).
        let mut span = Duration::days(2);
        while span <= Duration::days(800) {
            let from = at - span;
            let found = self.after(from).take_while(|t| *t <= at).last();
            if found.is_some() {
                return found;
            }
            span = span * 4;
        }
        None
    }

    /// Whether it fired in `(from, to]`.
    pub fn fired_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.after(from).next().is_some_and(|t| t <= to)
    }
}

pub fn time_zone(name: Option<&str>) -> Result<Tz, ScheduleError> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => Tz::from_str(name).map_err(|_| ScheduleError::TimeZone(name.to_string())),
    }
}

fn weekday_number(day: Weekday) -> u32 {
    match day {
        Weekday::Sunday => 0,
        Weekday::Monday => 1,
        Weekday::Tuesday => 2,
        Weekday::Wednesday => 3,
        Weekday::Thursday => 4,
        Weekday::Friday => 5,
        Weekday::Saturday => 6,
    }
}

/// The crontab line and time zone of an `updates[]` entry's `schedule` (default time 05:00,
/// default weekly day Monday, default zone UTC).
pub fn entry_cron(schedule: &Schedule) -> Result<Cron, ScheduleError> {
    let tz = time_zone(schedule.timezone.as_deref())?;
    let (hour, minute) = schedule.time.map(|t| (t.hour, t.minute)).unwrap_or((5, 0));
    let at = format!("{minute} {hour}");
    let expression = match schedule.interval {
        Interval::Daily => format!("{at} * * *"),
        Interval::Weekly => format!(
            "{at} * * {}",
            weekday_number(schedule.day.unwrap_or(Weekday::Monday))
        ),
        Interval::Monthly => format!("{at} 1 * *"),
        Interval::Quarterly => format!("{at} 1 1,4,7,10 *"),
        Interval::Semiannually => format!("{at} 1 1,7 *"),
        Interval::Yearly => format!("{at} 1 1 *"),
        Interval::Cron => schedule.cronjob.clone().unwrap_or_default(),
    };
    Cron::parse(&expression, tz)
}

/// When a run counts as happening for schedules.
#[derive(Debug, Clone)]
pub enum Window {
    /// Every entry is due (`--force`, or no bot schedule configured).
    Always,
    /// Entries are due if they fired in `(from, to]`.
    Between(DateTime<Utc>, DateTime<Utc>),
}

impl Window {
    /// The window of a run at `now` of a bot scheduled by `bot`: since its previous tick.
    pub fn since_previous_tick(bot: &Cron, now: DateTime<Utc>) -> Window {
        // A run started by its tick begins a little after it: the tick before that one opens
        // the window.
        let this_tick = bot.previous(now).unwrap_or(now);
        let previous = bot
            .previous(this_tick - Duration::seconds(1))
            .unwrap_or(this_tick - Duration::days(1));
        Window::Between(previous, now)
    }

    pub fn is_due(&self, schedule: &Cron) -> bool {
        match self {
            Window::Always => true,
            Window::Between(from, to) => schedule.fired_between(*from, *to),
        }
    }
}

/// When each `updates[]` entry is next due, and (with the bot's own schedule) which run serves
/// each of those times: the first tick at or after it.
pub fn explain(
    entries: &[&crate::config::EffectiveUpdate],
    bot: Option<&Cron>,
    now: DateTime<Utc>,
    count: usize,
) -> Result<String, ScheduleError> {
    use std::fmt::Write;
    let mut out = String::new();
    let show = |t: DateTime<Utc>, tz: Tz| {
        let local = t.with_timezone(&tz);
        if tz == Tz::UTC {
            local.format("%a %Y-%m-%d %H:%M UTC").to_string()
        } else {
            format!(
                "{} ({})",
                local.format("%a %Y-%m-%d %H:%M %Z"),
                t.format("%H:%M UTC")
            )
        }
    };
    match bot {
        Some(bot) => {
            let _ = writeln!(out, "bot schedule: `{}` in {}", bot.source(), bot.tz);
        }
        None => {
            let _ = writeln!(out, "bot schedule: none (every run serves every entry)");
        }
    }
    for entry in entries {
        let cron = entry_cron(&entry.schedule)?;
        let directories: Vec<&str> = entry.directories.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(
            out,
            "updates[{}] (line {}) {} in {}: `{}` in {}",
            entry.index,
            entry.line,
            entry.package_ecosystem.as_str(),
            directories.join(", "),
            cron.source(),
            cron.tz
        );
        let fires: Vec<_> = cron.after(now).take(count).collect();
        if fires.is_empty() {
            let _ = writeln!(out, "  never fires");
        }
        for fire in fires {
            match bot {
                Some(bot) => {
                    // The run whose window `(previous tick, run]` holds the fire time.
                    let served = if bot.previous(fire) == Some(fire) {
                        Some(fire)
                    } else {
                        bot.after(fire).next()
                    };
                    let served = served.map_or("no run of the bot serves it".to_string(), |t| {
                        format!("served by the run at {}", show(t, bot.tz))
                    });
                    let _ = writeln!(out, "  {}  {served}", show(fire, cron.tz));
                }
                None => {
                    let _ = writeln!(out, "  {}", show(fire, cron.tz));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TimeOfDay;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin(expression: &str) -> Cron {
        Cron::parse(expression, chrono_tz::Europe::Berlin).unwrap()
    }

    #[test]
    fn crontab_weekdays_are_posix() {
        let c = Cron::parse("0 3 * * 1", Tz::UTC).unwrap();
        // 2026-11-24 is a Tuesday: the next Monday is the 30th.
        assert_eq!(
            c.after(utc("2026-11-24T00:00:00Z")).next(),
            Some(utc("2026-11-30T03:00:00Z"))
        );
        let sunday = Cron::parse("0 3 * * 7", Tz::UTC).unwrap();
        assert_eq!(
            sunday.after(utc("2026-11-24T00:00:00Z")).next(),
            Some(utc("2026-11-29T03:00:00Z"))
        );
        let weekdays = Cron::parse("30 8 * * 1-5", Tz::UTC).unwrap();
        let fires: Vec<_> = weekdays
            .after(utc("2026-11-27T09:00:00Z"))
            .take(2)
            .collect();
        assert_eq!(
            fires,
            [utc("2026-11-30T08:30:00Z"), utc("2026-12-01T08:30:00Z")]
        );
        let names = Cron::parse("0 0 * * sat,sun", Tz::UTC).unwrap();
        assert_eq!(
            names.after(utc("2026-11-24T00:00:00Z")).next(),
            Some(utc("2026-11-28T00:00:00Z"))
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // The 1st of the month OR any Friday.
        let c = Cron::parse("0 12 1 * 5", Tz::UTC).unwrap();
        let fires: Vec<_> = c.after(utc("2026-11-26T00:00:00Z")).take(3).collect();
        assert_eq!(
            fires,
            [
                utc("2026-11-27T12:00:00Z"),
                utc("2026-12-01T12:00:00Z"),
                utc("2026-12-04T12:00:00Z")
            ]
        );
    }

    #[test]
    fn bad_expressions_say_so() {
        assert!(Cron::parse("0 3 * *", Tz::UTC)
            .unwrap_err()
            .to_string()
            .contains("expected 5 fields"));
        assert!(Cron::parse("0 3 * * 9", Tz::UTC).is_err());
        assert!(Cron::parse("99 3 * * *", Tz::UTC).is_err());
        assert!(time_zone(Some("Mars/Olympus")).is_err());
    }

    #[test]
    fn spring_forward_fires_when_the_clock_resumes_and_fall_back_fires_once() {
        let c = berlin("30 2 * * *");
        // 2026-03-29: 02:00 → 03:00 in Berlin; 02:30 does not exist.
        let fires: Vec<_> = c.after(utc("2026-03-28T12:00:00Z")).take(3).collect();
        assert_eq!(
            fires,
            [
                utc("2026-03-29T01:00:00Z"),
                utc("2026-03-30T00:30:00Z"),
                utc("2026-03-31T00:30:00Z")
            ]
        );
        // 2026-10-25: 03:00 → 02:00; 02:30 happens twice and fires once (the first).
        let fires: Vec<_> = c.after(utc("2026-10-24T12:00:00Z")).take(2).collect();
        assert_eq!(
            fires,
            [utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn a_weekly_entry_is_due_once_a_week_under_an_hourly_bot() {
        let bot = Cron::parse("0 * * * *", Tz::UTC).unwrap();
        let entry = entry_cron(&Schedule {
            interval: Interval::Weekly,
            day: Some(Weekday::Tuesday),
            time: Some(TimeOfDay { hour: 6, minute: 0 }),
            timezone: Some("Europe/Berlin".into()),
            cronjob: None,
        })
        .unwrap();
        // Every hourly tick of four weeks around the autumn clock change, each run starting a
        // few seconds after its tick.
        let mut due = Vec::new();
        for tick in bot
            .after(utc("2026-10-05T00:00:00Z"))
            .take_while(|t| *t < utc("2026-11-02T00:00:00Z"))
        {
            let now = tick + Duration::seconds(7);
            if Window::since_previous_tick(&bot, now).is_due(&entry) {
                due.push(now);
            }
        }
        assert_eq!(
            due,
            [
                utc("2026-10-06T04:00:07Z"),
                utc("2026-10-13T04:00:07Z"),
                utc("2026-10-20T04:00:07Z"),
                utc("2026-10-27T05:00:07Z"),
            ]
        );
        // A daily bot at 07:00 Berlin sees the Tuesday 06:00 entry on Tuesdays only.
        let daily = Cron::parse("0 7 * * *", chrono_tz::Europe::Berlin).unwrap();
        let runs: Vec<_> = daily
            .after(utc("2026-11-01T00:00:00Z"))
            .take(14)
            .filter(|t| {
                Window::since_previous_tick(&daily, *t + Duration::seconds(30)).is_due(&entry)
            })
            .collect();
        assert_eq!(
            runs,
            [utc("2026-11-03T06:00:00Z"), utc("2026-11-10T06:00:00Z")]
        );
    }

    #[test]
    fn intervals_and_defaults() {
        let monthly = entry_cron(&Schedule {
            interval: Interval::Monthly,
            day: None,
            time: None,
            timezone: None,
            cronjob: None,
        })
        .unwrap();
        assert_eq!(monthly.source(), "0 5 1 * *");
        assert_eq!(
            monthly.previous(utc("2026-11-24T00:00:00Z")),
            Some(utc("2026-11-01T05:00:00Z"))
        );
    }
}
