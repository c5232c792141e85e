#!/usr/bin/env python3
"""Generate horae's trigger reference vectors by running APScheduler 4.0.0a6.

Set-up and run (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install --pre 'apscheduler==4.0.0a6' croniter
    .venv/bin/python tools/vectors/gen_trigger_vectors.py

It writes ``crates/horae/tests/data/trigger_vectors.json``: a seeded, deterministic set of
trigger specifications in horae's JSON form (DESIGN.md section 4), each with the fire times
horae must produce. Where APScheduler 4 is right (almost everywhere) the expected fire times
are APScheduler's own output. Where it is wrong (the five divergences of DESIGN.md section 4,
plus the crontab day-of-month OR day-of-week rule), the expected times come from APScheduler
run with that one thing corrected, and the case keeps APScheduler's raw output beside them:

* ``syntax`` (divergence 4, crontab OR, DOW#n): day_of_week steps are expanded on crontab
  numbering into an explicit name list, and a crontab line restricting both day fields is
  run as two field-form triggers whose fire times are merged; ``DOW#n`` becomes ``nth dow``.
* ``start`` (divergence 2): ``start_time`` is converted to the trigger's zone first.
* ``increment`` (divergence 1): the cron search's "increment a field" step, when it
  increments a date-level field across a spring-forward change, reads the new date's wall
  time as it is instead of adding the wall-clock difference as elapsed time.
* ``instant`` (divergence 3): ``and``/``or`` combine sub-trigger times as UTC instants.

Each correction stage is applied on top of the previous ones; a case records which stages
changed the output. Divergence 1 cases are cross-checked independently: no calendar day whose
date fields match may be left without a fire time. Crontab-OR cases in zones without DST are
cross-checked against croniter when it is installed.
"""

from __future__ import annotations

import json
import platform
import random
import signal
import sys
from calendar import monthrange
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import apscheduler
from apscheduler.abc import Trigger as AbcTrigger
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

SEED = 20261125
OUT = Path(__file__).resolve().parents[2] / "crates/horae/tests/data/trigger_vectors.json"
ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "UTC",
]
FIELDS = ["year", "month", "day", "week", "day_of_week", "hour", "minute", "second"]
WEEKDAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]  # crontab numbering
STAGES = ["syntax", "start", "increment", "instant"]
STAGE_LABEL = {"syntax": 4, "start": 2, "increment": 1, "instant": 3}

# --------------------------------------------------------------------------------------
# horae's day_of_week rules (divergence 4) and crontab rules, written out independently


def weekday_number(token: str) -> int:
    if token.isdigit():
        n = int(token)
        if n > 7:
            raise ValueError(token)
        return n
    return WEEKDAY_NAMES.index(token.lower()[:3]) if token.lower() in WEEKDAY_NAMES else _bad(token)


def _bad(token):
    raise ValueError(f"bad weekday {token!r}")


def expand_weekdays(expr: str) -> list[int]:
    """Crontab weekday numbers (0 = Sunday) denoted by a day_of_week field."""
    days: set[int] = set()
    for part in (p.strip() for p in str(expr).split(",")):
        rng, _, step = part.partition("/")
        step = int(step) if step else 1
        if rng == "*":
            first, last = 0, 7 if step > 1 else 6
        elif "-" in rng:
            a, b = rng.split("-")
            first, last = weekday_number(a), weekday_number(b)
        elif step > 1 or "/" in part:
            first, last = weekday_number(rng) % 7, 6
        else:
            first = last = weekday_number(rng)
        if first > last:
            last += 7
        days.update(v % 7 for v in range(first, last + 1, step))
    return sorted(days)


def weekday_list(expr: str) -> str:
    """An explicit name list that APScheduler reads the way horae reads ``expr``."""
    order = [1, 2, 3, 4, 5, 6, 0]
    days = expand_weekdays(expr)
    return ",".join(WEEKDAY_NAMES[d] for d in order if d in days)


