#!/usr/bin/env bash
# Builds daprd from the github.com/dapr/dapr module source and installs it as $1
# (default .cache/bin/daprd). Each version is built once into its own cache directory,
# .cache/daprd/<version>/daprd, so `make test-compat DAPR_VERSION=…` can switch runtimes
# without rebuilding the default one.
#
# `go install` refuses the module (it has replace directives), so we download it, copy it
# somewhere writable and build it there with the stable components compiled in.
#
# A version that cannot be downloaded or built fails here, at once, naming the version and
# the module go reported missing — never halfway through the tests.
set -euo pipefail
version="${DAPR_VERSION:-v1.17.5}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/.cache/bin/daprd}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
# The per-version cache always lives in the repository's .cache, whatever $1 is.
cache="$repo/.cache/daprd/${version}"
built="$cache/daprd"
tags=stablecomponents
# DAPRD_PROFILING=1 builds .cache/daprd/<version>/daprd-profiling from the same source: daprd
# with block and mutex sampling on (as the services' PPROF_ADDR turns on), so its
# --enable-profiling endpoint serves block and mutex profiles; stock daprd never turns the
# sampling on and serves them empty. For profiling runs only (internal/loadtest/README.md).
if [ "${DAPRD_PROFILING:-}" = 1 ]; then
  built="$cache/daprd-profiling"
  tags+=",taskflowprofiling"
fi

fail() {
  echo "build-daprd: daprd ${version} cannot be built here: $1" >&2
  if [ -n "${2:-}" ]; then
    missing="$(grep -oE '(github\.com|golang\.org|google\.golang\.org|go\.[a-z]+\.io|k8s\.io|sigs\.k8s\.io|gopkg\.in)/[^ :@]+@v[^ :]+' "$2" | sort -u | head -5 || true)"
    [ -n "$missing" ] && echo "build-daprd: module(s) go could not get: $(echo $missing)" >&2
    tail -n 15 "$2" >&2
  fi
  exit 1
}

if [ ! -x "$built" ] || [ "$("$built" --version 2>/dev/null)" != "${version#v}" ]; then
  mkdir -p "$cache"
  log="$cache/build.log"
  if ! go mod download -json "github.com/dapr/dapr@${version}" >"$log" 2>&1; then
    fail "github.com/dapr/dapr@${version} cannot be downloaded" "$log"
  fi
  src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$log")"
  [ -n "$src" ] || fail "github.com/dapr/dapr@${version} cannot be downloaded" "$log"
  work="$cache/src"
  if [ ! -f "$work/go.mod" ]; then
    rm -rf "$work.tmp"
    cp -r "$src" "$work.tmp"
    chmod -R u+w "$work.tmp"
    # Per-version module substitutions, each because the version daprd pins is not served
    # by the module proxy this project can reach.
    case "$version" in
      v1.17.*)
        # dapr v1.17.x pins github.com/dapr/durabletask-go v0.11.1, which the proxy does not
        # serve; v0.11.0 is API-compatible for everything daprd 1.17 imports (measured: the
        # build and our whole suite pass with it).
        (cd "$work.tmp" && go mod edit -replace github.com/dapr/durabletask-go=github.com/dapr/durabletask-go@v0.11.0)
        ;;
      v1.18.*)
        # dapr v1.18.x pins github.com/dapr/durabletask-go v0.12.4 (not served; v0.12.1 is, and
        # has the backend/historysigning and backend/runtimestate/dedup packages daprd imports),
        # and its Pulsar pub/sub component needs github.com/iskorotkov/avro/v2 v2.33.1 and the
        # github.com/twmb/pulsar-client-go fork, neither served. So: durabletask-go v0.12.1, the
        # fork's replace dropped and the Pulsar component left out of this build (we use Kafka).
        # Measured: builds, `--version` 1.18.3, our whole suite passes against it.
        (cd "$work.tmp" && go mod edit -replace github.com/dapr/durabletask-go=github.com/dapr/durabletask-go@v0.12.1 \
          -dropreplace github.com/apache/pulsar-client-go)
        rm -f "$work.tmp"/cmd/daprd/components/pubsub_pulsar*.go
        ;;
    esac
    mv "$work.tmp" "$work"
  fi
  # Compiled only with the taskflowprofiling tag (DAPRD_PROFILING=1).
  cat >"$work/cmd/daprd/zz_taskflow_profiling.go" <<'GO'
//go:build taskflowprofiling

// Added by taskflow-events' scripts/build-daprd.sh: block and mutex sampling for profiling runs.
package main

import "runtime"

func init() {
	runtime.SetBlockProfileRate(10000) // a blocking event of 10 µs or more, as internal/grpcapp
	runtime.SetMutexProfileFraction(100)
}
GO
  echo "build-daprd: building $(basename "$built") ${version} into ${cache} (first build takes about 6 minutes)" >&2
  if ! (cd "$work" && GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags "$tags" \
    -ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=${version#v}" -o "$built" ./cmd/daprd) >"$log" 2>&1; then
    fail "go build failed" "$log"
  fi
  [ "$("$built" --version 2>/dev/null)" = "${version#v}" ] || fail "the built binary does not report version ${version#v}"
fi
if [ "$out" != "$built" ]; then
  # Relative, so that a clone or worktree whose .cache links to this one does not point
  # this one's links into itself.
  ln -sfn "$(realpath -m --relative-to="$(dirname "$out")" "$built")" "$out"
fi
