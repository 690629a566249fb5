package charttest

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
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

var buildArgRef = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// expand substitutes ${NAME} and $NAME with the build args, as the builder does; an arg not
// given stays as written, so a reference the test does not expect shows in its message.
func expand(s string, args map[string]string) string {
	return buildArgRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := strings.Trim(ref, "${}")
		if v, ok := args[name]; ok {
			return v
		}
		return ref
	})
}

// imageBuild is one image build `make images` runs.
type imageBuild struct {
	Dockerfile string
	Args       map[string]string
	Tag        string
}

// makeImages returns the builds `make images` would run, read from `make -n` (nothing is run;
// the engine's name is a placeholder so the commands are easy to find).
func makeImages(t *testing.T, root string) []imageBuild {
	t.Helper()
	cmd := exec.Command("make", "-s", "-n", "images", "CONTAINER_ENGINE=fake-engine", "IMAGE_TAG=vtest")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n images: %v\n%s", err, out)
	}
	var builds []imageBuild
	for _, cmdline := range strings.Split(string(out), ";") {
		words := shellWords(cmdline)
		i := slices.Index(words, "fake-engine")
		if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
			continue
		}
		b := imageBuild{Args: map[string]string{}}
		for w := words[i+2:]; len(w) > 0; w = w[1:] {
			switch w[0] {
			case "-f":
				b.Dockerfile, w = w[1], w[1:]
			case "-t":
				b.Tag, w = w[1], w[1:]
			case "--build-arg":
				k, v, _ := strings.Cut(w[1], "=")
				b.Args[k], w = v, w[1:]
			}
		}
		builds = append(builds, b)
	}
	return builds
}

// shellWords splits a command line at blanks outside double quotes (all `make images` uses).
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, inWord = !inQuote, true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// serviceDirs are the directories under services/ holding a main package.
func serviceDirs(t *testing.T, root string) []string {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(root, "services", "*", "main.go"))
	if err != nil {
		t.Fatalf("glob services: %v", err)
	}
	var names []string
	for _, m := range mains {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	return names
}