assert weekday_list("1-5/2") == "mon,wed,fri"
assert weekday_list("mon-fri/2") == "mon,wed,fri"
assert weekday_list("*/2") == "tue,thu,sat,sun"
assert weekday_list("fri-mon/2") == "fri,sun"
assert weekday_list("sun/2") == "tue,thu,sat,sun"
assert weekday_list("2/3") == "tue,fri"
assert weekday_list("0-7") == "mon,tue,wed,thu,fri,sat,sun"


# --------------------------------------------------------------------------------------
# corrected APScheduler pieces


class FixedIncrementCron(CronTrigger):
    """CronTrigger whose field increment never skips a day across spring-forward."""

    def _increment_field_value(self, dateval, fieldnum):
        fields = self._fields
        # Find the field that actually gets incremented (skip filters, carry past maxima).
        while True:
            if fieldnum < 0:
                return dateval, fieldnum
            field = fields[fieldnum]
            if field.real and field.get_value(dateval) < field.get_max(dateval):
                break
            fieldnum -= 1
        values = {}
        for index, field in enumerate(fields):
            if not field.real:
                continue
            if index < fieldnum:
                values[field.name] = field.get_value(dateval)
            elif index == fieldnum:
                values[field.name] = field.get_value(dateval) + 1
            else:
                values[field.name] = field.get_min(dateval)
        target = datetime(**values)
        elapsed = (target - dateval.replace(tzinfo=None)).total_seconds()
        moved = datetime.fromtimestamp(dateval.timestamp() + elapsed, self.timezone)
        if moved.replace(tzinfo=None) == target:
            return moved, fieldnum
        if fieldnum <= 2 and moved.utcoffset() > dateval.utcoffset():
            return target.replace(tzinfo=self.timezone, fold=0), fieldnum
        return moved, fieldnum


class InstantTime(datetime):
    """A UTC datetime remembering the zone of the trigger that produced it."""


class InstantWrap(AbcTrigger):
    """Makes a sub-trigger's fire times compare as instants (UTC)."""

    def __init__(self, inner, zone):
        self.inner, self.zone = inner, zone

    def next(self):
        fire = self.inner.next()
        if fire is None:
            return None
        zone = getattr(fire, "src_zone", None) or self.zone or fire.tzinfo
        out = InstantTime.fromtimestamp(fire.timestamp(), timezone.utc)
        out.src_zone = zone
        return out

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        pass


class MergedTriggers:
    """Fire times of several triggers, merged in order, one per instant (crontab OR)."""

    def __init__(self, triggers, zone):
        self.triggers, self.zone = triggers, zone
        self.pending = None

    def next(self):
        if self.pending is None:
            self.pending = [t.next() for t in self.triggers]
        live = [p for p in self.pending if p is not None]
        if not live:
            return None
        earliest = min(live, key=lambda d: d.timestamp())
        for i, p in enumerate(self.pending):
            if p is not None and p.timestamp() == earliest.timestamp():
                self.pending[i] = self.triggers[i].next()
        return earliest


# --------------------------------------------------------------------------------------
# building APScheduler triggers from horae JSON


def parse_time(text):
    return datetime.fromisoformat(text) if text is not None else None


def crontab_fields(expr):
    minute, hour, dom, month, dow = expr.split()
    return minute, hour, dom, month, dow


