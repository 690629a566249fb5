package devstack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

// TestDevResourcesDefineTheAuditPubsubs: every Component the audit service is told to
// subscribe on (localrun.AuditPubsubEnv, what the stack sets) is in dev/resources, a
// pubsub.kafka on the shared broker with a consumer group of its own, scoped to the audit service, and a
// target of the inbound retries; otherwise `make run` would subscribe on a Component no
// sidecar loads, or dead-letter on the first RETRY.
func TestDevResourcesDefineTheAuditPubsubs(t *testing.T) {
	t.Parallel()
	type component struct {
		Kind     string
		Metadata struct{ Name string }
		Spec     struct {
			Type     string
			Metadata []struct{ Name, Value string }
			Targets  struct {
				Components map[string]any
			}
		}
		Scopes []string
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "dev", "resources", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("dev/resources: %v, %d files", err, len(files))
	}
	components := map[string]component{}
	retried := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for doc := range strings.SplitSeq(string(b), "\n---\n") {
			var c component
			if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch c.Kind {
			case "Component":
				components[c.Metadata.Name] = c
			case "Resiliency":
				for name := range c.Spec.Targets.Components {
					retried[name] = true
				}
			}
		}
	}
	meta := func(c component) map[string]string {
		m := map[string]string{}
		for _, kv := range c.Spec.Metadata {
			m[kv.Name] = kv.Value
		}
		return m
	}
	shared, ok := components[localrun.PubsubName]
	if !ok {
		t.Fatalf("dev/resources has no %s Component", localrun.PubsubName)
	}
	// noop-subscriber, the ceiling of notification and recurring-task, takes their bulk
	// topics each on its own Component as their sidecars do (internal/loadtest/noop).
	wantScopes := func(env string) []string {
		if env == "AUDIT_PUBSUB_TASK_UPDATES" {
			return []string{"audit-service", "noop-audit"}
		}
		return []string{"audit-service", "noop-audit", "noop-subscriber"}
	}
	for env, name := range localrun.AuditPubsubEnv() {
		c, ok := components[name]
		switch {
		case !ok:
			t.Errorf("%s=%s: no such Component in dev/resources", env, name)
			continue
		case c.Spec.Type != "pubsub.kafka":
			t.Errorf("%s: type %q, want pubsub.kafka", name, c.Spec.Type)
		case !slices.Equal(c.Scopes, wantScopes(env)):
			t.Errorf("%s: scopes %v, want %v (the service and its ceilings in make bench)", name, c.Scopes, wantScopes(env))
		case !retried[name]:
			t.Errorf("%s: not a target of the resiliency policy (a RETRY would dead-letter)", name)
		}
		for _, k := range []string{"brokers", "initialOffset"} {
			if got, want := meta(c)[k], meta(shared)[k]; got != want {
				t.Errorf("%s: %s = %q, want %q as on %s", name, k, got, want, localrun.PubsubName)
			}
		}
		topic := strings.TrimPrefix(name, localrun.PubsubName+"-audit-")
		if got, want := meta(c)["consumerGroup"], meta(shared)["consumerGroup"]+"-"+topic; got != want {
			t.Errorf("%s: consumerGroup %q, want its own group %q", name, got, want)
		}
	}
}