// TestImages checks the one Dockerfile template against what `make images` passes it for
// every service: each build stage instruction, expanded with that service's build args,
// names files that exist and are in the build context; the tags are the chart's images.
func TestImages(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	builds := makeImages(t, root)
	var built []string
	for _, b := range builds {
		built = append(built, b.Args["SERVICE"])
	}
	if diff := cmp.Diff(serviceDirs(t, root), built); diff != "" {
		t.Fatalf("make images builds (-services/*/main.go +SERVICE args):\n%s", diff)
	}
	values := chartImages(t, root)
	wantPorts := map[string][]string{
		"audit": {"50001", "9090"}, "notification": {"50001", "9090"},
		"recurring-task": {"50001", "9090"}, "websocket": {"50001", "8080", "9090"},
	}
	ignore := dockerignore(t, root)
	for _, b := range builds {
		name := b.Args["SERVICE"]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if b.Dockerfile != "services/Dockerfile" {
				t.Errorf("make images builds %s from %q, want services/Dockerfile", name, b.Dockerfile)
			}
			if want := values.Registry + "/" + values.Repositories[name] + ":vtest"; b.Tag != want {
				t.Errorf("make images tags %s as %q, want the chart's image %q", name, b.Tag, want)
			}
			d := readDockerfile(t, filepath.Join(root, b.Dockerfile))
			st := d.stages()
			if len(st) != 2 {
				t.Fatalf("stages = %d, want 2 (build, runtime)", len(st))
			}
			for _, l := range st[0] {
				f := strings.Fields(expand(l, b.Args))
				if f[0] != "COPY" {
					continue
				}
				for _, src := range f[1 : len(f)-1] {
					if _, err := os.Stat(filepath.Join(root, src)); err != nil {
						t.Errorf("%s: COPY source: %v", l, err)
					}
					if p := ignoredBy(ignore, src); p != "" {
						t.Errorf("%s: COPY source %s is excluded by .dockerignore pattern %q", l, src, p)
					}
				}
			}
			build := expand(strings.Join(st[0], "\n"), b.Args)
			if !strings.Contains(build, " ./services/"+name) {
				t.Errorf("build stage does not build ./services/%s:\n%s", name, build)
			}
			if _, err := os.Stat(filepath.Join(root, "services", name, "main.go")); err != nil {
				t.Errorf("services/%s/main.go: %v", name, err)
			}
			var exposes []string
			for _, l := range st[1] {
				if f := strings.Fields(expand(l, b.Args)); f[0] == "EXPOSE" {
					exposes = append(exposes, f[1:]...)
				}
			}
			slices.Sort(exposes)
			if diff := cmp.Diff(wantPorts[name], exposes); diff != "" {
				t.Errorf("EXPOSE (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDockerfileTemplate checks the shape of services/Dockerfile: a pinned Go matching go.mod,
// a cached static build stamped with the version, a distroless non-root image holding only the
// binary, which is also the entrypoint.
func TestDockerfileTemplate(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	goMinor := regexp.MustCompile(`(?m)^go (1\.\d+)`).FindSubmatch(goMod)
	if goMinor == nil {
		t.Fatalf("no go directive in go.mod")
	}
	d := readDockerfile(t, filepath.Join(root, "services", "Dockerfile"))
	pinnedGo := regexp.MustCompile(`^ARG GO_IMAGE=golang:` + regexp.QuoteMeta(string(goMinor[1])) + `\.\d+-[a-z]+$`)
	if !slices.ContainsFunc(d.lines, pinnedGo.MatchString) {
		t.Errorf("no golang image pinned to a %s.x patch release (ARG GO_IMAGE=golang:%s.N-<distro>)", goMinor[1], goMinor[1])
	}
	st := d.stages()
	if len(st) != 2 {
		t.Fatalf("stages = %d, want 2 (build, runtime)", len(st))
	}
	build := strings.Join(st[0], "\n")
	for _, want := range []string{
		"ARG SERVICE\n",
		"--mount=type=cache,target=/go/pkg/mod",
		"--mount=type=cache,target=/root/.cache/go-build",
		"CGO_ENABLED=0 go build -trimpath",
		`-X main.version=${VERSION}`,
		"ARG VERSION=",
		"-o /out/service ./services/${SERVICE}",
	} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	run := st[1]
	if run[0] != "FROM gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime stage = %q, want FROM gcr.io/distroless/static-debian12:nonroot", run[0])
	}
	var copies, users, entrypoints []string
	for _, l := range run {
		switch f := strings.Fields(l); f[0] {
		case "COPY":
			copies = append(copies, l)
		case "USER":
			users = append(users, f[1])
		case "ENTRYPOINT":
			entrypoints = append(entrypoints, l)
		case "RUN", "ADD":
			t.Errorf("runtime stage runs or adds something: %q; it should hold the binary only", l)
		}
	}
	if want := []string{"COPY --from=build /out/service /service"}; !slices.Equal(copies, want) {
		t.Errorf("runtime COPY = %q, want %q", copies, want)
	}
	if want := []string{`ENTRYPOINT ["/service"]`}; !slices.Equal(entrypoints, want) {
		t.Errorf("ENTRYPOINT = %q, want %q (exec form does not expand build args)", entrypoints, want)
	}
	if len(users) != 1 || !strings.HasPrefix(users[0], "nonroot") {
		t.Errorf("runtime USER = %q, want nonroot", users)
	}
}

// stampedVersion is the VERSION the build test stamps: distinctive, so finding it in the
// binary means -X main.version took effect.
const stampedVersion = "v0.0.0-dockerfile-template-test"

// goBuildLine matches the template's go build command (after its cache mounts).
var goBuildLine = regexp.MustCompile(`CGO_ENABLED=0 go build .*`)

// TestServicesBuildLikeTheImage runs the template's own go build command for every service
// (SERVICE and VERSION substituted, the output in a temporary directory) and checks the
// binary is what the distroless image needs: static, trimmed, version stamped.
func TestServicesBuildLikeTheImage(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the four services: not in -short")
	}
	root := repoRoot(t)
	d := readDockerfile(t, filepath.Join(root, "services", "Dockerfile"))
	var cmdline string
	for _, l := range d.stages()[0] {
		if m := goBuildLine.FindString(l); m != "" {
			cmdline = m
		}
	}
	if cmdline == "" {
		t.Fatal("no CGO_ENABLED=0 go build command in the build stage")
	}
	// One at a time: each build is CPU-bound and the builds share the build cache.
	for _, name := range serviceDirs(t, root) {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "service")
			line := expand(cmdline, map[string]string{"SERVICE": name, "VERSION": stampedVersion})
			line = strings.Replace(line, "-o /out/service", "-o "+bin, 1)
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
			info, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatalf("read build info: %v", err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			for k, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true"} {
				if settings[k] != want {
					t.Errorf("build setting %s = %q, want %q", k, settings[k], want)
				}
			}
			// -trimpath keeps -ldflags out of the build info, so look for the stamped string.
			data, err := os.ReadFile(bin)
			if err != nil {
				t.Fatalf("read binary: %v", err)
			}
			if !bytes.Contains(data, []byte(stampedVersion)) {
				t.Errorf("binary does not hold the version %q: -X main.version not applied", stampedVersion)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("open binary: %v", err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("binary has a dynamic loader (PT_INTERP): distroless/static cannot run it")
				}
			}
		})
	}
}

