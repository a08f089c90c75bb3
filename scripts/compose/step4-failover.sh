#!/bin/sh
# Step 4: failover. Replaces the traffic shift by the seed's outlier detection + FailoverService
# (cluster1's reviews first, then cluster2's), then stops cluster1's reviews v1 and v2.
#
# Expected output:
#   while cluster1's reviews run: everything stays in cluster1
#      ~10 "reviews v1 (cluster1)"
#      ~10 "reviews v2 (cluster1)"
#   after `docker compose stop` of cluster1's reviews: Envoy ejects the dead endpoints (outlier
#   detection, one error) and fails over to cluster2 through its east-west gateway; the first one or
#   two requests may still see the failure:
#       ~1 "reviews failed: HTTP 503 upstream connect error or disconnect/reset before headers..."
#      ~19 "reviews v3 (cluster2)"
#   after `docker compose start` of them: back to cluster1 once the 2 minute ejection has passed.
. "$(dirname "$0")/lib.sh"

remove traffic-shift.yaml
apply failover.yaml failover.yaml
settle
tally 20

echo "+ docker compose stop cluster1-reviews-v1 cluster1-reviews-v1-envoy cluster1-reviews-v2 cluster1-reviews-v2-envoy"
docker compose stop cluster1-reviews-v1 cluster1-reviews-v1-envoy cluster1-reviews-v2 cluster1-reviews-v2-envoy
tally 20

# A started app container has a new network namespace: its "-init" service must install the capture
# rules in it again before the sidecar starts (compose waits for it: the sidecar depends on it).
echo "+ docker compose start cluster1-reviews-v1 cluster1-reviews-v1-init cluster1-reviews-v1-envoy cluster1-reviews-v2 cluster1-reviews-v2-init cluster1-reviews-v2-envoy"
docker compose start cluster1-reviews-v1 cluster1-reviews-v1-init cluster1-reviews-v1-envoy cluster1-reviews-v2 cluster1-reviews-v2-init cluster1-reviews-v2-envoy
echo "  (reviews returns to cluster1 after the outlier ejection time, 2m)"
