package grpcapp

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// tokenExempt lists the methods that never need APP_API_TOKEN. daprd (1.16+) sends
// dapr-api-token with every event (OnTopicEvent, bulk) and on service invocation, but
// not on ListTopicSubscriptions nor on its app health probe (measured against every
// supported daprd: internal/daprsub TestDaprdRuntimeBehaviour); those two are read-only.
// kubelet's grpc.health.v1 probe cannot send a token either. Everything else, reflection
// included, needs the token once it is set.
var tokenExempt = []string{
	"/dapr.proto.runtime.v1.AppCallback/ListTopicSubscriptions",
	"/dapr.proto.runtime.v1.AppCallbackHealthCheck/HealthCheck",
	"/grpc.health.v1.Health/",
}

func exempt(method string) bool {
	for _, p := range tokenExempt {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// checkToken verifies the dapr-api-token metadata against token for non-exempt methods.
func checkToken(ctx context.Context, method, token string) error {
	if token == "" || exempt(method) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, got := range md.Get("dapr-api-token") {
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "missing or wrong dapr-api-token (APP_API_TOKEN is set)")
}

// logRefusal logs a refused call: method and caller, never the token sent. A daprd whose
// token differs from APP_API_TOKEN shows up here on every delivery attempt.
func logRefusal(ctx context.Context, logger *slog.Logger, method string) {
	from := ""
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	logger.WarnContext(ctx, "request_unauthenticated", "method", method, "peer", from,
		"reason", "missing or wrong dapr-api-token")
}

func tokenUnary(token string, logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := checkToken(ctx, info.FullMethod, token); err != nil {
			logRefusal(ctx, logger, info.FullMethod)
			return nil, err
		}
		return h(ctx, req)
	}
}

func tokenStream(token string, logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := checkToken(ss.Context(), info.FullMethod, token); err != nil {
			logRefusal(ss.Context(), logger, info.FullMethod)
			return err
		}
		return h(srv, ss)
	}
}
