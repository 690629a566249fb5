package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// appIDs are the Dapr app-ids of the four services, by their section in values.
var appIDs = map[string]string{
	"notification":   "notification-service",
	"recurring-task": "recurring-task-service",
	"audit":          "audit-service",
	"websocket":      "websocket-service",
}

// daprdPorts are the ports daprd listens on inside every pod on Kubernetes.
var daprdPorts = []int{3500, 3501, 50001, 50002}

func TestHelmLintStrict(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", ".", "--kube-version", kubeVersion}, c.args()...)
			out, stderr, err := helm(t, args...)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
			}
		})
	}
}

func TestRenderedObjectsDecodeStrictly(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeAll(t, render(t, c))
			if got := len(r.Deployments); got != 4 {
				t.Errorf("Deployments = %d, want 4", got)
			}
			// A gRPC Service per service plus the websocket HTTP Service.
			if got := len(r.Services); got != 5 {
				t.Errorf("Services = %d, want 5", got)
			}
			if got := len(r.Components); got != 5 {
				t.Errorf("Dapr Components = %d, want 5 (shared, websocket per-pod, audit per topic)", got)
			}
			if len(r.Resiliencies) != 1 || len(r.Configs) != 1 {
				t.Errorf("Resiliencies, Configurations = %d, %d, want 1, 1", len(r.Resiliencies), len(r.Configs))
			}
			if got := len(r.PDBs); got != 4 {
				t.Errorf("PodDisruptionBudgets = %d, want 4", got)
			}
			if got := len(r.Jobs); got != 1 {
				t.Errorf("Jobs = %d, want 1 (the audit migration hook)", got)
			}
			if got := len(r.NetPols); got != 4 {
				t.Errorf("NetworkPolicies = %d, want 4 (one per service)", got)
			}
		})
	}
	t.Run("optional objects", func(t *testing.T) {
		r := decodeAll(t, render(t, renderCases[2]))
		if len(r.HPAs) != 4 || len(r.Ingresses) != 1 {
			t.Errorf("HPAs, Ingresses = %d, %d, want 4, 1", len(r.HPAs), len(r.Ingresses))
		}
		for _, d := range r.Deployments {
			if d.Spec.Replicas != nil {
				t.Errorf("%s: replicas = %d with an HPA, want unset", d.Name, *d.Spec.Replicas)
			}
		}
		ing := r.Ingresses[0]
		for _, k := range []string{"nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"} {
			if v, _ := strconv.Atoi(ing.Annotations[k]); v < 3600 {
				t.Errorf("Ingress annotation %s = %q, want >= 3600 for long-lived WebSockets", k, ing.Annotations[k])
			}
		}
		backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
		if !slices.ContainsFunc(r.Services, func(s *corev1.Service) bool { return s.Name == backend.Name }) {
			t.Errorf("Ingress backend %q is not a rendered Service", backend.Name)
		}
	})
}

func TestDeploymentsMatchTheirServices(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergedValues(t, c)
			r := decodeAll(t, render(t, c))
			grpcPort := toInt(t, lookup(vals, "ports", "grpc"))
			for key, appID := range appIDs {
				d := r.deployment(key)
				if d == nil {
					t.Errorf("no Deployment for %s", key)
					continue
				}
				checkDapr(t, d, appID, grpcPort, r)
				live, _ := lookup(vals, "defaults", "probes", "liveness", "grpcService").(string)
				if c.name != "everything-optional-on" && live != "liveness" {
					// Liveness must not follow dependencies: with the overall status, a database
					// outage longer than failureThreshold × periodSeconds restarts every pod.
					t.Errorf("defaults.probes.liveness.grpcService = %q, want \"liveness\"", live)
				}
				checkProbes(t, d, key, grpcPort, toInt(t, lookup(vals, "services", "websocket", "httpPort")), live)
				checkGrace(t, d)
				checkGRPCService(t, d, r, grpcPort)
			}
		})
	}
}

