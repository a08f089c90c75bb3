# Shared by the step scripts (sourced, not run). Every step changes crossmesh's configuration the
# way a user would: it copies a policy file from examples/compose/steps/ into the policy directory
# the crossmesh container watches (/etc/crossmesh/policies, the "policies" volume), or removes one;
# crossmesh reloads it and pushes the new configuration to the Envoys.
set -eu
cd "$(dirname "$0")/../.."

POLICIES=/etc/crossmesh/policies

# apply <file in examples/compose/steps/> <name in the policy directory>
apply() {
  echo "+ docker compose cp examples/compose/steps/$1 crossmesh:$POLICIES/$2"
  docker compose cp "examples/compose/steps/$1" "crossmesh:$POLICIES/$2"
}

# remove <name in the policy directory>
remove() {
  echo "+ docker compose exec crossmesh rm -f $POLICIES/$1"
  docker compose exec -T crossmesh rm -f "$POLICIES/$1"
}

# Reload (150 ms settle) + push + Envoy applying it take well under a second; leave margin.
settle() {
  sleep 3
  echo "+ crossmesh configuration valid? (1 = yes; 0 = the last good one keeps serving, see /debug/config)"
  curl -s http://localhost:18080/metrics | grep '^crossmesh_config_valid' || echo "  (admin not reachable on localhost:18080)"
}

# tally [n]: sends n requests (default 20) to the ingress gateway and counts which reviews answered.
tally() {
  n=${1:-20}
  i=0
  echo "+ $n x curl localhost:8080/productpage, counted by the reviews that answered"
  while [ "$i" -lt "$n" ]; do
    body=$(curl -s --max-time 5 -w '\nHTTP %{http_code}' http://localhost:8080/productpage || true)
    line=$(printf '%s\n' "$body" | grep -o '"reviews [^"]*"' | head -n 1 || true)
    [ -n "$line" ] || line=$(printf '%s\n' "$body" | tail -n 1)
    echo "$line"
    i=$((i + 1))
  done | sort | uniq -c
}
