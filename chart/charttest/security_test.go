package charttest

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRefusesUnauthenticatedRelease: the chart renders nothing that lets a caller reach an
// effect unauthenticated unless security.allowUnauthenticated says so explicitly, and then
// it names what it refuses.
func TestRefusesUnauthenticatedRelease(t *testing.T) {
	tests := []struct {
		name  string
		c     renderCase
		wants []string
		not   []string
	}{
		{
			name:  "default values without an app token",
			c:     renderCase{set: []string{"kafka.brokers=k:9092"}},
			wants: []string{"security.allowUnauthenticated=true", "dapr.appTokenSecret is empty", "services.websocket.env needs JWT_ISSUER and JWT_AUDIENCE"},
		},
		{
			name:  "token but no JWT issuer and audience",
			c:     required("services.websocket.env.JWT_ISSUER=", "services.websocket.env.JWT_AUDIENCE="),
			wants: []string{"services.websocket.env needs JWT_ISSUER and JWT_AUDIENCE"},
			not:   []string{"dapr.appTokenSecret"},
		},
		{
			name:  "JWT issuer only",
			c:     required("services.websocket.env.JWT_AUDIENCE="),
			wants: []string{"services.websocket.env needs JWT_AUDIENCE:"},
			not:   []string{"JWT_ISSUER"},
		},
		{
			name:  "annotation replacing the chart's Configuration",
			c:     required("services.audit.dapr.annotations.dapr\\.io/config=other"),
			wants: []string{"services.audit: annotation dapr.io/config would replace the chart's"},
		},
		{
			name:  "pod annotation dropping the app token",
			c:     required("defaults.podAnnotations.dapr\\.io/app-token-secret="),
			wants: []string{"annotation dapr.io/app-token-secret would replace the chart's"},
		},
		{
			name:  "no Dapr Configuration, so no access control",
			c:     required("dapr.configuration.enabled=false", "dapr.configuration.name="),
			wants: []string{"dapr.configuration: no Configuration means no Dapr access control"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr := helmFails(t, tt.c)
			for _, w := range tt.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("helm error = %s\nwant it to contain %q", stderr, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(stderr, n) {
					t.Errorf("helm error = %s\nwant no mention of %q", stderr, n)
				}
			}
		})
	}

	t.Run("allowUnauthenticated renders", func(t *testing.T) {
		r := decodeAll(t, render(t, renderCase{set: []string{"kafka.brokers=k:9092", "security.allowUnauthenticated=true"}}))
		if len(r.Deployments) != 4 {
			t.Fatalf("Deployments = %d, want 4", len(r.Deployments))
		}
		for _, d := range r.Deployments {
			if _, ok := envVar(d.Spec.Template.Spec.Containers[0], "APP_API_TOKEN"); ok {
				t.Errorf("%s: APP_API_TOKEN set without dapr.appTokenSecret", d.Name)
			}
		}
	})
	t.Run("websocket off needs no JWT settings", func(t *testing.T) {
		r := decodeAll(t, render(t, required("services.websocket.enabled=false",
			"services.websocket.env.JWT_ISSUER=", "services.websocket.env.JWT_AUDIENCE=")))
		if len(r.Deployments) != 3 {
			t.Errorf("Deployments = %d, want 3", len(r.Deployments))
		}
	})
}

// helmFails runs helm template for c, which must fail, and returns its error output.
func helmFails(t *testing.T, c renderCase) string {
	t.Helper()
	args := append([]string{"template", "taskflow-events", ".", "--kube-version", kubeVersion}, c.args()...)
	out, stderr, err := helm(t, args...)
	if err == nil {
		t.Fatalf("helm %s succeeded, want an error\n%s", strings.Join(args, " "), out)
	}
	return stderr
}

// grpcAPIs are the gRPC APIs of the services that have one, by the proto file declaring it.
var grpcAPIs = map[string]string{
	"audit":          "proto/taskflow/audit/v1/audit.proto",
	"notification":   "proto/taskflow/notification/v1/notification.proto",
	"recurring-task": "proto/taskflow/recurrence/v1/recurrence.proto",
}

var (
	protoPackage = regexp.MustCompile(`(?m)^package ([\w.]+);`)
	protoService = regexp.MustCompile(`(?m)^service (\w+) \{`)
	protoRPC     = regexp.MustCompile(`(?m)^\s*rpc (\w+)\(`)
)

// readAPI returns the full gRPC service name ("taskflow.audit.v1.AuditService") and the
// methods of service key's API, from its proto file.
func readAPI(t *testing.T, key string) (string, []string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), grpcAPIs[key]))
	if err != nil {
		t.Fatalf("read the %s API: %v", key, err)
	}
	pkg, svc := protoPackage.FindSubmatch(src), protoService.FindAllSubmatch(src, -1)
	if pkg == nil || len(svc) != 1 {
		t.Fatalf("%s: want one package and one service, got %q, %d services", grpcAPIs[key], pkg, len(svc))
	}
	var methods []string
	for _, m := range protoRPC.FindAllSubmatch(src, -1) {
		methods = append(methods, string(m[1]))
	}
	return string(pkg[1]) + "." + string(svc[0][1]), methods
}

