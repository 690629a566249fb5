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
			name:  "migration owner credentials in a Secret the audit Deployment reads",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.migration.ownerSecret.name=taskflow-audit"}},
			wants: []string{`services.audit.migration.ownerSecret.name "taskflow-audit" is a Secret the audit Deployment reads`},
		},
		{
			name: "owner DSN given to the audit Deployment",
			c: renderCase{set: []string{"kafka.brokers=k:9092",
				"services.audit.secretEnv.AUDIT_MIGRATION_DATABASE_URL.name=db-owner",
				"services.audit.secretEnv.AUDIT_MIGRATION_DATABASE_URL.key=dsn"}},
			wants: []string{"AUDIT_MIGRATION_DATABASE_URL would give the audit Deployment the owner role"},
		},
		{
			name:  "empty runtime role",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.migration.runtimeRole="}},
			wants: []string{"/services/audit/migration/runtimeRole", "minLength"},
		},
		{
			name:  "signing key file set in env",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.env.AUDIT_SIGNING_KEY_FILE=/key"}},
			wants: []string{"services.audit: env AUDIT_SIGNING_KEY_FILE is set by the chart"},
		},
		{
			name:  "inline signing key next to the mounted one",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.env.AUDIT_SIGNING_KEY=abc"}},
			wants: []string{"services.audit: AUDIT_SIGNING_KEY is not used with the chart"},
		},
		{
			name:  "no signing key Secret",
			c:     renderCase{set: []string{"kafka.brokers=k:9092", "services.audit.signingKeySecret.name="}},
			wants: []string{"/services/audit/signingKeySecret/name"},
		},
		{
			name: "secret volume over the signing key",
			c: renderCase{set: []string{"kafka.brokers=k:9092",
				"services.audit.secretVolumes[0].name=keys",
				"services.audit.secretVolumes[0].secretName=other",
				"services.audit.secretVolumes[0].mountPath=/var/run/secrets/taskflow-audit"}},
			wants: []string{"services.audit.secretVolumes keys: the name audit-signing-key and the directory /var/run/secrets/taskflow-audit hold the signing key"},
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
