#!/usr/bin/env bash
# Installs the proxyless gRPC clients the end-to-end suite and the convergence benchmark run besides
# grpc-js-xds, pinned and idempotent (called by install-tools.sh):
#   - Python grpcio (gRPC C-core's xDS client) from test/proxyless/python/requirements.txt, in a venv
#     at .tools/grpcio;
#   - grpc-go's xDS client and server (google.golang.org/grpc/xds, pinned by test/proxyless/go/go.mod
#     and go.sum) built into .tools/proxyless-go/who, rebuilt only when its sources or Go change.
# Prints one line per tool saying what it did; exits non-zero with a clear message on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "install-proxyless-clients: $*" >&2; exit 1; }

PY_VENV=.tools/grpcio
PY_REQ=test/proxyless/python/requirements.txt
GRPCIO_VERSION=$(sed -n 's/^grpcio==//p' "$PY_REQ")
[ -n "$GRPCIO_VERSION" ] || fail "$PY_REQ pins no grpcio==<version>"

grpcio_ok() {
  [ -x "$PY_VENV/bin/python" ] && [ "$("$PY_VENV/bin/python" -c 'import grpc; print(grpc.__version__)' 2>/dev/null)" = "$GRPCIO_VERSION" ]
}

if grpcio_ok; then
  echo "install-proxyless-clients: grpcio $GRPCIO_VERSION already in $PY_VENV (skipped)"
else
  python=$(command -v python3 || true)
  [ -n "$python" ] || fail "python3 not found; it is needed for grpcio==$GRPCIO_VERSION"
  rm -rf "$PY_VENV"
  mkdir -p .tools
  "$python" -m venv "$PY_VENV" || fail "python3 -m venv $PY_VENV failed (install the python3-venv package)"
  "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PY_REQ" || fail "pip install -r $PY_REQ failed"
  grpcio_ok || fail "$PY_VENV: import grpc does not report $GRPCIO_VERSION"
  echo "install-proxyless-clients: installed grpcio $GRPCIO_VERSION in $PY_VENV"
fi

GO_SRC=test/proxyless/go
GO_OUT=.tools/proxyless-go
go=$(command -v go || true)
[ -n "$go" ] || fail "go not found; it is needed to build the grpc-go client ($GO_SRC)"
GRPC_GO_VERSION=$(sed -n 's/^require google.golang.org\/grpc \(v[^ ]*\)$/\1/p' "$GO_SRC/go.mod")
[ -n "$GRPC_GO_VERSION" ] || fail "$GO_SRC/go.mod pins no google.golang.org/grpc version"
# The build is reused while its inputs (sources, module pins, Go itself) are the same.
stamp=$(cat "$GO_SRC"/go.mod "$GO_SRC"/go.sum "$GO_SRC"/*.go <("$go" version) | sha256sum | cut -d' ' -f1)
if [ -x "$GO_OUT/who" ] && [ "$(cat "$GO_OUT/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "install-proxyless-clients: grpc-go $GRPC_GO_VERSION client already built at $GO_OUT/who (skipped)"
else
  mkdir -p "$GO_OUT"
  (cd "$GO_SRC" && GOFLAGS=-mod=readonly "$go" build -o "../../../$GO_OUT/who.tmp" .) || fail "go build in $GO_SRC failed"
  mv "$GO_OUT/who.tmp" "$GO_OUT/who"
  echo "$GRPC_GO_VERSION" > "$GO_OUT/grpc-version"
  echo "$stamp" > "$GO_OUT/stamp"
  echo "install-proxyless-clients: built grpc-go $GRPC_GO_VERSION client and server at $GO_OUT/who ($("$go" version | cut -d' ' -f3))"
fi
