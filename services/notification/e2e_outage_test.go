package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

const (
	retrying = notificationv1.DeliveryStatus_DELIVERY_STATUS_RETRYING
	sending  = notificationv1.DeliveryStatus_DELIVERY_STATUS_SENDING
	held     = notificationv1.DeliveryStatus_DELIVERY_STATUS_HELD
)

// TestSMTPOutageLongerThanDaprdRetries: daprd gives up on an event after 3 retries 100ms
// apart, yet an SMTP outage twenty times as long loses no mail and dead-letters no
// reminder: each reminder is acknowledged once its plan is in the ledger, and the
// service's own schedule retries the e-mail until the relay is back, then sends it once.
func TestSMTPOutageLongerThanDaprdRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd, PostgreSQL and mailpit")
	}
	const (
		daprdRetries  = 3
		daprdInterval = 100 * time.Millisecond
		outage        = 20 * daprdRetries * daprdInterval // 6s
		reminders     = 5
	)
	var relay *smtpProxy
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	s := startStackWith(t, stackOptions{
		env: map[string]string{
			"METRICS_ADDR": metricsAddr,
			// About 0.5s, 1s, 2s, 2s, ... (±20 %): several attempts within the outage.
			"NOTIFY_RETRY_INITIAL":      "500ms",
			"NOTIFY_RETRY_MULTIPLIER":   "2",
			"NOTIFY_RETRY_MAX_INTERVAL": "2s",
			"NOTIFY_RETRY_FOR":          "5m",
			"NOTIFY_SCHEDULER_INTERVAL": "100ms",
		},
		daprdRetries: daprdRetries, daprdRetryInterval: daprdInterval,
		smtpAddr: func(mailpit string) string { relay = startSMTPProxy(t, mailpit); return relay.Addr },
	})
	const (
		acked = `taskflow_events_total{status="success",topic="reminders"}`
		nack  = `taskflow_events_total{status="retry",topic="reminders"}`
		drop  = `taskflow_events_total{status="drop",topic="reminders"}`
	)

	relay.cut()
	start := time.Now()
	ids := make([]string, reminders)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt-outage-%d", i)
		s.publish(t, reminder(ids[i], time.Now().Add(time.Hour), fmt.Sprintf("user%d@example.com", i), ""))
	}
	testenv.WaitFor(t, 20*time.Second, "every reminder acknowledged to daprd", func() bool {
		return metric(t, metricsAddr, acked) >= reminders
	})
	// The outage lasts until it is twenty times daprd's retry budget and every e-mail has
	// failed at least twice; the snapshot is taken between attempts.
	ledgers := map[string]map[notificationv1.Channel]*notificationv1.Delivery{}
	testenv.WaitFor(t, 30*time.Second, "an outage of "+outage.String()+" with every e-mail retrying", func() bool {
		if time.Since(start) < outage {
			return false
		}
		for _, id := range ids {
			ledgers[id] = deliveries(t, s.deliver, id)
			if e := ledgers[id][emailCh]; e.GetStatus() != retrying || e.GetAttempts() < 2 {
				return false
			}
		}
		return true
	})

	// Still down: acknowledged, in-app delivered, e-mail waiting for the service's retry.
	if got := metric(t, metricsAddr, acked); got != reminders {
		t.Errorf("reminders acknowledged (%s) = %v, want %d", acked, got, reminders)
	}
	if n, d := metric(t, metricsAddr, nack), metric(t, metricsAddr, drop); n != 0 || d != 0 {
		t.Errorf("reminders answered RETRY = %v, DROP = %v; want 0, 0 (daprd would dead-letter them)", n, d)
	}
	for _, id := range ids {
		ds := ledgers[id]
		wantStatus(t, ds, inApp, delivered, 1)
		e := ds[emailCh]
		if !strings.Contains(e.GetLastError(), "SMTP") {
			t.Errorf("ledger %s e-mail last_error = %q, want the SMTP failure", id, e.GetLastError())
		}
		// The next attempt is the backoff wait after the n-th failure, recorded with it:
		// 500ms × 2^(n-1), at most 2s, ±20 % (less the moment between scheduling and
		// recording).
		base := min(500*time.Millisecond<<(min(e.GetAttempts(), 8)-1), 2*time.Second)
		lo, hi := base*8/10-100*time.Millisecond, base*12/10
		wait := e.GetNextAttemptAt().AsTime().Sub(e.GetUpdatedAt().AsTime())
		if e.GetNextAttemptAt() == nil || wait < lo || wait > hi {
			t.Errorf("ledger %s e-mail after %d attempts: next_attempt_at = %v, %v after updated_at %v; want %v to %v later",
				id, e.GetAttempts(), e.GetNextAttemptAt().AsTime(), wait, e.GetUpdatedAt().AsTime(), lo, hi)
		}
	}
	if got := s.mail.Messages(t); len(got) != 0 {
		t.Errorf("mails while SMTP is unreachable = %d, want 0", len(got))
	}
	t.Logf("outage of %v: e-mail attempts so far %s", time.Since(start).Round(time.Millisecond), describeAttempts(ledgers, emailCh))

	relay.restore()
	for _, id := range ids {
		ds := s.waitFinal(t, id, 2)
		wantStatus(t, ds, inApp, delivered, 1)
		if e := ds[emailCh]; e.GetStatus() != delivered || e.GetAttempts() < 3 || e.GetLastError() != "" {
			t.Errorf("ledger %s e-mail = %s after %d attempts (%q), want delivered after at least 3", id, e.GetStatus(), e.GetAttempts(), e.GetLastError())
		}
	}
	// Settle: whatever daprd dead-lettered or the scheduler sent twice shows up meanwhile.
	if dlq := s.broker.Consume(t, DeadLetterTopic, 1, 2*time.Second); len(dlq) != 0 {
		t.Errorf("records on %s = %d (first key %q), want 0", DeadLetterTopic, len(dlq), dlq[0].Key)
	}
	for _, id := range ids {
		nid := notify.UUIDv5("notification:" + id)
		if n := len(s.mail.ByMessageID(t, nid+"@taskflow.test")); n != 1 {
			t.Errorf("mails for %s = %d, want 1", id, n)
		}
	}
	if got := len(s.mail.Messages(t)); got != reminders {
		t.Errorf("mails in mailpit = %d, want %d", got, reminders)
	}
	if got := metric(t, metricsAddr, acked); got != reminders {
		t.Errorf("reminders acknowledged after the outage = %v, want %d (no redelivery)", got, reminders)
	}
}

