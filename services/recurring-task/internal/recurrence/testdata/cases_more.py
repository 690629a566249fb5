"""Golden cases for issue 17: times of day (BYHOUR/BYMINUTE/BYSECOND), HOURLY and
MINUTELY, BYWEEKNO, BYYEARDAY, RDATE and the catch-up option, alone and combined, around
the 2024 DST transitions of eight zones. Imported by gen_cases.py."""
from datetime import date, timedelta

from golden import next_case, series_case

# zone, a day with a gap, a wall time inside it, a wall time ~1h before it,
#       a day with an overlap, a wall time inside it, a wall time ~1h before it
ZONES = [
    ("America/New_York", "2024-03-10", "02:30", "01:00", "2024-11-03", "01:30", "00:00"),
    ("Europe/Berlin", "2024-03-31", "02:30", "01:00", "2024-10-27", "02:30", "01:00"),
    ("Australia/Sydney", "2024-10-06", "02:30", "01:00", "2024-04-07", "02:30", "01:00"),
    ("Australia/Lord_Howe", "2024-10-06", "02:15", "01:00", "2024-04-07", "01:45", "00:30"),
    ("America/Santiago", "2024-09-08", "00:30", "-23:00", "2024-04-06", "23:30", "22:00"),
    ("America/Havana", "2024-03-10", "00:30", "-23:00", "2024-11-03", "00:30", "-23:00"),
    ("Europe/London", "2024-03-31", "01:30", "00:00", "2024-10-27", "01:30", "00:00"),
    ("Pacific/Chatham", "2024-09-29", "03:00", "01:45", "2024-04-07", "03:00", "01:45"),
]


def day(s, delta=0):
    return (date.fromisoformat(s) + timedelta(days=delta)).isoformat()


def at(d, hm):
    """hm is 'HH:MM', or '-HH:MM' for that time on the day before d."""
    if hm.startswith("-"):
        return f"{day(d, -1)}T{hm[1:]}:00"
    return f"{d}T{hm}:00"


def zone_cases(z, gd, gin, gpre, od, oin, opre):
    gh, gm = int(gin[:2]), int(gin[3:])
    oh = int(oin[:2])
    short = z.split("/")[1].lower()
    gdoy = date.fromisoformat(gd).timetuple().tm_yday
    gweek = date.fromisoformat(gd).isocalendar()[1]
    hours3 = ",".join(str((gh + d) % 24) for d in (-1, 0, 1))
    return [
        series_case(f"{short} hourly across gap", "FREQ=HOURLY", z, at(gd, "-22:00"), 8),
        series_case(f"{short} hourly :30 across gap", "FREQ=HOURLY", z, at(gd, "-22:30"), 8),
        series_case(f"{short} every 20 min across gap", "FREQ=MINUTELY;INTERVAL=20", z, at(gd, "-23:00"), 18),
        series_case(f"{short} every 15 min across gap sorted", "FREQ=MINUTELY;INTERVAL=15", z, at(gd, gpre), 12),
        series_case(f"{short} hourly across overlap", "FREQ=HOURLY", z, at(od, opre), 6),
        series_case(f"{short} every 20 min across overlap", "FREQ=MINUTELY;INTERVAL=20", z, at(od, opre), 10),
        series_case(f"{short} daily 9 and 18 across gap", "FREQ=DAILY;BYHOUR=9,18;BYMINUTE=0", z, at(day(gd, -2), "09:00"), 6),
        series_case(f"{short} daily byhour into gap", f"FREQ=DAILY;BYHOUR={gh},{(gh + 1) % 24};BYMINUTE={gm}", z,
                    at(day(gd, -2), gin), 6),
        series_case(f"{short} daily byhour in overlap", f"FREQ=DAILY;BYHOUR={oh};BYMINUTE=0,30", z,
                    at(day(od, -1), f"{oh:02d}:00"), 6),
        series_case(f"{short} medication every 2h 8-20", "FREQ=HOURLY;INTERVAL=2;BYHOUR=8,10,12,14,16,18,20", z,
                    at(day(gd, -2), "08:00"), 14),
        series_case(f"{short} weekly mo,we,fr 8:15 and 20:15", "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=8,20;BYMINUTE=15", z,
                    at(day(od, -7), "08:15"), 8),
        series_case(f"{short} monthly last friday 17:00 and 17:30", "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0,30", z,
                    "2024-01-26T17:00:00", 6),
        series_case(f"{short} yearly weekno of gap sunday", f"FREQ=YEARLY;BYWEEKNO={gweek};BYDAY=SU;BYHOUR={gh};BYMINUTE={gm}", z,
                    f"2023-01-01T{gin}:00", 3),
        series_case(f"{short} yearly yearday of gap day", f"FREQ=YEARLY;BYYEARDAY={gdoy};BYHOUR={gh};BYMINUTE={gm}", z,
                    f"2023-01-01T{gin}:00", 3),
        series_case(f"{short} half-hourly around gap hour", f"FREQ=MINUTELY;INTERVAL=30;BYHOUR={hours3}", z,
                    at(day(gd, -1), "00:00"), 12),
        series_case(f"{short} every 3h on gap yearday", f"FREQ=HOURLY;INTERVAL=3;BYYEARDAY={gdoy}", z,
                    "2024-01-01T00:00:00", 8),
    ]


