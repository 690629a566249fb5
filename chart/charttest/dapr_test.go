package charttest

import (
	"slices"
	"strings"
	"testing"

	"github.com/dapr/dapr/pkg/scopes"

	"github.com/taskflow/taskflow-events/internal/wire"
)

func TestPubsubComponent(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeAll(t, render(t, c))
			comp := r.component("taskflow-pubsub")
			if comp == nil {
				t.Fatalf("no Component taskflow-pubsub")
			}
			if comp.Spec.Type != "pubsub.kafka" || comp.Spec.Version != "v1" {
				t.Errorf("Component type, version = %s, %s, want pubsub.kafka, v1", comp.Spec.Type, comp.Spec.Version)
			}
			want := map[string]string{"consumerGroup": "{appID}", "authType": "", "version": "", "brokers": ""}
			for name, value := range want {
				m, ok := comp.meta(name)
				switch {
				case !ok:
					t.Errorf("Component metadata %s missing", name)
				case value != "" && m.Value != value:
					t.Errorf("Component metadata %s = %q, want %q", name, m.Value, value)
				}
			}
			brokers, _ := comp.meta("brokers")
			for _, b := range strings.Split(brokers.Value, ",") {
				if b == "" || strings.ContainsAny(b, " []") {
					t.Errorf("brokers = %q, want a comma-separated host:port list", brokers.Value)
				}
			}
		})
	}
}

// TestWebsocketPerPodConsumerGroup checks that every websocket replica gets every update:
// its pub/sub Component (pubsub.kafka fixes the group at component init) uses the pod's
// name as consumer group, starts new groups at the newest offset, is scoped to the
// websocket app, and the app is told its pod name. The group comes from the Component
// alone: the service reads no consumer-group variable, so the chart sets none by default.
func TestWebsocketPerPodConsumerGroup(t *testing.T) {
	r := decodeAll(t, render(t, renderCases[0]))
	d := r.deployment("websocket")
	if d == nil {
		t.Fatalf("no websocket Deployment")
	}
	app := d.Spec.Template.Spec.Containers[0]
	pubsub := envValue(app, "PUBSUB_NAME")
	comp := r.component(pubsub)
	if comp == nil {
		t.Fatalf("websocket PUBSUB_NAME = %q, not a rendered Component", pubsub)
	}
	if m, _ := comp.meta("consumerGroup"); m.Value != "{podName}" {
		t.Errorf("Component %s consumerGroup = %q, want {podName}", pubsub, m.Value)
	}
	if m, _ := comp.meta("initialOffset"); m.Value != "newest" {
		t.Errorf("Component %s initialOffset = %q, want newest", pubsub, m.Value)
	}
	if !slices.Equal(comp.Scopes, []string{"websocket-service"}) {
		t.Errorf("Component %s scopes = %v, want [websocket-service]", pubsub, comp.Scopes)
	}
	pod, ok := envVar(app, "POD_NAME")
	if !ok || pod.ValueFrom == nil || pod.ValueFrom.FieldRef == nil || pod.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("POD_NAME = %+v, want the downward API's metadata.name", pod)
	}
	for _, name := range []string{"SUBSCRIPTION_CONSUMER_ID", "CONSUMER_GROUP"} {
		if e, ok := envVar(app, name); ok {
			t.Errorf("%s = %+v set by default, want unset: the websocket service does not read it", name, e)
		}
	}
	// podNameEnv still works for whoever wants the pod's name under another name.
	ws := decodeAll(t, render(t, required("services.websocket.podNameEnv={INSTANCE_ID}"))).deployment("websocket")
	if got := envValue(ws.Spec.Template.Spec.Containers[0], "INSTANCE_ID"); got != "$(POD_NAME)" {
		t.Errorf("podNameEnv INSTANCE_ID = %q, want $(POD_NAME)", got)
	}
	for _, key := range []string{"audit", "notification", "recurring-task"} {
		if got := envValue(r.deployment(key).Spec.Template.Spec.Containers[0], "PUBSUB_NAME"); got != "taskflow-pubsub" {
			t.Errorf("%s PUBSUB_NAME = %q, want taskflow-pubsub", key, got)
		}
	}
}

func TestResiliencyBoundsPubsubInbound(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeAll(t, render(t, c))
			res := r.Resiliencies[0]
			pol := res.Spec.Policies
			for _, comp := range r.Components {
				target, ok := res.Spec.Targets.Components[comp.Metadata.Name]
				if !ok || target.Inbound == nil {
					t.Errorf("Resiliency has no inbound policy for Component %s", comp.Metadata.Name)
					continue
				}
				in := target.Inbound
				retry, ok := pol.Retries[in.Retry]
				// -1: a valid event is retried until delivered, never dead-lettered because
				// an app was down (README "Supported Dapr").
				if !ok || retry.MaxRetries == nil || *retry.MaxRetries != -1 {
					t.Errorf("inbound retry %q = %+v, want a defined policy retrying until delivered (maxRetries -1)", in.Retry, retry)
				}
				if _, ok := pol.CircuitBreakers[in.CircuitBreaker]; !ok {
					t.Errorf("inbound circuitBreaker %q is not defined", in.CircuitBreaker)
				}
				if _, ok := pol.Timeouts[in.Timeout]; !ok {
					t.Errorf("inbound timeout %q is not defined", in.Timeout)
				}
			}
			for _, id := range appIDs {
				if !slices.Contains(res.Scopes, id) {
					t.Errorf("Resiliency scopes = %v, want %s in them", res.Scopes, id)
				}
			}
			cfg := r.Configs[0]
			if cfg.Spec.Tracing.SamplingRate == "" || !cfg.Spec.Metric.Enabled {
				t.Errorf("Configuration tracing.samplingRate = %q, metric.enabled = %v, want set, true", cfg.Spec.Tracing.SamplingRate, cfg.Spec.Metric.Enabled)
			}
		})
	}
}

