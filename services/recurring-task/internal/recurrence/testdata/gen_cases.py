#!/usr/bin/python3
"""Generate cases.json, the golden recurrence cases, with python-dateutil.

Run with Debian's interpreter and package (apt-get install -y python3-dateutil):

    /usr/bin/python3 gen_cases.py > cases.json

The cases before issue 17 are listed here; the times of day, sub-daily rules, week numbers,
days of the year, RDATE and catch-up are in cases_more.py; helpers in golden.py.

The expectations come from dateutil.rrule, not from the Go code under test.

DST handling, checked below for every occurrence:
  * An occurrence whose wall-clock time falls in a spring-forward gap is NOT shifted forward
    by dateutil.rrule itself: the aware datetime keeps the nonexistent wall time and its
    utcoffset() is the post-transition offset, which moves the instant BACK by the gap
    (02:30 New York on 2024-03-10 becomes 06:30Z = 01:30 EST). RFC 5545 section 3.3.5 says a
    nonexistent DATE-TIME with TZID is interpreted with the offset before the gap, i.e.
    shifted forward by the gap length. We therefore pass every occurrence through
    dateutil.tz.resolve_imaginary(), which shifts forward by the gap (02:30 -> 03:30 EDT =
    07:30Z); the script asserts that it moved the wall time forward by exactly the gap.
  * An ambiguous wall-clock time (fall-back overlap) keeps fold=0, the first instance
    (the earlier, pre-transition offset), which is dateutil's default.
"""
import json
import sys

import dateutil

from golden import next_case, series_case
from cases_more import NEXT_MORE, SERIES_MORE

NY, BER, SYD = "America/New_York", "Europe/Berlin", "Australia/Sydney"

