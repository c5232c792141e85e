//! Cron fields: APScheduler 4's field syntax compiled into value sets.
//!
//! Each of the eight fields (`year`, `month`, `day`, `week`, `day_of_week`, `hour`, `minute`,
//! `second`) accepts a comma-separated list of expressions: `*`, `*/n`, `a`, `a-b`, `a-b/n`,
//! `a/n` (= `a-max/n`); month names and ranges (`jan`, `mar-jun`); in `day`, `last` (the
//! month's last day) and `1st`…`5th`/`last` followed by a weekday name (`2nd wed`,
//! `last fri`); in `day_of_week`, weekday names, crontab numbers (0 or 7 = Sunday), steps on
//! that numbering (`*/2` = sun,tue,thu,sat; `mon-fri/2`; reversed ranges wrap) and `DOW#n`
//! (the n-th such weekday of the month).

use crate::trigger::civil::{Wall, days_from_civil, days_in_month, weekday_from_days};

/// The eight cron fields, most significant first (APScheduler 4's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Year = 0,
    Month,
    Day,
    Week,
    DayOfWeek,
    Hour,
    Minute,
    Second,
}

impl FieldKind {
    /// All fields in significance order.
    pub(crate) const ALL: [FieldKind; 8] = [
        FieldKind::Year,
        FieldKind::Month,
        FieldKind::Day,
        FieldKind::Week,
        FieldKind::DayOfWeek,
        FieldKind::Hour,
        FieldKind::Minute,
        FieldKind::Second,
    ];

    /// The JSON key of the field.
    pub(crate) fn name(self) -> &'static str {
        [
            "year",
            "month",
            "day",
            "week",
            "day_of_week",
            "hour",
            "minute",
            "second",
        ][self as usize]
    }

    /// The value a field takes when it is below the least significant field given.
    pub(crate) fn default_expr(self) -> &'static str {
        ["*", "1", "1", "*", "*", "0", "0", "0"][self as usize]
    }

    /// Whether the field maps onto a component of the wall clock (`week` and `day_of_week`
    /// only filter days).
    pub(crate) fn is_real(self) -> bool {
        !matches!(self, FieldKind::Week | FieldKind::DayOfWeek)
    }

    /// The smallest value of the field.
    pub(crate) fn min(self) -> i32 {
        [1970, 1, 1, 1, 0, 0, 0, 0][self as usize]
    }

    fn static_max(self) -> i32 {
        [9999, 12, 31, 53, 7, 23, 59, 59][self as usize]
    }

    /// The largest value of the field at `wall` (the month length for `day`).
    pub(crate) fn max(self, wall: &Wall) -> i32 {
        match self {
            FieldKind::Day => i32::from(days_in_month(wall.year, wall.month)),
            other => other.static_max(),
        }
    }

    /// The field's component of `wall` (`week` = ISO week, `day_of_week` Monday = 0).
    pub(crate) fn value(self, wall: &Wall) -> i32 {
        match self {
            FieldKind::Year => wall.year,
            FieldKind::Month => i32::from(wall.month),
            FieldKind::Day => i32::from(wall.day),
            FieldKind::Week => i32::from(wall.iso_week()),
            FieldKind::DayOfWeek => i32::from(wall.weekday()),
            FieldKind::Hour => i32::from(wall.hour),
            FieldKind::Minute => i32::from(wall.minute),
            FieldKind::Second => i32::from(wall.second),
        }
    }
}

/// An arithmetic progression `first..=last` step `step` (used for years, which do not fit a mask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first: i32,
    last: i32,
    step: i32,
}

/// A day chosen by its position in the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayRule {
    /// The last day of the month.
    Last,
    /// The `nth` (0-based; 5 = last) occurrence of `weekday` (Monday = 0) in the month.
    Nth { nth: u8, weekday: u8 },
}

/// A compiled cron field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    kind: FieldKind,
    /// Allowed values as bits (weekdays: bit 0 = Monday … bit 6 = Sunday).
    mask: u64,
    /// Allowed years (the `year` field only).
    years: Vec<Span>,
    /// Positional day rules (`day`: `last`, `2nd wed`; `day_of_week`: `wed#2`).
    rules: Vec<DayRule>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const ORDINALS: [&str; 6] = ["1st", "2nd", "3rd", "4th", "5th", "last"];