ZONE_SERIES = [c for zc in ZONES for c in zone_cases(*zc)]

UTC, NY, BER, SYD = "UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney"

WEEKNO_SERIES = [
    series_case(f"weekno {n} wkst {w} mo,su", f"FREQ=YEARLY;BYWEEKNO={n};BYDAY=MO,SU;WKST={w}", UTC,
                "2015-01-01T09:00:00", 12)
    for w in ("MO", "SU", "TH") for n in (1, 2, 26, 52, 53, -1, -2)
] + [
    series_case("weekno 1 every day", "FREQ=YEARLY;BYWEEKNO=1", BER, "2019-06-01T09:00:00", 21),
    series_case("weekno 53 every day", "FREQ=YEARLY;BYWEEKNO=53", NY, "2019-06-01T09:00:00", 14),
    series_case("weekno -1 every day wkst su", "FREQ=YEARLY;BYWEEKNO=-1;WKST=SU", UTC, "2019-06-01T09:00:00", 14),
    series_case("weekno 20 monday rfc example", "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", NY, "1997-05-12T09:00:00", 3),
    series_case("weekno with bymonth", "FREQ=YEARLY;BYWEEKNO=1,52,53;BYMONTH=1;BYDAY=TH,FR", UTC, "2018-01-01T12:00:00", 8),
    series_case("weekno interval 2 with bysetpos", "FREQ=YEARLY;INTERVAL=2;BYWEEKNO=10;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", SYD,
                "2020-01-01T17:00:00", 4),
    series_case("weekno 13 sunday 2:30 berlin", "FREQ=YEARLY;BYWEEKNO=13;BYDAY=SU;BYHOUR=2;BYMINUTE=30", BER,
                "2020-01-01T02:30:00", 6),
]

YEARDAY_SERIES = [
    series_case("yearday 1", "FREQ=YEARLY;BYYEARDAY=1", NY, "2023-01-01T09:00:00", 3),
    series_case("yearday -1", "FREQ=YEARLY;BYYEARDAY=-1", BER, "2023-12-31T09:00:00", 3),
    series_case("yearday 100 rfc style", "FREQ=YEARLY;INTERVAL=3;COUNT=6;BYYEARDAY=1,100,200", NY, "1997-01-01T09:00:00", 10),
    series_case("yearday 366 only leap years", "FREQ=YEARLY;BYYEARDAY=366", UTC, "2020-01-01T09:00:00", 3),
    series_case("yearday -366 only leap years", "FREQ=YEARLY;BYYEARDAY=-366", UTC, "2020-01-01T09:00:00", 3),
    series_case("yearday 60 feb 29 or mar 1", "FREQ=YEARLY;BYYEARDAY=60", SYD, "2023-01-01T07:00:00", 4),
    series_case("yearday with bymonth", "FREQ=YEARLY;BYYEARDAY=1,32,60,-1;BYMONTH=2,12", UTC, "2023-01-01T07:00:00", 6),
    series_case("yearday with byday", "FREQ=YEARLY;BYYEARDAY=1,2,3,4,5,6,7;BYDAY=MO", BER, "2023-01-01T07:00:00", 5),
    series_case("minutely on yearday 1 at 00:00-00:02", "FREQ=MINUTELY;BYYEARDAY=1;BYHOUR=0;BYMINUTE=0,1,2", UTC,
                "2023-12-31T23:58:00", 6),
    series_case("hourly yearday -1 byhour", "FREQ=HOURLY;BYYEARDAY=-1;BYHOUR=9,21", NY, "2023-01-01T09:00:00", 4),
]

