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
			c:     required("services.audit.ingress.enabled=true"),
			wants: []string{"/services/audit", "additional properties 'ingress' not allowed"},
		},
		{
			name:  "inline secret value instead of a reference",
			c:     required("services.audit.secretEnv.DATABASE_URL=postgres://u:p@db/audit"),
			wants: []string{"/services/audit/secretEnv/DATABASE_URL", "want object"},
		},
		{
			name:  "app gRPC port taken by daprd",
			c:     required("ports.grpc=50001"),
			wants: []string{"/ports/grpc", "'not' failed"},
		},
		{
			name:  "negative retries other than -1 (until delivered)",
			c:     required("dapr.resiliency.retry.maxRetries=-2"),
			wants: []string{"/dapr/resiliency/retry/maxRetries", "minimum"},
		},
		{
			name:  "variable the chart sets",
			c:     required("services.audit.env.SHUTDOWN_TIMEOUT=5s"),
			wants: []string{"services.audit: env SHUTDOWN_TIMEOUT is set by the chart"},
		},
		{
			name:  "metrics port clash with daprd",
			c:     required("dapr.metricsPort=9090"),
			wants: []string{"ports.metrics (9090) and dapr.metricsPort (9090) must differ"},
		},
		{
			name:  "migration owner credentials in a Secret the audit Deployment reads",
			c:     required("services.audit.migration.ownerSecret.name=taskflow-audit"),
			wants: []string{`services.audit.migration.ownerSecret.name "taskflow-audit" is a Secret the audit Deployment reads`},
		},
		{
			name: "owner DSN given to the audit Deployment",
			c: required("services.audit.secretEnv.AUDIT_MIGRATION_DATABASE_URL.name=db-owner",
				"services.audit.secretEnv.AUDIT_MIGRATION_DATABASE_URL.key=dsn"),
			wants: []string{"AUDIT_MIGRATION_DATABASE_URL would give the audit Deployment the owner role"},
		},
		{
			name:  "empty runtime role",
			c:     required("services.audit.migration.runtimeRole="),
			wants: []string{"/services/audit/migration/runtimeRole", "minLength"},
		},
		{
			name:  "signing key file set in env",
			c:     required("services.audit.env.AUDIT_SIGNING_KEY_FILE=/key"),
			wants: []string{"services.audit: env AUDIT_SIGNING_KEY_FILE is set by the chart"},
		},
		{
			name:  "inline signing key next to the mounted one",
			c:     required("services.audit.env.AUDIT_SIGNING_KEY=abc"),
			wants: []string{"services.audit: AUDIT_SIGNING_KEY is not used with the chart"},
		},
		{
			name:  "no signing key Secret",
			c:     required("services.audit.signingKeySecret.name="),
			wants: []string{"/services/audit/signingKeySecret/name"},
		},
		{
			name: "secret volume over the signing key",
			c: required("services.audit.secretVolumes[0].name=keys",
				"services.audit.secretVolumes[0].secretName=other",
				"services.audit.secretVolumes[0].mountPath=/var/run/secrets/taskflow-audit"),
			wants: []string{"services.audit.secretVolumes keys: the name audit-signing-key and the directory /var/run/secrets/taskflow-audit hold the signing key"},
		},
		{
			name:  "dead-letter topic outside the service's publishing scope",
			c:     required("services.recurring-task.env.DEAD_LETTER_TOPIC=recurring-dlq"),
			wants: []string{"services.recurring-task.env DEAD_LETTER_TOPIC=recurring-dlq: add recurring-dlq to dapr.pubsub.topicScopes.services.recurring-task.publish"},
		},
		{
			name:  "component scopes without a service that uses the Component",
			c:     required("dapr.pubsub.scopes={task-api,audit-service}"),
			wants: []string{"dapr.pubsub.scopes [task-api audit-service] lacks notification-service (services.notification)"},
		},
		{
			name:  "topic name that would split a scope list",
			c:     required("dapr.pubsub.topicScopes.apps.task-api.publish={a;b}"),
			wants: []string{"/dapr/pubsub/topicScopes/apps/task-api/publish/0", "does not match pattern"},
		},
		{
			name:  "callers for the websocket service, which has no API",
			c:     required("security.accessControl.callers.websocket[0].appId=x", "security.accessControl.callers.websocket[0].operations={Foo}"),
			wants: []string{"/security/accessControl/callers", "additional properties 'websocket' not allowed"},
		},
		{
			name:  "caller operation that is not a method name",
			c:     required("security.accessControl.callers.audit[0].appId=x", "security.accessControl.callers.audit[0].operations={/**}"),
			wants: []string{"/security/accessControl/callers/audit/0/operations/0", "does not match pattern"},
		},
		{
			name:  "caller without operations",
			c:     required("security.accessControl.callers.audit[0].appId=x"),
			wants: []string{"/security/accessControl/callers/audit/0", "missing property 'operations'"},
		},
		{
			name: "one caller with two trust domains",
			c: required("security.accessControl.callers.audit[0].appId=x", "security.accessControl.callers.audit[0].operations={ListEvents}",
				"security.accessControl.callers.notification[0].appId=x", "security.accessControl.callers.notification[0].operations={ListDeliveries}",
				"security.accessControl.callers.notification[0].trustDomain=other"),
			wants: []string{"app x in namespace default has two trust domains (public, other)"},
		},
		{
			name:  "SASL without a password Secret",
			c:     required("kafka.authType=password"),
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
