package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dapr/dapr/pkg/scopes"
	"github.com/google/go-cmp/cmp"

	"github.com/taskflow/taskflow-events/internal/wire"
)

// topicContract is what each service does on pub/sub (DESIGN.md, the services' code): the
// topics it subscribes and publishes, its subscriptions' dead-letter topics included (daprd
// publishes those on its behalf). The Task API publishes the three event topics.
var topicContract = map[string]struct{ publish, subscribe []string }{
	"notification":   {publish: []string{"task-updates", "reminders-notification-dlq"}, subscribe: []string{"reminders"}},
	"recurring-task": {publish: []string{"task-events-recurring-dlq"}, subscribe: []string{"task-events"}},
	"audit": {
		publish:   []string{"audit-checkpoints", "task-events-audit-dlq", "reminders-audit-dlq", "task-updates-audit-dlq"},
		subscribe: []string{"task-events", "reminders", "task-updates"},
	},
	"websocket": {publish: []string{"task-updates-websocket-dlq"}, subscribe: []string{"task-updates"}},
}

var dlqLiteral = regexp.MustCompile(`"([a-z0-9][a-z0-9-]*-dlq)"`)

// TestTopicContractNamesEveryDeadLetterTopic checks the dead-letter topic of every
// subscription in the wire contract (internal/wire, where the services take them from)
// against the publishing contract above, so a renamed one cannot silently lose its
// publishing scope; and that no service subscribes with a dead-letter name of its own.
func TestTopicContractNamesEveryDeadLetterTopic(t *testing.T) {
	for _, sub := range wire.Subscriptions {
		want, ok := topicContract[sub.Service]
		if !ok {
			t.Errorf("wire.Subscriptions names service %q, which has no topic contract here", sub.Service)
			continue
		}
		if !slices.Contains(want.subscribe, sub.Topic) {
			t.Errorf("services/%s subscribes to %s, not in its subscribing contract %v", sub.Service, sub.Topic, want.subscribe)
		}
		if !slices.Contains(want.publish, sub.DeadLetter) {
			t.Errorf("services/%s subscribes with dead-letter topic %s, not in its publishing contract %v", sub.Service, sub.DeadLetter, want.publish)
		}
	}
	for key, want := range topicContract {
		files, _ := filepath.Glob(filepath.Join(repoRoot(t), "services", key, "*.go"))
		usesWire := false
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			usesWire = usesWire || strings.Contains(string(src), "wire.DeadLetter")
			for _, m := range dlqLiteral.FindAllSubmatch(src, -1) {
				if dlq := string(m[1]); !slices.Contains(want.publish, dlq) {
					t.Errorf("services/%s subscribes with dead-letter topic %s, not in its publishing contract %v", key, dlq, want.publish)
				}
			}
		}
		if !usesWire {
			t.Errorf("services/%s: takes no dead-letter topic from internal/wire; has the subscription changed shape?", key)
		}
	}
}

// componentScopes is one Component's topic scoping as daprd reads it (dapr pkg/scopes).
type componentScopes struct {
	meta      map[string]string
	protected []string
	apps      []string // component scopes; empty: every app
}

func (c componentScopes) allowed(appID, field, topic string) bool {
	if len(c.apps) > 0 && !slices.Contains(c.apps, appID) {
		return false // daprd of appID does not load the Component
	}
	return operationAllowed(topic, c.protected, scopes.GetScopedTopics(field, appID, c.meta))
}

// operationAllowed is daprd's IsOperationAllowed (dapr pkg/runtime/pubsub/adapter.go, 1.17
// and 1.18) for a Component without allowedTopics: a protected topic needs a scope, and an
// app with scopes may use only those topics.
func operationAllowed(topic string, protected, scoped []string) bool {
	if !slices.Contains(protected, topic) && len(scoped) == 0 {
		return true
	}
	return slices.Contains(scoped, topic)
}

func readComponentScopes(c daprComponent) componentScopes {
	cs := componentScopes{meta: map[string]string{}, apps: c.Scopes}
	for _, m := range c.Spec.Metadata {
		cs.meta[m.Name] = m.Value
	}
	if p := cs.meta[scopes.ProtectedTopics]; p != "" {
		cs.protected = strings.Split(p, ",")
	}
	return cs
}

