package previewapi

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
)

// client dials a real gRPC server over bufconn.
func client(t *testing.T) recurrencev1.RecurrenceServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	recurrencev1.RegisterRecurrenceServiceServer(g, &Server{})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial bufconn: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return recurrencev1.NewRecurrenceServiceClient(conn)
}

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func occ(local string) *recurrencev1.Occurrence {
	return &recurrencev1.Occurrence{At: ts(local), LocalTime: local}
}

func TestPreview(t *testing.T) {
	t.Parallel()
	cc := client(t)
	tests := []struct {
		name string
		req  *recurrencev1.PreviewRequest
		want *recurrencev1.PreviewResponse
	}{
		{
			name: "daily across new york gap",
			req: &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY", Dtstart: ts("2024-03-09T02:30:00-05:00"),
				TimeZone: "America/New_York", Count: 3},
			want: &recurrencev1.PreviewResponse{Rrule: "FREQ=DAILY", Text: "every day at 02:30", Occurrences: []*recurrencev1.Occurrence{
				occ("2024-03-09T02:30:00-05:00"), occ("2024-03-10T03:30:00-04:00"), occ("2024-03-11T02:30:00-04:00"),
			}},
		},
		{
			name: "after, exdate and end of series",
			req: &recurrencev1.PreviewRequest{Rrule: "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=5", Dtstart: ts("2024-01-01T09:00:00+01:00"),
				TimeZone: "Europe/Berlin", After: ts("2024-01-01T09:00:00+01:00"), Exdates: []*timestamppb.Timestamp{ts("2024-01-08T09:00:00+01:00")}, Count: 10},
			want: &recurrencev1.PreviewResponse{SeriesEnded: true, Rrule: "FREQ=WEEKLY;COUNT=5;BYDAY=MO,TH",
				Text: "every week on Monday and Thursday at 09:00, 5 times", Occurrences: []*recurrencev1.Occurrence{
					occ("2024-01-04T09:00:00+01:00"), occ("2024-01-11T09:00:00+01:00"), occ("2024-01-15T09:00:00+01:00"),
				}},
		},
		{
			name: "utc by default",
			req:  &recurrencev1.PreviewRequest{Rrule: "FREQ=MONTHLY", Dtstart: ts("2024-01-31T10:00:00Z"), Count: 2},
			want: &recurrencev1.PreviewResponse{Rrule: "FREQ=MONTHLY", Text: "every month on the 31st day at 10:00",
				Occurrences: []*recurrencev1.Occurrence{occ("2024-01-31T10:00:00Z"), occ("2024-03-31T10:00:00Z")}},
		},
		{
			name: "medication every 2 hours with a one-off rdate across the gap",
			req: &recurrencev1.PreviewRequest{Rrule: "FREQ=HOURLY;INTERVAL=2;BYHOUR=0,2,4,6", Dtstart: ts("2024-03-10T00:00:00-05:00"),
				TimeZone: "America/New_York", Rdates: []*timestamppb.Timestamp{ts("2024-03-10T05:00:00-04:00")}, Count: 5},
			want: &recurrencev1.PreviewResponse{Rrule: "FREQ=HOURLY;INTERVAL=2;BYHOUR=0,2,4,6",
				Text: "every 2 hours at :00 past the hour, during hours 0, 2, 4 and 6", Occurrences: []*recurrencev1.Occurrence{
					occ("2024-03-10T00:00:00-05:00"), occ("2024-03-10T03:00:00-04:00"), occ("2024-03-10T04:00:00-04:00"),
					occ("2024-03-10T05:00:00-04:00"), occ("2024-03-10T06:00:00-04:00"),
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := cc.Preview(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("Preview error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Preview mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPreviewInvalidArgument(t *testing.T) {
	t.Parallel()
	cc := client(t)
	start := ts("2024-01-01T09:00:00Z")
	tests := []struct {
		name    string
		req     *recurrencev1.PreviewRequest
		wantMsg string
	}{
		{"bad rule", &recurrencev1.PreviewRequest{Rrule: "FREQ=SOMETIMES", Dtstart: start}, "FREQ=SOMETIMES"},
		{"count and until", &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY;COUNT=2;UNTIL=20250101T000000Z", Dtstart: start}, "COUNT and UNTIL"},
		{"unknown zone", &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY", Dtstart: start, TimeZone: "Mars/Olympus"}, "Mars/Olympus"},
		{"no dtstart", &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY"}, "dtstart is required"},
		{"count too large", &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY", Dtstart: start, Count: 101}, "count 101"},
		{"too many exdates", &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY", Dtstart: start,
			Exdates: slices.Repeat([]*timestamppb.Timestamp{start}, MaxExdates+1)}, "1001 exdates"},
		{"too many rdates", &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY", Dtstart: start,
			Rdates: slices.Repeat([]*timestamppb.Timestamp{start}, MaxRdates+1)}, "1001 rdates"},
		{"byweekno with monthly", &recurrencev1.PreviewRequest{Rrule: "FREQ=MONTHLY;BYWEEKNO=1", Dtstart: start},
			"BYWEEKNO is only valid with FREQ=YEARLY"},
		{"secondly", &recurrencev1.PreviewRequest{Rrule: "FREQ=SECONDLY", Dtstart: start}, "FREQ=SECONDLY is not supported"},
		{"unreachable byhour", &recurrencev1.PreviewRequest{Rrule: "FREQ=HOURLY;INTERVAL=2;BYHOUR=10", Dtstart: start},
			"BYHOUR: no listed hour is reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := cc.Preview(t.Context(), tt.req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.wantMsg) {
				t.Errorf("Preview error = %v, want InvalidArgument mentioning %q", err, tt.wantMsg)
			}
		})
	}
}

func TestPreviewResourceExhausted(t *testing.T) {
	t.Parallel()
	cc := client(t)
	_, err := cc.Preview(t.Context(), &recurrencev1.PreviewRequest{
		Rrule:   "FREQ=MINUTELY;INTERVAL=997;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=5;BYMINUTE=7",
		Dtstart: ts("2024-01-01T00:00:00Z"), Count: 1})
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "at most") {
		t.Errorf("Preview error = %v, want ResourceExhausted naming the limit", err)
	}
}
