package inapp

import (
	"context"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// DialSidecar returns a go-sdk client for the sidecar at addr without waiting for it: the
// connection is made on first use and re-made when the sidecar restarts (the service
// starts before its sidecar, which waits for the app's port). apiToken, when set, is sent
// as dapr-api-token on every call.
func DialSidecar(addr, apiToken string) (dapr.Client, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if apiToken != "" {
		opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
			cc *grpc.ClientConn, invoker grpc.UnaryInvoker, o ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "dapr-api-token", apiToken), method, req, reply, cc, o...)
		}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dapr sidecar client for %s: %w", addr, err)
	}
	return dapr.NewClientWithConnection(conn), nil
}
