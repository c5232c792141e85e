//! Property tests of triggers against independent oracles.

use horae::trigger::{TRIGGER_TYPES, Trigger, format_fire_time};
use jiff::civil::Weekday;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A numeric cron expression together with the set of values it denotes, computed here
/// independently of the library's parser.
#[derive(Debug, Clone)]
struct Expr {
    text: String,
    values: Vec<u32>,
}

fn expr(min: u32, max: u32) -> impl Strategy<Value = Expr> {
    let span = max - min;
    prop_oneof![
        Just(Expr {
            text: "*".into(),
            values: (min..=max).collect()
        }),
        (1..=span.max(1)).prop_map(move |step| Expr {
            text: format!("*/{step}"),
            values: (min..=max).step_by(step as usize).collect(),
        }),
        (min..=max).prop_map(|v| Expr {
            text: v.to_string(),
            values: vec![v]
        }),
        (min..=max, min..=max).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            Expr {
                text: format!("{a}-{b}"),
                values: (a..=b).collect(),
            }
        }),
        (min..=max, min..=max, 1..=span.max(1)).prop_filter_map("step fits", |(a, b, step)| {
            let (a, b) = (a.min(b), a.max(b));
            (step <= b - a).then(|| Expr {
                text: format!("{a}-{b}/{step}"),
                values: (a..=b).step_by(step as usize).collect(),
            })
        }),
        proptest::collection::btree_set(min..=max, 1..4).prop_map(|set| Expr {
            text: set.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
            values: set.into_iter().collect(),
        }),
    ]
}

/// A crontab day-of-week expression and the weekdays (0 = Sunday) it denotes, using the
/// crontab numbering steps horae documents.
fn weekday_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(Expr {
            text: "*".into(),
            values: (0..7).collect()
        }),
        Just(Expr {
            text: "mon-fri".into(),
            values: vec![1, 2, 3, 4, 5]
        }),
        Just(Expr {
            text: "1-5/2".into(),
            values: vec![1, 3, 5]
        }),
        Just(Expr {
            text: "*/2".into(),
            values: vec![0, 2, 4, 6]
        }),
        Just(Expr {
            text: "fri-mon/2".into(),
            values: vec![5, 0]
        }),
        Just(Expr {
            text: "sat,sun".into(),
            values: vec![6, 0]
        }),
        Just(Expr {
            text: "7".into(),
            values: vec![0]
        }),
        (0u32..7).prop_map(|d| Expr {
            text: d.to_string(),
            values: vec![d]
        }),
    ]
}

fn weekday_number(w: Weekday) -> u32 {
    w.to_sunday_zero_offset() as u32
}

#[derive(Debug, Clone)]
struct CronCase {
    minute: Expr,
    hour: Expr,
    day: Expr,
    month: Expr,
    weekday: Expr,
    crontab: bool,
    start: i64,
}

fn cron_case() -> impl Strategy<Value = CronCase> {
    (
        expr(0, 59),
        expr(0, 23),
        expr(1, 31),
        expr(1, 12),
        weekday_expr(),
        any::<bool>(),
        // 2000-01-01 .. 2040-01-01, whole minutes
        (946_684_800i64 / 60..2_208_988_800 / 60).prop_map(|m| m * 60),
    )
        .prop_map(
            |(minute, hour, day, month, weekday, crontab, start)| CronCase {
                minute,
                hour,
                day,
                month,
                weekday,
                crontab,
                start,
            },
        )
}

impl CronCase {
    fn spec(&self, zone: &str) -> Value {
        let start = Timestamp::from_second(self.start)
            .unwrap()
            .to_zoned_datetime(TimeZone::get(zone).unwrap());
        let start = format_fire_time(&start);
        if self.crontab {
            let line = format!(
                "{} {} {} {} {}",
                self.minute.text, self.hour.text, self.day.text, self.month.text, self.weekday.text
            );
            json!({"type": "cron", "expr": line, "timezone": zone, "start_time": start})
        } else {
            json!({"type": "cron", "minute": self.minute.text, "hour": self.hour.text, "day": self.day.text,
                   "month": self.month.text, "day_of_week": self.weekday.text, "timezone": zone, "start_time": start})
        }
    }

