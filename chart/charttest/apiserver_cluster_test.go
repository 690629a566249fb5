package charttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

// apiServer is a real kube-apiserver (and its etcd) on loopback, with no controllers, nodes
// or scheduler: enough for admission (Pod Security included), CRD schemas and server-side
// dry-run, which is all the chart test asks of it.
type apiServer struct {
	kubectlBin string
	kubeconfig string
	cacheDir   string // kubectl's discovery cache, fresh per server
}

// kubeBins are the binaries `make kube` (scripts/build-kube.sh) links into .cache/bin.
var kubeBins = []string{"etcd", "kube-apiserver", "kubectl"}

// startAPIServer starts etcd and kube-apiserver on free loopback ports in a temporary
// directory, waits for /readyz and writes a kubeconfig. Both processes stop with t.Cleanup.
// A missing binary fails the test with the command that builds it; it is skipped only
// under -short (`make test-unit` needs no external program).
func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	testenv.SkipShort(t, "etcd and kube-apiserver")
	bins := map[string]string{}
	for _, name := range kubeBins {
		p := filepath.Join(repoRoot(t), ".cache", "bin", name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing (%v): run `make kube` (or `make deps`) to build etcd, kube-apiserver and kubectl from module source", p, err)
		}
		bins[name] = p
	}
	dir := t.TempDir()

	etcdURL := startEtcd(t, bins["etcd"], filepath.Join(dir, "etcd"))

	token := randomToken(t)
	tokenFile := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokenFile, token+",admin,admin,system:masters\n")
	saKey := filepath.Join(dir, "sa.key")
	writeFile(t, saKey, serviceAccountKey(t))

	port := testenv.FreePort(t)
	cmd := exec.Command(bins["kube-apiserver"],
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokenFile,
		"--authorization-mode=AlwaysAllow",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
	)
	p := testenv.StartProcess(t, "kube-apiserver", cmd)

	server := "https://127.0.0.1:" + strconv.Itoa(port)
	// The serving certificate is self-signed into a temporary directory; this client only
	// ever talks to loopback.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback test server
	}}
	testenv.WaitFor(t, 90*time.Second, "kube-apiserver /readyz", func() bool {
		if p.Exited() {
			t.Fatalf("kube-apiserver exited before it was ready: %v\n%s", p.Err(), p.Tail(30))
		}
		req, _ := http.NewRequest(http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeFile(t, kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, server, token))
	return &apiServer{kubectlBin: bins["kubectl"], kubeconfig: kubeconfig, cacheDir: filepath.Join(dir, "kubectl-cache")}
}

// startEtcd runs a single-member etcd in dir and returns its client URL once it is healthy.
func startEtcd(t *testing.T, bin, dir string) string {
	t.Helper()
	client := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	peer := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(bin,
		"--name=charttest",
		"--data-dir="+dir,
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=charttest="+peer,
		"--log-level=warn",
		// Throwaway data: skipping fsync keeps CRD and namespace writes fast on a CI disk.
		"--unsafe-no-fsync",
	)
	p := testenv.StartProcess(t, "etcd", cmd)
	hc := &http.Client{Timeout: time.Second}
	testenv.WaitFor(t, 30*time.Second, "etcd /health", func() bool {
		if p.Exited() {
			t.Fatalf("etcd exited before it was healthy: %v\n%s", p.Err(), p.Tail(30))
		}
		resp, err := hc.Get(client + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return client
}

// kubectl runs kubectl against the server, with stdin if given, and returns stdout, stderr
// and the error. The environment keeps kubectl away from the developer's config and cache.
func (s *apiServer) kubectl(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	args = append([]string{"--kubeconfig=" + s.kubeconfig, "--cache-dir=" + s.cacheDir}, args...)
	cmd := exec.Command(s.kubectlBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "HOME="+filepath.Dir(s.cacheDir))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustKubectl is kubectl for setup steps: any failure ends the test.
func (s *apiServer) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, stderr, err := s.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// serviceAccountKey is a fresh ECDSA key in PEM: the apiserver signs service-account tokens
// with it and verifies them with its public half (the same file serves both flags).
func serviceAccountKey(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate service-account key: %v", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("marshal service-account key: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random token: %v", err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
