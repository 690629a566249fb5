package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
)

// previewDouble answers Preview with the rule's text and normalised form, as the service does.
type previewDouble struct {
	recurrencev1.UnimplementedRecurrenceServiceServer
	got *recurrencev1.PreviewRequest
}

func (p *previewDouble) Preview(_ context.Context, req *recurrencev1.PreviewRequest) (*recurrencev1.PreviewResponse, error) {
	p.got = req
	return &recurrencev1.PreviewResponse{
		Text: "every week on Monday and Thursday at 09:00", Rrule: "FREQ=WEEKLY;BYDAY=MO,TH",
		Occurrences: []*recurrencev1.Occurrence{{At: timestamppb.New(mustRFC3339("2024-01-04T08:00:00Z"))}},
	}, nil
}

func TestNextPrintsTextAndRule(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	double := &previewDouble{}
	recurrencev1.RegisterRecurrenceServiceServer(srv, double)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	var out, errOut bytes.Buffer
	err = cmdNext(t.Context(), []string{"--addr", lis.Addr().String(), "--rrule", "freq=weekly;byday=th,mo",
		"--dtstart", "2024-01-01T09:00:00+01:00", "--tz", "Europe/Berlin", "--count", "1"}, &out, &errOut)
	if err != nil {
		t.Fatalf("next: %v (stderr %s)", err, errOut.String())
	}
	want := "every week on Monday and Thursday at 09:00\nFREQ=WEEKLY;BYDAY=MO,TH\n\nThu 2024-01-04 09:00 CET  (2024-01-04T08:00:00Z)\n"
	if got := out.String(); got != want {
		t.Errorf("next output = %q, want %q", got, want)
	}
	if got := double.got.GetRrule(); !strings.EqualFold(got, "freq=weekly;byday=th,mo") {
		t.Errorf("Preview rrule = %q, want the rule as given", got)
	}
}

func mustRFC3339(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
