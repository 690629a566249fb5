package charttest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

// kubeVersion is the cluster version helm renders for: a go-installed helm defaults to
// v1.20, below the chart's kubeVersion constraint.
const kubeVersion = "1.31.0"

// repoRoot is the module root, found by walking up to go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("Getwd() = %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "chart") }

// helmBin is the pinned helm; the test fails when it is missing, and is skipped under
// -short (`make test-unit` needs no external program).
func helmBin(t *testing.T) string {
	t.Helper()
	testenv.SkipShort(t, "helm")
	bin := filepath.Join(repoRoot(t), ".cache", "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm binary missing at %s (%v): run `make tools` (GOBIN=$PWD/.cache/bin go install helm.sh/helm/v3/cmd/helm@v3.22.0)", bin, err)
	}
	return bin
}

// helm runs the helm binary in the chart directory and returns stdout, stderr and the error.
func helm(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = chartDir(t)
	// Keep helm away from the developer's config, cache and any cluster.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// renderCase is one set of values the chart must render.
type renderCase struct {
	name  string
	files []string // values files, relative to chart/
	set   []string // --set arguments
}

func (c renderCase) args() []string {
	var a []string
	for _, f := range c.files {
		a = append(a, "-f", f)
	}
	for _, s := range c.set {
		a = append(a, "--set", s)
	}
	return a
}

// requiredValues holds what the default values lack (the broker list, the app token Secret
// and the websocket service's JWT issuer and audience): the minimal example.
const requiredValues = "examples/minimal-values.yaml"

// required is a render of the default values plus requiredValues and set.
func required(set ...string) renderCase {
	return renderCase{files: []string{requiredValues}, set: set}
}

// renderCases are the values the chart is tested with: the default values with only what
// they require added; production-values.yaml is complete on its own.
var renderCases = []renderCase{
	{name: "default", files: []string{requiredValues}},
	{name: "production", files: []string{"examples/production-values.yaml"}},
	{name: "everything-optional-on", files: []string{"charttest/testdata/all-features.yaml"}},
}

// render runs helm template for c and fails the test on an error.
func render(t *testing.T, c renderCase) string {
	t.Helper()
	args := append([]string{"template", "taskflow-events", ".", "--namespace", "taskflow", "--kube-version", kubeVersion}, c.args()...)
	out, stderr, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// mergedValues is values.yaml with c's files and --set values merged over it the way helm
// coalesces them (maps merge, null deletes a key, anything else replaces).
func mergedValues(t *testing.T, c renderCase) map[string]any {
	t.Helper()
	vals := readYAMLMap(t, filepath.Join(chartDir(t), "values.yaml"))
	for _, f := range c.files {
		vals = coalesce(vals, readYAMLMap(t, filepath.Join(chartDir(t), f)))
	}
	for _, s := range c.set {
		path, value, _ := strings.Cut(s, "=")
		over := map[string]any{}
		m := over
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			next := map[string]any{}
			m[k] = next
			m = next
		}
		m[keys[len(keys)-1]] = value
		vals = coalesce(vals, over)
	}
	return vals
}

func readYAMLMap(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read values: %v", err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return m
}

func coalesce(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			out[k] = coalesce(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

// lookup walks a path of map keys through values.
func lookup(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
