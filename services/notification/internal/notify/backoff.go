package notify

import (
	"math"
	"time"
)

// Backoff is the retry schedule of a channel that failed transiently: exponential with
// jitter, until RetryFor after the reminder first arrived.
type Backoff struct {
	// Initial is the wait after the first failed attempt (NOTIFY_RETRY_INITIAL, 30s).
	Initial time.Duration
	// Multiplier grows the wait after each further failure (NOTIFY_RETRY_MULTIPLIER, 4).
	Multiplier float64
	// Max caps the wait (NOTIFY_RETRY_MAX_INTERVAL, 1h).
	Max time.Duration
	// Jitter spreads each wait by ± this fraction, so channels that failed together
	// (a provider outage) do not all come back at the same instant (0.2).
	Jitter float64
	// RetryFor is how long after the reminder first arrived a channel is still retried
	// (NOTIFY_RETRY_FOR, 24h); 0 retries forever.
	RetryFor time.Duration
}

// DefaultBackoff is about 30 s, 2 m, 8 m, 32 m, then every hour, for a day.
var DefaultBackoff = Backoff{Initial: 30 * time.Second, Multiplier: 4, Max: time.Hour, Jitter: 0.2, RetryFor: 24 * time.Hour}

// Wait returns the jittered wait after the n-th failed attempt (n ≥ 1); r is uniform in
// [0, 1).
func (b Backoff) Wait(n int, r float64) time.Duration {
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(n-1))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.Max)
	}
	return time.Duration(d * (1 + b.Jitter*(2*r-1)))
}

// Next returns when to attempt a channel again after its n-th failed attempt at now, for
// a reminder first seen at since; ok is false when the channel is to be given up. The
// last attempt is made at the end of the retry window rather than skipped.
func (b Backoff) Next(n int, since, now time.Time, r float64) (at time.Time, ok bool) {
	at = now.Add(b.Wait(n, r))
	if b.RetryFor <= 0 {
		return at, true
	}
	deadline := since.Add(b.RetryFor)
	if !now.Before(deadline) {
		return time.Time{}, false
	}
	if at.After(deadline) {
		at = deadline
	}
	return at, true
}
