package grpcapp

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Request size limits.
//
// grpc.MaxRecvMsgSize (16 MiB) is one cap for the whole server, sized for daprd's bulk
// deliveries (up to 10,000 events per call). Every other API is far smaller, so each
// request is also checked against the limit of its method: the longest registered prefix
// of the full method name, else DefaultRequestLimit for non-Dapr methods. A request over
// its limit is refused with ResourceExhausted before the handler runs.

// DefaultRequestLimit bounds a request to any API that has not registered its own limit.
// Dapr's AppCallback methods (daprd's deliveries) are bounded by the server cap alone.
const DefaultRequestLimit = 1 << 20

// maxRecvMsgSize is the server-wide cap.
const maxRecvMsgSize = 16 << 20

type limits struct {
	mu       sync.RWMutex
	prefixes map[string]int
}

// LimitRequests bounds the requests of the methods whose full name starts with prefix
// (e.g. "/taskflow.audit.v1.AuditService/ListEvents") to limit bytes of encoded protobuf.
func (a *App) LimitRequests(prefix string, limit int) {
	a.limits.mu.Lock()
	defer a.limits.mu.Unlock()
	a.limits.prefixes[prefix] = limit
}

func (l *limits) of(method string) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	best, limit := -1, 0
	for p, n := range l.prefixes {
		if strings.HasPrefix(method, p) && len(p) > best {
			best, limit = len(p), n
		}
	}
	switch {
	case best >= 0:
		return limit
	case strings.HasPrefix(method, "/dapr.proto.runtime.v1."):
		return maxRecvMsgSize
	}
	return DefaultRequestLimit
}

func sizeUnary(l *limits, logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if n, limit := proto.Size(m), l.of(info.FullMethod); n > limit {
				logger.WarnContext(ctx, "request_too_large", "method", info.FullMethod, "bytes", n, "limit", limit)
				return nil, status.Errorf(codes.ResourceExhausted, "request is %d bytes; %s takes at most %d", n, info.FullMethod, limit)
			}
		}
		return h(ctx, req)
	}
}
