#!/bin/sh
# Step 2: the seed's "simple" traffic policy: 75% of cluster1's reviews traffic to reviews v3, which
# runs only in cluster2 (through cluster2's east-west gateway), 15% to v1, 10% to v2.
#
# Expected output (weights are per request, so counts vary around these):
#      ~15 "reviews v3 (cluster2)"
#       ~3 "reviews v1 (cluster1)"
#       ~2 "reviews v2 (cluster1)"
# and the v3 answers carry "ratings v1 (cluster2)": reviews v3 calls the ratings of its own cluster.
. "$(dirname "$0")/lib.sh"

apply traffic-shift.yaml traffic-shift.yaml
settle
tally 20
