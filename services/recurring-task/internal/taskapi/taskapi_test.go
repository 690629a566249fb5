package taskapi

import (
	"context"
	"errors"
	"strconv"
	"testing"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/nexttask"
)

type fakeInvoker struct {
	err                   error
	appID, method, verb   string
	body                  string
	contentType, idemKeys string
}

func (f *fakeInvoker) InvokeMethodWithContent(ctx context.Context, appID, method, verb string, c *dapr.DataContent) ([]byte, error) {
	md, _ := metadata.FromOutgoingContext(ctx)
	f.appID, f.method, f.verb, f.body, f.contentType = appID, method, verb, string(c.Data), c.ContentType
	if v := md.Get("idempotency-key"); len(v) > 0 {
		f.idemKeys = v[0]
	}
	return nil, f.err
}

// httpErr builds the error daprd returns for a non-2xx HTTP answer.
func httpErr(code int, msg string) error {
	st, _ := status.New(codes.Unknown, "x").WithDetails(&errdetails.ErrorInfo{
		Reason: "x", Domain: "dapr.io", Metadata: map[string]string{"http.code": strconv.Itoa(code), "http.error_message": msg},
	})
	return st.Err()
}

func TestCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		err           error
		wantErr       bool
		wantPermanent bool
	}{
		{"created", nil, false, false},
		{"conflict is success", httpErr(409, "exists"), false, false},
		{"bad request drops", httpErr(400, "title required"), true, true},
		{"unprocessable drops", httpErr(422, ""), true, true},
		{"too many requests retries", httpErr(429, ""), true, false},
		{"server error retries", httpErr(500, "boom"), true, false},
		{"unavailable retries", httpErr(503, ""), true, false},
		{"sidecar unreachable retries", status.Error(codes.Unavailable, "connection refused"), true, false},
		{"deadline retries", context.DeadlineExceeded, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv := &fakeInvoker{err: tt.err}
			c := New(inv, "task-api", "api/tasks")
			err := c.Create(t.Context(), &eventsv1.Task{Id: "id-1", Title: "t", TimeZone: "UTC"}, "id-1")
			if (err != nil) != tt.wantErr || errors.Is(err, nexttask.ErrPermanent) != tt.wantPermanent {
				t.Fatalf("Create error = %v, want error %v, permanent %v", err, tt.wantErr, tt.wantPermanent)
			}
			got := []string{inv.appID, inv.method, inv.verb, inv.contentType, inv.idemKeys, inv.body}
			want := []string{"task-api", "api/tasks", "POST", "application/json", "id-1", `{"id":"id-1","title":"t","time_zone":"UTC"}`}
			if diff := cmp.Diff(want, got, cmp.Transformer("compact", compactJSON)); diff != "" {
				t.Errorf("invocation mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// compactJSON removes the spaces protojson may randomly add.
func compactJSON(s string) string {
	out := make([]byte, 0, len(s))
	for i := range len(s) {
		if s[i] != ' ' {
			out = append(out, s[i])
		}
	}
	return string(out)
}
