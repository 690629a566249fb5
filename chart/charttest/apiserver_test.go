package charttest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// dryRunNamespace is the namespace every render is applied to: the one render() passes to
// helm, so an object that ever names its namespace still matches.
const dryRunNamespace = "taskflow"

// restrictedNamespace enforces the restricted Pod Security Standard, and warns with it:
// enforce alone only judges bare Pods, while warn reports a Deployment's or a Job's pod
// template on create — and kubectl prints that as "Warning: would violate PodSecurity".
var restrictedNamespace = fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/warn-version: latest
`, dryRunNamespace)

// TestServerSideDryRun applies every render of the chart, Helm hooks included, with
// server-side dry-run to a real kube-apiserver that has Dapr's own CRDs, in a namespace
// enforcing the restricted Pod Security Standard. Any error or warning fails the render:
// that is what `helm install` would hit (or print) on a cluster running Dapr.
func TestServerSideDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver; skipped with -short")
	}
	s := startAPIServer(t)
	crds := daprCRDDir(t)
	s.mustKubectl(t, "", "create", "-f", crds)
	s.mustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
	s.mustKubectl(t, restrictedNamespace, "apply", "-f", "-")

	// Controls: each must be reported, or a clean render would prove nothing.
	controls := []struct {
		name     string
		manifest string
		want     string
	}{
		{"pod template outside restricted", unrestrictedDeployment, `would violate PodSecurity "restricted:latest"`},
		{"Dapr Component with an unknown field", componentWithUnknownField, `unknown field "spec.notAField"`},
	}
	for _, c := range controls {
		t.Run("control/"+c.name, func(t *testing.T) {
			_, problems := s.dryRun(t, c.manifest)
			if !strings.Contains(strings.Join(problems, "\n"), c.want) {
				t.Errorf("dry-run problems = %q, want one containing %q", problems, c.want)
			}
		})
	}

	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			manifest := render(t, c)
			objects := objectsIn(t, manifest)
			applied, problems := s.dryRun(t, manifest)
			for _, p := range problems {
				t.Errorf("kubectl apply --dry-run=server (%s values): %s", c.name, p)
			}
			if len(problems) == 0 && applied != len(objects) {
				t.Errorf("objects applied = %d, want %d (every object in the render: %s)", applied, len(objects), strings.Join(objects, ", "))
			}
			t.Logf("%d objects accepted: %s", applied, strings.Join(objects, ", "))
		})
	}
}

// dryRun applies manifest with server-side dry-run and strict field validation. It returns
// how many objects the server accepted and every problem: a failed apply and each line
// kubectl wrote to stderr ("Warning: ..." for warnings, "Error from server ..." for errors).
// Cluster-scoped objects need no special case: kubectl ignores -n for them.
func (s *apiServer) dryRun(t *testing.T, manifest string) (int, []string) {
	t.Helper()
	out, stderr, err := s.kubectl(t, manifest, "apply", "--dry-run=server", "--validate=strict",
		"-n", dryRunNamespace, "-f", "-")
	var problems []string
	if err != nil {
		problems = append(problems, "exit: "+err.Error())
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.TrimSpace(line) != "" {
			problems = append(problems, line)
		}
	}
	return strings.Count(out, "(server dry run)"), problems
}

// objectsIn lists "Kind/name" of every object in a multi-document manifest.
func objectsIn(t *testing.T, manifest string) []string {
	t.Helper()
	var objects []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objects
		}
		if err != nil {
			t.Fatalf("split the render into documents: %v", err)
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("parse a rendered document: %v\n%s", err, doc)
		}
		if head.Kind != "" {
			objects = append(objects, head.Kind+"/"+head.Metadata.Name)
		}
	}
}

// daprCRDDir is charts/dapr/crds of the github.com/dapr/dapr module this repository requires
// (go.mod), from the module cache: the CRDs a cluster running that Dapr release has.
func daprCRDDir(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/dapr/dapr")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	var mod struct{ Version, Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); jerr != nil || mod.Dir == "" {
		t.Fatalf("go mod download github.com/dapr/dapr: %v %s (%v)", err, mod.Error, jerr)
	}
	dir := filepath.Join(mod.Dir, "charts", "dapr", "crds")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Dapr CRDs of github.com/dapr/dapr@%s: %v", mod.Version, err)
	}
	return dir
}

// unrestrictedDeployment has a pod template with no securityContext at all: the restricted
// standard forbids it (privilege escalation, non-root, capabilities, seccomp).
const unrestrictedDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: control-unrestricted
spec:
  selector:
    matchLabels: {app: control}
  template:
    metadata:
      labels: {app: control}
    spec:
      containers:
        - name: app
          image: registry.example/control:1
`

// componentWithUnknownField is a Dapr Component with a field the CRD schema does not have.
const componentWithUnknownField = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: control-unknown-field
spec:
  type: pubsub.kafka
  version: v1
  notAField: true
  metadata: []
`
