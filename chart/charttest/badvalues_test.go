package charttest

import (
	"strings"
	"testing"
)

// TestBadValuesFail checks that values.schema.json (or a template guard) rejects bad values
// with a message naming the problem, instead of rendering something wrong.
func TestBadValuesFail(t *testing.T) {
	tests := []struct {
		name  string
		c     renderCase
		wants []string // all must appear in helm's error output
	}{
		{
			name:  "wrong type",
			c:     renderCase{files: []string{"charttest/testdata/bad-type.yaml"}},
			wants: []string{"/services/audit/replicaCount", "got string, want integer", "/services/notification/env/SMTP_TLS", "got boolean, want string"},
		},
		{
			name:  "missing broker list with the Component enabled",
			c:     renderCase{},
			wants: []string{"/kafka/brokers", "minItems: got 0, want 1"},
		},
		{
			name:  "empty broker string with the Component enabled",
			c:     renderCase{set: []string{"kafka.brokers="}},
			wants: []string{"/kafka/brokers", "minLength: got 0, want 1"},
		},
		{
			name:  "unknown top-level key",
			c:     renderCase{files: []string{"charttest/testdata/bad-unknown-key.yaml"}},
			wants: []string{"additional properties 'replicas' not allowed"},
		},
		{
			name:  "unknown key in a service section",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.ingress.enabled=true"}},
			wants: []string{"/services/audit", "additional properties 'ingress' not allowed"},
		},
		{
			name:  "inline secret value instead of a reference",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.secretEnv.DATABASE_URL=postgres://u:p@db/audit"}},
			wants: []string{"/services/audit/secretEnv/DATABASE_URL", "want object"},
		},
		{
			name:  "app gRPC port taken by daprd",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "ports.grpc=50001"}},
			wants: []string{"/ports/grpc", "'not' failed"},
		},
		{
			name:  "negative retries other than -1 (until delivered)",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "dapr.resiliency.retry.maxRetries=-2"}},
			wants: []string{"/dapr/resiliency/retry/maxRetries", "minimum"},
		},
		{
			name:  "variable the chart sets",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.env.SHUTDOWN_TIMEOUT=5s"}},
			wants: []string{"services.audit: env SHUTDOWN_TIMEOUT is set by the chart"},
		},
		{
			name:  "metrics port clash with daprd",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "dapr.metricsPort=9090"}},
			wants: []string{"ports.metrics (9090) and dapr.metricsPort (9090) must differ"},
		},
		{
			name:  "SASL without a password Secret",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "kafka.authType=password"}},
			wants: []string{"kafka.authType password needs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"template", "taskflow-events", ".", "--kube-version", kubeVersion}, tt.c.args()...)
			out, stderr, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm %s succeeded, want an error containing %q\n%s", strings.Join(args, " "), tt.wants, out)
			}
			for _, w := range tt.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("helm %s error = %s\nwant it to contain %q", strings.Join(args, " "), stderr, w)
				}
			}
		})
	}
}
