package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// envRead matches the variables a service reads through internal/envconfig
// (r.String("NAME", ...), r.Required("NAME"), ...) or straight from its getenv
// (getenv("NAME"), as the audit service reads AUDIT_SIGNING_KEY_FILE).
var envRead = regexp.MustCompile(`\b(?:r\.(?:String|Required|Duration|Int|Bool|List|URL)|getenv)\("([A-Z][A-Z0-9_]*)"`)

// readVars returns the variables service key reads: its config.go plus internal/grpcapp.
func readVars(t *testing.T, key string) map[string]bool {
	t.Helper()
	vars := readVarsIn(t, filepath.Join("services", key, "config.go"), filepath.Join("internal", "grpcapp", "grpcapp.go"))
	if len(vars) < 6 {
		t.Fatalf("found only %d variables read by %s; has envconfig's API changed?", len(vars), key)
	}
	return vars
}

// readVarsIn returns the variables the Go files (relative to the module root) read.
func readVarsIn(t *testing.T, files ...string) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	vars := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		for _, m := range envRead.FindAllStringSubmatch(string(src), -1) {
			vars[m[1]] = true
		}
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

// TestMigrationEnvVarsAreReadByTheAuditImage checks that every variable the migration Job
// sets is one the audit binary reads (`audit migrate` lives beside its main package, not in
// config.go), so the Job never passes a setting that does nothing.
func TestMigrationEnvVarsAreReadByTheAuditImage(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "services", "audit", "*.go"))
	if err != nil {
		t.Fatalf("list services/audit: %v", err)
	}
	var rel []string
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			rel = append(rel, strings.TrimPrefix(f, repoRoot(t)+string(filepath.Separator)))
		}
	}
	vars := readVarsIn(t, rel...)
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			j := decodeAll(t, render(t, c)).job("audit-migration")
			if j == nil {
				t.Fatalf("no audit migration Job")
			}
			for _, e := range j.Spec.Template.Spec.Containers[0].Env {
				if !vars[e.Name] {
					t.Errorf("migration Job: env %s is set but services/audit does not read it", e.Name)
				}
			}
		})
	}
}
