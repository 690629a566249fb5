package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
)

// apiError is every error answer: the message, the form field it belongs to (when one
// does) and whether the backend is down rather than the input wrong.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
	Down  bool   `json:"down,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, field, msg string) {
	writeJSON(w, code, apiError{Error: msg, Field: field})
}

// writeBackendError answers a backend's error: its InvalidArgument as the field's error
// (400), anything else as the backend being down (502).
func writeBackendError(w http.ResponseWriter, backend, field string, err error) {
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		writeError(w, http.StatusBadRequest, field, st.Message())
		return
	}
	writeJSON(w, http.StatusBadGateway, apiError{Error: fmt.Sprintf("%s is down: %v", backend, err), Down: true})
}

// parseTime reads an RFC 3339 time; empty is the zero time.
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, v)
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := &auditv1.ListEventsRequest{UserId: q.Get("user"), TaskId: q.Get("task"), PageSize: 100}
	for _, f := range []struct {
		name string
		dst  **timestamppb.Timestamp
	}{{"from", &req.FromTime}, {"to", &req.ToTime}} {
		t, err := parseTime(q.Get(f.name))
		if err != nil {
			writeError(w, http.StatusBadRequest, f.name, fmt.Sprintf("%s: want an RFC 3339 time: %v", f.name, err))
			return
		}
		if !t.IsZero() {
			*f.dst = timestamppb.New(t)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "limit", "limit: want a number")
			return
		}
		req.PageSize = int32(n)
	}
	if s.cfg.Audit == nil {
		writeBackendError(w, "the audit service", "", errBackendMissing)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CallTimeout)
	defer cancel()
	resp, err := s.cfg.Audit.ListEvents(ctx, req)
	if err != nil {
		field := ""
		if msg := status.Convert(err).Message(); strings.Contains(msg, "page_size") {
			field = "limit"
		}
		writeBackendError(w, "the audit service", field, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": marshalAll(resp.GetEvents())})
}

// handleVerify runs VerifyChain over the whole log, page by page as `taskflow audit verify`.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Audit == nil {
		writeBackendError(w, "the audit service", "", errBackendMissing)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*s.cfg.CallTimeout)
	defer cancel()
	req := &auditv1.VerifyChainRequest{}
	out := struct {
		OK          bool              `json:"ok"`
		RowsChecked uint64            `json:"rows_checked"`
		LastSeq     uint64            `json:"last_seq"`
		KeyIDs      []string          `json:"key_ids"`
		Findings    []json.RawMessage `json:"findings"`
	}{OK: true}
	var findings []*auditv1.BrokenLink
	for {
		resp, err := s.cfg.Audit.VerifyChain(ctx, req)
		if err != nil {
			writeBackendError(w, "the audit service", "", err)
			return
		}
		out.OK = out.OK && resp.GetOk()
		out.RowsChecked += resp.GetRowsChecked()
		out.LastSeq, out.KeyIDs = resp.GetLastSeq(), resp.GetKeyIds()
		findings = append(findings, resp.GetFindings()...)
		if resp.GetNextFromSeq() == 0 {
			break
		}
		req.FromSeq = resp.GetNextFromSeq()
	}
	out.OK = out.OK && len(findings) == 0
	out.Findings = marshalAll(findings)
	writeJSON(w, http.StatusOK, out)
}

// handlePreview answers the recurrence playground: rule, time zone and a start in the zone's
// wall time ("2006-01-02T15:04", as an <input type=datetime-local> sends it, or RFC 3339).
func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tz := q.Get("tz")
	loc, err := time.LoadLocation(tz)
	if tz == "" || err != nil {
		writeError(w, http.StatusBadRequest, "tz", fmt.Sprintf("time zone %q: want an IANA name such as Europe/Berlin", tz))
		return
	}
	start, err := parseLocal(q.Get("start"), loc)
	if err != nil {
		writeError(w, http.StatusBadRequest, "start", "start: "+err.Error())
		return
	}
	count := 10
	if v := q.Get("count"); v != "" {
		if count, err = strconv.Atoi(v); err != nil || count < 1 {
			writeError(w, http.StatusBadRequest, "count", "count: want a positive number")
			return
		}
	}
	resp, err := s.preview(r.Context(), q.Get("rrule"), tz, start, count)
	if err != nil {
		writeBackendError(w, "the recurring-task service", "rrule", err)
		return
	}
	type occurrence struct {
		At        time.Time `json:"at"`
		LocalTime string    `json:"local_time"`
		Date      string    `json:"date"`
		Clock     string    `json:"clock"`
	}
	occ := []occurrence{}
	for _, o := range resp.GetOccurrences() {
		at := o.GetAt().AsTime()
		local := at.In(loc)
		occ = append(occ, occurrence{At: at, LocalTime: o.GetLocalTime(), Date: local.Format(time.DateOnly), Clock: local.Format("15:04 MST")})
	}
	writeJSON(w, http.StatusOK, map[string]any{"text": resp.GetText(), "rrule": resp.GetRrule(),
		"series_ended": resp.GetSeriesEnded(), "occurrences": occ})
}

func (s *Server) preview(ctx context.Context, rrule, tz string, start time.Time, count int) (*recurrencev1.PreviewResponse, error) {
	if s.cfg.Recurrence == nil {
		return nil, errBackendMissing
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	return s.cfg.Recurrence.Preview(ctx, &recurrencev1.PreviewRequest{Rrule: rrule, TimeZone: tz,
		Dtstart: timestamppb.New(start), Count: uint32(count)})
}

// parseLocal reads a wall time in loc ("2006-01-02T15:04") or an RFC 3339 time.
func parseLocal(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02T15:04", v, loc); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want 2006-01-02T15:04 or an RFC 3339 time", v)
	}
	return t, nil
}

func (s *Server) handleDLQ(w http.ResponseWriter, r *http.Request) {
	if s.cfg.DeadLetters == nil {
		writeBackendError(w, "the broker", "", errBackendMissing)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*s.cfg.CallTimeout)
	defer cancel()
	topics, err := s.cfg.DeadLetters.List(ctx)
	if err != nil {
		writeBackendError(w, "the broker", "", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": topics})
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.Topic == "" {
		writeError(w, http.StatusBadRequest, "topic", "want {\"topic\", \"partition\", \"offset\"}")
		return
	}
	if s.cfg.DeadLetters == nil {
		writeBackendError(w, "the broker", "", errBackendMissing)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*s.cfg.CallTimeout)
	defer cancel()
	out, err := s.cfg.DeadLetters.Replay(ctx, req.Topic, req.Partition, req.Offset)
	if err != nil {
		var bad badEntryError
		if errors.As(err, &bad) {
			writeError(w, http.StatusBadRequest, "entry", err.Error())
			return
		}
		writeJSON(w, http.StatusBadGateway, apiError{Error: "replay: " + err.Error(), Down: true})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": out})
}

// badEntryError marks a replay refused because of the entry itself (DeadLetters.Replay
// wraps it with BadEntry), not because a backend is down.
type badEntryError struct{ err error }

func (e badEntryError) Error() string { return e.err.Error() }
func (e badEntryError) Unwrap() error { return e.err }

// BadEntry marks err as the entry's fault (it is answered 400, not as a backend down).
func BadEntry(err error) error { return badEntryError{err} }
