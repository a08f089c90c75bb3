#!/usr/bin/env bash
# Builds the real Kubernetes API server and etcd that the real-apiserver discovery tests start,
# from the Go module proxy, at pinned versions, into $KUBE_TOOLS (default .tools/kube, git-ignored):
#   - kube-apiserver from k8s.io/kubernetes $KUBERNETES_VERSION; its go.mod points every staging
#     module (k8s.io/api, apimachinery, client-go, ...) at ./staging, which a module download does
#     not carry, so a throwaway module replaces each one with its published $STAGING_VERSION;
#   - etcd from go.etcd.io/etcd/server/v3 $ETCD_VERSION (Debian's 3.4 is too old for 1.36).
# Idempotent: a stamp file records the versions built; a matching stamp and binaries skip the build.
# Go's module and build caches stay in their default places, so a rebuild is mostly cache hits.
# Prints one line per tool; exits non-zero with a clear message on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=v1.36.3
STAGING_VERSION=v0.36.3
ETCD_VERSION=v3.6.17

DEST=${KUBE_TOOLS:-.tools/kube}
BIN=$DEST/bin
STAMP=$DEST/versions

fail() { echo "build-kube: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || fail "go not found; it is needed to build kube-apiserver $KUBERNETES_VERSION and etcd $ETCD_VERSION"

want="kube-apiserver=$KUBERNETES_VERSION staging=$STAGING_VERSION etcd=$ETCD_VERSION go=$(go env GOVERSION)"
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo "build-kube: kube-apiserver $KUBERNETES_VERSION already in $BIN (skipped)"
  echo "build-kube: etcd $ETCD_VERSION already in $BIN (skipped)"
  exit 0
fi

mkdir -p "$BIN"
# Absolute, because the builds run from a temp dir.
BIN=$(cd "$BIN" && pwd)
rm -f "$STAMP"
work=$(mktemp -d "${TMPDIR:-/tmp}/crossmesh-build-kube.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Static binaries (no libc coupling); -s -w below strips symbols, which tests never need.
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
# KUBE_BUILD_JOBS=1 builds one package at a time when memory is tight (default: one per core).
build_flags=(-trimpath ${KUBE_BUILD_JOBS:+-p "$KUBE_BUILD_JOBS"})

# --- kube-apiserver -----------------------------------------------------------------------------
started=$(date +%s)
mkdir -p "$work/kube"
cd "$work/kube"
go mod init crossmesh.local/build-kube >/dev/null 2>&1
go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
k8s_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$k8s_gomod" ] || fail "could not download k8s.io/kubernetes@$KUBERNETES_VERSION's go.mod"
# The staging list comes from kubernetes' own go.mod so a new staging module is never missed;
# the sample-* ones are examples that kube-apiserver never imports and are not published.
staging=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$k8s_gomod" | grep -v '^k8s.io/sample-')
[ -n "$staging" ] || fail "no staging modules found in k8s.io/kubernetes@$KUBERNETES_VERSION's go.mod"
for m in $staging; do
  go mod edit -replace="$m=$m@$STAGING_VERSION"
done
cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
go mod tidy >tidy.log 2>&1 || fail "go mod tidy for kube-apiserver failed: $(tail -20 tidy.log)"
# A plain go build leaves the version at v0.0.0-master, and kube-apiserver derives its emulated
# version (which APIs and feature gates are on) from it: stamp it as the release build does.
major=${KUBERNETES_VERSION#v}; major=${major%%.*}
minor=${KUBERNETES_VERSION#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
go build "${build_flags[@]}" -ldflags="$ldflags" -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >build.log 2>&1 \
  || fail "go build kube-apiserver failed: $(tail -30 build.log)"
cd "$OLDPWD"
"$BIN/kube-apiserver" --version 2>&1 | grep -q "${KUBERNETES_VERSION}" \
  || fail "$BIN/kube-apiserver --version does not report $KUBERNETES_VERSION: $("$BIN/kube-apiserver" --version 2>&1 | tail -1)"
echo "build-kube: built kube-apiserver $KUBERNETES_VERSION (staging $STAGING_VERSION) in $BIN in $(( $(date +%s) - started )) s"

# --- etcd ---------------------------------------------------------------------------------------
started=$(date +%s)
mkdir -p "$work/etcd"
cd "$work/etcd"
go mod init crossmesh.local/build-etcd >/dev/null 2>&1
go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
go mod tidy >tidy.log 2>&1 || fail "go mod tidy for etcd failed: $(tail -20 tidy.log)"
go build "${build_flags[@]}" -ldflags="-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 >build.log 2>&1 \
  || fail "go build etcd failed: $(tail -30 build.log)"
cd "$OLDPWD"
"$BIN/etcd" --version 2>&1 | grep -q "etcd Version: ${ETCD_VERSION#v}" \
  || fail "$BIN/etcd --version does not report $ETCD_VERSION: $("$BIN/etcd" --version 2>&1 | head -1)"
echo "build-kube: built etcd $ETCD_VERSION in $BIN in $(( $(date +%s) - started )) s"

echo "$want" > "$STAMP"
