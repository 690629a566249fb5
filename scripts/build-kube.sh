#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from their Go module sources for the chart's
# server-side dry-run test (chart/charttest/apiserver_test.go), and links them into $1
# (default .cache/bin). Each version is built once into its own cache directory:
#   .cache/kube/<KUBE_VERSION>/{kube-apiserver,kubectl}   .cache/kube/etcd-<ETCD_VERSION>/etcd
# A binary that already reports its version is not rebuilt: the second run returns at once.
#
# Neither builds with `go install mod@version` (both modules carry replace directives), and
# this machine reaches only the Go module proxy, so we copy each module out of the module
# cache and point its local replaces at the published modules:
# - k8s.io/kubernetes replaces its 31 k8s.io/* staging modules with ./staging/src/...; those
#   directories are nested modules, left out of the module zip, and each is published at
#   v0.<minor>.<patch> of the same release (k8s.io/api v0.34.0 for kubernetes v1.34.0).
# - go.etcd.io/etcd/server/v3 replaces api, client/pkg, client/v3 and pkg with ../…, published
#   at the same version.
# Measured on a 2-core machine, cold build cache, all three: 22.5 min wall while another job
# kept the load at 7-10 (19.5 CPU-minutes, so about 11 min on idle cores); issue 13 measured
# kube-apiserver ≈ 8 min and kubectl ≈ 3 min.
#
# A version that cannot be downloaded or built fails here, at once, naming the step and the
# tail of the build log — never halfway through the tests.
set -euo pipefail
kube_version="${KUBE_VERSION:-v1.34.0}"
etcd_version="${ETCD_VERSION:-v3.6.5}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$repo/.cache/bin}"
mkdir -p "$bin"
bin="$(cd "$bin" && pwd)"
kube_cache="$repo/.cache/kube/${kube_version}"
etcd_cache="$repo/.cache/kube/etcd-${etcd_version}"

fail() {
  echo "build-kube: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 20 "$2" >&2
  exit 1
}

# copy_module MODULE@VERSION DEST LOG: a writable copy of the module's source at DEST.
copy_module() {
  local mod="$1" dest="$2" log="$3" src
  [ -f "$dest/go.mod" ] && return 0
  go mod download -json "$mod" >"$log" 2>&1 || fail "$mod cannot be downloaded" "$log"
  src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$log")"
  [ -n "$src" ] || fail "$mod cannot be downloaded" "$log"
  rm -rf "$dest.tmp"
  cp -r "$src" "$dest.tmp"
  chmod -R u+w "$dest.tmp"
  echo "$dest.tmp"
}

# first_line CMD...: the first line CMD prints, or nothing. (Not `CMD | grep -q`: under
# pipefail the writer's SIGPIPE, when grep quits early, would fail a matching check.)
first_line() {
  local out
  out="$("$@" 2>/dev/null)" || true
  echo "${out%%$'\n'*}"
}

etcd_ok() { [ -x "$1" ] && [ "$(first_line "$1" --version)" = "etcd Version: ${etcd_version#v}" ]; }
apiserver_ok() { [ -x "$1" ] && [ "$(first_line "$1" --version)" = "Kubernetes ${kube_version}" ]; }
kubectl_ok() { [ -x "$1" ] && [ "$(first_line "$1" version --client)" = "Client Version: ${kube_version}" ]; }

build_etcd() {
  local out="$etcd_cache/etcd"
  etcd_ok "$out" && return 0
  mkdir -p "$etcd_cache"
  local log="$etcd_cache/build.log" work="$etcd_cache/src" tmp
  tmp="$(copy_module "go.etcd.io/etcd/server/v3@${etcd_version}" "$work" "$log")"
  if [ -n "$tmp" ]; then
    local args=() mod
    for mod in $(sed -n 's/^[[:space:]]*\(go\.etcd\.io\/[^ ]*\) => \.\.\/.*/\1/p' "$tmp/go.mod"); do
      args+=(-replace "$mod=$mod@${etcd_version}")
    done
    [ "${#args[@]}" -gt 0 ] || fail "go.etcd.io/etcd/server/v3@${etcd_version}: no ../ replaces found in go.mod"
    (cd "$tmp" && go mod edit "${args[@]}")
    mv "$tmp" "$work"
  fi
  echo "build-kube: building etcd ${etcd_version} into ${etcd_cache} (the first build takes a few minutes)" >&2
  (cd "$work" && GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -o "$out" .) >"$log" 2>&1 ||
    fail "etcd ${etcd_version}: go build failed" "$log"
  etcd_ok "$out" || fail "the built etcd does not report version ${etcd_version#v}"
}

build_kube() {
  local apiserver="$kube_cache/kube-apiserver" kubectl="$kube_cache/kubectl"
  apiserver_ok "$apiserver" && kubectl_ok "$kubectl" && return 0
  mkdir -p "$kube_cache"
  local log="$kube_cache/build.log" work="$kube_cache/src" tmp
  tmp="$(copy_module "k8s.io/kubernetes@${kube_version}" "$work" "$log")"
  if [ -n "$tmp" ]; then
    # k8s.io/kubernetes v1.X.Y ships its staging modules as v0.X.Y.
    local staging_version="v0.${kube_version#v1.}" args=() mod
    for mod in $(sed -n 's/^[[:space:]]*\(k8s\.io\/[^ ]*\) => \.\/staging\/.*/\1/p' "$tmp/go.mod"); do
      args+=(-replace "$mod=$mod@${staging_version}")
    done
    [ "${#args[@]}" -gt 0 ] || fail "k8s.io/kubernetes@${kube_version}: no ./staging replaces found in go.mod"
    (cd "$tmp" && go mod edit "${args[@]}")
    mv "$tmp" "$work"
  fi
  # What hack/lib/version.sh stamps into a release build; kubectl and the apiserver report it.
  local minor="${kube_version#v1.}"
  minor="${minor%%.*}"
  local ldflags="" pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=${kube_version} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "build-kube: building kube-apiserver and kubectl ${kube_version} into ${kube_cache} (the first build takes about 11 minutes)" >&2
  (cd "$work" && GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -ldflags "$ldflags" \
    -o "$kube_cache/" ./cmd/kube-apiserver ./cmd/kubectl) >"$log" 2>&1 ||
    fail "kubernetes ${kube_version}: go build failed" "$log"
  apiserver_ok "$apiserver" || fail "the built kube-apiserver does not report version ${kube_version}"
  kubectl_ok "$kubectl" || fail "the built kubectl does not report version ${kube_version}"
}

build_etcd
build_kube
# Relative links, as scripts/build-daprd.sh makes.
link() { ln -sfn "$(realpath -m --relative-to="$bin" "$1")" "$bin/$2"; }
link "$etcd_cache/etcd" etcd
link "$kube_cache/kube-apiserver" kube-apiserver
link "$kube_cache/kubectl" kubectl