def build(spec, stages):
    kind = spec["type"]
    if kind == "cron":
        zone = ZoneInfo(spec.get("timezone", "UTC"))
        start = parse_time(spec["start_time"])
        end = parse_time(spec.get("end_time"))
        if "start" in stages:
            start = start.astimezone(zone)
        cls = FixedIncrementCron if "increment" in stages else CronTrigger
        if "expr" in spec:
            if "syntax" not in stages:
                return CronTrigger.from_crontab(spec["expr"], start_time=start, end_time=end, timezone=zone)
            minute, hour, dom, month, dow = crontab_fields(spec["expr"])
            common = dict(minute=minute, hour=hour, month=month, timezone=zone, start_time=start, end_time=end)

            def branch(day, weekday):
                if "#" in weekday:
                    name, nth = weekday.split("#")
                    day = f"{['1st', '2nd', '3rd', '4th', '5th'][int(nth) - 1]} {WEEKDAY_NAMES[weekday_number(name) % 7]}"
                    weekday = "*"
                elif weekday != "*":
                    weekday = weekday_list(weekday)
                return cls(day=day, day_of_week=weekday, **common)

            if dom != "*" and dow != "*":
                return MergedTriggers([branch(dom, "*"), branch("*", dow)], zone)
            return branch(dom, dow)
        fields = {f: spec[f] for f in FIELDS if f in spec}
        if "syntax" in stages and "day_of_week" in fields:
            fields["day_of_week"] = weekday_list(str(fields["day_of_week"]))
        return cls(**fields, timezone=zone, start_time=start, end_time=end)
    if kind == "interval":
        units = {k: spec[k] for k in ("weeks", "days", "hours", "minutes", "seconds", "microseconds") if k in spec}
        return IntervalTrigger(**units, start_time=parse_time(spec["start_time"]), end_time=parse_time(spec.get("end_time")))
    if kind == "calendar_interval":
        units = {k: spec[k] for k in ("years", "months", "weeks", "days", "hour", "minute", "second") if k in spec}
        return CalendarIntervalTrigger(
            **units, start_date=spec["start_date"], end_date=spec.get("end_date"), timezone=spec.get("timezone", "UTC")
        )
    if kind == "date":
        return DateTrigger(parse_time(spec["run_time"]))
    subs = [build(s, stages) for s in spec["triggers"]]
    if "instant" in stages:
        subs = [InstantWrap(t, output_zone(s)) for t, s in zip(subs, spec["triggers"])]
    if kind == "and":
        return AndTrigger(subs, threshold=spec.get("threshold", 1), max_iterations=spec.get("max_iterations", 10000))
    return OrTrigger(subs)


def output_zone(spec):
    """The zone horae formats a trigger's fire times in (None: the datetime's own offset)."""
    if spec["type"] in ("cron", "calendar_interval"):
        return ZoneInfo(spec.get("timezone", "UTC"))
    return None


def fmt(fire, zone):
    zone = getattr(fire, "src_zone", None) or zone or fire.tzinfo
    return datetime.fromtimestamp(fire.timestamp(), zone).isoformat()


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def run(spec, count, stages):
    """Fire times (formatted) and why the run ended early ("exhausted", "max_iterations")."""
    trigger = build(spec, stages)
    zone = output_zone(spec)
    times, end = [], None
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(5)
    try:
        while len(times) < count:
            try:
                fire = trigger.next()
            except apscheduler.MaxIterationsReached:
                end = "max_iterations"
                break
            if fire is None:
                end = "exhausted"
                break
            times.append(fmt(fire, zone))
    finally:
        signal.alarm(0)
    return times, end


# --------------------------------------------------------------------------------------
# independent cross-checks


def date_fields_match(spec, day: date) -> bool:
    """Whether a calendar day satisfies a field-form cron spec's date-level fields (horae rules)."""
    fields = {f: spec[f] for f in FIELDS if f in spec}
    if "day_of_week" in fields:
        fields["day_of_week"] = weekday_list(str(fields["day_of_week"]))
    trigger = CronTrigger(**fields, timezone="UTC")
    probe = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("UTC"))
    for field in trigger._fields:
        if field.name in ("year", "month", "day", "week", "day_of_week"):
            if field.get_next_value(probe) != field.get_value(probe):
                return False
    return True


def check_no_skipped_day(spec, times):
    """Divergence 1 cross-check: every matching local date between the first and last fire has one."""
    if "expr" in spec or not times:
        return True
    zone = ZoneInfo(spec.get("timezone", "UTC"))
    fired = {datetime.fromisoformat(t).astimezone(zone).date() for t in times}
    first = datetime.fromisoformat(times[0]).astimezone(zone).date()
    last = datetime.fromisoformat(times[-1]).astimezone(zone).date()
    day = first
    while day <= last:
        if date_fields_match(spec, day) and day not in fired:
            return False
        day += timedelta(days=1)
    return True


