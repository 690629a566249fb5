package charttest

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerfile is a Dockerfile read into instructions (continuation lines joined).
type dockerfile struct{ lines []string }

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open Dockerfile: %v", err)
	}
	defer f.Close()
	var d dockerfile
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		d.lines = append(d.lines, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	return d
}

// stages splits the instructions at each FROM.
func (d dockerfile) stages() [][]string {
	var out [][]string
	for _, l := range d.lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], l)
		}
	}
	return out
}

func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	goMinor := regexp.MustCompile(`(?m)^go (1\.\d+)`).FindSubmatch(goMod)
	if goMinor == nil {
		t.Fatalf("no go directive in go.mod")
	}
	ports := map[string][]string{
		"audit": {"50001", "9090"}, "notification": {"50001", "9090"},
		"recurring-task": {"50001", "9090"}, "websocket": {"50001", "9090", "8080"},
	}
	pinnedGo := regexp.MustCompile(`^ARG GO_IMAGE=golang:` + regexp.QuoteMeta(string(goMinor[1])) + `\.\d+-[a-z]+$`)
	for name, wantPorts := range ports {
		t.Run(name, func(t *testing.T) {
			d := readDockerfile(t, filepath.Join(root, "services", name, "Dockerfile"))
			if !slices.ContainsFunc(d.lines, pinnedGo.MatchString) {
				t.Errorf("no golang image pinned to a %s.x patch release (ARG GO_IMAGE=golang:%s.N-<distro>)", goMinor[1], goMinor[1])
			}
			st := d.stages()
			if len(st) != 2 {
				t.Fatalf("stages = %d, want 2 (build, runtime)", len(st))
			}
			build := strings.Join(st[0], "\n")
			for _, want := range []string{
				"--mount=type=cache,target=/go/pkg/mod",
				"--mount=type=cache,target=/root/.cache/go-build",
				"CGO_ENABLED=0 go build -trimpath",
				`-X main.version=${VERSION}`,
				"ARG VERSION=",
				"./services/" + name,
			} {
				if !strings.Contains(build, want) {
					t.Errorf("build stage lacks %q", want)
				}
			}
			run := st[1]
			if run[0] != "FROM gcr.io/distroless/static-debian12:nonroot" {
				t.Errorf("runtime stage = %q, want FROM gcr.io/distroless/static-debian12:nonroot", run[0])
			}
			var copies, users, exposes []string
			for _, l := range run {
				switch f := strings.Fields(l); f[0] {
				case "COPY":
					copies = append(copies, l)
				case "USER":
					users = append(users, f[1])
				case "EXPOSE":
					exposes = append(exposes, f[1:]...)
				case "RUN", "ADD":
					t.Errorf("runtime stage runs or adds something: %q; it should hold the binary only", l)
				}
			}
			if len(copies) != 1 || !strings.HasPrefix(copies[0], "COPY --from=build /out/"+name+" ") {
				t.Errorf("runtime COPY = %q, want the one binary from the build stage", copies)
			}
			if len(users) != 1 || !strings.HasPrefix(users[0], "nonroot") {
				t.Errorf("runtime USER = %q, want nonroot", users)
			}
			slices.Sort(exposes)
			slices.Sort(wantPorts)
			if !slices.Equal(exposes, wantPorts) {
				t.Errorf("EXPOSE = %v, want %v", exposes, wantPorts)
			}
			// What the build stage copies must exist and must not be excluded by .dockerignore.
			for _, l := range st[0] {
				f := strings.Fields(l)
				if f[0] != "COPY" {
					continue
				}
				for _, src := range f[1 : len(f)-1] {
					if src == "services/"+name+"/" {
						continue // being written by the service's owner; checked by its build
					}
					if _, err := os.Stat(filepath.Join(root, src)); err != nil {
						t.Errorf("COPY source %s: %v", src, err)
					}
				}
			}
		})
	}
}

func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatalf("read .dockerignore: %v", err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, must := range []string{".git", ".cache"} {
		if !slices.Contains(patterns, must) {
			t.Errorf(".dockerignore lacks %s", must)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "gen/x.pb.go", "internal/x/x.go", "services/audit/main.go"} {
		for _, p := range patterns {
			if ok, _ := filepath.Match(strings.TrimPrefix(p, "**/"), filepath.Base(keep)); ok && !strings.HasSuffix(keep, "_test.go") {
				t.Errorf(".dockerignore pattern %q excludes build input %s", p, keep)
			}
			if strings.HasPrefix(keep, p+"/") || keep == p {
				t.Errorf(".dockerignore pattern %q excludes build input %s", p, keep)
			}
		}
	}
}