// TestPubsubTopicScopes checks, with daprd's own parsing of the scope strings, that every
// service may do exactly its part of the contract on the Component it uses (PUBSUB_NAME),
// dead-letter publishes included; that the Task API publishes the event topics; and that
// another app, or one of ours on another's topic, is refused.
func TestPubsubTopicScopes(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergedValues(t, c)
			r := decodeAll(t, render(t, c))
			byName := map[string]componentScopes{}
			for _, comp := range r.Components {
				byName[comp.Metadata.Name] = readComponentScopes(comp)
			}
			shared := byName[lookup(vals, "dapr", "pubsub", "name").(string)]
			for key, contract := range topicContract {
				d := r.deployment(key)
				appID := appIDs[key]
				cs, ok := byName[envValue(d.Spec.Template.Spec.Containers[0], "PUBSUB_NAME")]
				if !ok {
					t.Fatalf("%s: PUBSUB_NAME names no rendered Component", key)
				}
				for field, topics := range map[string][]string{scopes.PublishingScopes: contract.publish, scopes.SubscriptionScopes: contract.subscribe} {
					for _, topic := range topics {
						if !cs.allowed(appID, field, topic) {
							t.Errorf("%s: %s of %s refused, want allowed", appID, field, topic)
						}
					}
				}
			}
			for _, topic := range []string{"task-events", "reminders", "task-updates"} {
				if !shared.allowed("task-api", scopes.PublishingScopes, topic) {
					t.Errorf("task-api may not publish %s, want it to (the producer)", topic)
				}
			}
			refused := []struct{ app, field, topic string }{
				{"intruder", scopes.PublishingScopes, "task-events"},
				{"intruder", scopes.SubscriptionScopes, "reminders"},
				{"notification-service", scopes.PublishingScopes, "task-events"},
				{"recurring-task-service", scopes.PublishingScopes, "task-events"},
				{"audit-service", scopes.PublishingScopes, "task-updates"},
				{"task-api", scopes.SubscriptionScopes, "audit-checkpoints"},
				{"notification-service", scopes.SubscriptionScopes, "task-events"},
			}
			for _, x := range refused {
				if shared.allowed(x.app, x.field, x.topic) {
					t.Errorf("Component %s: %s of %s allowed to %s, want refused", lookup(vals, "dapr", "pubsub", "name"), x.field, x.topic, x.app)
				}
			}
		})
	}
}

// TestPubsubScopesFollowValues: the rendered scope strings are exactly values'
// dapr.pubsub.topicScopes, and the component scopes name its users.
func TestPubsubScopesFollowValues(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergedValues(t, c)
			r := decodeAll(t, render(t, c))
			want := map[string]map[string][]string{} // app-id -> field -> topics
			entry := func(appID string, v any) {
				want[appID] = map[string][]string{}
				for field, key := range map[string]string{scopes.PublishingScopes: "publish", scopes.SubscriptionScopes: "subscribe"} {
					want[appID][field] = append(want[appID][field], asList(lookup(v, key))...)
				}
			}
			for key, v := range lookup(vals, "dapr", "pubsub", "topicScopes", "services").(map[string]any) {
				entry(appIDs[key], v)
			}
			for appID, v := range lookup(vals, "dapr", "pubsub", "topicScopes", "apps").(map[string]any) {
				entry(appID, v)
			}
			got := map[string]map[string][]string{}
			var protected, named []string
			for _, comp := range r.Components {
				cs := readComponentScopes(comp)
				protected = append(protected, cs.protected...)
				for appID := range want {
					for _, field := range []string{scopes.PublishingScopes, scopes.SubscriptionScopes} {
						if topics := scopes.GetScopedTopics(field, appID, cs.meta); len(topics) > 0 {
							if got[appID] == nil {
								got[appID] = map[string][]string{}
							}
							// An app on several Components (the audit service's one per
							// topic) gets the union of their scopes.
							for _, topic := range topics {
								if !slices.Contains(got[appID][field], topic) {
									got[appID][field] = append(got[appID][field], topic)
								}
							}
						}
					}
				}
			}
			for _, fields := range want {
				for _, topics := range fields {
					named = append(named, topics...)
				}
			}
			// protectedTopics: every topic values name, so no unlisted app may use one.
			slices.Sort(protected)
			slices.Sort(named)
			if diff := cmp.Diff(slices.Compact(named), slices.Compact(protected)); diff != "" {
				t.Errorf("protectedTopics (-topics in values +rendered):\n%s", diff)
			}
			for appID, fields := range want {
				for field, topics := range fields {
					if len(topics) == 0 {
						delete(fields, field)
					}
				}
				if len(fields) == 0 {
					delete(want, appID)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("topic scopes (-values +rendered):\n%s", diff)
			}
			for _, d := range r.Deployments {
				app := d.Spec.Template.Annotations["dapr.io/app-id"]
				comp := r.component(envValue(d.Spec.Template.Spec.Containers[0], "PUBSUB_NAME"))
				if len(comp.Scopes) > 0 && !slices.Contains(comp.Scopes, app) {
					t.Errorf("Component %s scopes %v lack its user %s", comp.Metadata.Name, comp.Scopes, app)
				}
			}
		})
	}
}

func asList(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, x.(string))
	}
	return out
}