    /// Whether a UTC minute matches, by cron's rules for this form.
    fn matches(&self, t: Timestamp) -> bool {
        self.matches_wall(t.to_zoned_datetime(TimeZone::UTC).datetime())
    }

    /// Whether a wall-clock reading matches, by cron's rules for this form.
    fn matches_wall(&self, dt: jiff::civil::DateTime) -> bool {
        let day_ok = self.day.values.contains(&(dt.day() as u32));
        let weekday_ok = self.weekday.values.contains(&weekday_number(dt.weekday()));
        let days = if self.crontab && self.day.text != "*" && self.weekday.text != "*" {
            day_ok || weekday_ok
        } else {
            day_ok && weekday_ok
        };
        days && self.minute.values.contains(&(dt.minute() as u32))
            && self.hour.values.contains(&(dt.hour() as u32))
            && self.month.values.contains(&(dt.month() as u32))
    }
}

fn fire_times(trigger: &mut Trigger, until: Timestamp, limit: usize) -> Vec<Timestamp> {
    let mut out = Vec::new();
    while out.len() < limit {
        match trigger.next().unwrap() {
            Some(t) if t.timestamp() <= until => out.push(t.timestamp()),
            _ => break,
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// In UTC (no DST) a cron trigger fires exactly at the minutes a brute-force scan finds.
    #[test]
    fn cron_matches_brute_force_in_utc(case in cron_case()) {
        let spec = case.spec("UTC");
        let mut trigger = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH).unwrap();
        let start = Timestamp::from_second(case.start).unwrap();
        let until = start + SignedDuration::from_hours(40 * 24);
        let got = fire_times(&mut trigger, until, 2_000);
        let mut expected = Vec::new();
        let mut t = start;
        while t <= until && expected.len() < 2_000 {
            if case.matches(t) {
                expected.push(t);
            }
            t += SignedDuration::from_mins(1);
        }
        prop_assert_eq!(got, expected, "spec {}", spec);
    }

    /// Fire times strictly increase and stay within [start_time, end_time], in zones with DST.
    #[test]
    fn cron_fire_times_increase_within_bounds(case in cron_case(), zone in prop::sample::select(ZONES), days in 1i64..400) {
        let mut spec = case.spec(zone);
        let start = Timestamp::from_second(case.start).unwrap();
        let end = start + SignedDuration::from_hours(days * 24);
        spec["end_time"] = Value::String(end.to_string());
        let mut trigger = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH).unwrap();
        let mut previous: Option<Timestamp> = None;
        for _ in 0..300 {
            let Some(t) = trigger.next().unwrap() else { break };
            let t = t.timestamp();
            prop_assert!(t >= start && t <= end, "{t} outside [{start}, {end}] for {spec}");
            if let Some(p) = previous {
                prop_assert!(t > p, "{t} not after {p} for {spec}");
            }
            previous = Some(t);
        }
    }

    /// In zones with DST every fire time shows a matching wall time, or is a matching wall
    /// time inside a gap shifted forward (read with the offset from before the gap), or is
    /// the instant a fold begins, whose wall time read with the earlier offset matches (as
    /// APScheduler 4 computes it).
    #[test]
    fn cron_fire_times_match_their_fields(case in cron_case(), zone in prop::sample::select(ZONES)) {
        let spec = case.spec(zone);
        let tz = TimeZone::get(zone).unwrap();
        let mut trigger = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH).unwrap();
        for _ in 0..200 {
            let Some(t) = trigger.next().unwrap() else { break };
            let now_wall = t.datetime();
            let before_offset = tz.to_offset(t.timestamp() - SignedDuration::from_hours(3));
            let gap_wall = t.timestamp().to_zoned_datetime(TimeZone::fixed(before_offset)).datetime();
            let gap_wall_in_gap = matches!(tz.to_ambiguous_timestamp(gap_wall).offset(), AmbiguousOffset::Gap { .. });
            // The instant a fold begins (clocks set back): APScheduler 4 reads the wall time
            // that ends the earlier offset with that offset, so 03:45 +13:45 in
            // Pacific/Chatham fires at the transition, shown as 02:45 +12:45.
            let offset_before = tz.to_offset(t.timestamp() - SignedDuration::from_micros(1));
            let at_fold_start = offset_before > tz.to_offset(t.timestamp());
            let fold_wall = t.timestamp().to_zoned_datetime(TimeZone::fixed(offset_before)).datetime();
            prop_assert!(
                case.matches_wall(now_wall)
                    || (gap_wall_in_gap && case.matches_wall(gap_wall))
                    || (at_fold_start && case.matches_wall(fold_wall)),
                "{} does not match {}", t, spec
            );
            prop_assert_eq!(t.time_zone(), &tz);
        }
    }

    /// A daily cron at a fixed wall time fires on every day of the calendar, DST or not
    /// (DESIGN.md section 4, divergence 1), at that wall time or shifted forward out of a gap.
    #[test]
    fn daily_cron_never_skips_a_day(zone in prop::sample::select(ZONES), hour in 0u32..24, minute in 0u32..60, start_day in 0i64..3650) {
        let tz = TimeZone::get(zone).unwrap();
        let first = jiff::civil::date(2015, 1, 1) + start_day.days();
        let start = format_fire_time(&first.to_zoned_datetime(tz.clone()).unwrap());
        let spec = json!({"type": "cron", "hour": hour, "minute": minute, "timezone": zone, "start_time": start});
        let mut trigger = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH).unwrap();
        let mut expected_date = first;
        let mut fires = 0;
        while fires < 400 {
            let t = trigger.next().unwrap().unwrap();
            let local = t.datetime();
            if local.date() == expected_date.yesterday().unwrap() {
                // the second occurrence of a wall time in a fold
                continue;
            }
            prop_assert_eq!(local.date(), expected_date, "{} for {}", t, spec);
            let wall_matches = local.hour() as u32 == hour && local.minute() as u32 == minute;
            let in_gap = tz.to_ambiguous_timestamp(expected_date.at(hour as i8, minute as i8, 0, 0)).offset();
            let in_gap = matches!(in_gap, AmbiguousOffset::Gap { .. });
            prop_assert!(wall_matches || in_gap, "{} for {}", t, spec);
            expected_date = expected_date.tomorrow().unwrap();
            fires += 1;
        }
    }

    /// A trigger serialized mid-iteration and read back continues with the same fire times.
    #[test]
    fn serialization_round_trips_mid_iteration(spec in any_trigger(), before in 0usize..20, after in 1usize..20) {
        let mut trigger = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH).unwrap();
        for _ in 0..before {
            if !matches!(trigger.next(), Ok(Some(_))) { break; }
        }
        let json = trigger.to_json();
        let mut restored = Trigger::from_json(&json, Timestamp::UNIX_EPOCH).unwrap();
        prop_assert_eq!(&restored, &trigger);
        prop_assert_eq!(restored.to_json(), json.clone());
        let text = serde_json::to_string(&trigger).unwrap();
        let via_serde: Trigger = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&via_serde, &trigger);
        for _ in 0..after {
            let a = trigger.next().map(|t| t.as_ref().map(format_fire_time));
            let b = restored.next().map(|t| t.as_ref().map(format_fire_time));
            prop_assert_eq!(&a, &b, "after restoring {}", json);
            if !matches!(a, Ok(Some(_))) { break; }
        }
    }

    /// Interval fire times are start + k × interval, in the start time's offset.
    #[test]
    fn interval_is_elapsed_time(seconds in 1u64..200_000, micros in 0u64..1_000_000, count in 1usize..50) {
        let spec = json!({"type": "interval", "seconds": seconds, "microseconds": micros, "start_time": "2026-03-07T23:00:00-05:00"});
        let mut trigger = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH).unwrap();
        let start = "2026-03-07T23:00:00-05:00".parse::<Timestamp>().unwrap().as_microsecond();
        let step = (seconds * 1_000_000 + micros) as i64;
        for k in 0..count as i64 {
            let t = trigger.next().unwrap().unwrap();
            prop_assert_eq!(t.timestamp().as_microsecond(), start + k * step);
            prop_assert_eq!(t.offset().seconds(), -5 * 3600);
        }
    }

    /// Calendar-interval fire times increase and show the requested wall time.
    #[test]
    fn calendar_interval_keeps_the_wall_time(
        zone in prop::sample::select(ZONES), months in 0u32..14, days in 0u32..40, hour in 0u32..24, minute in 0u32..60, start_day in 0i64..3000,
    ) {
        prop_assume!(months + days > 0);
        let start = (jiff::civil::date(2016, 1, 1) + start_day.days()).to_string();
        let spec = json!({"type": "calendar_interval", "months": months, "days": days, "hour": hour, "minute": minute,
                          "start_date": start, "timezone": zone});
        let mut trigger = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH).unwrap();
        let mut previous: Option<Timestamp> = None;
        for _ in 0..60 {
            let Some(t) = trigger.next().unwrap() else { break };
            prop_assert_eq!((t.hour() as u32, t.minute() as u32), (hour, minute), "{} for {}", t, spec);
            if let Some(p) = previous { prop_assert!(t.timestamp() > p); }
            previous = Some(t.timestamp());
        }
    }

    /// Arbitrary JSON never makes parsing or evaluation panic.
    #[test]
    fn arbitrary_json_never_panics(spec in arbitrary_trigger_json()) {
        if let Ok(mut trigger) = Trigger::from_json(&spec, Timestamp::UNIX_EPOCH) {
            for _ in 0..5 {
                match trigger.next() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            let _ = trigger.to_json();
        }
    }
}

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
];

