package wire

import "time"

// Default bulk subscription settings of the services that subscribe in bulk. The load
// tool's no-op ceilings (internal/loadtest/noop) subscribe with the same ones, so that
// each service is measured against a ceiling of its own mode.
const (
	AuditBulkMaxMessages        = 1000
	AuditBulkMaxAwait           = 250 * time.Millisecond
	NotificationBulkMaxMessages = 100
	NotificationBulkMaxAwait    = 100 * time.Millisecond
	RecurringBulkMaxMessages    = 100
	RecurringBulkMaxAwait       = 500 * time.Millisecond
	WebsocketBulkMaxMessages    = 100
	WebsocketBulkMaxAwait       = 5 * time.Millisecond
)
