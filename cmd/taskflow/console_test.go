package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/console"
	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// TestConsoleDeadLetters: the console's dead-letter panel reads a real broker as `taskflow
// dlq list` does, and refuses to replay an entry that is not a valid event before it
// reaches daprd.
func TestConsoleDeadLetters(t *testing.T) {
	t.Parallel()
	broker := testenv.StartBroker(t, "reminders-notification-dlq")
	bin, _ := proto.Marshal(&eventsv1.ReminderEvent{EventId: "evt-console", TaskId: "task-1"})
	valid := []byte(`{"specversion":"1.0","id":"evt-console","type":"taskflow.reminder.due.v1","datacontenttype":"application/octet-stream","data_base64":"` +
		base64.StdEncoding.EncodeToString(bin) + `"}`)
	broker.Produce(t, "reminders-notification-dlq", []byte("task-1"), valid)
	broker.Produce(t, "reminders-notification-dlq", []byte("task-2"), []byte("poison"))
	d := consoleDLQ{info: devstack.Info{Broker: broker.Addr}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics, err := d.List(ctx)
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	var got []console.DeadLetterEntry
	for _, tp := range topics {
		if tp.Topic == "reminders-notification-dlq" {
			got = tp.Entries
		}
	}
	// Entries come ordered by partition, and the keys hash to either order.
	slices.SortFunc(got, func(a, b console.DeadLetterEntry) int { return cmp.Compare(b.EventID, a.EventID) })
	if len(topics) != len(dlqTopics) || len(got) != 2 || got[0].EventID != "evt-console" || !got[0].Valid || got[1].Valid {
		t.Fatalf("List = %+v, want every dead-letter topic, reminders-notification-dlq with evt-console (valid) and the poison entry", topics)
	}
	// Through the console's handler: the poison entry is the input's fault (400), not a
	// backend down, and nothing is published (the info names no daprd to publish through).
	srv := console.New(console.Config{DeadLetters: d})
	rec := httptest.NewRecorder()
	body := fmt.Sprintf(`{"topic":"reminders-notification-dlq","partition":%d,"offset":%d}`, got[1].Partition, got[1].Offset)
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/dlq/replay", strings.NewReader(body)))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not a valid event") {
		t.Errorf("POST /api/dlq/replay %s = %d %s, want 400 naming the entry as not a valid event", body, rec.Code, rec.Body)
	}
}
