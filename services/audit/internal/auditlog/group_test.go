package auditlog

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// TestConcurrentAppends runs two Stores (two replicas) on one database, each with several
// concurrent callers (so each has two group transactions in flight), appending
// overlapping event ids: redeliveries racing the first delivery on the same and on the
// other replica. Nothing has created the month's partition before, so both replicas race
// to create it as well.
func TestConcurrentAppends(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                string
		ids, batch, callers int
		stride              int // batch i starts at i*stride: consecutive batches share batch-stride ids
		passes              int // how often each replica's callers go over all ids
	}{
		{name: "overlapping batches", ids: 3000, batch: 100, callers: 4, stride: 50, passes: 1},
		{name: "every event delivered to both replicas twice", ids: 2000, batch: 250, callers: 3, stride: 250, passes: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s1, db := newStore(t, pg, time.Now)
			pool, err := pgxpool.New(ctx, db.runtime)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			s2 := NewStore(pool, time.Now, auditsig.NewSigner(testKey))

			msgs := make([]*eventsv1.TaskEvent, tc.ids)
			for i := range msgs {
				msgs[i] = taskEvent(fmt.Sprintf("c%05d", i), fmt.Sprintf("u%d", i%3), "t1", base.Add(time.Duration(i)*time.Second))
			}
			var batches [][]Record
			for range tc.passes {
				for off := 0; off < tc.ids; off += tc.stride {
					batches = append(batches, records(t, msgs[off:min(off+tc.batch, tc.ids)]...))
				}
			}
			var added atomic.Int64
			var wg sync.WaitGroup
			for _, s := range []*Store{s1, s2} {
				work := make(chan []Record)
				for range tc.callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for recs := range work {
							n, err := s.Append(ctx, recs)
							if err != nil {
								t.Errorf("Append(%d records) = %d, %v", len(recs), n, err)
							}
							added.Add(int64(n))
						}
					}()
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(work)
					for _, b := range batches {
						work <- b
					}
				}()
			}
			wg.Wait()

			if got := added.Load(); got != int64(tc.ids) {
				t.Errorf("Appends added %d events in all, want %d", got, tc.ids)
			}
			conn := connect(t, db.runtime)
			var rows, distinct, minSeq, maxSeq int64
			if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT event_id), min(seq), max(seq) FROM audit_events").
				Scan(&rows, &distinct, &minSeq, &maxSeq); err != nil {
				t.Fatal(err)
			}
			if rows != int64(tc.ids) || distinct != int64(tc.ids) || minSeq != 1 || maxSeq != int64(tc.ids) {
				t.Errorf("audit_events: %d rows, %d distinct ids, seq %d..%d; want %d of each, seq 1..%d",
					rows, distinct, minSeq, maxSeq, tc.ids, tc.ids)
			}
			if v := mustVerify(t, s2); !v.OK() || v.RowsChecked != int64(tc.ids) {
				t.Errorf("Verify = %d rows, findings:\n  %s\nwant %d rows, none", v.RowsChecked, breaks(v), tc.ids)
			}
		})
	}
}
