//! Cost of computing one fire time (`Trigger::next`) in steady state.
//!
//! Run with `cargo bench -p horae --bench trigger`. Each benchmark keeps one trigger and
//! advances it, so it measures the search from one fire time to the next.

use horae::trigger::Trigger;

fn main() {
    divan::main();
}

const SPECS: &[(&str, &str)] = &[
    (
        "crontab_every_5_min_utc",
        r#"{"type":"cron","expr":"*/5 * * * *"}"#,
    ),
    (
        "crontab_weekdays_9am_berlin",
        r#"{"type":"cron","expr":"0 9 * * mon-fri","timezone":"Europe/Berlin"}"#,
    ),
    (
        "crontab_dom_or_dow_new_york",
        r#"{"type":"cron","expr":"30 4 1,15 * 5","timezone":"America/New_York"}"#,
    ),
    ("fields_every_second_utc", r#"{"type":"cron","second":"*"}"#),
    (
        "fields_hourly_sydney",
        r#"{"type":"cron","minute":0,"timezone":"Australia/Sydney"}"#,
    ),
    (
        "fields_last_friday_lord_howe",
        r#"{"type":"cron","day":"last fri","hour":17,"timezone":"Australia/Lord_Howe"}"#,
    ),
    (
        "fields_feb_29_utc",
        r#"{"type":"cron","month":2,"day":29,"hour":12}"#,
    ),
    ("interval_90s", r#"{"type":"interval","seconds":90}"#),
    (
        "calendar_monthly_31st_new_york",
        r#"{"type":"calendar_interval","months":1,"hour":9,"start_date":"2026-01-31","timezone":"America/New_York"}"#,
    ),
];

fn build(name: &str) -> Trigger {
    let spec = SPECS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or("{}");
    let start: jiff::Timestamp = "2026-01-01T00:00:00Z"
        .parse()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    match Trigger::parse(spec, start) {
        Ok(t) => t,
        Err(e) => panic!("benchmark spec {name} is invalid: {e}"),
    }
}

#[divan::bench(args = SPECS.iter().map(|(name, _)| *name))]
fn next_fire_time(bencher: divan::Bencher, name: &str) {
    let mut trigger = build(name);
    bencher.bench_local(|| match trigger.next() {
        Ok(Some(t)) => t,
        other => panic!("trigger {name} stopped: {other:?}"),
    });
}

#[divan::bench]
fn parse_crontab_spec(bencher: divan::Bencher) {
    let spec = r#"{"type":"cron","expr":"*/15 9-17 * * mon-fri","timezone":"Europe/Berlin","start_time":"2026-01-01T00:00:00+01:00"}"#;
    bencher.bench(|| Trigger::parse(divan::black_box(spec), jiff::Timestamp::UNIX_EPOCH));
}
