// Package daprconn connects a service to the gRPC API of its Dapr sidecar: where the
// sidecar listens (DAPR_GRPC_ENDPOINT or DAPR_GRPC_PORT), whether to use TLS, and the API
// token it expects.
package daprconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/taskflow/taskflow-events/internal/envconfig"
)

// Config says how to reach the sidecar. Use ReadConfig to fill it from the environment.
type Config struct {
	// Target is the gRPC target of the sidecar, from DAPR_GRPC_ENDPOINT (host:port,
	// http://host[:port] or https://host[:port], e.g. "https://dapr.example:443") or else
	// 127.0.0.1:DAPR_GRPC_PORT (50001).
	Target string
	// TLS is set when DAPR_GRPC_ENDPOINT uses https.
	TLS bool
	// APIToken is sent as dapr-api-token on every call when set (DAPR_API_TOKEN, secret).
	APIToken string
}

// apiTokenKey is the metadata key daprd checks when it runs with an API token.
const apiTokenKey = "dapr-api-token"

// ReadConfig reads DAPR_GRPC_ENDPOINT, DAPR_GRPC_PORT and DAPR_API_TOKEN, recording
// invalid values on r. DAPR_GRPC_PORT is validated even when an endpoint is set.
func ReadConfig(r *envconfig.Reader) Config {
	port := r.Int("DAPR_GRPC_PORT", 50001, 1, 65535)
	c := Config{
		Target:   net.JoinHostPort("127.0.0.1", fmt.Sprint(port)),
		APIToken: r.String("DAPR_API_TOKEN", ""),
	}
	if ep := r.String("DAPR_GRPC_ENDPOINT", ""); ep != "" {
		target, tls, err := parseEndpoint(ep)
		if err != nil {
			r.Fail("DAPR_GRPC_ENDPOINT=%q: %v", ep, err)
			return c
		}
		c.Target, c.TLS = target, tls
	}
	return c
}

// parseEndpoint accepts host:port, http://host[:port] and https://host[:port].
func parseEndpoint(ep string) (target string, tls bool, err error) {
	if !strings.Contains(ep, "://") {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return "", false, fmt.Errorf("want host:port or an http(s) URL: %w", err)
		}
		return ep, false, nil
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, errors.New("want host:port or an http(s) URL")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), u.Scheme == "https", nil
}

// New returns a go-sdk client for the sidecar without waiting for it: grpc.NewClient
// connects on first use and reconnects when the sidecar restarts (a service starts before
// its sidecar, which waits for the app's port). The caller closes it with Close.
//
// The API token is added by interceptors on the connection. go-sdk's WithAuthToken is not
// used: on a client made by NewClientWithConnection it only stores the token, because
// the interceptors that send it are installed by go-sdk's own dial functions (v1.11.0).
func New(cfg Config) (dapr.Client, error) {
	creds := insecure.NewCredentials()
	if cfg.TLS {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if cfg.APIToken != "" {
		opts = append(opts, grpc.WithChainUnaryInterceptor(unaryToken(cfg.APIToken)),
			grpc.WithChainStreamInterceptor(streamToken(cfg.APIToken)))
	}
	conn, err := grpc.NewClient(cfg.Target, opts...)
	if err != nil {
		return nil, fmt.Errorf("create dapr client for %s: %w", cfg.Target, err)
	}
	return dapr.NewClientWithConnection(conn), nil
}

func unaryToken(token string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, apiTokenKey, token), method, req, reply, cc, opts...)
	}
}

func streamToken(token string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(metadata.AppendToOutgoingContext(ctx, apiTokenKey, token), desc, cc, method, opts...)
	}
}