func checkDapr(t *testing.T, d *appsv1.Deployment, appID string, grpcPort int, r *rendered) {
	t.Helper()
	a := d.Spec.Template.Annotations
	want := map[string]string{
		"dapr.io/enabled":                 "true",
		"dapr.io/app-id":                  appID,
		"dapr.io/app-port":                strconv.Itoa(grpcPort),
		"dapr.io/app-protocol":            "grpc",
		"dapr.io/enable-app-health-check": "false", // README "Supported Dapr": components-contrib 4349
		"dapr.io/log-as-json":             "true",
		"dapr.io/config":                  r.Configs[0].Metadata.Name,
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s: annotation %s = %q, want %q", d.Name, k, a[k], v)
		}
	}
	for _, k := range []string{"dapr.io/sidecar-cpu-request", "dapr.io/sidecar-cpu-limit", "dapr.io/sidecar-memory-request", "dapr.io/sidecar-memory-limit", "dapr.io/graceful-shutdown-seconds"} {
		if a[k] == "" {
			t.Errorf("%s: annotation %s missing", d.Name, k)
		}
	}
	if slices.Contains(daprdPorts, grpcPort) {
		t.Errorf("%s: app-port %d is one of daprd's own ports %v", d.Name, grpcPort, daprdPorts)
	}
	app := d.Spec.Template.Spec.Containers[0]
	if got := containerPort(app, "grpc"); got != grpcPort {
		t.Errorf("%s: container port grpc = %d, want app-port %d", d.Name, got, grpcPort)
	}
	if got, want := envValue(app, "GRPC_ADDR"), fmt.Sprintf(":%d", grpcPort); got != want {
		t.Errorf("%s: GRPC_ADDR = %q, want %q", d.Name, got, want)
	}
	if m := strconv.Itoa(containerPort(app, "metrics")); a["dapr.io/metrics-port"] == m || envValue(app, "METRICS_ADDR") != ":"+m {
		t.Errorf("%s: daprd metrics port %q, app metrics port %s, METRICS_ADDR %q: want distinct ports and METRICS_ADDR on the app's", d.Name, a["dapr.io/metrics-port"], m, envValue(app, "METRICS_ADDR"))
	}
	if got := envValue(app, "PUBSUB_NAME"); r.component(got) == nil {
		t.Errorf("%s: PUBSUB_NAME = %q, not a rendered Component", d.Name, got)
	}
}

// checkProbes checks the probes of one Deployment; liveService is the grpc.health.v1
// service its values give the gRPC liveness probe ("" = the overall status).
func checkProbes(t *testing.T, d *appsv1.Deployment, key string, grpcPort, httpPort int, liveService string) {
	t.Helper()
	app := d.Spec.Template.Spec.Containers[0]
	grpcProbe := func(name string, p *corev1.Probe) {
		if p == nil || p.GRPC == nil {
			t.Errorf("%s: %s probe is not a gRPC probe: %+v", d.Name, name, p)
			return
		}
		if int(p.GRPC.Port) != grpcPort {
			t.Errorf("%s: %s probe port = %d, want the gRPC port %d", d.Name, name, p.GRPC.Port, grpcPort)
		}
	}
	if key != "websocket" {
		grpcProbe("liveness", app.LivenessProbe)
		grpcProbe("readiness", app.ReadinessProbe)
		if p := app.LivenessProbe; p != nil && p.GRPC != nil {
			if got := ptrString(p.GRPC.Service); got != liveService {
				t.Errorf("%s: liveness probe asks health service %q, want %q", d.Name, got, liveService)
			}
		}
		if p := app.ReadinessProbe; p != nil && p.GRPC != nil && ptrString(p.GRPC.Service) != "" {
			t.Errorf("%s: readiness probe asks health service %q, want the overall (dependency-aware) status", d.Name, ptrString(p.GRPC.Service))
		}
		return
	}
	grpcProbe("startup", app.StartupProbe)
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", app.LivenessProbe, "/healthz"}, {"readiness", app.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: %s probe is not an HTTP probe", d.Name, p.name)
			continue
		}
		port := p.probe.HTTPGet.Port.IntValue()
		if p.probe.HTTPGet.Port.StrVal != "" {
			port = containerPort(app, p.probe.HTTPGet.Port.StrVal)
		}
		if p.probe.HTTPGet.Path != p.path || port != httpPort {
			t.Errorf("%s: %s probe = %s on %d, want %s on %d", d.Name, p.name, p.probe.HTTPGet.Path, port, p.path, httpPort)
		}
	}
}

