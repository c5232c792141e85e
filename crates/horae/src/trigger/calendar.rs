//! The `calendar_interval` trigger: fires at a fixed wall time every so many years, months,
//! weeks and days.

use jiff::ZonedDateTime;
use serde_json::{Map, Value};

use super::civil::{Wall, civil_from_days, days_in_month};
use super::error::{TriggerError, TriggerErrorKind};
use super::json::Obj;
use super::zone::Zone;

/// The last supported year.
const MAX_YEAR: i32 = 9999;
/// Bound on the dates examined for one fire time (gaps skipped, invalid month days).
const MAX_STEPS: usize = 100_000;

/// Fires at `hour:minute:second` on `start_date` and then on every date reached by adding
/// `years`/`months` (keeping the day of the month; months lacking that day are skipped,
/// never clamped) and then `weeks`/`days`. A date whose time falls in a DST gap is skipped; in
/// a fold the earlier occurrence fires (APScheduler 4 semantics).
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarIntervalTrigger {
    years: u32,
    months: u32,
    weeks: u32,
    days: u32,
    hour: u8,
    minute: u8,
    second: u8,
    start_date: Wall,
    end_date: Option<Wall>,
    zone: Zone,
    last_fire_date: Option<Wall>,
}

impl CalendarIntervalTrigger {
    pub(crate) fn from_obj(
        obj: &mut Obj<'_>,
        now: i64,
    ) -> Result<CalendarIntervalTrigger, TriggerError> {
        let count =
            |obj: &mut Obj<'_>, key| obj.opt_uint(key, 100_000).map(|v| v.unwrap_or(0) as u32);
        let years = count(obj, "years")?;
        let months = count(obj, "months")?;
        let weeks = count(obj, "weeks")?;
        let days = count(obj, "days")?;
        let hour = obj.opt_uint("hour", 23)?.unwrap_or(0) as u8;
        let minute = obj.opt_uint("minute", 59)?.unwrap_or(0) as u8;
        let second = obj.opt_uint("second", 59)?.unwrap_or(0) as u8;
        if years == 0 && months == 0 && weeks == 0 && days == 0 {
            return Err(obj.error(
                "days",
                TriggerErrorKind::Range,
                "the interval must be at least 1 day long (years, months, weeks and days are all zero)",
            ));
        }
        let zone = obj.timezone()?;
        let start_date = match obj.opt_date("start_date")? {
            Some(date) => date,
            None => {
                let today = zone.normalize(now).ok_or_else(|| {
                    obj.error(
                        "start_date",
                        TriggerErrorKind::Range,
                        "the current time is out of range",
                    )
                })?;
                Wall::midnight(today.wall.year, today.wall.month, today.wall.day)
            }
        };
        let end_date = obj.opt_date("end_date")?;
        if end_date.is_some_and(|end| end < start_date) {
            return Err(obj.error(
                "end_date",
                TriggerErrorKind::Range,
                "end_date cannot be earlier than start_date",
            ));
        }
        let last_fire_date = obj.opt_date("last_fire_date")?;
        Ok(CalendarIntervalTrigger {
            years,
            months,
            weeks,
            days,
            hour,
            minute,
            second,
            start_date,
            end_date,
            zone,
            last_fire_date,
        })
    }

    pub(crate) fn to_json(&self, out: &mut Map<String, Value>) {
        for (key, value) in [
            ("years", self.years),
            ("months", self.months),
            ("weeks", self.weeks),
            ("days", self.days),
        ] {
            if value != 0 {
                out.insert(key.into(), value.into());
            }
        }
        out.insert("hour".into(), self.hour.into());
        out.insert("minute".into(), self.minute.into());
        out.insert("second".into(), self.second.into());
        out.insert("start_date".into(), date_string(&self.start_date).into());
        if let Some(end) = &self.end_date {
            out.insert("end_date".into(), date_string(end).into());
        }
        if let Some(name) = self.zone.name() {
            out.insert("timezone".into(), name.into());
        }
        if let Some(last) = &self.last_fire_date {
            out.insert("last_fire_date".into(), date_string(last).into());
        }
    }

    /// The date `months`/`years` later keeping the day (skipping months without it), then
    /// `weeks`/`days` later.
    fn advance(&self, from: &Wall) -> Option<Wall> {
        let (mut year, mut month) = (from.year, i64::from(from.month));
        for _ in 0..MAX_STEPS {
            month += i64::from(self.months);
            year = year.checked_add(
                i32::try_from(i64::from(self.years) + (month - 1).div_euclid(12)).ok()?,
            )?;
            month = (month - 1).rem_euclid(12) + 1;
            if year > MAX_YEAR {
                return None;
            }
            if from.day <= days_in_month(year, month as u8) {
                let days = Wall::midnight(year, month as u8, from.day).days()
                    + i64::from(self.days)
                    + 7 * i64::from(self.weeks);
                let (y, m, d) = civil_from_days(days);
                return (y <= MAX_YEAR).then(|| Wall::midnight(y, m, d));
            }
        }
        None
    }

    pub(crate) fn next(&mut self) -> Option<ZonedDateTime> {
        let mut previous = self.last_fire_date;
        for _ in 0..MAX_STEPS {
            let date = match &previous {
                Some(prev) => self.advance(prev)?,
                None => self.start_date,
            };
            if self.end_date.is_some_and(|end| date > end) {
                return None;
            }
            let wall = Wall {
                hour: self.hour,
                minute: self.minute,
                second: self.second,
                ..date
            };
            let fire = self
                .zone
                .normalize(self.zone.resolve(wall, false)?.instant)?;
            if fire.wall.same_time_of_day(&wall) {
                self.last_fire_date = Some(date);
                return self.zone.zoned(fire.instant);
            }
            // The time falls in a DST gap on that date: skip the date.
            previous = Some(Wall::midnight(
                fire.wall.year,
                fire.wall.month,
                fire.wall.day,
            ));
        }
        None
    }
}

fn date_string(date: &Wall) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}
