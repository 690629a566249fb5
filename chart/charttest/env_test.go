package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// envRead matches the variables a service reads through internal/envconfig
// (r.String("NAME", ...), r.Required("NAME"), ...).
var envRead = regexp.MustCompile(`\br\.(?:String|Required|Duration|Int|Bool|List|URL)\("([A-Z][A-Z0-9_]*)"`)

// readVars returns the variables service key reads: its config.go plus internal/grpcapp.
func readVars(t *testing.T, key string) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	vars := map[string]bool{}
	for _, f := range []string{filepath.Join("services", key, "config.go"), filepath.Join("internal", "grpcapp", "grpcapp.go")} {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		for _, m := range envRead.FindAllStringSubmatch(string(src), -1) {
			vars[m[1]] = true
		}
	}
	if len(vars) < 6 {
		t.Fatalf("found only %d variables read by %s; has envconfig's API changed?", len(vars), key)
	}
	return vars
}

// TestEnvVarsAreReadByTheServices checks that every variable the chart's values (defaults,
// the production example, every option on) give a service is one the service reads, so a
// setting never silently does nothing. POD_NAME and POD_NAMESPACE are set for every pod.
func TestEnvVarsAreReadByTheServices(t *testing.T) {
	always := map[string]bool{"POD_NAME": true, "POD_NAMESPACE": true}
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeAll(t, render(t, c))
			for _, d := range r.Deployments {
				key := d.Labels["app.kubernetes.io/component"]
				vars := readVars(t, key)
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					if !vars[e.Name] && !always[e.Name] {
						t.Errorf("%s: env %s is set but services/%s does not read it", key, e.Name, key)
					}
				}
			}
		})
	}
}
