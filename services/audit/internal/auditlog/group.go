package auditlog

import (
	"context"
	"fmt"
	"time"
)

// Group commit: concurrent Append calls queue up while one of them writes, and the next
// transaction writes every queued call's rows at once.

// maxGroupRows bounds how many rows one group commit writes.
const maxGroupRows = 5000

// appendReq is one caller's share of a group commit.
type appendReq struct {
	rows []*row
	done chan appendResult
}

type appendResult struct {
	n    int
	err  error
	lead bool // the caller becomes the writer for the queued requests
}

// Append stores the records whose event_id is not stored yet and returns how many it
// added. Records repeating an event_id (already stored, or earlier in recs) are skipped.
// On an error from the database none of recs was stored; when ctx ends while the
// request is being written, Append returns ctx's error and the rows may still commit
// (the redelivery is then deduplicated by event_id).
//
// Concurrent calls are group-committed: while one transaction is being written, arriving
// calls queue up, and the next transaction writes all of them (up to maxGroupRows) at once.
// The chain is serialised anyway, so this turns many small transactions into few big ones.
func (s *Store) Append(ctx context.Context, recs []Record) (int, error) {
	rows, err := s.prepare(recs)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	req := &appendReq{rows: rows, done: make(chan appendResult, 1)}
	s.gmu.Lock()
	s.queue = append(s.queue, req)
	lead := !s.writing
	s.writing = true
	s.gmu.Unlock()
	for {
		if lead {
			s.writeQueued(ctx, req)
		}
		select {
		case r := <-req.done:
			if r.lead {
				lead = true
				continue
			}
			return r.n, r.err
		case <-ctx.Done():
			s.abandon(req)
			return 0, fmt.Errorf("append %d audit records: %w", len(rows), ctx.Err())
		}
	}
}

// groupWriteTimeout bounds one group-commit transaction, independently of the context of
// the caller that happens to write it.
const groupWriteTimeout = 30 * time.Second

// writeQueued writes groups of queued requests until own is written, then hands the
// writer role to the oldest queued request, if any.
func (s *Store) writeQueued(ctx context.Context, own *appendReq) {
	for written := false; !written; {
		s.gmu.Lock()
		var group []*appendReq
		n := 0
		for len(s.queue) > 0 && (len(group) == 0 || n+len(s.queue[0].rows) <= maxGroupRows) {
			group = append(group, s.queue[0])
			n += len(s.queue[0].rows)
			s.queue = s.queue[1:]
		}
		s.gmu.Unlock()
		var all []*row
		seen := make(map[string]bool, n)
		for _, r := range group {
			written = written || r == own
			for _, x := range r.rows {
				if !seen[x.EventID] {
					seen[x.EventID] = true
					all = append(all, x)
				}
			}
		}
		// The group holds other callers' rows: one caller's deadline must not abort them.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupWriteTimeout)
		_, err := s.write(wctx, all)
		cancel()
		for _, r := range group {
			res := appendResult{err: err}
			for _, x := range r.rows {
				if x.Seq != 0 {
					res.n++
				}
			}
			r.done <- res
		}
	}
	s.gmu.Lock()
	defer s.gmu.Unlock()
	if len(s.queue) == 0 {
		s.writing = false
		return
	}
	s.queue[0].done <- appendResult{lead: true}
}

// abandon takes a waiting request out of the queue. A request already being written
// stays (a redelivery of its events is deduplicated); a writer role handed to it is passed on.
func (s *Store) abandon(req *appendReq) {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	for i, r := range s.queue {
		if r == req {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			break
		}
	}
	select {
	case r := <-req.done:
		if !r.lead {
			return
		}
		if len(s.queue) == 0 {
			s.writing = false
		} else {
			s.queue[0].done <- appendResult{lead: true}
		}
	default:
	}
}
