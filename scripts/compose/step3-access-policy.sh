#!/bin/sh
# Step 3: access control. First globalAccessPolicy ENABLED on the virtual mesh (deny unless
# allowed), then the seed's AccessPolicies (ingress -> productpage, productpage -> details and
# reviews, reviews -> ratings).
#
# Expected output:
#   after 3a (RBAC on, nothing allowed): the ingress gateway may not call productpage
#      20 HTTP 403            (body: RBAC: access denied)
#   after 3b (policies applied): the page works again through every hop
#      ~15 "reviews v3 (cluster2)"   ~3 "reviews v1 (cluster1)"   ~2 "reviews v2 (cluster1)"
#   A caller the policies do not name is still refused: details may not call ratings, for example.
. "$(dirname "$0")/lib.sh"

echo "== 3a: deny unless allowed"
apply virtual-mesh-rbac.yaml virtual-mesh.yaml
settle
tally 20

echo "== 3b: allow the bookinfo call graph"
apply access-policies.yaml access-policies.yaml
settle
tally 20
