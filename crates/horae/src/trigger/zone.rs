//! Time zones with Python's PEP 495 semantics, the way APScheduler 4 uses them.
//!
//! A wall-clock reading plus a `fold` bit picks an instant: outside transitions there is one;
//! in a fold (clocks set back) `fold = false` is the earlier instant and `true` the later; in a
//! gap (clocks set forward) `fold = false` reads the wall time with the offset from before the
//! gap, which lands *after* the gap, shifted forward by the gap's length.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ZonedDateTime};

use super::civil::{MICROS_PER_SECOND, Wall};

/// A time zone: an IANA zone or a fixed UTC offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Zone {
    tz: TimeZone,
    /// Whether the offset never changes (UTC or a fixed offset): lets lookups be skipped.
    fixed: Option<i64>,
}

/// A wall-clock reading that knows which instant it denotes.
///
/// `wall` may lie in a DST gap (APScheduler 4 keeps such readings un-normalized); `instant`
/// is then the gap-shifted instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moment {
    pub(crate) wall: Wall,
    pub(crate) fold: bool,
    pub(crate) instant: i64,
}

impl Moment {
    /// The UTC offset of this reading in microseconds (`wall - instant`).
    pub(crate) fn offset_micros(&self) -> i64 {
        self.wall.epoch_micros() - self.instant
    }
}

impl Zone {
    /// The zone of the given IANA name, or `None` if the name is unknown.
    pub(crate) fn named(name: &str) -> Option<Zone> {
        // jiff would accept POSIX TZ strings and paths in some configurations; only plain IANA
        // names are valid here.
        if name.is_empty()
            || name.starts_with('/')
            || name.contains("..")
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b))
        {
            return None;
        }
        let tz = TimeZone::get(name).ok()?;
        Some(Zone::from_tz(tz))
    }

    /// The UTC zone (named `UTC`).
    pub(crate) fn utc() -> Zone {
        Zone::from_tz(TimeZone::UTC)
    }

    fn from_tz(tz: TimeZone) -> Zone {
        let fixed = if tz == TimeZone::UTC {
            Some(0)
        } else {
            tz.to_fixed_offset()
                .ok()
                .map(|o| i64::from(o.seconds()) * MICROS_PER_SECOND)
        };
        Zone { tz, fixed }
    }

    /// The IANA name, if this is a named zone.
    pub(crate) fn name(&self) -> Option<&str> {
        self.tz.iana_name()
    }

    /// The UTC offset in microseconds in effect at `instant`.
    pub(crate) fn offset_at(&self, instant: i64) -> Option<i64> {
        if let Some(fixed) = self.fixed {
            return Some(fixed);
        }
        let ts = Timestamp::from_microsecond(instant).ok()?;
        Some(i64::from(self.tz.to_offset(ts).seconds()) * MICROS_PER_SECOND)
    }

    /// How the wall reading relates to the zone's transitions.
    fn ambiguity(&self, wall: &Wall) -> Option<AmbiguousOffset> {
        let dt = DateTime::new(
            i16::try_from(wall.year).ok()?,
            wall.month as i8,
            wall.day as i8,
            wall.hour as i8,
            wall.minute as i8,
            wall.second as i8,
            (wall.micro as i32) * 1000,
        )
        .ok()?;
        Some(self.tz.to_ambiguous_timestamp(dt).offset())
    }

    /// The instant a wall reading denotes under PEP 495 (see the module docs).
    pub(crate) fn resolve(&self, wall: Wall, fold: bool) -> Option<Moment> {
        let offset = match self.fixed {
            Some(fixed) => fixed,
            None => {
                let seconds = match self.ambiguity(&wall)? {
                    AmbiguousOffset::Unambiguous { offset } => offset.seconds(),
                    AmbiguousOffset::Gap { before, after }
                    | AmbiguousOffset::Fold { before, after } => {
                        if fold {
                            after.seconds()
                        } else {
                            before.seconds()
                        }
                    }
                };
                i64::from(seconds) * MICROS_PER_SECOND
            }
        };
        let instant = wall.epoch_micros() - offset;
        Timestamp::from_microsecond(instant).ok()?;
        Some(Moment {
            wall,
            fold,
            instant,
        })
    }

    /// The normalized wall reading of `instant` (Python's `datetime.fromtimestamp`).
    pub(crate) fn normalize(&self, instant: i64) -> Option<Moment> {
        let offset = self.offset_at(instant)?;
        let wall = Wall::from_epoch_micros(instant + offset);
        let fold = self.fixed.is_none()
            && matches!(
                self.ambiguity(&wall)?,
                AmbiguousOffset::Fold { before, after }
                    if before != after && i64::from(after.seconds()) * MICROS_PER_SECOND == offset
            );
        Some(Moment {
            wall,
            fold,
            instant,
        })
    }

    /// The instant as a zoned datetime in this zone.
    pub(crate) fn zoned(&self, instant: i64) -> Option<ZonedDateTime> {
        let ts = Timestamp::from_microsecond(instant).ok()?;
        Some(ts.to_zoned_datetime(self.tz.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> Wall {
        Wall {
            hour: h,
            minute: mi,
            ..Wall::midnight(y, mo, d)
        }
    }

    #[test]
    fn gap_readings_shift_forward_and_folds_pick_by_flag() {
        let ny = Zone::named("America/New_York").unwrap();
        // 02:30 does not exist on 2026-03-08; fold=0 reads it at -05:00 = 03:30 EDT.
        let gap = ny.resolve(wall(2026, 3, 8, 2, 30), false).unwrap();
        assert_eq!(
            ny.normalize(gap.instant).unwrap().wall,
            wall(2026, 3, 8, 3, 30)
        );
        // 01:30 happens twice on 2026-11-01.
        let first = ny.resolve(wall(2026, 11, 1, 1, 30), false).unwrap();
        let second = ny.resolve(wall(2026, 11, 1, 1, 30), true).unwrap();
        assert_eq!(second.instant - first.instant, 3600 * MICROS_PER_SECOND);
        assert!(!ny.normalize(first.instant).unwrap().fold);
        assert!(ny.normalize(second.instant).unwrap().fold);
    }

    #[test]
    fn only_plain_iana_names_are_zones() {
        assert!(Zone::named("Europe/Berlin").is_some());
        assert!(Zone::named("UTC").is_some());
        for bad in [
            "",
            "../../etc/passwd",
            "/etc/localtime",
            "EST5EDT,M3.2.0,M11.1.0",
            "Mars/Olympus",
        ] {
            assert!(Zone::named(bad).is_none(), "{bad}");
        }
    }
}