// checkGrace asserts the pod outlives the app's drain (SHUTDOWN_TIMEOUT) and daprd's.
func checkGrace(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	app := d.Spec.Template.Spec.Containers[0]
	shutdown, err := strconv.Atoi(strings.TrimSuffix(envValue(app, "SHUTDOWN_TIMEOUT"), "s"))
	if err != nil {
		t.Errorf("%s: SHUTDOWN_TIMEOUT = %q, want whole seconds", d.Name, envValue(app, "SHUTDOWN_TIMEOUT"))
	}
	daprGrace, err := strconv.Atoi(d.Spec.Template.Annotations["dapr.io/graceful-shutdown-seconds"])
	if err != nil {
		t.Errorf("%s: dapr.io/graceful-shutdown-seconds: %v", d.Name, err)
	}
	g := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if g == nil || int(*g) <= max(shutdown, daprGrace) {
		t.Errorf("%s: terminationGracePeriodSeconds = %v, want > max(SHUTDOWN_TIMEOUT %ds, daprd %ds)", d.Name, g, shutdown, daprGrace)
	}
	if daprGrace < shutdown {
		t.Errorf("%s: daprd graceful shutdown %ds < app drain %ds: in-flight answers would be lost", d.Name, daprGrace, shutdown)
	}
}

func checkGRPCService(t *testing.T, d *appsv1.Deployment, r *rendered, grpcPort int) {
	t.Helper()
	for _, s := range r.Services {
		if s.Name != d.Name {
			continue
		}
		for k, v := range s.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selector %s=%s does not select Deployment %s's pods", s.Name, k, v, d.Name)
			}
		}
		for _, p := range s.Spec.Ports {
			if p.Name == "grpc" && (p.TargetPort.StrVal != "grpc" || int(p.Port) != grpcPort || p.AppProtocol == nil || *p.AppProtocol != "grpc") {
				t.Errorf("Service %s port grpc = %+v, want port %d to target port grpc, appProtocol grpc", s.Name, p, grpcPort)
			}
		}
		return
	}
	t.Errorf("no gRPC Service named %s", d.Name)
}

func TestNoContainerRunsAsRoot(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeAll(t, render(t, c))
			for _, d := range r.Deployments {
				if d.Spec.Template.Annotations["dapr.io/sidecar-seccomp-profile-type"] != "RuntimeDefault" {
					t.Errorf("%s: daprd's seccomp profile is not RuntimeDefault", d.Name)
				}
				checkPodSecurity(t, d.Name, d.Spec.Template.Spec)
			}
			for _, j := range r.Jobs {
				checkPodSecurity(t, j.Name, j.Spec.Template.Spec)
			}
		})
	}
}

// checkPodSecurity asserts a pod and all its containers run as non-root, unprivileged, with
// a read-only root filesystem, no capabilities, the runtime's seccomp profile and resources.
func checkPodSecurity(t *testing.T, name string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod runAsNonRoot is not true", name)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile is not RuntimeDefault", name)
	}
	for _, ctr := range append(pod.InitContainers, pod.Containers...) {
		sc := ctr.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no securityContext", name, ctr.Name)
			continue
		case sc.RunAsUser != nil && *sc.RunAsUser == 0,
			sc.RunAsUser == nil && (psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0):
			t.Errorf("%s/%s: runs as uid 0 or an unset uid", name, ctr.Name)
		case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
			t.Errorf("%s/%s: runAsNonRoot false", name, ctr.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: allowPrivilegeEscalation is not false", name, ctr.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: readOnlyRootFilesystem is not true", name, ctr.Name)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s/%s: capabilities = %+v, want drop [ALL] and no add", name, ctr.Name, sc.Capabilities)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s/%s: privileged", name, ctr.Name)
		}
		if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: resources = %v, want a CPU request and a memory limit", name, ctr.Name, ctr.Resources)
		}
	}
}

