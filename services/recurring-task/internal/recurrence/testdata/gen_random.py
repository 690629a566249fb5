#!/usr/bin/python3
"""Generate random_cases.json: random rules within the supported grammar and the
occurrences python-dateutil gives for each after a random instant (the corpus of the
Preview property test, services/recurring-task/internal/previewapi). Fixed seed, so the
output only changes when this script or dateutil does:

    /usr/bin/python3 gen_random.py > random_cases.json

Rules dateutil refuses (an unreachable BYHOUR/BYMINUTE, say), and rules so sparse that
dateutil takes more than two seconds (it searches without a bound), are drawn again; every
part is drawn only with the FREQs RFC 5545 allows it with.
"""
import json
import random
import signal
import sys
from datetime import datetime, timedelta

import dateutil

from golden import FIXED_ZONES, LAST_YEAR, UTC, fmt, loc, resolve, window

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
         "America/Santiago", "America/Havana", "Europe/London", "Pacific/Chatham", "Asia/Kolkata"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
N = 400


def sample(rng, values, lo=1, hi=3):
    return sorted(rng.sample(values, rng.randint(lo, min(hi, len(values)))))


def join(values):
    return ",".join(str(v) for v in values)


def rule_parts(rng, freq):
    sub = freq in ("HOURLY", "MINUTELY")
    parts = [f"FREQ={freq}"]
    if rng.random() < 0.4:
        parts.append(f"INTERVAL={rng.choice([2, 3, 5, 7, 15, 45]) if sub else rng.randint(2, 4)}")
    if rng.random() < 0.3:
        parts.append(f"BYMONTH={join(sample(rng, range(1, 13), 1, 6))}")
    if freq == "YEARLY" and rng.random() < 0.25:
        parts.append(f"BYWEEKNO={join(sample(rng, [1, 2, 10, 13, 26, 44, 52, 53, -1, -2]))}")
    elif freq in ("YEARLY", "HOURLY", "MINUTELY") and rng.random() < 0.2:
        parts.append(f"BYYEARDAY={join(sample(rng, [1, 32, 60, 70, 100, 200, 300, 366, -1, -10, -100]))}")
    if freq != "WEEKLY" and rng.random() < 0.25:
        parts.append(f"BYMONTHDAY={join(sample(rng, [1, 2, 10, 15, 28, 29, 30, 31, -1, -2]))}")
    if rng.random() < 0.4:
        ordinal = freq in ("MONTHLY", "YEARLY") and "BYWEEKNO" not in ";".join(parts) and rng.random() < 0.5
        days = sample(rng, DAYS, 1, 4)
        if ordinal:
            days = [f"{rng.choice([1, 2, 3, -1, -2])}{d}" for d in days]
        parts.append(f"BYDAY={join(days)}")
    if freq != "HOURLY" and freq != "MINUTELY" or rng.random() < 0.3:
        if rng.random() < 0.5:
            parts.append(f"BYHOUR={join(sample(rng, range(24), 1, 4))}")
    if rng.random() < 0.35:
        parts.append(f"BYMINUTE={join(sample(rng, [0, 10, 15, 30, 45, 59], 1, 3))}")
    if rng.random() < 0.1:
        parts.append(f"BYSECOND={join(sample(rng, [0, 20, 30], 1, 2))}")
    if any(p.startswith("BY") for p in parts) and rng.random() < 0.2:
        parts.append(f"BYSETPOS={join(sample(rng, [1, 2, -1, -2], 1, 2))}")
    if rng.random() < 0.2:
        parts.append(f"COUNT={rng.randint(1, 40)}")
    if rng.random() < 0.2:
        parts.append(f"WKST={rng.choice(DAYS)}")
    return ";".join(parts)


def case(rng, i):
    freq = rng.choice(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"])
    zone = rng.choice(ZONES)
    z = loc(zone)
    rule = rule_parts(rng, freq)
    start = datetime(2023, 1, 1) + timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 1439))
    start = resolve(start.replace(tzinfo=z))
    sub = freq in ("HOURLY", "MINUTELY")
    after = start + timedelta(hours=rng.randint(0, 72)) if sub else start + timedelta(days=rng.randint(0, 900))
    if rng.random() < 0.2:
        after = start - timedelta(seconds=1)
    n = rng.randint(1, 12)
    want = window(rule, start, after.astimezone(UTC), n)
    if zone not in FIXED_ZONES and any(d.year > LAST_YEAR for d in want):
        # Keep what dateutil gets right (see golden.LAST_YEAR); ask for that many.
        want = [d for d in want if d.year <= LAST_YEAR]
        n = len(want)
        if n == 0:
            raise ValueError("every occurrence is past LAST_YEAR")
    return {
        "name": f"random {i:03d} {rule} {zone}", "rrule": rule, "time_zone": zone,
        "dtstart": fmt(start), "after": fmt(after.astimezone(z)), "count": n,
        "want": [fmt(d.astimezone(z)) for d in want],
    }


class Slow(Exception):
    pass


def alarm(signum, frame):
    raise Slow()


def main():
    signal.signal(signal.SIGALRM, alarm)
    rng = random.Random(17)
    cases = []
    while len(cases) < N:
        signal.alarm(2)
        try:
            cases.append(case(rng, len(cases)))
        except (ValueError, Slow):
            pass  # the generator has moved on: the next draw is a different rule
        finally:
            signal.alarm(0)
    json.dump({"generator": "gen_random.py with python-dateutil " + dateutil.__version__, "cases": cases},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


main()
