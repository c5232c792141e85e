//! Proleptic Gregorian wall-clock arithmetic at microsecond precision.
//!
//! The cron search works on wall-clock readings and needs cheap field access, day arithmetic,
//! weekdays and ISO week numbers; these helpers keep that hot path free of allocation and
//! validation overhead. Instants are `i64` microseconds since the Unix epoch.

/// Microseconds in one second.
pub(crate) const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in one day.
pub(crate) const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// A wall-clock reading: a civil date and time of day without a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Wall {
    pub(crate) year: i32,
    pub(crate) month: u8,
    pub(crate) day: u8,
    pub(crate) hour: u8,
    pub(crate) minute: u8,
    pub(crate) second: u8,
    pub(crate) micro: u32,
}

/// Whether `year` is a Gregorian leap year.
pub(crate) fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1–12) of `year`.
pub(crate) fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a valid civil date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // The day count comes from i64 microseconds, so the year fits comfortably in an i32.
    (year as i32, month as u8, day as u8)
}

/// The weekday of a day count since 1970-01-01, Monday = 0 … Sunday = 6.
pub(crate) fn weekday_from_days(days: i64) -> u8 {
    // 1970-01-01 was a Thursday (3).
    (days + 3).rem_euclid(7) as u8
}

impl Wall {
    /// Midnight at the start of the given civil date.
    pub(crate) fn midnight(year: i32, month: u8, day: u8) -> Wall {
        Wall {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            micro: 0,
        }
    }

    /// The wall reading `micros` microseconds after 1970-01-01T00:00 (as if in UTC).
    pub(crate) fn from_epoch_micros(micros: i64) -> Wall {
        let days = micros.div_euclid(MICROS_PER_DAY);
        let rem = micros.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = rem / MICROS_PER_SECOND;
        Wall {
            year,
            month,
            day,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            micro: (rem % MICROS_PER_SECOND) as u32,
        }
    }

    /// Days since 1970-01-01 of this reading's date.
    pub(crate) fn days(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// Microseconds since 1970-01-01T00:00 of this reading (as if in UTC).
    pub(crate) fn epoch_micros(&self) -> i64 {
        self.days() * MICROS_PER_DAY
            + (i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second))
                * MICROS_PER_SECOND
            + i64::from(self.micro)
    }

    /// Monday = 0 … Sunday = 6.
    pub(crate) fn weekday(&self) -> u8 {
        weekday_from_days(self.days())
    }

    /// The ISO 8601 week number (1–53) of this reading's date.
    pub(crate) fn iso_week(&self) -> u8 {
        iso_week(self.year, self.month, self.day)
    }

    /// Whether both readings show the same time of day (ignoring the date).
    pub(crate) fn same_time_of_day(&self, other: &Wall) -> bool {
        (self.hour, self.minute, self.second, self.micro)
            == (other.hour, other.minute, other.second, other.micro)
    }
}

/// The number of ISO weeks (52 or 53) in ISO year `year`.
fn iso_weeks_in_year(year: i32) -> u8 {
    let jan1 = weekday_from_days(days_from_civil(year, 1, 1));
    if jan1 == 3 || (jan1 == 2 && is_leap(year)) {
        53
    } else {
        52
    }
}

/// The ISO 8601 week number (1–53) of a civil date.
pub(crate) fn iso_week(year: i32, month: u8, day: u8) -> u8 {
    let days = days_from_civil(year, month, day);
    let ordinal = days - days_from_civil(year, 1, 1) + 1;
    let iso_weekday = i64::from(weekday_from_days(days)) + 1;
    let week = (ordinal - iso_weekday + 10) / 7;
    if week < 1 {
        iso_weeks_in_year(year - 1)
    } else if week > i64::from(iso_weeks_in_year(year)) {
        1
    } else {
        week as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_counts_round_trip_across_centuries() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(weekday_from_days(days_from_civil(2026, 11, 25)), 2); // a Wednesday
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }

    #[test]
    fn iso_weeks_match_the_standard() {
        assert_eq!(iso_week(2026, 1, 1), 1); // Thursday
        assert_eq!(iso_week(2027, 1, 1), 53); // Friday, belongs to 2026-W53
        assert_eq!(iso_week(2024, 12, 30), 1); // Monday of 2025-W01
        assert_eq!(iso_week(2021, 1, 3), 53);
        assert_eq!(iso_week(2021, 1, 4), 1);
        assert_eq!(iso_week(2026, 12, 31), 53);
    }

    #[test]
    fn wall_round_trips_through_epoch_micros() {
        for micros in [
            0,
            -1,
            1_700_000_000_123_456,
            -86_400_000_001,
            253_402_300_799_999_999,
        ] {
            assert_eq!(Wall::from_epoch_micros(micros).epoch_micros(), micros);
        }
    }
}