// secretRef is one reference to a key of an existing Secret ("" key: the whole Secret).
type secretRef struct{ name, key string }

func TestSecretReferencesExistInValues(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergedValues(t, c)
			declared := map[secretRef]bool{}
			for key := range appIDs {
				se, _ := lookup(vals, "services", key, "secretEnv").(map[string]any)
				for _, ref := range se {
					declared[secretRef{fmt.Sprint(lookup(ref, "name")), fmt.Sprint(lookup(ref, "key"))}] = true
				}
				sv, _ := lookup(vals, "services", key, "secretVolumes").([]any)
				for _, v := range sv {
					declared[secretRef{fmt.Sprint(lookup(v, "secretName")), ""}] = true
				}
			}
			for _, p := range [][]string{{"kafka", "sasl", "passwordSecret"}, {"kafka", "tls", "caSecret"}} {
				if name, _ := lookup(vals, append(p, "name")...).(string); name != "" {
					declared[secretRef{name, fmt.Sprint(lookup(vals, append(p, "key")...))}] = true
				}
			}
			if name, _ := lookup(vals, "dapr", "appTokenSecret").(string); name != "" {
				declared[secretRef{name, ""}] = true      // dapr.io/app-token-secret
				declared[secretRef{name, "token"}] = true // every app's APP_API_TOKEN
			}
			if lookup(vals, "services", "audit", "enabled") == true {
				sk := lookup(vals, "services", "audit", "signingKeySecret")
				declared[secretRef{fmt.Sprint(lookup(sk, "name")), fmt.Sprint(lookup(sk, "key"))}] = true
				if lookup(vals, "services", "audit", "migration", "enabled") == true {
					own := lookup(vals, "services", "audit", "migration", "ownerSecret")
					declared[secretRef{fmt.Sprint(lookup(own, "name")), fmt.Sprint(lookup(own, "key"))}] = true
				}
			}

			r := decodeAll(t, render(t, c))
			used := map[secretRef]bool{}
			pods := map[string]corev1.PodTemplateSpec{}
			for _, d := range r.Deployments {
				pods[d.Name] = d.Spec.Template
			}
			for _, j := range r.Jobs {
				pods[j.Name] = j.Spec.Template
			}
			for name, pod := range pods {
				if s := pod.Annotations["dapr.io/app-token-secret"]; s != "" {
					used[secretRef{s, ""}] = true
				}
				for _, v := range pod.Spec.Volumes {
					if v.Secret == nil {
						continue
					}
					// A volume with items reads those keys only; without, the whole Secret.
					for _, it := range v.Secret.Items {
						used[secretRef{v.Secret.SecretName, it.Key}] = true
					}
					if len(v.Secret.Items) == 0 {
						used[secretRef{v.Secret.SecretName, ""}] = true
					}
				}
				for _, ctr := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
					if len(ctr.EnvFrom) > 0 {
						t.Errorf("%s: envFrom is not used by the chart", name)
					}
					for _, e := range ctr.Env {
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							used[secretRef{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key}] = true
						} else if looksSecret(e.Name) && e.Value != "" {
							t.Errorf("%s: env %s has an inline value; secrets come from Secret references", name, e.Name)
						}
					}
				}
			}
			for _, comp := range r.Components {
				for _, m := range comp.Spec.Metadata {
					if m.SecretKeyRef != nil {
						used[secretRef{m.SecretKeyRef.Name, m.SecretKeyRef.Key}] = true
						if comp.Auth == nil || comp.Auth.SecretStore != "kubernetes" {
							t.Errorf("Component %s: secretKeyRef without auth.secretStore kubernetes", comp.Metadata.Name)
						}
					}
				}
			}
			if diff := setDiff(used, declared); len(diff) > 0 {
				t.Errorf("rendered Secret references not in values: %v", diff)
			}
			if diff := setDiff(declared, used); len(diff) > 0 {
				t.Errorf("Secret references in values that nothing renders: %v", diff)
			}
			if len(used) == 0 {
				t.Errorf("no Secret reference rendered; want DATABASE_URL and the like from Secrets")
			}
		})
	}
}