/// Valid trigger specifications of every type (nested and/or included).
fn any_trigger() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (cron_case(), prop::sample::select(ZONES)).prop_map(|(case, zone)| case.spec(zone)),
        (1u64..100_000, 0i64..100_000).prop_map(|(seconds, day)| json!({
            "type": "interval", "seconds": seconds,
            "start_time": (Timestamp::from_second(1_700_000_000 + day * 3600).unwrap()).to_string(),
        })),
        (0u32..3, 0u32..13, 0u32..3, 0u32..10, prop::sample::select(ZONES)).prop_filter_map("non-zero", |(y, m, w, d, zone)| {
            (y + m + w + d > 0).then(|| json!({"type": "calendar_interval", "years": y, "months": m, "weeks": w, "days": d,
                "hour": 2, "minute": 30, "start_date": "2024-01-31", "timezone": zone}))
        }),
        Just(json!({"type": "date", "run_time": "2026-06-01T12:00:00+02:00"})),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3)
                .prop_map(|ts| json!({"type": "or", "triggers": ts})),
            (proptest::collection::vec(inner, 1..3), 0u32..4000).prop_map(
                |(ts, threshold)| json!({
                    "type": "and", "triggers": ts, "threshold": threshold, "max_iterations": 200
                })
            ),
        ]
    })
}

