// Package zoneinfo loads IANA time zones once per process.
package zoneinfo

import (
	"sync"
	"time"
)

// zones holds every zone Load has loaded: name → *time.Location. A Location is immutable
// and safe for concurrent use. Only zones that loaded are kept, so the map is bounded by
// the zone files on the machine (about 600), whatever names events carry.
var zones sync.Map

// Load is time.LoadLocation, read from disk once per name. The standard library opens,
// reads and parses the zone's file on every call; the services load a zone per event
// (a reminder's due time, a task's recurrence), which under load was 9 and 16 % of the
// notification and recurring-task services' CPU. A zone file updated on disk while the
// process runs takes effect at its next start.
func Load(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}
