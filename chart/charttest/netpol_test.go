package charttest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// daprdInternalPort is where a daprd receives service invocation from other sidecars.
const daprdInternalPort = 50002

// TestNetworkPolicies checks each service's NetworkPolicy admits exactly what values say
// must reach the pod: the callers' sidecars on daprd's internal port (security.
// accessControl.callers), the scraper on the metrics ports, the ingress controller on the
// websocket HTTP port; never the app's gRPC port nor daprd's API ports, and no rule without
// a source (which would admit everyone).
func TestNetworkPolicies(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergedValues(t, c)
			r := decodeAll(t, render(t, c))
			grpcPort := toInt(t, lookup(vals, "ports", "grpc"))
			for key := range appIDs {
				d, np := r.deployment(key), r.netpol(key)
				if d == nil || np == nil {
					t.Fatalf("%s: Deployment %v, NetworkPolicy %v: want both", key, d != nil, np != nil)
				}
				if !selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) || len(np.Spec.PodSelector.MatchExpressions) > 0 {
					t.Errorf("%s: NetworkPolicy selector %v does not select the Deployment's pods %v", np.Name, np.Spec.PodSelector, d.Spec.Template.Labels)
				}
				got := ingressByPort(t, np)
				for _, closed := range append([]int{grpcPort}, 3500, 3501, 50001) {
					if peers, ok := got[closed]; ok {
						t.Errorf("%s: port %d open to %s, want closed (daprd and kubelet reach it from inside the pod or the node)", np.Name, closed, peers)
					}
				}
				if diff := cmp.Diff(wantIngress(t, vals, key), got); diff != "" {
					t.Errorf("%s: ingress by port (-want +got):\n%s", np.Name, diff)
				}
				checkEgress(t, vals, key, np)
			}
		})
	}
}

// ingressByPort flattens a policy's ingress rules into port -> sorted peers (as YAML).
func ingressByPort(t *testing.T, np *networkingv1.NetworkPolicy) map[int][]string {
	t.Helper()
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("%s: policyTypes %v lack Ingress", np.Name, np.Spec.PolicyTypes)
	}
	out := map[int][]string{}
	for _, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 || len(rule.Ports) == 0 {
			t.Errorf("%s: ingress rule %+v has no source or no port: it admits every source or port", np.Name, rule)
			continue
		}
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.IntValue() == 0 || p.EndPort != nil || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
				t.Errorf("%s: ingress port %+v, want one numbered TCP port", np.Name, p)
				continue
			}
			for _, peer := range rule.From {
				out[p.Port.IntValue()] = append(out[p.Port.IntValue()], peerString(t, peer))
			}
		}
	}
	for _, peers := range out {
		sort.Strings(peers)
	}
	return out
}

func peerString(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatalf("marshal peer: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// wantIngress is what values say may reach service key's pods, by port.
func wantIngress(t *testing.T, vals map[string]any, key string) map[int][]string {
	t.Helper()
	want := map[int][]string{}
	add := func(port int, peer any) {
		// Through the API type, so both sides print the same way.
		var p networkingv1.NetworkPolicyPeer
		b, _ := yaml.Marshal(peer)
		if err := yaml.UnmarshalStrict(b, &p); err != nil {
			t.Fatalf("values peer %v: %v", peer, err)
		}
		want[port] = append(want[port], peerString(t, p))
	}
	ns, _ := lookup(vals, "security", "accessControl", "namespace").(string)
	callers, _ := lookup(vals, "security", "accessControl", "callers", key).([]any)
	for _, c := range callers {
		add(daprdInternalPort, map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": fmtOr(lookup(c, "namespace"), fmtOr(ns, "taskflow"))}},
			"podSelector":       map[string]any{"matchLabels": map[string]any{"dapr.io/app-id": lookup(c, "appId")}},
		})
	}
	metrics, _ := lookup(vals, "security", "networkPolicy", "metricsFrom").([]any)
	for _, peer := range metrics {
		add(toInt(t, lookup(vals, "ports", "metrics")), peer)
		add(toInt(t, lookup(vals, "dapr", "metricsPort")), peer)
	}
	if key == "websocket" {
		ws, _ := lookup(vals, "security", "networkPolicy", "websocketFrom").([]any)
		for _, peer := range ws {
			add(toInt(t, lookup(vals, "services", "websocket", "httpPort")), peer)
		}
	}
	for _, peers := range want {
		sort.Strings(peers)
	}
	return want
}

// checkEgress: open unless security.networkPolicy.egress.enabled; then DNS, the Dapr control
// plane, the Task API's sidecar for recurring-task and every rule of values.
func checkEgress(t *testing.T, vals map[string]any, key string, np *networkingv1.NetworkPolicy) {
	t.Helper()
	restricted := slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	if on := lookup(vals, "security", "networkPolicy", "egress", "enabled") == true; on != restricted {
		t.Errorf("%s: egress restricted = %v, want %v (security.networkPolicy.egress.enabled)", np.Name, restricted, on)
	}
	if !restricted {
		return
	}
	var got []string
	for _, rule := range np.Spec.Egress {
		got = append(got, peerString(t, rule))
	}
	system := fmt.Sprint(lookup(vals, "security", "networkPolicy", "egress", "daprSystemNamespace"))
	want := []string{
		"ports:\n- port: 53\n  protocol: UDP\n- port: 53\n  protocol: TCP",
		"to:\n- namespaceSelector:\n    matchLabels:\n      kubernetes.io/metadata.name: " + system,
	}
	if key == "recurring-task" {
		want = append(want, fmt.Sprintf("ports:\n- port: %d\n  protocol: TCP\nto:\n- namespaceSelector:\n    matchLabels:\n"+
			"      kubernetes.io/metadata.name: taskflow\n  podSelector:\n    matchLabels:\n      dapr.io/app-id: %s",
			daprdInternalPort, lookup(vals, "services", "recurring-task", "env", "TASK_API_APP_ID")))
	}
	rules, _ := lookup(vals, "security", "networkPolicy", "egress", "rules").([]any)
	for _, rule := range rules {
		var r networkingv1.NetworkPolicyEgressRule
		b, _ := yaml.Marshal(rule)
		if err := yaml.UnmarshalStrict(b, &r); err != nil {
			t.Fatalf("egress rule %v: %v", rule, err)
		}
		want = append(want, peerString(t, r))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: egress rules (-want +got):\n%s", np.Name, diff)
	}
}

// TestNetworkPolicyToggles: off renders none; an empty peer list closes its port instead of
// opening it to everyone.
func TestNetworkPolicyToggles(t *testing.T) {
	if r := decodeAll(t, render(t, required("security.networkPolicy.enabled=false"))); len(r.NetPols) != 0 {
		t.Errorf("NetworkPolicies = %d with security.networkPolicy.enabled=false, want 0", len(r.NetPols))
	}
	r := decodeAll(t, render(t, required("security.networkPolicy.metricsFrom=null", "security.networkPolicy.websocketFrom=null")))
	for _, np := range r.NetPols {
		if np.Spec.Ingress == nil || len(np.Spec.Ingress) != 0 {
			t.Errorf("%s: ingress = %+v with no callers, scraper or ingress controller, want [] (nothing admitted)", np.Name, np.Spec.Ingress)
		}
	}
}