func TestServicesAndDaprResourcesToggle(t *testing.T) {
	// No Configuration at all means no Dapr access control: the chart renders that only
	// with security.allowUnauthenticated (TestRefusesUnauthenticatedRelease).
	c := required(
		"services.audit.enabled=false",
		"services.websocket.enabled=false",
		"dapr.configuration.enabled=false",
		"dapr.configuration.name=",
		"dapr.resiliency.enabled=false",
		"security.allowUnauthenticated=true",
	)
	r := decodeAll(t, render(t, c))
	if len(r.Deployments) != 2 || r.deployment("audit") != nil || r.deployment("websocket") != nil {
		t.Errorf("Deployments = %d (audit %v, websocket %v), want notification and recurring-task only",
			len(r.Deployments), r.deployment("audit") != nil, r.deployment("websocket") != nil)
	}
	if len(r.Services) != 2 || len(r.PDBs) != 2 {
		t.Errorf("Services, PDBs = %d, %d, want 2, 2", len(r.Services), len(r.PDBs))
	}
	if len(r.Components) != 1 || len(r.Resiliencies) != 0 || len(r.Configs) != 0 {
		t.Errorf("Components, Resiliencies, Configurations = %d, %d, %d, want 1, 0, 0", len(r.Components), len(r.Resiliencies), len(r.Configs))
	}
	for _, d := range r.Deployments {
		if v, ok := d.Spec.Template.Annotations["dapr.io/config"]; ok {
			t.Errorf("%s: dapr.io/config = %q without a Configuration, want none", d.Name, v)
		}
	}

	// With the Component off (the platform ships it), no brokers are needed.
	out := render(t, required("kafka.brokers=null", "dapr.pubsub.enabled=false", "dapr.websocketPubsub.enabled=false"))
	if r := decodeAll(t, out); len(r.Components) != 0 || len(r.Deployments) != 4 {
		t.Errorf("Components, Deployments = %d, %d, want 0, 4", len(r.Components), len(r.Deployments))
	}
}

// TestAuditPubsubPerTopic: the audit service subscribes each topic on its own Component
// (dapr.auditPubsub), so that pubsub.kafka's one-bulk-callback-per-Component does not
// serialise the three topics: every AUDIT_PUBSUB_* variable names a rendered Component with
// a consumer group of its own, scoped to the audit app, which may subscribe only that topic
// and publish only its audit dead-letter topic (as daprd parses the scopes). Off, the
// Components and variables are gone and the service falls back to PUBSUB_NAME.
func TestAuditPubsubPerTopic(t *testing.T) {
	vars := map[string]string{"AUDIT_PUBSUB_TASK_EVENTS": "task-events", "AUDIT_PUBSUB_REMINDERS": "reminders",
		"AUDIT_PUBSUB_TASK_UPDATES": "task-updates"}
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeAll(t, render(t, c))
			app := r.deployment("audit").Spec.Template.Spec.Containers[0]
			shared := r.component(envValue(app, "PUBSUB_NAME"))
			if shared == nil {
				t.Fatalf("audit PUBSUB_NAME names no rendered Component")
			}
			sharedGroup, _ := shared.meta("consumerGroup")
			for env, topic := range vars {
				name := envValue(app, env)
				comp := r.component(name)
				if comp == nil {
					t.Errorf("%s = %q: no such Component", env, name)
					continue
				}
				if group, _ := comp.meta("consumerGroup"); group.Value != sharedGroup.Value+"-"+topic {
					t.Errorf("%s consumerGroup = %q, want its own %q", name, group.Value, sharedGroup.Value+"-"+topic)
				}
				if !slices.Equal(comp.Scopes, []string{"audit-service"}) {
					t.Errorf("%s scopes = %v, want [audit-service]", name, comp.Scopes)
				}
				cs := readComponentScopes(*comp)
				if got := scopes.GetScopedTopics(scopes.SubscriptionScopes, "audit-service", cs.meta); !slices.Equal(got, []string{topic}) {
					t.Errorf("%s: audit-service may subscribe %v, want [%s]", name, got, topic)
				}
				dlq := wire.DeadLetter(topic, wire.SubscriberAudit)
				if got := scopes.GetScopedTopics(scopes.PublishingScopes, "audit-service", cs.meta); !slices.Equal(got, []string{dlq}) {
					t.Errorf("%s: audit-service may publish %v, want [%s]", name, got, dlq)
				}
			}
		})
	}
	r := decodeAll(t, render(t, required("dapr.auditPubsub.enabled=false")))
	app := r.deployment("audit").Spec.Template.Spec.Containers[0]
	for env := range vars {
		if e, ok := envVar(app, env); ok {
			t.Errorf("dapr.auditPubsub off: %s = %q still set", env, e.Value)
		}
	}
	for _, comp := range r.Components {
		if strings.HasPrefix(comp.Metadata.Name, "taskflow-pubsub-audit") {
			t.Errorf("dapr.auditPubsub off: Component %s still rendered", comp.Metadata.Name)
		}
	}
}