/// JSON objects built from trigger keys with values of every JSON type.
fn arbitrary_trigger_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "type",
        "year",
        "month",
        "day",
        "week",
        "day_of_week",
        "hour",
        "minute",
        "second",
        "expr",
        "timezone",
        "start_time",
        "end_time",
        "run_time",
        "weeks",
        "days",
        "hours",
        "minutes",
        "seconds",
        "microseconds",
        "years",
        "months",
        "start_date",
        "end_date",
        "triggers",
        "threshold",
        "max_iterations",
        "next_fire_times",
        "last_fire_time",
        "last_fire_date",
        "completed",
    ]);
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
        prop::sample::select(vec![
            "cron",
            "interval",
            "date",
            "and",
            "or",
            "calendar_interval",
            "*",
            "*/0",
            "last",
            "lastx",
            "2nd wed",
            "mon-fri/2",
            "jan/2",
            "5-3",
            "99999999999",
            "America/New_York",
            "../../etc/passwd",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-02-30",
            "0 3 * * *",
            "* * * *",
            "MON#9",
            "",
            "\u{0}",
            "ü",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    let value = scalar.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let type_name = prop::sample::select(TRIGGER_TYPES.to_vec());
    (
        type_name,
        proptest::collection::btree_map(
            prop::sample::select(vec![
                "hour",
                "minute",
                "day",
                "day_of_week",
                "expr",
                "seconds",
                "start_time",
                "triggers",
                "run_time",
                "months",
                "timezone",
                "end_time",
                "threshold",
                "start_date",
            ])
            .prop_map(str::to_owned),
            value,
            0..5,
        ),
    )
        .prop_map(|(t, mut m)| {
            m.insert("type".to_owned(), Value::from(t));
            Value::Object(m.into_iter().collect())
        })
}
