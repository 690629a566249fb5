package devstack

import (
	"fmt"
	"maps"
	"os"
	"strconv"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

// serviceEnv is the environment of one service process in the local stack. Each service's
// README documents every variable; these are the local, embedded defaults.
func (s *Stack) serviceEnv(name string, p AppPorts, dsns map[string]string) []string {
	env := map[string]string{
		"GRPC_ADDR":        addr(p.GRPC),
		"METRICS_ADDR":     addr(p.Metrics),
		"LOG_LEVEL":        s.cfg.LogLevel,
		"SHUTDOWN_TIMEOUT": "10s",
		"DAPR_GRPC_PORT":   strconv.Itoa(p.DaprGRPC),
		"DAPR_HTTP_PORT":   strconv.Itoa(p.DaprHTTP),
	}
	if pp := s.profilePorts(p); pp[0] != 0 {
		env["PPROF_ADDR"] = addr(pp[0])
	}
	switch name {
	case "audit":
		env["DATABASE_URL"] = dsns["audit-runtime"]
		env["AUDIT_MIGRATION_DATABASE_URL"] = dsns["audit-owner"]
		env["AUDIT_SIGNING_KEY"] = DevAuditSigningKey
		env["AUDIT_CHECKPOINT_TOPIC"] = AuditCheckpointTopic
		// One pub/sub Component per topic (dev/resources/pubsub-audit.yaml).
		maps.Copy(env, localrun.AuditPubsubEnv())
	case "notification":
		env["DATABASE_URL"] = dsns["notification"]
		env["SMTP_ADDR"] = addr(s.Ports.SMTP)
		env["SMTP_TLS"] = "none"
		env["SMTP_FROM"] = "TaskFlow <reminders@taskflow.local>"
		env["WEBHOOK_SECRET"] = DevWebhookSecret
		env["WEBHOOK_ALLOW_PRIVATE"] = "true" // the demo receiver is on loopback
	case "recurring-task":
		env["TASK_API_APP_ID"] = s.cfg.TaskAPIAppID
	case "websocket":
		env["HTTP_ADDR"] = addr(p.HTTP)
		env["JWT_HS256_SECRET"] = DevJWTSecret
		env["JWT_ISSUER"] = DevJWTIssuer
		env["JWT_AUDIENCE"] = DevJWTAudience
		// `taskflow watch` and the URL `taskflow run` prints pass the dev token as
		// ?access_token=, which the service refuses unless told otherwise. Acceptable on
		// loopback with a dev secret; never in a deployment (URLs reach access logs).
		env["WS_QUERY_TOKEN"] = "true"
		// The console's page opens the dev user's WebSocket from its own origin.
		env["ALLOWED_ORIGINS"] = "http://" + addr(s.Ports.Console)
	}
	for k, v := range s.cfg.ServiceEnv {
		env[k] = v
	}
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=" + os.Getenv("TZ")}
	for k, v := range env {
		out = append(out, fmt.Sprintf("%s=%s", k, v))
	}
	return out
}
