// Package taskapi creates tasks at the TaskFlow Task API through Dapr service invocation.
//
// Contract: HTTP POST <method> on app <app-id>, body the protojson of the task (proto
// field names), Content-Type application/json, header Idempotency-Key. daprd forwards
// the gRPC metadata of the invocation as HTTP headers to an HTTP app and reports a
// non-2xx answer as a gRPC error whose ErrorInfo carries the HTTP status ("http.code").
package taskapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/nexttask"
)

// IdempotencyHeader carries the deterministic occurrence id.
const IdempotencyHeader = "Idempotency-Key"

// Invoker is the part of the go-sdk client the Task API client uses.
type Invoker interface {
	InvokeMethodWithContent(ctx context.Context, appID, methodName, verb string, content *dapr.DataContent) ([]byte, error)
}

// Client creates tasks; it implements nexttask.Creator.
type Client struct {
	invoker Invoker
	appID   string
	method  string
}

var _ nexttask.Creator = (*Client)(nil)

// New returns a Client that POSTs to method of appID.
func New(invoker Invoker, appID, method string) *Client {
	return &Client{invoker: invoker, appID: appID, method: method}
}

// HTTPError is a non-2xx answer of the Task API.
type HTTPError struct {
	Code    int
	Message string // the start of the response body, as daprd reports it
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("task API answered HTTP %d %s: %q", e.Code, http.StatusText(e.Code), e.Message)
}

var marshal = protojson.MarshalOptions{UseProtoNames: true}

// Create POSTs task with the idempotency key. 2xx and 409 Conflict (already created)
// are success; 408, 425 and 429 are transient; any other 4xx wraps nexttask.ErrPermanent;
// 5xx, timeouts and an unreachable sidecar or app are transient.
func (c *Client) Create(ctx context.Context, task *eventsv1.Task, idempotencyKey string) error {
	body, err := marshal.Marshal(task)
	if err != nil {
		return fmt.Errorf("marshal task %s: %w", task.GetId(), err)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "idempotency-key", idempotencyKey)
	_, err = c.invoker.InvokeMethodWithContent(ctx, c.appID, c.method, http.MethodPost,
		&dapr.DataContent{Data: body, ContentType: "application/json"})
	if err == nil {
		return nil
	}
	var herr *HTTPError
	if code, msg, ok := httpStatus(err); ok {
		herr = &HTTPError{Code: code, Message: msg}
	}
	switch {
	case herr == nil:
		return fmt.Errorf("invoke %s/%s: %w", c.appID, c.method, err)
	case herr.Code == http.StatusConflict:
		return nil
	case herr.Code >= 400 && herr.Code < 500 && herr.Code != http.StatusRequestTimeout &&
		herr.Code != http.StatusTooEarly && herr.Code != http.StatusTooManyRequests:
		return fmt.Errorf("%w: create task %s: %w", nexttask.ErrPermanent, task.GetId(), herr)
	default:
		return fmt.Errorf("create task %s: %w", task.GetId(), herr)
	}
}

// httpStatus extracts the HTTP status daprd (1.14 to 1.17.5; the end-to-end test covers
// it) attaches to a failed invocation of an HTTP app (ErrorInfo domain dapr.io, metadata
// http.code and http.error_message).
func httpStatus(err error) (int, string, bool) {
	st, ok := status.FromError(err)
	if !ok {
		var se interface{ GRPCStatus() *status.Status }
		if !errors.As(err, &se) {
			return 0, "", false
		}
		st = se.GRPCStatus()
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok {
			continue
		}
		if v, ok := info.GetMetadata()["http.code"]; ok {
			if code, err := strconv.Atoi(v); err == nil {
				return code, info.GetMetadata()["http.error_message"], true
			}
		}
	}
	return 0, "", false
}