func describeAttempts(ledgers map[string]map[notificationv1.Channel]*notificationv1.Delivery, c notificationv1.Channel) string {
	var b strings.Builder
	for id, ds := range ledgers {
		fmt.Fprintf(&b, "%s=%d ", id, ds[c].GetAttempts())
	}
	return b.String()
}

// TestKilledWhileSendingPickedUpAfterLease: replica A is SIGKILLed in the middle of an
// SMTP transaction (the relay took the whole message but never confirmed it); replica B's
// scheduler sends the e-mail again once A's lease has run out, not before, and once.
func TestKilledWhileSendingPickedUpAfterLease(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd, PostgreSQL and mailpit")
	}
	const handlerTimeout = 4 * time.Second // lease: 8s
	broker := testenv.StartBroker(t, Topic, "task-updates", DeadLetterTopic)
	pg := testenv.StartPostgres(t)
	mail := testenv.StartMailpit(t)
	hole := startBlackHoleSMTP(t)
	env := func(daprGRPC int, smtpAddr string) map[string]string {
		return map[string]string{
			"DATABASE_URL": pg.DSN, "DAPR_GRPC_PORT": strconv.Itoa(daprGRPC), "PUBSUB_NAME": testenv.PubsubName,
			"SMTP_ADDR": smtpAddr, "SMTP_FROM": "TaskFlow <reminders@taskflow.test>", "SMTP_TLS": "none",
			// Longer than A lives: A's send ends by the kill, not by a timeout.
			"SMTP_TIMEOUT": "60s", "HANDLER_TIMEOUT": handlerTimeout.String(), "LOG_LEVEL": "debug",
			"NOTIFY_SCHEDULER_INTERVAL": "100ms", "NOTIFY_RETRY_INITIAL": "200ms",
		}
	}

	// Replica A, a process of its own with its sidecar, sends e-mail into the black hole.
	daprA := testenv.FreePort(t)
	a := startServiceProcess(t, "notification-a", env(daprA, hole.Addr))
	sidecarA := testenv.StartDaprd(t, testenv.DaprdConfig{
		AppID: AppID, AppPort: a.GRPCPort, Broker: broker, GRPCPort: daprA, AppHealthCheck: true,
	})
	sidecarA.WaitSubscribed(t, Topic)
	// Replica B runs beside it with a sidecar that only publishes (in-app): no reminder
	// reaches B but through its scheduler.
	sidecarB := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: testenv.UniqueAppID("notification-b"), Broker: broker})
	b := testenv.RunService(t, run, env(sidecarB.Config.GRPCPort, mail.SMTPAddr))
	client := notificationv1.NewNotificationServiceClient(b.Conn(t))

	const id = "evt-killed"
	nid := notify.UUIDv5("notification:" + id)
	sidecarA.Publish(t, Topic, "taskflow.reminder.due.v1", "task-"+id, reminder(id, time.Now().Add(time.Hour), "erin@example.com", ""))
	// In-app is recorded as soon as it is published, while the e-mail still hangs: the
	// crash below must not make it go out again.
	testenv.WaitFor(t, 10*time.Second, "A inside the SMTP transaction, in-app recorded delivered", func() bool {
		ds := deliveries(t, client, id)
		return hole.messages() == 1 && ds[emailCh].GetStatus() == sending && ds[inApp].GetStatus() == delivered
	})
	// In-app went out beside the e-mail; wait for it so that the count below is exact.
	if n := len(broker.Consume(t, "task-updates", 1, 5*time.Second)); n != 1 {
		t.Fatalf("TaskUpdates published by A = %d, want 1", n)
	}
	a.Kill()        // the crash: no outcome is recorded
	sidecarA.Kill() // and its pod with it: the event is redelivered to nobody
	killed := time.Now()

	ds := deliveries(t, client, id)
	email := ds[emailCh]
	if email.GetStatus() != sending || email.GetAttempts() != 1 || email.GetNextAttemptAt() == nil {
		t.Fatalf("ledger e-mail after the kill = %s after %d attempts, lease to %v; want sending after 1, with a lease (ledger: %s)",
			email.GetStatus(), email.GetAttempts(), email.GetNextAttemptAt().AsTime(), describe(ds))
	}
	leaseEnd := email.GetNextAttemptAt().AsTime()
	if lease := leaseEnd.Sub(email.GetUpdatedAt().AsTime()); lease != 2*handlerTimeout {
		t.Errorf("lease of A's attempt = %v, want 2 × HANDLER_TIMEOUT = %v", lease, 2*handlerTimeout)
	}
	// Until the lease runs out, B leaves the channel alone (margin for the poll).
	for time.Until(leaseEnd) > 300*time.Millisecond {
		if n := len(mail.Messages(t)); n != 0 {
			t.Fatalf("mails %v before A's lease ran out = %d, want 0", time.Until(leaseEnd), n)
		}
		if d := deliveries(t, client, id)[emailCh]; d.GetStatus() != sending || d.GetAttempts() != 1 {
			t.Fatalf("ledger e-mail %v before the lease ran out = %s after %d attempts, want sending after 1", time.Until(leaseEnd), d.GetStatus(), d.GetAttempts())
		}
		time.Sleep(200 * time.Millisecond)
	}
	testenv.WaitFor(t, 20*time.Second, "B to deliver the e-mail", func() bool { return allFinal(t, client, id, 2) })
	t.Logf("killed A %v before the lease ran out; B delivered %v after it", leaseEnd.Sub(killed).Round(time.Millisecond),
		deliveries(t, client, id)[emailCh].GetDeliveredAt().AsTime().Sub(leaseEnd).Round(time.Millisecond))

	ds = deliveries(t, client, id)
	wantStatus(t, ds, emailCh, delivered, 2)
	if at := ds[emailCh].GetDeliveredAt().AsTime(); at.Before(leaseEnd) {
		t.Errorf("e-mail delivered_at = %v, before A's lease ran out at %v", at, leaseEnd)
	}
	if n := len(mail.ByMessageID(t, nid+"@taskflow.test")); n != 1 {
		t.Errorf("mails for %s in mailpit = %d, want 1", id, n)
	}
	if n := hole.messages(); n != 1 {
		t.Errorf("messages the black hole received = %d, want 1 (A's only)", n)
	}
	// In-app went out once, from A, and was recorded before the kill: never again.
	wantStatus(t, ds, inApp, delivered, 1)
	ups := inAppUpdates(t, broker, nid)
	if len(ups) != 1 {
		t.Errorf("TaskUpdates for %s = %d, want 1 (recorded before the crash, not sent again)", id, len(ups))
	}
	t.Logf("in-app: %d TaskUpdates, %d attempts in the ledger", len(ups), ds[inApp].GetAttempts())
	for _, u := range ups {
		if u.GetEventId() != notify.UUIDv5("task-update:"+id) {
			t.Errorf("TaskUpdate event_id = %q, want %q on every copy", u.GetEventId(), notify.UUIDv5("task-update:"+id))
		}
	}
}
