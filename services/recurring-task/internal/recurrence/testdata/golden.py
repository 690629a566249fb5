"""Helpers shared by gen_cases.py and gen_random.py: dateutil occurrences with RFC 5545
gap handling, turned into the JSON cases that golden_test.go and the Preview property test
read. See gen_cases.py for the DST rules and why resolve_imaginary is applied.

Sub-daily rules and BYHOUR on a DST day can make two wall times resolve to one instant
(02:30 in a gap becomes 03:30, which may also occur itself) or put a later wall time at an
earlier instant (02:45 -> 03:45, then 03:00). The series is the sorted set of distinct
instants, RDATEs added and EXDATEs removed; `window` computes it.
"""
from datetime import datetime, timedelta, timezone

from dateutil import rrule, tz

UTC = timezone.utc
RAW_LIMIT = 600000  # raw dateutil occurrences one case may walk; more is a bug in the case
# dateutil's tzfile ignores the POSIX rule at the end of a TZif file and keeps the last
# listed offset after the last listed transition (2037 in Debian's tzdata): its instants in
# zones with DST are wrong from then on, so no case may expect one that late.
LAST_YEAR = 2036
FIXED_ZONES = ("UTC", "Asia/Kolkata")


def loc(name):
    z = tz.gettz(name)
    assert z is not None, name
    return z


def wall(s, zone):
    """Local wall-clock time 'YYYY-MM-DDTHH:MM:SS' in zone, fold=0, must exist."""
    d = datetime.fromisoformat(s).replace(tzinfo=zone)
    assert tz.datetime_exists(d), f"{s} does not exist in {zone}"
    return d


def resolve(d):
    """Apply RFC 5545 gap handling (see gen_cases.py) and check dateutil shifts forward."""
    if tz.datetime_exists(d):
        return d
    r = tz.resolve_imaginary(d)
    naive_shift = r.replace(tzinfo=None) - d.replace(tzinfo=None)
    before = (d - timedelta(days=1)).utcoffset()
    after = (d + timedelta(days=1)).utcoffset()
    assert naive_shift == after - before > timedelta(0), (d, r)
    return r


def fmt(d):
    return d.isoformat() if d is not None else None


def window(rule, start, after_utc, n, exdates_utc=frozenset(), rdates_utc=()):
    """The first n occurrences strictly after after_utc, as sorted distinct UTC instants."""
    got = set()
    it = rrule.rrulestr(rule, dtstart=start)
    for i, d in enumerate(it):
        assert i < RAW_LIMIT, f"{rule} from {start}: more than {RAW_LIMIT} raw occurrences"
        r = resolve(d).astimezone(UTC)
        if r > after_utc and r not in exdates_utc:
            got.add(r)
        if len(got) >= n:
            nth = sorted(got)[n - 1]
            # A wall time resolves at most a day later than itself: nothing further on
            # can come before nth any more.
            if d.replace(tzinfo=None) > nth.astimezone(start.tzinfo).replace(tzinfo=None) + timedelta(days=2):
                break
    for r in rdates_utc:
        if r > after_utc and r not in exdates_utc:
            got.add(r)
    return sorted(got)[:n]


def series_case(name, rule, zone, dtstart, n, after=None, exdates=(), rdates=()):
    z = loc(zone)
    start = wall(dtstart, z)
    after_dt = wall(after, z) if after else None
    after_utc = after_dt.astimezone(UTC) if after_dt else (start - timedelta(seconds=1)).astimezone(UTC)
    ex = [wall(e, z) for e in exdates]
    rd = [wall(r, z) for r in rdates]
    want = window(rule, start, after_utc, n, {e.astimezone(UTC) for e in ex}, [r.astimezone(UTC) for r in rd])
    assert zone in FIXED_ZONES or all(d.year <= LAST_YEAR for d in want), (name, want[-1])
    return {
        "name": name, "rrule": rule, "time_zone": zone, "dtstart": fmt(start),
        "exdates": [fmt(e) for e in ex], "rdates": [fmt(r) for r in rd], "after": fmt(after_dt),
        "count": n, "want": [fmt(d.astimezone(z)) for d in want],
    }


def next_case(name, rule, zone, due, completed, anchor, index=0, dtstart=None, exdates=(),
              rdates=(), catch_up="keep", now=None):
    """The occurrence created when the task at position index, due at due, is completed."""
    z = loc(zone)
    due_dt, done = wall(due, z), wall(completed, z)
    start = wall(dtstart, z) if dtstart else None
    ex_utc = {wall(e, z).astimezone(UTC) for e in exdates}
    rd_utc = [wall(r, z).astimezone(UTC) for r in rdates]
    now_dt = wall(now, z) if now else None
    parts = dict(p.split("=", 1) for p in rule.split(";"))
    count = int(parts["COUNT"]) if "COUNT" in parts else 0
    want = None
    if not (count and index + 1 >= count and not rdates):
        if anchor == "schedule":
            r = rule
            if start is None:
                start = due_dt
                if count:
                    r = ";".join(f"COUNT={count - index}" if p.startswith("COUNT=") else p
                                 for p in rule.split(";"))
            after = max(due_dt.astimezone(UTC), done.astimezone(UTC))
            base = start
        else:
            r = ";".join(p for p in rule.split(";") if not p.startswith("COUNT="))
            base = datetime.combine(done.date(), due_dt.time()).replace(tzinfo=z)
            after = max(resolve(base).astimezone(UTC), done.astimezone(UTC))
        if catch_up == "skip":
            after = max(after, now_dt.astimezone(UTC))
        got = window(r, base, after, 1, ex_utc, rd_utc)
        want = got[0] if got else None
        assert zone in FIXED_ZONES or want is None or want.year <= LAST_YEAR, (name, want)
    return {
        "name": name, "rrule": rule, "time_zone": zone,
        "dtstart": fmt(start) if dtstart else None, "index": index,
        "due": fmt(due_dt), "completed": fmt(done), "anchor": anchor,
        "catch_up": catch_up, "now": fmt(now_dt),
        "exdates": [fmt(wall(e, z)) for e in exdates], "rdates": [fmt(wall(r, z)) for r in rdates],
        "want": fmt(want.astimezone(z)) if want else None,
    }