TIME_SERIES = [
    series_case("daily 9 12 15 last by setpos", "FREQ=DAILY;BYHOUR=9,12,15;BYMINUTE=0;BYSETPOS=-1", NY, "2024-03-08T09:00:00", 4),
    series_case("monthly last weekday 9 and 17 setpos -1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,17;BYMINUTE=0;BYSETPOS=-1",
                BER, "2024-01-01T09:00:00", 5),
    series_case("monthly first and last slot", "FREQ=MONTHLY;BYMONTHDAY=1,15;BYHOUR=8,20;BYMINUTE=0;BYSETPOS=1,-1", SYD,
                "2024-01-01T08:00:00", 6),
    series_case("hourly quarter past and to with setpos", "FREQ=HOURLY;BYMINUTE=15,45;BYSETPOS=2", UTC, "2024-05-01T10:00:00", 5),
    series_case("weekly setpos second time", "FREQ=WEEKLY;BYDAY=TU,TH;BYHOUR=10,14;BYMINUTE=0;BYSETPOS=2,3", NY,
                "2024-03-04T10:00:00", 6),
    series_case("daily bysecond 0 30", "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0,30", BER, "2024-03-30T09:00:00", 6),
    series_case("minutely bysecond 15 45", "FREQ=MINUTELY;BYSECOND=15,45;COUNT=6", UTC, "2024-05-01T10:00:00", 10),
    series_case("hourly byminute bysecond", "FREQ=HOURLY;INTERVAL=6;BYMINUTE=0,30;BYSECOND=5", NY, "2024-03-09T12:00:05", 8),
    series_case("dtstart seconds kept", "FREQ=MINUTELY;INTERVAL=7", SYD, "2024-10-06T01:43:21", 6),
    series_case("hourly interval 5 runs across days", "FREQ=HOURLY;INTERVAL=5", BER, "2024-01-01T00:00:00", 12),
    series_case("hourly interval 7 byhour 3", "FREQ=HOURLY;INTERVAL=7;BYHOUR=3", UTC, "2024-01-01T00:00:00", 4),
    series_case("minutely interval 90 byminute 0", "FREQ=MINUTELY;INTERVAL=90;BYMINUTE=0", NY, "2024-03-09T21:00:00", 8),
    series_case("minutely weekend mornings", "FREQ=MINUTELY;INTERVAL=30;BYDAY=SA,SU;BYHOUR=10", BER, "2024-03-29T09:00:00", 6),
    series_case("minutely first of month midnight", "FREQ=MINUTELY;BYMONTHDAY=1;BYHOUR=0;BYMINUTE=0,1", NY,
                "2024-01-31T23:00:00", 6),
    series_case("hourly in february only", "FREQ=HOURLY;INTERVAL=12;BYMONTH=2", UTC, "2024-01-30T06:00:00", 6),
    series_case("hourly count across gap counts raw", "FREQ=HOURLY;COUNT=5", NY, "2024-03-10T00:30:00", 10),
    series_case("hourly until", "FREQ=HOURLY;INTERVAL=4;UNTIL=20240402T000000Z", BER, "2024-03-30T20:00:00", 20),
    series_case("minutely until across overlap", "FREQ=MINUTELY;INTERVAL=45;UNTIL=20241103T063000Z", NY, "2024-11-02T23:00:00", 20),
    series_case("daily byhour far after start", "FREQ=DAILY;BYHOUR=7,19;BYMINUTE=30", SYD, "2020-01-01T07:30:00", 5,
                after="2031-06-15T12:00:00"),
    series_case("hourly far after start", "FREQ=HOURLY;INTERVAL=3;BYHOUR=9,12,15,18", NY, "2024-01-01T09:00:00", 6,
                after="2024-11-02T10:00:00"),
    series_case("yearly byhour byminute", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10;BYHOUR=1,2,3;BYMINUTE=30", NY,
                "2023-03-10T01:30:00", 6),
]

RDATE_SERIES = [
    series_case("rdate adds one-off", "FREQ=WEEKLY;BYDAY=MO", NY, "2024-01-01T09:00:00", 4, rdates=["2024-01-10T15:00:00"]),
    series_case("rdate equal to rule occurrence once", "FREQ=DAILY", BER, "2024-01-01T09:00:00", 3, rdates=["2024-01-02T09:00:00"]),
    series_case("rdate removed by exdate", "FREQ=DAILY", UTC, "2024-01-01T09:00:00", 3,
                exdates=["2024-01-02T12:00:00"], rdates=["2024-01-02T12:00:00", "2024-01-03T12:00:00"]),
    series_case("rdates after count ends", "FREQ=DAILY;COUNT=2", SYD, "2024-01-01T09:00:00", 5,
                rdates=["2024-02-01T09:00:00", "2024-01-15T09:00:00"]),
    series_case("rdates after until", "FREQ=WEEKLY;UNTIL=20240115T000000Z", NY, "2024-01-01T09:00:00", 5,
                rdates=["2024-03-10T03:30:00"]),
    series_case("rdate before after ignored", "FREQ=MONTHLY", BER, "2024-01-15T09:00:00", 3, after="2024-02-01T00:00:00",
                rdates=["2024-01-20T09:00:00", "2024-02-20T09:00:00"]),
    series_case("rdate among sub-daily", "FREQ=HOURLY;INTERVAL=6", NY, "2024-03-10T00:00:00", 5, rdates=["2024-03-10T05:00:00"]),
]

