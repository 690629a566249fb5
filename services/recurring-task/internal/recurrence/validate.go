package recurrence

// validate checks the combinations of parts against RFC 5545 §3.3.10: which BYxxx parts
// a FREQ allows (the table "BYxxx rule part with FREQ"), COUNT with UNTIL, ordinals.
// Every message names the part and the reason.
func (r Rule) validate() error {
	switch {
	case r.Freq == 0:
		return invalid("FREQ is required")
	case r.Count > 0 && !r.Until.IsZero():
		return invalid("COUNT and UNTIL together: give one of them, not both")
	case len(r.ByWeekNo) > 0 && r.Freq != Yearly:
		return invalid("BYWEEKNO is only valid with FREQ=YEARLY")
	case len(r.ByYearDay) > 0 && (r.Freq == Daily || r.Freq == Weekly || r.Freq == Monthly):
		return invalid("BYYEARDAY is not valid with FREQ=%s (only YEARLY, HOURLY or MINUTELY)", r.Freq)
	case len(r.ByMonthDay) > 0 && r.Freq == Weekly:
		return invalid("BYMONTHDAY is not valid with FREQ=WEEKLY")
	case len(r.BySetPos) > 0 && !r.hasByPart():
		return invalid("BYSETPOS needs another BYxxx part to select from")
	}
	for _, wd := range r.ByDay {
		switch {
		case wd.N == 0:
		case r.Freq != Monthly && r.Freq != Yearly:
			return invalid("BYDAY ordinal %d is only valid with FREQ=MONTHLY or YEARLY", wd.N)
		case r.Freq == Yearly && len(r.ByWeekNo) > 0:
			return invalid("BYDAY ordinal %d is not valid together with BYWEEKNO", wd.N)
		case r.Freq == Monthly || len(r.ByMonth) > 0:
			if wd.N < -5 || wd.N > 5 {
				return invalid("BYDAY ordinal %d: want -5 to 5 within a month", wd.N)
			}
		}
	}
	return nil
}

func (r Rule) hasByPart() bool {
	return len(r.ByDay)+len(r.ByMonthDay)+len(r.ByMonth)+len(r.ByYearDay)+len(r.ByWeekNo)+
		len(r.ByHour)+len(r.ByMinute)+len(r.BySecond) > 0
}
