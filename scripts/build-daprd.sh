#!/usr/bin/env bash
# Builds daprd from the github.com/dapr/dapr module source into $1 (default .cache/bin/daprd).
# `go install` refuses the module (it has replace directives), so we download it, copy it
# somewhere writable and build it there with the stable components compiled in.
set -euo pipefail
version="${DAPR_VERSION:-v1.14.0}"
out="${1:-.cache/bin/daprd}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
if [ -x "$out" ] && [ "$("$out" --version 2>/dev/null)" = "${version#v}" ]; then
  exit 0
fi
src="$(go mod download -json "github.com/dapr/dapr@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$src" ] || { echo "build-daprd: could not download github.com/dapr/dapr@${version}" >&2; exit 1; }
work="$(dirname "$out")/dapr-src-${version}"
if [ ! -f "$work/go.mod" ]; then
  rm -rf "$work.tmp"
  cp -r "$src" "$work.tmp"
  chmod -R u+w "$work.tmp"
  mv "$work.tmp" "$work"
fi
echo "build-daprd: building daprd ${version} (first build takes a few minutes)" >&2
(cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags stablecomponents \
  -ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=${version#v}" -o "$out" ./cmd/daprd)
"$out" --version >/dev/null