func looksSecret(name string) bool {
	for _, s := range []string{"PASSWORD", "SECRET", "TOKEN", "DATABASE_URL", "PRIVATE_KEY"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

func setDiff(a, b map[secretRef]bool) []string {
	var out []string
	for r := range a {
		if !b[r] {
			out = append(out, r.name+"/"+r.key)
		}
	}
	sort.Strings(out)
	return out
}

func containerPort(c corev1.Container, name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return int(p.ContainerPort)
		}
	}
	return 0
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func toInt(t *testing.T, v any) int {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	case int64:
		return int(n)
	}
	t.Fatalf("value %v (%T) is not a number", v, v)
	return 0
}

// TestNotesRender renders NOTES.txt (helm template skips it) through a copy of the chart in
// which it is wrapped into a manifest, and checks the smoke commands are there.
func TestNotesRender(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(chartDir(t))); err != nil {
				t.Fatalf("copy chart: %v", err)
			}
			notes, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
			if err != nil {
				t.Fatalf("read NOTES.txt: %v", err)
			}
			os.Remove(filepath.Join(dir, "templates", "NOTES.txt"))
			wrapped := `{{- define "te.notesPreview" -}}` + string(notes) + `{{- end -}}`
			preview := "notes: {{ include \"te.notesPreview\" . | toJson }}\n"
			if err := os.WriteFile(filepath.Join(dir, "templates", "_notes_preview.tpl"), []byte(wrapped), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "templates", "notes-preview.yaml"), []byte(preview), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"template", "taskflow-events", dir, "--namespace", "taskflow", "--kube-version", kubeVersion,
				"--show-only", "templates/notes-preview.yaml"}, c.args()...)
			out, stderr, err := helm(t, args...)
			if err != nil {
				t.Fatalf("render NOTES.txt: %v\n%s", err, stderr)
			}
			var doc struct{ Notes string }
			if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("parse rendered notes: %v", err)
			}
			for _, want := range []string{"grpcurl -plaintext localhost:", "grpc.health.v1.Health/Check", "websocat", "/readyz",
				"AUDIT_SIGNING_KEY_FILE", "AUDIT_MIGRATION_DATABASE_URL <- secret"} {
				if !strings.Contains(doc.Notes, want) {
					t.Errorf("NOTES lack %q:\n%s", want, doc.Notes)
				}
			}
			if strings.Contains(doc.Notes, "<no value>") {
				t.Errorf("NOTES render <no value>:\n%s", doc.Notes)
			}
		})
	}
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestAppTokenReachesDaprdAndApp: with dapr.appTokenSecret, daprd sends the Secret's token
// (dapr.io/app-token-secret) and every app container requires the same key as
// APP_API_TOKEN, so the callback port refuses events that do not come from its daprd.
func TestAppTokenReachesDaprdAndApp(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergedValues(t, c)
			secret, _ := lookup(vals, "dapr", "appTokenSecret").(string)
			r := decodeAll(t, render(t, c))
			for _, d := range r.Deployments {
				app := d.Spec.Template.Spec.Containers[0]
				var ref *corev1.SecretKeySelector
				for _, e := range app.Env {
					if e.Name == "APP_API_TOKEN" && e.ValueFrom != nil {
						ref = e.ValueFrom.SecretKeyRef
					}
				}
				ann := d.Spec.Template.Annotations["dapr.io/app-token-secret"]
				switch {
				case secret == "" && (ref != nil || ann != ""):
					t.Errorf("%s: app token wired (env %v, annotation %q) without dapr.appTokenSecret", d.Name, ref, ann)
				case secret != "" && (ref == nil || ref.Name != secret || ref.Key != "token" || ann != secret):
					t.Errorf("%s: APP_API_TOKEN from %v, dapr.io/app-token-secret %q; want both from Secret %q key token", d.Name, ref, ann, secret)
				}
			}
		})
	}
}
