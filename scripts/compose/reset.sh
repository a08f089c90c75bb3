#!/bin/sh
# Back to the start: removes every policy the steps applied (the topology stays) and restarts
# anything step 4 stopped. `docker compose down -v` is the full reset (it also drops the CA).
. "$(dirname "$0")/lib.sh"

for f in failover.yaml access-policies.yaml traffic-shift.yaml virtual-mesh.yaml; do remove "$f"; done
# (an app started again needs its capture rules again: its "-init" service runs before its sidecar)
docker compose start cluster1-reviews-v1 cluster1-reviews-v1-init cluster1-reviews-v1-envoy cluster1-reviews-v2 cluster1-reviews-v2-init cluster1-reviews-v2-envoy
settle
tally 20