def check_croniter(spec, times):
    try:
        from croniter import croniter
    except ImportError:
        return True
    if spec.get("timezone", "UTC") not in ("UTC", "Asia/Kolkata") or "#" in spec["expr"] or "last" in spec["expr"]:
        return True
    zone = ZoneInfo(spec.get("timezone", "UTC"))
    start = datetime.fromisoformat(spec["start_time"]).astimezone(zone) - timedelta(seconds=1)
    it = croniter(spec["expr"], start, day_or=True)
    expected = [it.get_next(datetime).astimezone(zone).isoformat() for _ in times]
    return expected == times


# --------------------------------------------------------------------------------------
# the cases


def iso(dt):
    return dt.isoformat()


def transitions(zone_name, years):
    """(instant before, kind) of each UTC-offset change in the given years."""
    zone = ZoneInfo(zone_name)
    out = []
    for year in years:
        t = datetime(year, 1, 1, tzinfo=timezone.utc)
        end = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
        while t < end:
            nxt = t + timedelta(hours=1)
            a, b = t.astimezone(zone).utcoffset(), nxt.astimezone(zone).utcoffset()
            if a != b:
                out.append((t, "spring" if b > a else "fall"))
            t = nxt
    return out


def local(zone_name, utc_time):
    return datetime.fromtimestamp(utc_time.timestamp(), ZoneInfo(zone_name))