SERIES_MORE = ZONE_SERIES + WEEKNO_SERIES + YEARDAY_SERIES + TIME_SERIES + RDATE_SERIES

NEXT_MORE = [
    next_case("late completion keeps schedule", "FREQ=DAILY", NY, "2024-03-01T09:00:00", "2024-03-01T10:00:00",
              "schedule", dtstart="2024-02-01T09:00:00", index=29, now="2024-03-09T12:00:00"),
    next_case("late completion catch up skips to now", "FREQ=DAILY", NY, "2024-03-01T09:00:00", "2024-03-01T10:00:00",
              "schedule", dtstart="2024-02-01T09:00:00", index=29, catch_up="skip", now="2024-03-09T12:00:00"),
    next_case("catch up with now before next is a no-op", "FREQ=WEEKLY;BYDAY=MO", BER, "2024-01-01T09:00:00",
              "2024-01-01T10:00:00", "schedule", dtstart="2024-01-01T09:00:00", catch_up="skip", now="2024-01-02T00:00:00"),
    next_case("catch up across gap", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", NY, "2024-03-01T02:30:00", "2024-03-01T03:00:00",
              "schedule", dtstart="2024-03-01T02:30:00", catch_up="skip", now="2024-03-09T23:00:00"),
    next_case("catch up with count ends series", "FREQ=DAILY;COUNT=10", SYD, "2024-01-02T09:00:00", "2024-01-02T10:00:00",
              "schedule", index=1, dtstart="2024-01-01T09:00:00", catch_up="skip", now="2024-02-01T00:00:00"),
    next_case("catch up completion anchor", "FREQ=WEEKLY;BYDAY=FR", BER, "2024-01-05T17:00:00", "2024-01-06T10:00:00",
              "completion", dtstart="2024-01-05T17:00:00", catch_up="skip", now="2024-02-20T10:00:00"),
    next_case("catch up hourly", "FREQ=HOURLY;INTERVAL=2;BYHOUR=8,10,12,14,16,18,20", NY, "2024-03-08T08:00:00",
              "2024-03-08T08:30:00", "schedule", dtstart="2024-03-08T08:00:00", catch_up="skip", now="2024-03-10T13:05:00"),
    next_case("hourly schedule next", "FREQ=HOURLY;INTERVAL=2;BYHOUR=8,10,12,14,16,18,20", NY, "2024-03-09T20:00:00",
              "2024-03-09T20:30:00", "schedule", index=13, dtstart="2024-03-08T08:00:00"),
    next_case("minutely across gap next", "FREQ=MINUTELY;INTERVAL=15", NY, "2024-03-10T01:45:00", "2024-03-10T01:50:00",
              "schedule", index=7, dtstart="2024-03-10T00:00:00"),
    next_case("weekno next", "FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO", BER, "2024-01-01T09:00:00", "2024-01-01T10:00:00",
              "schedule", dtstart="2024-01-01T09:00:00"),
    next_case("yearday next completion", "FREQ=YEARLY;BYYEARDAY=100", SYD, "2024-04-09T09:00:00", "2024-05-01T10:00:00",
              "completion", dtstart="2024-04-09T09:00:00"),
    next_case("rdate is next", "FREQ=WEEKLY;BYDAY=MO", NY, "2024-01-01T09:00:00", "2024-01-01T10:00:00", "schedule",
              dtstart="2024-01-01T09:00:00", rdates=["2024-01-03T12:00:00"]),
    next_case("rdate after count reached", "FREQ=DAILY;COUNT=2", NY, "2024-01-02T09:00:00", "2024-01-02T10:00:00",
              "schedule", index=1, dtstart="2024-01-01T09:00:00", rdates=["2024-01-20T12:00:00"]),
    next_case("daily two times next", "FREQ=DAILY;BYHOUR=9,18;BYMINUTE=0", BER, "2024-03-30T18:00:00", "2024-03-30T19:00:00",
              "schedule", index=1, dtstart="2024-03-30T09:00:00"),
]
