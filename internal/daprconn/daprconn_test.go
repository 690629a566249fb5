package daprconn

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/taskflow/taskflow-events/internal/envconfig"
)

func readConfig(env map[string]string) (Config, error) {
	r := envconfig.New(func(k string) string { return env[k] })
	c := ReadConfig(r)
	return c, r.Err()
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"defaults", nil, Config{Target: "127.0.0.1:50001"}},
		{"port", map[string]string{"DAPR_GRPC_PORT": "50011"}, Config{Target: "127.0.0.1:50011"}},
		{"token", map[string]string{"DAPR_API_TOKEN": "s3cret"}, Config{Target: "127.0.0.1:50001", APIToken: "s3cret"}},
		{"host:port endpoint", map[string]string{"DAPR_GRPC_ENDPOINT": "localhost:50002"}, Config{Target: "localhost:50002"}},
		{"IPv6 endpoint", map[string]string{"DAPR_GRPC_ENDPOINT": "[::1]:50002"}, Config{Target: "[::1]:50002"}},
		{"http endpoint", map[string]string{"DAPR_GRPC_ENDPOINT": "http://dapr.example.com"}, Config{Target: "dapr.example.com:80"}},
		{"http endpoint with port", map[string]string{"DAPR_GRPC_ENDPOINT": "http://dapr:3500"}, Config{Target: "dapr:3500"}},
		{"https endpoint", map[string]string{"DAPR_GRPC_ENDPOINT": "https://dapr.example.com"},
			Config{Target: "dapr.example.com:443", TLS: true}},
		{"https endpoint with port", map[string]string{"DAPR_GRPC_ENDPOINT": "https://dapr.example.com:8443"},
			Config{Target: "dapr.example.com:8443", TLS: true}},
		{"endpoint wins over port", map[string]string{"DAPR_GRPC_ENDPOINT": "dapr:50003", "DAPR_GRPC_PORT": "50011"},
			Config{Target: "dapr:50003"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readConfig(tt.env)
			if err != nil {
				t.Fatalf("ReadConfig error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadConfig mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string // each must appear in the error
	}{
		{"port zero", map[string]string{"DAPR_GRPC_PORT": "0"}, []string{"DAPR_GRPC_PORT"}},
		{"port too big", map[string]string{"DAPR_GRPC_PORT": "65536"}, []string{"DAPR_GRPC_PORT"}},
		{"port not a number", map[string]string{"DAPR_GRPC_PORT": "dapr"}, []string{"DAPR_GRPC_PORT"}},
		{"other scheme", map[string]string{"DAPR_GRPC_ENDPOINT": "ftp://x"}, []string{"DAPR_GRPC_ENDPOINT"}},
		{"no port", map[string]string{"DAPR_GRPC_ENDPOINT": "localhost"}, []string{"DAPR_GRPC_ENDPOINT"}},
		{"URL without host", map[string]string{"DAPR_GRPC_ENDPOINT": "https://"}, []string{"DAPR_GRPC_ENDPOINT"}},
		{"port checked with endpoint", map[string]string{"DAPR_GRPC_PORT": "0", "DAPR_GRPC_ENDPOINT": "ftp://x"},
			[]string{"DAPR_GRPC_PORT", "DAPR_GRPC_ENDPOINT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := readConfig(tt.env)
			if err == nil {
				t.Fatal("ReadConfig error = nil, want an error")
			}
			for _, name := range tt.want {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("ReadConfig error %q does not mention %s", err, name)
				}
			}
		})
	}
}

// fakeDapr records the dapr-api-token of each call.
type fakeDapr struct {
	runtimev1.UnimplementedDaprServer
	mu     sync.Mutex
	tokens []string
}

func (f *fakeDapr) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, strings.Join(md.Get(apiTokenKey), ","))
}

func (f *fakeDapr) PublishEvent(ctx context.Context, _ *runtimev1.PublishEventRequest) (*emptypb.Empty, error) {
	f.record(ctx)
	return &emptypb.Empty{}, nil
}

func (f *fakeDapr) SubscribeConfiguration(_ *runtimev1.SubscribeConfigurationRequest, s runtimev1.Dapr_SubscribeConfigurationServer) error {
	f.record(s.Context())
	return nil
}

// serve starts a fake sidecar on a loopback port and returns its address.
func serve(t *testing.T, f *fakeDapr) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	runtimev1.RegisterDaprServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestNewSendsAPIToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token string
	}{
		{"with token", "s3cret"},
		{"without token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeDapr{}
			client, err := New(Config{Target: serve(t, f), APIToken: tt.token})
			if err != nil {
				t.Fatalf("New() error: %v", err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := client.PublishEvent(ctx, "pubsub", "topic", []byte("{}")); err != nil {
				t.Fatalf("PublishEvent() = %v", err)
			}
			stream, err := client.GrpcClient().SubscribeConfiguration(ctx, &runtimev1.SubscribeConfigurationRequest{StoreName: "s"})
			if err != nil {
				t.Fatalf("SubscribeConfiguration() = %v", err)
			}
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("Recv() = %v, want EOF", err)
			}
			want := []string{tt.token, tt.token} // unary, then stream
			f.mu.Lock()
			defer f.mu.Unlock()
			if diff := cmp.Diff(want, f.tokens); diff != "" {
				t.Errorf("dapr-api-token per call mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewIsLazy(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens: the sidecar has not started yet
	client, err := New(Config{Target: addr})
	if err != nil {
		t.Fatalf("New(%s) error = %v, want nil before the sidecar is up", addr, err)
	}
	client.Close()
}

func TestNewTLS(t *testing.T) {
	t.Parallel()
	// A plaintext sidecar refuses a TLS handshake: the call must fail rather than
	// silently fall back to plaintext.
	client, err := New(Config{Target: serve(t, &fakeDapr{}), TLS: true})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.PublishEvent(ctx, "pubsub", "topic", []byte("{}")); err == nil {
		t.Error("PublishEvent() over TLS to a plaintext server = nil, want an error")
	}
}