fn weekday_index(name: &str) -> Option<u8> {
    WEEKDAYS
        .iter()
        .position(|w| w.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
}

fn month_number(name: &str) -> Option<i32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as i32 + 1)
}

fn parse_number(text: &str) -> Option<i32> {
    if text.is_empty() || text.len() > 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_step(text: &str) -> Result<i32, String> {
    match parse_number(text) {
        Some(0) => Err("the step value must be positive".to_owned()),
        Some(step) => Ok(step),
        None => Err(format!("invalid step value {text:?}")),
    }
}

fn step_too_large(step: i32, range: i32) -> String {
    format!("the step value ({step}) is higher than the total range of the expression ({range})")
}

impl Field {
    /// Compiles the expression text of field `kind`. The error message does not name the
    /// field; the caller adds it.
    pub(crate) fn parse(kind: FieldKind, text: &str) -> Result<Field, String> {
        let mut field = Field {
            kind,
            mask: 0,
            years: Vec::new(),
            rules: Vec::new(),
        };
        if text.trim().is_empty() {
            return Err("empty expression".to_owned());
        }
        for raw in text.trim().split(',') {
            let expr = raw.trim();
            if expr.is_empty() {
                return Err(format!("empty expression in {:?}", text.trim()));
            }
            let result = if kind == FieldKind::DayOfWeek {
                field.add_weekday_expr(expr)
            } else {
                field.add_expr(expr)
            };
            result.map_err(|msg| format!("invalid expression {expr:?}: {msg}"))?;
        }
        Ok(field)
    }

    /// Adds an expression of any field but `day_of_week`.
    fn add_expr(&mut self, expr: &str) -> Result<(), String> {
        let kind = self.kind;
        if kind == FieldKind::Day {
            if expr.eq_ignore_ascii_case("last") {
                self.rules.push(DayRule::Last);
                return Ok(());
            }
            let mut words = expr.split_whitespace();
            if let (Some(first), Some(second), None) = (words.next(), words.next(), words.next()) {
                let nth = ORDINALS
                    .iter()
                    .position(|o| o.eq_ignore_ascii_case(first))
                    .ok_or_else(|| {
                        format!("expected 1st, 2nd, 3rd, 4th, 5th or last before {second:?}")
                    })?;
                let weekday = weekday_index(second).ok_or_else(|| {
                    format!("invalid weekday name {second:?} (expected mon … sun)")
                })?;
                self.rules.push(DayRule::Nth {
                    nth: nth as u8,
                    weekday,
                });
                return Ok(());
            }
        }
        let (range, step) = match expr.split_once('/') {
            Some((range, step)) => (range, Some(parse_step(step)?)),
            None => (expr, None),
        };
        let (min, max) = (kind.min(), kind.static_max());
        let (first, last) = if range == "*" {
            (min, max)
        } else {
            let (a, b) = match range.split_once('-') {
                Some((a, b)) => (a, Some(b)),
                None => (range, None),
            };
            let endpoint = |text: &str| -> Result<(i32, bool), String> {
                if let Some(n) = parse_number(text) {
                    return Ok((n, false));
                }
                if kind == FieldKind::Month {
                    if let Some(n) = month_number(text) {
                        return Ok((n, true));
                    }
                    return Err(format!(
                        "expected a month number or name (jan … dec), found {text:?}"
                    ));
                }
                Err(format!("expected a number, found {text:?}"))
            };
            let (first, first_named) = endpoint(a)?;
            let (last, last_named) = match b {
                Some(b) => endpoint(b)?,
                None if step.is_some() => (max, false),
                None => (first, false),
            };
            if (first_named || last_named) && step.is_some() {
                return Err(
                    "steps are not allowed with month names; use numbers (e.g. 1-12/2)".to_owned(),
                );
            }
            if first < min {
                return Err(format!(
                    "the first value ({first}) is lower than the minimum value ({min})"
                ));
            }
            if last > max {
                return Err(format!(
                    "the last value ({last}) is higher than the maximum value ({max})"
                ));
            }
            if first > last {
                return Err(
                    "the minimum value in a range must not be higher than the maximum".to_owned(),
                );
            }
            (first, last)
        };
        let step = match step {
            Some(step) if step > last - first => return Err(step_too_large(step, last - first)),
            Some(step) => step,
            None => 1,
        };
        if kind == FieldKind::Year {
            self.years.push(Span { first, last, step });
        } else {
            let mut v = first;
            while v <= last {
                self.mask |= 1 << v;
                v += step;
            }
        }
        Ok(())
    }

    /// Adds a `day_of_week` expression, read on crontab numbering (0 or 7 = Sunday).
    fn add_weekday_expr(&mut self, expr: &str) -> Result<(), String> {
        // crontab number (0 = Sunday … 6 = Saturday, 7 = Sunday) of a name or number
        let endpoint = |text: &str| -> Result<i32, String> {
            if let Some(n) = parse_number(text) {
                return if n <= 7 {
                    Ok(n)
                } else {
                    Err(format!(
                        "the value ({n}) is higher than the maximum value (7)"
                    ))
                };
            }
            weekday_index(text)
                .map(|i| (i32::from(i) + 1) % 7)
                .ok_or_else(|| {
                    format!("expected a weekday number (0-7) or name (mon … sun), found {text:?}")
                })
        };
        let to_bit = |crontab: i32| 1u64 << ((crontab + 6) % 7);

        if let Some((day, nth)) = expr.split_once('#') {
            let weekday = (endpoint(day)? + 6) % 7;
            let nth = match parse_number(nth) {
                Some(n @ 1..=5) => n,
                _ => {
                    return Err(format!(
                        "expected an occurrence 1-5 after '#', found {nth:?}"
                    ));
                }
            };
            self.rules.push(DayRule::Nth {
                nth: (nth - 1) as u8,
                weekday: weekday as u8,
            });
            return Ok(());
        }
        let (range, step) = match expr.split_once('/') {
            Some((range, step)) => (range, Some(parse_step(step)?)),
            None => (expr, None),
        };
        let (first, last) = if range == "*" {
            (0, 7)
        } else {
            match range.split_once('-') {
                Some((a, b)) => (endpoint(a)?, endpoint(b)?),
                None if step.is_some() => (endpoint(range)? % 7, 6),
                None => {
                    let n = endpoint(range)?;
                    (n, n)
                }
            }
        };
        // A reversed range wraps around the week.
        let last = if first > last { last + 7 } else { last };
        let step = match step {
            Some(step) if range == "*" && step > 7 => return Err(step_too_large(step, 7)),
            Some(step) if range != "*" && step > last - first => {
                return Err(step_too_large(step, last - first));
            }
            Some(step) => step,
            None => 1,
        };
        let mut v = first;
        while v <= last {
            self.mask |= to_bit(v);
            v += step;
        }
        Ok(())
    }

    /// The smallest allowed value of the field that is `>=` the field's value at `wall`, or
    /// `None` if there is none up to the field's maximum (APScheduler's `get_next_value`).
    ///
    /// For `week` and `day_of_week`, which only filter days, the result is the current value
    /// when it is allowed and `None` otherwise: the search only needs to know that.
    pub(crate) fn next_value(&self, wall: &Wall) -> Option<i32> {
        let kind = self.kind;
        let value = kind.value(wall);
        match kind {
            FieldKind::Year => self
                .years
                .iter()
                .filter_map(|span| {
                    let start = value.max(span.first);
                    let next = start + (span.step - (start - span.first) % span.step) % span.step;
                    (next <= span.last).then_some(next)
                })
                .min(),
            FieldKind::Week => (self.mask & (1 << value) != 0).then_some(value),
            FieldKind::DayOfWeek => self.matches_weekday(wall).then_some(value),
            FieldKind::Day => {
                let last_day = kind.max(wall);
                let from_mask = next_bit(self.mask, value, last_day);
                self.rules
                    .iter()
                    .filter_map(|rule| rule.next_day(wall, value, last_day))
                    .chain(from_mask)
                    .min()
            }
            _ => next_bit(self.mask, value.max(kind.min()), kind.max(wall)),
        }
    }

    fn matches_weekday(&self, wall: &Wall) -> bool {
        let weekday = wall.weekday();
        self.mask & (1 << weekday) != 0
            || self.rules.iter().any(|rule| {
                matches!(rule, DayRule::Nth { nth, weekday: w }
                    if *w == weekday && (wall.day - 1) / 7 == *nth)
            })
    }
}

impl DayRule {
    /// The day this rule picks in `wall`'s month if it is `>= from`.
    fn next_day(&self, wall: &Wall, from: i32, last_day: i32) -> Option<i32> {
        match *self {
            DayRule::Last => Some(last_day),
            DayRule::Nth { nth, weekday } => {
                let first_weekday =
                    i32::from(weekday_from_days(days_from_civil(wall.year, wall.month, 1)));
                let mut first_hit = i32::from(weekday) - first_weekday + 1;
                if first_hit <= 0 {
                    first_hit += 7;
                }
                let target = if nth < 5 {
                    first_hit + i32::from(nth) * 7
                } else {
                    first_hit + (last_day - first_hit) / 7 * 7
                };
                (target <= last_day && target >= from).then_some(target)
            }
        }
    }
}

/// The lowest set bit of `mask` in `from..=to`.
fn next_bit(mask: u64, from: i32, to: i32) -> Option<i32> {
    if !(0..64).contains(&from) {
        return None;
    }
    let candidates = mask >> from;
    if candidates == 0 {
        return None;
    }
    let next = from + candidates.trailing_zeros() as i32;
    (next <= to).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekdays(text: &str) -> Vec<&'static str> {
        let field = Field::parse(FieldKind::DayOfWeek, text).unwrap();
        (0..7)
            .filter(|i| field.mask & (1 << i) != 0)
            .map(|i| WEEKDAYS[i])
            .collect()
    }

    #[test]
    fn weekday_steps_use_crontab_numbering() {
        assert_eq!(weekdays("1-5/2"), ["mon", "wed", "fri"]);
        assert_eq!(weekdays("mon-fri/2"), ["mon", "wed", "fri"]);
        assert_eq!(weekdays("*/2"), ["tue", "thu", "sat", "sun"]);
        assert_eq!(weekdays("fri-mon/2"), ["fri", "sun"]);
        assert_eq!(weekdays("2/3"), ["tue", "fri"]);
        assert_eq!(weekdays("sun/2"), ["tue", "thu", "sat", "sun"]);
        assert_eq!(weekdays("0-7"), WEEKDAYS);
        assert_eq!(weekdays("7"), ["sun"]);
        assert_eq!(weekdays("sat-sun"), ["sat", "sun"]);
        assert_eq!(weekdays("sun-sat"), WEEKDAYS);
    }

    #[test]
    fn junk_after_names_is_rejected() {
        assert!(Field::parse(FieldKind::Month, "jan/2").is_err());
        assert!(Field::parse(FieldKind::Month, "jan-mar/2").is_err());
        assert!(Field::parse(FieldKind::Day, "lastx").is_err());
        assert!(Field::parse(FieldKind::Day, "2nd wed/2").is_err());
        assert!(Field::parse(FieldKind::Day, "last friday").is_err());
        assert!(Field::parse(FieldKind::DayOfWeek, "mon-fri junk").is_err());
        assert!(Field::parse(FieldKind::Month, "jan").is_ok());
    }

    #[test]
    fn ranges_are_validated_like_apscheduler() {
        for (kind, bad) in [
            (FieldKind::Minute, "60"),
            (FieldKind::Minute, "*/60"),
            (FieldKind::Minute, "*/0"),
            (FieldKind::Hour, "5-3"),
            (FieldKind::Hour, "23/2"),
            (FieldKind::Day, "0"),
            (FieldKind::Month, "13"),
            (FieldKind::Year, "1969"),
            (FieldKind::DayOfWeek, "8"),
            (FieldKind::Second, "-1"),
            (FieldKind::Second, "1,,2"),
            (FieldKind::Second, ""),
        ] {
            assert!(Field::parse(kind, bad).is_err(), "{} {bad:?}", kind.name());
        }
        assert!(Field::parse(FieldKind::Minute, "*/59").is_ok());
    }

    #[test]
    fn positional_days() {
        let field = Field::parse(FieldKind::Day, "last fri, 2nd wed").unwrap();
        let nov = Wall::midnight(2026, 11, 1);
        assert_eq!(field.next_value(&nov), Some(11)); // 2nd Wednesday
        let later = Wall::midnight(2026, 11, 12);
        assert_eq!(field.next_value(&later), Some(27)); // last Friday
        let field = Field::parse(FieldKind::Day, "last").unwrap();
        assert_eq!(field.next_value(&Wall::midnight(2024, 2, 3)), Some(29));
    }
}
