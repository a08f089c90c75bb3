#!/bin/sh
# Step 1: unify cluster1 and cluster2 into one virtual mesh (shared root, mTLS, RBAC still off).
#
# Expected output: reviews still answers from cluster1 only (v1 or v2), because locality priority
# keeps traffic in the caller's own cluster while it is healthy:
#      ~10 "reviews v1 (cluster1)"
#      ~10 "reviews v2 (cluster1)"
# but cluster1's proxies now also know reviews.default.svc.cluster2.global, reached through
# cluster2's east-west gateway on the wan network (172.30.0.12:15443), and cluster2's reviews
# endpoints appear behind that gateway at a lower priority of reviews.default.svc.cluster.local:
#   "172.30.0.12" found in productpage's configuration
. "$(dirname "$0")/lib.sh"

apply virtual-mesh.yaml virtual-mesh.yaml
settle
tally 20
echo "+ where does cluster1's productpage reach cluster2? (its served configuration)"
curl -s "http://localhost:18080/debug/config_dump?node=cluster1/default/productpage-v1-0" | grep -o '"172\.30\.0\.12"' | sort -u | sed 's/^/  found /' || echo "  cluster2's gateway is not in productpage's configuration yet"