def cases(rnd: random.Random):
    out = []

    def add(name, category, spec, count=30):
        out.append((name, category, spec, count))

    base_start = "2026-01-01T00:00:00+00:00"
    # cron field syntax, one field at a time, ints and strings
    syntax = {
        "second": ["*", "*/15", "5", "10-20", "10-50/20", "7/13", "0,15,45", "0, 30", 30],
        "minute": ["*/7", "59", "1-5", "0-59/29", "45/5", "5,10,55", 0, "*"],
        "hour": ["*/6", "23", "9-17", "9-17/4", "20/2", "0,12", 3, "*"],
        "day": ["*/5", "1-10/3", "last", "last fri", "2nd wed", "1st mon,last sun", "15,last", "31", "29-31",
                "5th mon", "LAST", "3rd SAT", 13, "28/2"],
        "month": ["jan", "mar-jun", "*/3", "2", "11-12", "jan,jul", "FEB", 6],
        "day_of_week": ["mon-fri", "sat,sun", "0", "7", "1", "0-6", "6-0", "wed", "mon,wed,fri", "thu-sat", "SUN", 5, 0],
        "week": ["1-10", "*/2", "53", "20", "1,52,53"],
        "year": ["2027", "2026-2030/2", "2028,2032", "2026-2027"],
    }
    for field, exprs in syntax.items():
        for expr in exprs:
            for zone in ("UTC", "Asia/Kolkata"):
                add(f"cron/syntax/{field}={expr}/{zone}", "cron-syntax",
                    {"type": "cron", field: expr, "timezone": zone, "start_time": iso(local(zone, datetime(2026, 1, 1, tzinfo=timezone.utc)))}, 25)
    # defaulting of unspecified fields
    for fields in ({}, {"hour": 9}, {"month": 6}, {"day": 15}, {"year": 2027}, {"week": 10}, {"day_of_week": "mon"},
                   {"minute": 30}, {"second": 5}, {"month": 2, "hour": 12}, {"day": 1, "minute": "*/30"}, {"week": 1, "hour": 6}):
        add(f"cron/defaults/{json.dumps(fields, sort_keys=True)}", "cron-defaults",
            {"type": "cron", **fields, "timezone": "UTC", "start_time": base_start}, 20)
    # random field combinations
    def rexpr(lo, hi):
        k = rnd.random()
        a, b = sorted((rnd.randint(lo, hi), rnd.randint(lo, hi)))
        if k < 0.25:
            return "*"
        if k < 0.4:
            return f"*/{rnd.randint(1, max(1, (hi - lo) // 2))}"
        if k < 0.55:
            return str(a)
        if k < 0.7:
            return f"{a}-{b}"
        if k < 0.8 and b - a >= 2:
            return f"{a}-{b}/{rnd.randint(1, b - a)}"
        return ",".join(str(x) for x in sorted({rnd.randint(lo, hi) for _ in range(3)}))
    limits = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 28), "month": (1, 12)}
    for i in range(260):
        zone = rnd.choice(ZONES)
        start = local(zone, datetime(2016, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rnd.randint(0, 12 * 365 * 24 * 60)))
        spec = {"type": "cron", "timezone": zone, "start_time": iso(start)}
        for field, (lo, hi) in limits.items():
            if rnd.random() < (0.2 if field == "second" else 0.55):
                spec[field] = rexpr(lo, hi)
        if rnd.random() < 0.3:
            spec["day_of_week"] = rnd.choice(["mon-fri", "sat,sun", "wed", "1-3", "0", "5,6"])
        if rnd.random() < 0.1:
            spec["end_time"] = iso(start + timedelta(days=rnd.randint(1, 90)))
        add(f"cron/random/{i}", "cron-dst" if zone not in ("UTC", "Asia/Kolkata") else "cron-random", spec, 30)
    # leap years and month ends
    for spec in (
        {"month": 2, "day": 29}, {"month": 2, "day": "last"}, {"day": 31}, {"day": 30, "hour": 23, "minute": 59},
        {"day": "29-31"}, {"day": "last", "hour": "0,12"}, {"month": "feb", "day": "28-29", "hour": 6},
        {"year": "2096-2104", "month": 2, "day": 29}, {"day": "last sun", "month": 2},
    ):
        for start in ("2023-12-31T12:00:00+00:00", "2099-01-01T00:00:00+00:00"):
            add(f"cron/calendar/{json.dumps(spec, sort_keys=True)}/{start[:4]}", "cron-leap-monthend",
                {"type": "cron", **spec, "timezone": "UTC", "start_time": start}, 12)
    # DST: near every transition in two years per zone
    dst_specs = [
        {"hour": 2, "minute": 30}, {"hour": 1, "minute": 30}, {"minute": "*/15"}, {"minute": "*/20", "hour": "1-3"},
        {"hour": 0}, {"hour": 0, "minute": 30}, {"day_of_week": "mon", "hour": 0}, {"minute": 0},
        {"second": "*/20", "minute": "58-59", "hour": "1-3"}, {"hour": 3, "minute": 0}, {"hour": "2-3", "minute": 45},
        {"minute": 15, "hour": "*/2"}, {"day": "*/2", "hour": 2}, {"hour": 23, "minute": 30},
    ]
    for zone in ZONES:
        if zone in ("UTC", "Asia/Kolkata"):
            continue
        years = (2017, 2018) if zone == "America/Sao_Paulo" else (2026, 2027)
        for when, kind in transitions(zone, years):
            for spec in dst_specs:
                start = local(zone, when - timedelta(hours=rnd.choice([26, 30, 50])))
                add(f"cron/dst/{zone}/{when.date()}/{kind}/{json.dumps(spec, sort_keys=True)}", "cron-dst",
                    {"type": "cron", **spec, "timezone": zone, "start_time": iso(start)}, 30)
            for spec in ({"hour": 0}, {"day_of_week": "sun", "hour": 2, "minute": 30}):
                start = local(zone, when - timedelta(days=200))
                add(f"cron/dst-span/{zone}/{when.date()}/{json.dumps(spec, sort_keys=True)}", "cron-dst",
                    {"type": "cron", **spec, "timezone": zone, "start_time": iso(start)}, 400)
    # start_time written in another offset (divergence 2)
    for i in range(60):
        zone = rnd.choice(ZONES)
        offset = rnd.choice([-11, -9, -5, 0, 5, 9, 13])
        start = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=offset))) + timedelta(hours=rnd.randint(0, 8000))
        spec = {"type": "cron", "hour": rnd.choice([0, 5, 12, 23, "*/3", "9-17"]), "minute": rnd.choice([0, 30, "*/20"]),
                "timezone": zone, "start_time": iso(start)}
        add(f"cron/start-offset/{i}", "cron-start-offset", spec, 10)
    # day_of_week steps (divergence 4), field and crontab forms
    for expr in ("*/2", "*/3", "1-5/2", "mon-fri/2", "fri-mon/2", "2/3", "sun/2", "0-7", "1-7/2", "sat-tue", "5-1"):
        add(f"cron/weekday-steps/{expr}", "cron-weekday-steps",
            {"type": "cron", "day_of_week": expr, "hour": 8, "timezone": "Europe/Berlin", "start_time": "2026-03-01T00:00:00+01:00"}, 20)
        add(f"crontab/weekday-steps/{expr}", "cron-weekday-steps",
            {"type": "cron", "expr": f"0 8 * * {expr}", "timezone": "Europe/Berlin", "start_time": "2026-03-01T00:00:00+01:00"}, 20)
    # crontab lines
    lines = ["*/5 * * * *", "0 3 * * *", "30 4 1,15 * *", "0 0 * * 1-5", "0 9-17/2 * * mon-fri", "0 0 1 jan,jul *",
             "15 14 1 * *", "0 22 * * 1-5", "23 0-20/2 * * *", "5 4 * * sun", "0 0,12 1 */2 *", "0 9 1 * mon",
             "30 6 13 * fri", "0 12 1-7 * 1", "0 0 31 * *", "59 23 last * *", "0 9 * * MON#2", "0 9 * * 5#3",
             "0 9 1 * mon#1", "*/20 1-3 * * *", "0 2 * * *", "30 1 * * *"]
    for line in lines:
        for zone in ("UTC", "Asia/Kolkata", "America/New_York", "Europe/London", "Australia/Lord_Howe"):
            add(f"crontab/{line}/{zone}", "crontab",
                {"type": "cron", "expr": line, "timezone": zone, "start_time": iso(local(zone, datetime(2026, 1, 1, tzinfo=timezone.utc)))}, 40)
    for i in range(80):
        zone = rnd.choice(("UTC", "Asia/Kolkata", "Europe/Berlin"))
        line = " ".join([rexpr(0, 59), rexpr(0, 23), rnd.choice(["*", "*", rexpr(1, 28)]), rnd.choice(["*", "*", rexpr(1, 12)]),
                         rnd.choice(["*", "*", "1-5", "0,6", "3"])])
        add(f"crontab/random/{i}", "crontab", {"type": "cron", "expr": line, "timezone": zone, "start_time": "2026-02-10T07:00:00+00:00"}, 30)
    # interval
    for i in range(70):
        units = {}
        for key, hi in (("weeks", 2), ("days", 3), ("hours", 30), ("minutes", 90), ("seconds", 3600), ("microseconds", 999999)):
            if rnd.random() < 0.35:
                units[key] = rnd.randint(0, hi)
        if not any(units.values()):
            units["seconds"] = rnd.randint(1, 100000)
        offset = timezone(timedelta(minutes=rnd.choice([-300, 0, 60, 330, 765])))
        start = datetime(2026, 3, 1, tzinfo=offset) + timedelta(seconds=rnd.randint(0, 10**7))
        spec = {"type": "interval", **units, "start_time": iso(start)}
        if rnd.random() < 0.3:
            spec["end_time"] = iso(start + timedelta(days=rnd.randint(0, 20)))
        add(f"interval/{i}", "interval", spec, 30)
    # date
    for run_time in ("2026-06-01T12:00:00+02:00", "2030-01-01T00:00:00.250000+00:00", "2026-03-08T02:30:00-05:00"):
        add(f"date/{run_time}", "date", {"type": "date", "run_time": run_time}, 3)
    # calendar interval
    for i in range(90):
        zone = rnd.choice(ZONES)
        spec = {"type": "calendar_interval", "timezone": zone,
                "start_date": str(date(2016, 1, 1) + timedelta(days=rnd.randint(0, 3650))),
                "hour": rnd.choice([0, 1, 2, 2, 3, 23]), "minute": rnd.choice([0, 15, 30, 45]), "second": rnd.choice([0, 0, 30])}
        for key, hi in (("years", 2), ("months", 14), ("weeks", 3), ("days", 40)):
            if rnd.random() < 0.4:
                spec[key] = rnd.randint(0, hi)
        if not any(spec.get(k) for k in ("years", "months", "weeks", "days")):
            spec["days"] = 1
        if rnd.random() < 0.3:
            spec["start_date"] = spec["start_date"][:8] + rnd.choice(["29", "30", "31"]) if spec["start_date"][5:7] in ("01", "03", "05", "07", "08", "10", "12") else spec["start_date"]
        if rnd.random() < 0.2:
            spec["end_date"] = str(date.fromisoformat(spec["start_date"]) + timedelta(days=rnd.randint(0, 400)))
        add(f"calendar_interval/{i}", "calendar-interval", spec, 30)
    for zone, start, hour, minute in (("America/New_York", "2026-03-01", 2, 30), ("America/New_York", "2026-10-25", 1, 30),
                                      ("Australia/Lord_Howe", "2026-09-28", 2, 15), ("America/Sao_Paulo", "2018-10-30", 0, 30),
                                      ("Pacific/Chatham", "2026-09-20", 2, 50), ("Europe/London", "2026-03-25", 1, 0)):
        for unit in ({"days": 1}, {"weeks": 1}):
            add(f"calendar_interval/dst/{zone}/{start}/{unit}", "calendar-interval",
                {"type": "calendar_interval", **unit, "hour": hour, "minute": minute, "start_date": start, "timezone": zone}, 20)
    for start, unit in (("2024-02-29", {"years": 1}), ("2024-02-29", {"years": 4}), ("2026-01-31", {"months": 1}),
                        ("2026-01-30", {"months": 1, "days": 1}), ("2096-02-29", {"years": 4})):
        add(f"calendar_interval/skip/{start}/{unit}", "calendar-interval",
            {"type": "calendar_interval", **unit, "hour": 9, "start_date": start, "timezone": "UTC"}, 10)
    # and / or
    for i in range(70):
        zone = rnd.choice(ZONES)
        start = local("UTC", datetime(2016, 1, 1, tzinfo=timezone.utc) + timedelta(hours=rnd.randint(0, 10 * 365 * 24)))
        subs = []
        for _ in range(rnd.randint(1, 3)):
            if rnd.random() < 0.55:
                subs.append({"type": "cron", "timezone": zone, "minute": rnd.choice(["*/5", "*/7", "0,30", "15"]),
                             "hour": rnd.choice(["*", "1-3", "*/2"]), "start_time": iso(start)})
            else:
                subs.append({"type": "interval", "minutes": rnd.choice([5, 7, 25, 60]),
                             "start_time": iso(start + timedelta(minutes=rnd.randint(0, 50)))})
        spec = {"type": rnd.choice(["and", "or"]), "triggers": subs}
        if spec["type"] == "and":
            spec["threshold"] = rnd.choice([0, 1, 60, 600, 3600])
            spec["max_iterations"] = rnd.choice([100, 10000])
        add(f"{spec['type']}/{i}", "and-or", spec, 20)
    # and / or around DST changes (divergence 3)
    for zone, day in (("America/New_York", "2026-11-01"), ("Europe/Berlin", "2026-10-25"), ("America/New_York", "2026-03-08"),
                      ("Australia/Lord_Howe", "2026-04-05"), ("Pacific/Chatham", "2026-04-05")):
        tz = ZoneInfo(zone)
        start = datetime.fromisoformat(day).replace(tzinfo=tz) - timedelta(hours=2)
        start = datetime.fromtimestamp(start.timestamp(), tz)
        cron_a = {"type": "cron", "minute": "*/20", "hour": "0-4", "timezone": zone, "start_time": iso(start)}
        cron_b = {"type": "cron", "minute": "10,40", "hour": "1-3", "timezone": zone, "start_time": iso(start)}
        every = {"type": "interval", "minutes": 25, "start_time": iso(start + timedelta(minutes=50))}
        add(f"or/dst/{zone}/{day}", "and-or-dst", {"type": "or", "triggers": [cron_a, every]}, 30)
        add(f"or/dst2/{zone}/{day}", "and-or-dst", {"type": "or", "triggers": [cron_a, cron_b]}, 30)
        for threshold in (0, 600, 1800):
            add(f"and/dst/{zone}/{day}/{threshold}", "and-or-dst",
                {"type": "and", "triggers": [cron_a, cron_b], "threshold": threshold, "max_iterations": 1000}, 15)
    # and that gives up
    add("and/max-iterations", "and-or", {"type": "and", "max_iterations": 5, "threshold": 0, "triggers": [
        {"type": "cron", "minute": "*/7", "start_time": base_start}, {"type": "cron", "minute": "*/11", "second": 30, "start_time": base_start}]}, 5)
    return out