// TestAccessControl checks the Configuration every daprd loads: default deny, one policy per
// caller with exactly the methods values give it as full gRPC method names (what daprd
// matches for a gRPC app: pkg/messaging/grpc_proxy.go passes the proxied method's full name
// to pkg/acl), nothing for the AppCallback or reflection, and every field daprd requires.
func TestAccessControl(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergedValues(t, c)
			r := decodeAll(t, render(t, c))
			if len(r.Configs) != 1 {
				t.Fatalf("Configurations = %d, want 1", len(r.Configs))
			}
			cfg := r.Configs[0]
			for _, d := range r.Deployments {
				if got := d.Spec.Template.Annotations["dapr.io/config"]; got != cfg.Metadata.Name {
					t.Errorf("%s: dapr.io/config = %q, want the Configuration %q", d.Name, got, cfg.Metadata.Name)
				}
			}
			ac := cfg.Spec.AccessControl
			trust, _ := lookup(vals, "security", "accessControl", "trustDomain").(string)
			if ac == nil || ac.DefaultAction != "deny" || ac.TrustDomain != trust {
				t.Fatalf("accessControl = %+v, want defaultAction deny, trustDomain %q", ac, trust)
			}
			want := wantPolicies(t, vals)
			got := map[string][]string{}
			for _, p := range ac.Policies {
				// daprd refuses a policy without trust domain or namespace (pkg/acl
				// ParseAccessControlSpec) and falls back to the global action without an
				// app-level one.
				if p.AppID == "" || p.TrustDomain == "" || p.Namespace == "" || p.DefaultAction != "deny" {
					t.Errorf("policy %+v: want appId, trustDomain, namespace and defaultAction deny", p)
				}
				id := p.AppID + "|" + p.Namespace + "|" + p.TrustDomain
				for _, op := range p.Operations {
					if op.Action != "allow" || len(op.HTTPVerb) != 0 {
						t.Errorf("policy %s operation %+v: want action allow and no httpVerb (unused for gRPC)", id, op)
					}
					got[id] = append(got[id], op.Name)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("accessControl policies (-want +got):\n%s", diff)
			}
		})
	}
}

// wantPolicies is what security.accessControl.callers in vals allows, per caller
// ("app|namespace|trustDomain"): full method names, checked against the proto files.
func wantPolicies(t *testing.T, vals map[string]any) map[string][]string {
	t.Helper()
	ns, _ := lookup(vals, "security", "accessControl", "namespace").(string)
	if ns == "" {
		ns = "taskflow" // render() installs into namespace taskflow
	}
	trust, _ := lookup(vals, "security", "accessControl", "trustDomain").(string)
	want := map[string][]string{}
	for _, key := range slices.Sorted(maps.Keys(grpcAPIs)) {
		api, methods := readAPI(t, key)
		callers, _ := lookup(vals, "security", "accessControl", "callers", key).([]any)
		for _, c := range callers {
			id := fmtOr(lookup(c, "appId"), "") + "|" + fmtOr(lookup(c, "namespace"), ns) + "|" + fmtOr(lookup(c, "trustDomain"), trust)
			for _, op := range lookup(c, "operations").([]any) {
				m := op.(string)
				if m != "*" && !slices.Contains(methods, m) {
					t.Errorf("callers.%s: operation %q is not a method of %s %v", key, m, api, methods)
				}
				want[id] = append(want[id], "/"+api+"/"+m)
			}
		}
	}
	return want
}

func fmtOr(v any, def string) string {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}

// TestProductionCallersReachRealMethods: the production example lets callers reach the
// APIs (an empty example would not show how), and the chart renders them.
func TestProductionCallersReachRealMethods(t *testing.T) {
	r := decodeAll(t, render(t, renderCases[1]))
	var ops []string
	for _, p := range r.Configs[0].Spec.AccessControl.Policies {
		for _, op := range p.Operations {
			ops = append(ops, op.Name)
		}
	}
	for key := range grpcAPIs {
		api, _ := readAPI(t, key)
		if !slices.ContainsFunc(ops, func(op string) bool { return strings.HasPrefix(op, "/"+api+"/") }) {
			t.Errorf("production values allow no caller on %s (%s); operations %v", key, api, ops)
		}
	}
}

// TestProbesAskTheRightHealthService: liveness asks internal/health's liveness service,
// which stays SERVING while the process serves gRPC; readiness asks the overall status,
// which follows the dependencies (checkProbes checks the rendered probes).
func TestProbesAskTheRightHealthService(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "health", "health.go"))
	if err != nil {
		t.Fatalf("read internal/health: %v", err)
	}
	m := regexp.MustCompile(`LivenessService = "(\w+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("internal/health declares no LivenessService")
	}
	vals := mergedValues(t, renderCases[0])
	if got := lookup(vals, "defaults", "probes", "liveness", "grpcService"); got != string(m[1]) {
		t.Errorf("defaults.probes.liveness.grpcService = %v, want internal/health's %q", got, m[1])
	}
	if got := lookup(vals, "defaults", "probes", "readiness", "grpcService"); got != nil && got != "" {
		t.Errorf("defaults.probes.readiness.grpcService = %v, want unset (the dependency-aware overall status)", got)
	}
}
