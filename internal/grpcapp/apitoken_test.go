package grpcapp

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestAppAPIToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, token, method, sent string
		want                      codes.Code
	}{
		{name: "no token configured", method: "/taskflow.audit.v1.AuditService/ListEvents", want: codes.OK},
		{name: "query API with the token", token: "s3cret", method: "/taskflow.audit.v1.AuditService/ListEvents", sent: "s3cret", want: codes.OK},
		{name: "query API without a token", token: "s3cret", method: "/taskflow.audit.v1.AuditService/ListEvents", want: codes.Unauthenticated},
		{name: "query API with a wrong token", token: "s3cret", method: "/taskflow.audit.v1.AuditService/ListEvents", sent: "guess", want: codes.Unauthenticated},
		{name: "topic event with the token", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallback/OnTopicEvent", sent: "s3cret", want: codes.OK},
		{name: "topic event without a token", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallback/OnTopicEvent", want: codes.Unauthenticated},
		{name: "topic event with a wrong token", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallback/OnTopicEvent", sent: "guess", want: codes.Unauthenticated},
		{name: "bulk events without a token", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallback/OnBulkTopicEvent", want: codes.Unauthenticated},
		{name: "alpha bulk events without a token", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallbackAlpha/OnBulkTopicEventAlpha1", want: codes.Unauthenticated},
		{name: "service invocation without a token", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallback/OnInvoke", want: codes.Unauthenticated},
		{name: "subscription list (daprd sends no token)", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallback/ListTopicSubscriptions", want: codes.OK},
		{name: "daprd app health probe (daprd sends no token)", token: "s3cret", method: "/dapr.proto.runtime.v1.AppCallbackHealthCheck/HealthCheck", want: codes.OK},
		{name: "kubelet gRPC probe", token: "s3cret", method: "/grpc.health.v1.Health/Check", want: codes.OK},
		{name: "reflection without a token", token: "s3cret", method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", want: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.sent != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("dapr-api-token", tt.sent))
			}
			called := false
			var logs strings.Builder
			_, err := tokenUnary(tt.token, slog.New(slog.NewJSONHandler(&logs, nil)))(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(context.Context, any) (any, error) {
				called = true
				return nil, nil
			})
			if got := status.Code(err); got != tt.want {
				t.Errorf("interceptor(%s) = %v, want %v", tt.method, got, tt.want)
			}
			if called != (tt.want == codes.OK) {
				t.Errorf("handler called = %v, want %v", called, tt.want == codes.OK)
			}
			refused := strings.Contains(logs.String(), `"request_unauthenticated"`)
			if refused != (tt.want == codes.Unauthenticated) {
				t.Errorf("request_unauthenticated logged = %v, want %v", refused, tt.want == codes.Unauthenticated)
			}
			if tt.sent != "" && strings.Contains(logs.String(), tt.sent) {
				t.Errorf("the log contains the token sent: %s", logs.String())
			}
		})
	}
}

// TestRecoverUnary: a panicking API handler answers Internal and the process lives on.
func TestRecoverUnary(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	_, err := recoverUnary(logger)(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x.Y/Z"},
		func(context.Context, any) (any, error) { panic("boom") })
	if status.Code(err) != codes.Internal {
		t.Errorf("panicking handler = %v, want Internal", err)
	}
	if !strings.Contains(logs.String(), `"rpc_panic"`) || !strings.Contains(logs.String(), "boom") {
		t.Errorf("no rpc_panic log line with the panic value: %s", logs.String())
	}
}