def divergence_label(stage, spec):
    """The divergence a correction stage stands for in this case."""
    if stage == "syntax" and "expr" in spec:
        _, _, dom, _, dow = crontab_fields(spec["expr"])
        if "#" in dow or (dom != "*" and dow != "*"):
            return "crontab-or"
    return STAGE_LABEL[stage]


def main():
    rnd = random.Random(SEED)
    results, skipped, failed_checks = [], [], []
    for name, category, spec, count in cases(rnd):
        try:
            raw, raw_end = run(spec, count, set())
        except Exception as exc:  # APScheduler raising or looping: not a usable reference
            raw, raw_end = None, f"{type(exc).__name__}"
        stages, previous, changed = set(), raw, []
        expected, end = raw, raw_end
        try:
            for stage in STAGES:
                stages.add(stage)
                expected, end = run(spec, count, stages)
                if expected != previous:
                    changed.append(stage)
                previous = expected
        except Exception as exc:
            skipped.append((name, f"{type(exc).__name__}: {exc}"))
            continue
        case = {"name": name, "category": category, "trigger": spec, "count": count, "expected": expected}
        if changed:
            case["source"] = "corrected"
            labels = [divergence_label(stage, spec) for stage in changed]
            case["divergence"] = labels[0] if len(labels) == 1 else labels
            case["apscheduler_output"] = raw if raw is not None else raw_end
        else:
            case["source"] = "apscheduler"
        case["end"] = end
        if "increment" in changed and not check_no_skipped_day(spec, expected):
            failed_checks.append((name, "a matching day has no fire time"))
            continue
        if spec["type"] == "cron" and "expr" in spec and not check_croniter(spec, expected):
            failed_checks.append((name, "croniter disagrees"))
            continue
        start = spec.get("start_time")
        if start and expected and datetime.fromisoformat(expected[0]) < datetime.fromisoformat(start):
            failed_checks.append((name, "fire time before start_time"))
            continue
        results.append(case)

    tzdata = "unknown"
    try:
        tzdata = Path("/usr/share/zoneinfo/tzdata.zi").read_text().splitlines()[0].replace("# version ", "")
    except OSError:
        pass
    header = {"generator": "tools/vectors/gen_trigger_vectors.py", "apscheduler": apscheduler.__version__ if hasattr(apscheduler, "__version__") else "4.0.0a6",
              "python": platform.python_version(), "tzdata": tzdata, "seed": SEED}
    lines = ["{" + json.dumps(header)[1:-1] + ',\n "cases":[']
    lines.append(",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in results))
    lines.append("]}\n")
    OUT.write_text("\n".join(lines))

    by_category, by_source = {}, {}
    for case in results:
        by_category[case["category"]] = by_category.get(case["category"], 0) + 1
        key = case["source"] if case["source"] == "apscheduler" else f"corrected/divergence {case['divergence']}"
        by_source[key] = by_source.get(key, 0) + 1
    print(f"wrote {len(results)} cases to {OUT}")
    for key, n in sorted(by_category.items()):
        print(f"  category {key:22} {n}")
    for key, n in sorted(by_source.items()):
        print(f"  {key:40} {n}")
    print(f"  skipped (APScheduler raised or hung) {len(skipped)}")
    for name, why in skipped[:20]:
        print(f"    {name}: {why}")
    if failed_checks:
        print(f"  FAILED CROSS-CHECKS {len(failed_checks)}", file=sys.stderr)
        for name, why in failed_checks:
            print(f"    {name}: {why}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