SERIES = [
    # --- DST gaps and overlaps: America/New_York (2024-03-10 02:00 -> 03:00, 2024-11-03 02:00 -> 01:00)
    series_case("ny daily 02:30 across spring-forward gap", "FREQ=DAILY", NY, "2024-03-08T02:30:00", 4),
    series_case("ny daily 01:30 across fall-back overlap takes first", "FREQ=DAILY", NY, "2024-11-01T01:30:00", 4),
    series_case("ny daily 09:00 keeps wall time across both", "FREQ=DAILY;INTERVAL=7", NY, "2024-03-03T09:00:00", 3),
    series_case("ny daily 01:00 start of overlap", "FREQ=DAILY", NY, "2024-11-02T01:00:00", 3),
    series_case("ny daily 02:00 exactly at gap start", "FREQ=DAILY", NY, "2024-03-09T02:00:00", 3),
    series_case("ny daily 03:00 right after gap", "FREQ=DAILY", NY, "2024-03-09T03:00:00", 3),
    series_case("ny daily 01:59:59 end of overlap", "FREQ=DAILY", NY, "2024-11-02T01:59:59", 3),
    series_case("ny weekly sunday 02:30 gap", "FREQ=WEEKLY;BYDAY=SU", NY, "2024-03-03T02:30:00", 3),
    series_case("ny weekly mo,th across fall-back", "FREQ=WEEKLY;BYDAY=MO,TH", NY, "2024-10-28T09:00:00", 6),
    series_case("ny monthly 2SU 02:30 hits the gap", "FREQ=MONTHLY;BYDAY=2SU", NY, "2024-01-14T02:30:00", 4),
    series_case("ny monthly 1SU 01:30 hits the overlap", "FREQ=MONTHLY;BYDAY=1SU", NY, "2024-09-01T01:30:00", 4),
    series_case("ny yearly 2nd sunday of march 02:00", "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU", NY, "2023-03-12T03:00:00", 3),
    series_case("ny yearly first sunday of november 01:30", "FREQ=YEARLY;BYMONTH=11;BYDAY=1SU", NY, "2023-11-05T01:30:00", 3),
    series_case("ny daily 02:30 after inside gap day", "FREQ=DAILY", NY, "2024-03-01T02:30:00", 2, after="2024-03-10T01:00:00"),
    # --- Europe/Berlin (2024-03-31 02:00 -> 03:00, 2024-10-27 03:00 -> 02:00)
    series_case("berlin daily 02:30 across gap", "FREQ=DAILY", BER, "2024-03-30T02:30:00", 3),
    series_case("berlin daily 02:30 across overlap takes CEST", "FREQ=DAILY", BER, "2024-10-26T02:30:00", 3),
    series_case("berlin weekly sunday 02:15 both transitions", "FREQ=WEEKLY;BYDAY=SU", BER, "2024-03-24T02:15:00", 2, ),
    series_case("berlin weekly sunday 02:15 autumn", "FREQ=WEEKLY;BYDAY=SU", BER, "2024-10-20T02:15:00", 3),
    series_case("berlin monthly last sunday 02:30", "FREQ=MONTHLY;BYDAY=-1SU", BER, "2024-01-28T02:30:00", 12),
    series_case("berlin yearly last sunday march and october", "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU", BER, "2024-03-31T03:30:00", 4),
    series_case("berlin jan 31 monthly skips short months", "FREQ=MONTHLY", BER, "2024-01-31T10:00:00", 7),
    series_case("berlin daily 00:00 midnight across gap", "FREQ=DAILY", BER, "2024-03-30T00:00:00", 3),
    # --- Australia/Sydney (2024-04-07 03:00 -> 02:00, 2024-10-06 02:00 -> 03:00)
    series_case("sydney daily 02:30 across gap", "FREQ=DAILY", SYD, "2024-10-04T02:30:00", 4),
    series_case("sydney daily 02:30 across overlap", "FREQ=DAILY", SYD, "2024-04-05T02:30:00", 4),
    series_case("sydney weekly sunday 02:30", "FREQ=WEEKLY;BYDAY=SU", SYD, "2024-03-31T02:30:00", 3),
    series_case("sydney weekly sunday 02:30 spring", "FREQ=WEEKLY;BYDAY=SU", SYD, "2024-09-29T02:30:00", 3),
    series_case("sydney monthly 1SU 02:30", "FREQ=MONTHLY;BYDAY=1SU", SYD, "2024-03-03T02:30:00", 8),
    series_case("sydney yearly first sunday october", "FREQ=YEARLY;BYMONTH=10;BYDAY=1SU", SYD, "2023-09-30T02:30:00", 3),
    # --- invalid dates are skipped, last day, leap years
    series_case("monthly bymonthday 31", "FREQ=MONTHLY;BYMONTHDAY=31", "UTC", "2023-12-31T08:00:00", 6),
    series_case("monthly bymonthday -1 last day", "FREQ=MONTHLY;BYMONTHDAY=-1", NY, "2024-01-31T18:00:00", 6),
    series_case("monthly bymonthday -2", "FREQ=MONTHLY;BYMONTHDAY=-2", "UTC", "2023-01-30T12:00:00", 4),
    series_case("monthly bymonthday 1,15", "FREQ=MONTHLY;BYMONTHDAY=1,15", BER, "2024-01-01T07:00:00", 6),
    series_case("monthly bymonthday 30 skips february", "FREQ=MONTHLY;BYMONTHDAY=30", "UTC", "2024-01-30T00:00:00", 3),
    series_case("monthly bymonthday -31", "FREQ=MONTHLY;BYMONTHDAY=-31", "UTC", "2024-01-01T00:00:00", 4),
    series_case("jan 31 monthly interval 1 utc", "FREQ=MONTHLY", "UTC", "2023-01-31T09:30:00", 5),
    series_case("feb 29 yearly", "FREQ=YEARLY", NY, "2024-02-29T09:00:00", 3),
    series_case("feb 29 yearly skips 2100", "FREQ=YEARLY", "UTC", "2096-02-29T09:00:00", 2),
    series_case("yearly last day of february", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1", "UTC", "2023-02-28T09:00:00", 4),
    series_case("yearly interval 4 feb 29", "FREQ=YEARLY;INTERVAL=4", BER, "2024-02-29T12:00:00", 3),
    # --- BYDAY, ordinals, BYSETPOS
    series_case("weekly mo,th", "FREQ=WEEKLY;BYDAY=MO,TH", NY, "2024-01-01T09:00:00", 6),
    series_case("weekly mo,th start on wednesday", "FREQ=WEEKLY;BYDAY=MO,TH", BER, "2024-01-03T09:00:00", 4),
    series_case("monthly 3MO", "FREQ=MONTHLY;BYDAY=3MO", NY, "2024-01-15T10:00:00", 6),
    series_case("monthly -1FR", "FREQ=MONTHLY;BYDAY=-1FR", BER, "2024-01-26T16:00:00", 6),
    series_case("monthly last weekday bysetpos -1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", NY, "2024-01-31T17:00:00", 8),
    series_case("monthly first weekday bysetpos 1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1", SYD, "2024-01-01T09:00:00", 6),
    series_case("monthly second and second-last weekday", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2,-2", "UTC", "2024-01-02T09:00:00", 6),
    series_case("monthly first weekend day", "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=1", "UTC", "2024-01-06T09:00:00", 5),
    series_case("monthly friday 13th", "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", NY, "2024-09-13T13:00:00", 4),
    series_case("monthly interval 2 first monday", "FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO", BER, "2024-01-01T08:00:00", 5),
    series_case("monthly 1MO,-1MO", "FREQ=MONTHLY;BYDAY=1MO,-1MO", "UTC", "2024-01-01T08:00:00", 6),
    series_case("monthly -5MO only months with five mondays", "FREQ=MONTHLY;BYDAY=-5MO", "UTC", "2024-01-01T08:00:00", 4),
    series_case("monthly quarterly bymonth", "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYMONTHDAY=1", NY, "2024-01-01T09:00:00", 5),
    series_case("yearly thanksgiving", "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", NY, "2024-11-28T15:00:00", 4),
    series_case("yearly 20th monday of year", "FREQ=YEARLY;BYDAY=20MO", "UTC", "2024-05-13T09:00:00", 3),
    series_case("yearly last sunday of year", "FREQ=YEARLY;BYDAY=-1SU", "UTC", "2024-12-29T09:00:00", 3),
    series_case("yearly bymonthday 1 every month", "FREQ=YEARLY;BYMONTHDAY=1", BER, "2024-01-01T09:00:00", 4),
    series_case("yearly last weekday of year", "FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "UTC", "2024-12-31T09:00:00", 3),
    series_case("yearly anniversary", "FREQ=YEARLY", SYD, "2024-07-15T19:45:00", 3),
    series_case("daily weekdays", "FREQ=DAILY;BYDAY=MO,WE,FR", NY, "2024-01-01T07:30:00", 6),
    series_case("daily every day in january", "FREQ=DAILY;BYMONTH=1", "UTC", "2024-01-30T07:30:00", 4),
    series_case("daily interval 10", "FREQ=DAILY;INTERVAL=10", BER, "2024-03-01T12:00:00", 5),
    series_case("weekly interval 3", "FREQ=WEEKLY;INTERVAL=3", SYD, "2024-01-05T09:00:00", 4),
    # --- INTERVAL=2 weekly with WKST (RFC 5545 example: the results differ by WKST)
    series_case("weekly interval 2 tu,su wkst mo", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", NY, "1997-08-05T09:00:00", 4),
    series_case("weekly interval 2 tu,su wkst su", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", NY, "1997-08-05T09:00:00", 4),
    series_case("weekly interval 2 mo,we,fr wkst su", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;WKST=SU", BER, "2024-01-07T09:00:00", 6),
    # --- COUNT, UNTIL, EXDATE
    series_case("count 5 daily ends", "FREQ=DAILY;COUNT=5", NY, "2024-03-08T02:30:00", 10),
    series_case("count 3 with after skips", "FREQ=WEEKLY;COUNT=3", "UTC", "2024-01-01T09:00:00", 10, after="2024-01-08T09:00:00"),
    series_case("count includes exdates", "FREQ=DAILY;COUNT=4", BER, "2024-01-01T09:00:00", 10, exdates=["2024-01-02T09:00:00"]),
    series_case("until inclusive", "FREQ=WEEKLY;UNTIL=20240129T140000Z", NY, "2024-01-01T09:00:00", 10),
    series_case("until between occurrences", "FREQ=DAILY;UNTIL=20241104T000000Z", NY, "2024-11-01T01:30:00", 10),
    series_case("until across gap", "FREQ=MONTHLY;BYDAY=-1SU;UNTIL=20241231T000000Z", BER, "2024-01-28T02:30:00", 20, after="2024-06-01T00:00:00"),
    series_case("exdate weekly", "FREQ=WEEKLY;BYDAY=MO,TH", NY, "2024-01-01T09:00:00", 4, exdates=["2024-01-04T09:00:00", "2024-01-08T09:00:00"]),
    series_case("exdate after dst change", "FREQ=DAILY", SYD, "2024-04-05T09:00:00", 3, exdates=["2024-04-07T09:00:00"]),
    # --- far into a series (skips ahead) and zones without DST
    series_case("weekly far after start", "FREQ=WEEKLY;BYDAY=TU,FR", NY, "2020-01-07T09:00:00", 3, after="2031-06-15T12:00:00"),
    series_case("monthly far after start", "FREQ=MONTHLY;BYMONTHDAY=-1", BER, "2020-01-31T09:00:00", 3, after="2030-02-27T12:00:00"),
    series_case("kolkata daily", "FREQ=DAILY;INTERVAL=2", "Asia/Kolkata", "2024-03-09T02:30:00", 3),
    series_case("lord howe half hour dst gap", "FREQ=DAILY", "Australia/Lord_Howe", "2024-10-05T02:15:00", 3),
    series_case("sao paulo no dst anymore", "FREQ=WEEKLY;BYDAY=SU", "America/Sao_Paulo", "2024-11-03T00:30:00", 2),
]

NEXT = [
    next_case("overdue weekly schedule skips missed", "FREQ=WEEKLY;BYDAY=MO", NY,
              "2024-01-01T09:00:00", "2024-01-17T20:00:00", "schedule", index=3, dtstart="2023-12-11T09:00:00"),
    next_case("overdue weekly completion restarts", "FREQ=WEEKLY;BYDAY=MO", NY,
              "2024-01-01T09:00:00", "2024-01-17T20:00:00", "completion", index=3, dtstart="2023-12-11T09:00:00"),
    next_case("overdue daily interval 3 schedule", "FREQ=DAILY;INTERVAL=3", BER,
              "2024-01-01T08:00:00", "2024-01-10T07:00:00", "schedule", dtstart="2024-01-01T08:00:00"),
    next_case("overdue daily interval 3 completion", "FREQ=DAILY;INTERVAL=3", BER,
              "2024-01-01T08:00:00", "2024-01-10T07:00:00", "completion", dtstart="2024-01-01T08:00:00"),
    next_case("completed early schedule keeps schedule", "FREQ=WEEKLY;BYDAY=FR", "UTC",
              "2024-01-12T17:00:00", "2024-01-10T09:00:00", "schedule", index=1, dtstart="2024-01-05T17:00:00"),
    next_case("completed early completion anchor", "FREQ=WEEKLY;BYDAY=FR", "UTC",
              "2024-01-12T17:00:00", "2024-01-10T09:00:00", "completion", index=1, dtstart="2024-01-05T17:00:00"),
    next_case("monthly last day overdue two months schedule", "FREQ=MONTHLY;BYMONTHDAY=-1", NY,
              "2024-01-31T18:00:00", "2024-03-05T10:00:00", "schedule", dtstart="2024-01-31T18:00:00"),
    next_case("monthly jan 31 completion in february", "FREQ=MONTHLY", NY,
              "2024-01-31T18:00:00", "2024-02-02T10:00:00", "completion", dtstart="2024-01-31T18:00:00"),
    next_case("count reached", "FREQ=DAILY;COUNT=5", NY,
              "2024-01-05T09:00:00", "2024-01-05T10:00:00", "schedule", index=4, dtstart="2024-01-01T09:00:00"),
    next_case("count reached completion", "FREQ=DAILY;COUNT=5", NY,
              "2024-01-05T09:00:00", "2024-01-05T10:00:00", "completion", index=4, dtstart="2024-01-01T09:00:00"),
    next_case("count not yet reached", "FREQ=DAILY;COUNT=5", NY,
              "2024-01-04T09:00:00", "2024-01-04T10:00:00", "schedule", index=3, dtstart="2024-01-01T09:00:00"),
    next_case("count exhausted by skipped occurrences", "FREQ=DAILY;COUNT=5", NY,
              "2024-01-02T09:00:00", "2024-01-09T10:00:00", "schedule", index=1, dtstart="2024-01-01T09:00:00"),
    next_case("count without dtstart counts from index", "FREQ=WEEKLY;COUNT=4", BER,
              "2024-01-15T09:00:00", "2024-01-15T09:30:00", "schedule", index=2),
    next_case("count without dtstart last one", "FREQ=WEEKLY;COUNT=4", BER,
              "2024-01-22T09:00:00", "2024-01-22T09:30:00", "schedule", index=3),
    next_case("until reached", "FREQ=WEEKLY;UNTIL=20240120T000000Z", "UTC",
              "2024-01-15T09:00:00", "2024-01-15T10:00:00", "schedule", index=2, dtstart="2024-01-01T09:00:00"),
    next_case("until reached by completion anchor", "FREQ=DAILY;UNTIL=20240120T000000Z", "UTC",
              "2024-01-15T09:00:00", "2024-01-19T10:00:00", "completion", index=2, dtstart="2024-01-01T09:00:00"),
    next_case("schedule across gap", "FREQ=DAILY", NY,
              "2024-03-09T02:30:00", "2024-03-09T08:00:00", "schedule", index=5, dtstart="2024-03-04T02:30:00"),
    next_case("completion anchor keeps time of day across gap", "FREQ=DAILY;INTERVAL=2", NY,
              "2024-03-06T02:30:00", "2024-03-08T12:00:00", "completion", index=2, dtstart="2024-03-02T02:30:00"),
    next_case("completion anchor restart lands on gap day", "FREQ=DAILY", NY,
              "2024-03-07T02:30:00", "2024-03-10T12:00:00", "completion", index=2, dtstart="2024-03-05T02:30:00"),
    next_case("schedule skips exdate", "FREQ=WEEKLY;BYDAY=MO,TH", NY,
              "2024-01-01T09:00:00", "2024-01-01T10:00:00", "schedule", dtstart="2024-01-01T09:00:00",
              exdates=["2024-01-04T09:00:00"]),
    next_case("no dtstart uses due", "FREQ=MONTHLY;BYDAY=-1FR", SYD,
              "2024-05-31T16:00:00", "2024-06-01T10:00:00", "schedule", index=7),
    next_case("completion anchor monthly 3MO", "FREQ=MONTHLY;BYDAY=3MO", BER,
              "2024-01-15T10:00:00", "2024-02-20T10:00:00", "completion", index=0, dtstart="2024-01-15T10:00:00"),
    next_case("schedule fall-back overlap next", "FREQ=WEEKLY;BYDAY=SU", BER,
              "2024-10-20T02:30:00", "2024-10-21T02:30:00", "schedule", index=0, dtstart="2024-10-20T02:30:00"),
]

json.dump({
    "generator": "gen_cases.py with python-dateutil " + dateutil.__version__,
    "series": SERIES + SERIES_MORE, "next": NEXT + NEXT_MORE,
}, sys.stdout, indent=1)
sys.stdout.write("\n")