// chartImageValues is the part of the chart's values that names the images.
type chartImageValues struct {
	Registry     string
	Repositories map[string]string
}

func chartImages(t *testing.T, root string) chartImageValues {
	t.Helper()
	var v struct {
		Image struct {
			Registry string `json:"registry"`
		} `json:"image"`
		Services map[string]struct {
			Image struct {
				Repository string `json:"repository"`
			} `json:"image"`
		} `json:"services"`
	}
	data, err := os.ReadFile(filepath.Join(root, "chart", "values.yaml"))
	if err != nil {
		t.Fatalf("read chart values: %v", err)
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("parse chart values: %v", err)
	}
	out := chartImageValues{Registry: v.Image.Registry, Repositories: map[string]string{}}
	for name, s := range v.Services {
		out.Repositories[name] = s.Image.Repository
	}
	return out
}

// dockerignore returns the patterns of .dockerignore.
func dockerignore(t *testing.T, root string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatalf("read .dockerignore: %v", err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	return patterns
}

// ignoredBy returns the pattern that excludes path (a file or a directory, slash-separated,
// relative to the context) from the build context, or "". It knows the forms .dockerignore
// uses: a path prefix and a **/ base-name glob.
func ignoredBy(patterns []string, path string) string {
	path = strings.TrimSuffix(path, "/")
	for _, p := range patterns {
		if base, ok := strings.CutPrefix(p, "**/"); ok {
			if m, _ := filepath.Match(base, filepath.Base(path)); m {
				return p
			}
			continue
		}
		if path == p || strings.HasPrefix(path, p+"/") {
			return p
		}
	}
	return ""
}

func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	t.Parallel()
	patterns := dockerignore(t, repoRoot(t))
	for _, must := range []string{".git", ".cache"} {
		if !slices.Contains(patterns, must) {
			t.Errorf(".dockerignore lacks %s", must)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "gen/x.pb.go", "internal/x/x.go", "services/audit/main.go"} {
		if p := ignoredBy(patterns, keep); p != "" {
			t.Errorf(".dockerignore pattern %q excludes build input %s", p, keep)
		}
	}
}
