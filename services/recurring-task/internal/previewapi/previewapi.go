// Package previewapi serves taskflow.recurrence.v1.RecurrenceService, which lists the
// next occurrences of a rule with the same engine that schedules recurring tasks.
package previewapi

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/recurrence"
)

const (
	// MaxCount is the largest number of occurrences one Preview returns.
	MaxCount = 100
	// DefaultCount is used when the request's count is 0.
	DefaultCount = 10
	// MaxExdates is the largest number of excluded dates one Preview accepts: each costs
	// work on every candidate occurrence.
	MaxExdates = 1000
	// MaxRdates is the largest number of extra dates one Preview accepts.
	MaxRdates = 1000
)

// Server implements taskflow.recurrence.v1.RecurrenceService.
type Server struct {
	recurrencev1.UnimplementedRecurrenceServiceServer
}

var _ recurrencev1.RecurrenceServiceServer = (*Server)(nil)

// Preview lists the occurrences strictly after req.after (or from dtstart on), with the
// rule in English and in normalised form.
func (*Server) Preview(_ context.Context, req *recurrencev1.PreviewRequest) (*recurrencev1.PreviewResponse, error) {
	n := int(req.GetCount())
	switch {
	case n == 0:
		n = DefaultCount
	case n > MaxCount:
		return nil, status.Errorf(codes.InvalidArgument, "count %d: want 1 to %d", n, MaxCount)
	}
	series, err := newSeries(req)
	if err != nil {
		return nil, err
	}
	after := req.GetDtstart().AsTime().Add(-time.Second)
	if req.GetAfter() != nil {
		after = req.GetAfter().AsTime()
	}
	occ, err := series.Take(after, n+1)
	if errors.Is(err, recurrence.ErrLimit) {
		return nil, status.Error(codes.ResourceExhausted, err.Error())
	}
	out := &recurrencev1.PreviewResponse{
		SeriesEnded: len(occ) <= n,
		Text:        series.Text(),
		Rrule:       series.Rule().String(),
	}
	if len(occ) > n {
		occ = occ[:n]
	}
	for _, t := range occ {
		out.Occurrences = append(out.Occurrences, &recurrencev1.Occurrence{
			At: timestamppb.New(t), LocalTime: t.In(series.Location()).Format(time.RFC3339),
		})
	}
	return out, nil
}

// newSeries validates the request's series; every error is InvalidArgument with the reason.
func newSeries(req *recurrencev1.PreviewRequest) (*recurrence.Series, error) {
	if req.GetDtstart() == nil {
		return nil, status.Error(codes.InvalidArgument, "dtstart is required")
	}
	if err := req.GetDtstart().CheckValid(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "dtstart: %v", err)
	}
	loc, err := recurrence.LoadLocation(req.GetTimeZone())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	rule, err := recurrence.ParseRule(req.GetRrule())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	exdates, err := times("exdates", req.GetExdates(), MaxExdates)
	if err != nil {
		return nil, err
	}
	rdates, err := times("rdates", req.GetRdates(), MaxRdates)
	if err != nil {
		return nil, err
	}
	series, err := recurrence.NewSeries(rule, req.GetDtstart().AsTime(), loc, exdates, rdates)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return series, nil
}

func times(name string, ts []*timestamppb.Timestamp, limit int) ([]time.Time, error) {
	if len(ts) > limit {
		return nil, status.Errorf(codes.InvalidArgument, "%d %s: want at most %d", len(ts), name, limit)
	}
	out := make([]time.Time, 0, len(ts))
	for _, t := range ts {
		if err := t.CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "%s: %v", name, err)
		}
		out = append(out, t.AsTime())
	}
	return out, nil
}
