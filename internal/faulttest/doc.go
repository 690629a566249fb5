// Package faulttest holds the reliability tests of the whole system: a real local stack
// (internal/devstack) receives a stream of task completions, reminders and task updates
// while a service is killed, a sidecar is killed, PostgreSQL restarts (once, ten times, for
// longer than the liveness probe allows), poison events flood
// in or a service is stopped with SIGTERM; every event's effects must then have happened
// exactly once. Run them with `go test ./internal/faulttest/` or `make test-faults`.
package faulttest
