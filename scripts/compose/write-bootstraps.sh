#!/bin/sh
# Runs in the one-shot "bootstrap" service of docker-compose.yml (crossmesh image, as the same
# unprivileged user as the server), after crossmesh is healthy and before any Envoy starts.
#
# For every Envoy it runs `crossmesh bootstrap`, which mints a token bound to that node id with the
# signing key kept beside the CA (the "ca" volume) and inlines the mesh root, and writes the result
# to /bootstraps/<envoy service>/envoy.yaml in the "bootstraps" volume. Each Envoy mounts only its
# own subdirectory, so no proxy can read another node's token.
#
# envoy-configs/<envoy service>.yaml is the committed copy of each file with the two run-time values
# (token, root) replaced by REPLACED-AT-START; test/compose checks that the lines below, the Envoy
# services of docker-compose.yml and those files agree.
set -eu

XDS_ADDRESS=crossmesh:18000
# Envoy cannot refresh a token: this one outlives any demo session; `docker compose up` mints new ones.
TOKEN_TTL=720h
# Paths in the container (test/compose runs this script outside one, with its own).
CA_DIR=${CA_DIR:-/var/lib/crossmesh/ca}
TOPOLOGY=${TOPOLOGY:-/etc/crossmesh/topology}
OUT=${OUT:-/bootstraps}
CROSSMESH=${CROSSMESH:-crossmesh}

write() { # <envoy service> <node id> <role>
  dir="$OUT/$1"
  mkdir -p "$dir"
  $CROSSMESH bootstrap --node "$2" --role "$3" --xds-address "$XDS_ADDRESS" \
    --config "$TOPOLOGY" --ca-dir "$CA_DIR" --token-ttl "$TOKEN_TTL" > "$dir/envoy.yaml.tmp"
  mv "$dir/envoy.yaml.tmp" "$dir/envoy.yaml"
}

write cluster1-productpage-envoy     cluster1/default/productpage-v1-0             sidecar
write cluster1-details-envoy         cluster1/default/details-v1-0                 sidecar
write cluster1-reviews-v1-envoy      cluster1/default/reviews-v1-0                 sidecar
write cluster1-reviews-v2-envoy      cluster1/default/reviews-v2-0                 sidecar
write cluster1-ratings-envoy         cluster1/default/ratings-v1-0                 sidecar
write cluster1-east-west-gateway     cluster1/crossmesh-system/east-west-gateway-0 gateway
write cluster1-ingress-gateway       cluster1/crossmesh-system/ingress-gateway-0   ingress
write cluster2-reviews-v3-envoy      cluster2/default/reviews-v3-0                 sidecar
write cluster2-ratings-envoy         cluster2/default/ratings-v1-0                 sidecar
write cluster2-east-west-gateway     cluster2/crossmesh-system/east-west-gateway-0 gateway

echo "bootstrap: wrote 10 Envoy bootstraps (tokens valid for $TOKEN_TTL)"
