// Package previewapi serves taskflow.recurrence.v1.RecurrenceService, which lists the
// next occurrences of a rule with the same engine that schedules recurring tasks.
package previewapi

import (
	"context"
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
)

// Server implements taskflow.recurrence.v1.RecurrenceService.
type Server struct {
	recurrencev1.UnimplementedRecurrenceServiceServer
}

var _ recurrencev1.RecurrenceServiceServer = (*Server)(nil)

// Preview lists the occurrences strictly after req.after (or from dtstart on).
func (*Server) Preview(_ context.Context, req *recurrencev1.PreviewRequest) (*recurrencev1.PreviewResponse, error) {
	n := int(req.GetCount())
	switch {
	case n == 0:
		n = DefaultCount
	case n > MaxCount:
		return nil, status.Errorf(codes.InvalidArgument, "count %d: want 1 to %d", n, MaxCount)
	}
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
	if len(req.GetExdates()) > MaxExdates {
		return nil, status.Errorf(codes.InvalidArgument, "%d exdates: want at most %d", len(req.GetExdates()), MaxExdates)
	}
	exdates := make([]time.Time, 0, len(req.GetExdates()))
	for _, e := range req.GetExdates() {
		exdates = append(exdates, e.AsTime())
	}
	start := req.GetDtstart().AsTime()
	series, err := recurrence.NewSeries(rule, start, loc, exdates)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	after := start.Add(-time.Second)
	if req.GetAfter() != nil {
		after = req.GetAfter().AsTime()
	}
	occ := series.Take(after, n+1)
	out := &recurrencev1.PreviewResponse{SeriesEnded: len(occ) <= n}
	if len(occ) > n {
		occ = occ[:n]
	}
	for _, t := range occ {
		out.Occurrences = append(out.Occurrences, &recurrencev1.Occurrence{
			At: timestamppb.New(t), LocalTime: t.In(loc).Format(time.RFC3339),
		})
	}
	return out, nil
}
