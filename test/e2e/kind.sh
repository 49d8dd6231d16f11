#!/usr/bin/env bash
# End-to-end through real Istio sidecars on a throwaway kind cluster:
#   a token for workload beta is refused at alpha, a correct one passes, a replay is refused,
#   and a rotated signing key is picked up; then beta answers its own token too.
# Needs docker (with a running daemon), kind, helm, istioctl and kubectl. When one is missing it
# says which and exits 0 without running anything.
#   bash test/e2e/kind.sh                 # KEEP_CLUSTER=1 keeps the cluster for a look afterwards
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cluster="${HOPGUARD_E2E_CLUSTER:-hopguard-e2e}"
context="kind-$cluster"

missing=()
for tool in docker kind helm istioctl kubectl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
  echo "e2e kind: skipped, not installed: ${missing[*]} (needs docker, kind, helm, istioctl, kubectl)"
  exit 0
fi
if ! docker info >/dev/null 2>&1; then
  echo "e2e kind: skipped, the docker daemon is not reachable"
  exit 0
fi

k() { kubectl --context "$context" "$@"; }
passed=0
failed=0

teardown() {
  local status=$?
  if ((status != 0 || failed > 0)); then
    echo "--- hopguard logs ---"
    k -n hopguard logs deploy/hopguard -c hopguard --tail=80 2>/dev/null || true
  fi
  if [[ "${KEEP_CLUSTER:-0}" == "1" ]]; then
    echo "e2e kind: keeping cluster $cluster"
  else
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
}
trap teardown EXIT

echo "e2e kind: cluster $cluster"
kind create cluster --name "$cluster" --wait 180s

echo "e2e kind: image hopguard:e2e"
docker build -t hopguard:e2e "$repo"
kind load docker-image hopguard:e2e --name "$cluster"

echo "e2e kind: Istio, with hopguard as the extension provider"
istioctl install --context "$context" -y --set profile=minimal -f "$repo/k8s/istio/extension-provider.yaml"

echo "e2e kind: workloads"
k create namespace hopguard
k label namespace hopguard istio-injection=enabled
k create namespace demo
k label namespace demo istio-injection=enabled
k -n demo create configmap e2e-app --from-file=app.mjs="$here/app.mjs"
k apply -f "$here/workloads.yaml"
for deployment in issuer alpha beta client; do
  k -n demo rollout status "deployment/$deployment" --timeout=180s
done

echo "e2e kind: hopguard from the chart"
helm lint "$repo/k8s/chart/hopguard" -f "$here/values-kind.yaml"
helm install hopguard "$repo/k8s/chart/hopguard" --kube-context "$context" -n hopguard \
  -f "$here/values-kind.yaml" --wait --timeout 180s

# --- helpers ---------------------------------------------------------------------------------
alpha_id="spiffe://cluster.local/ns/demo/sa/alpha"
beta_id="spiffe://cluster.local/ns/demo/sa/beta"

# One request from the client pod, through its sidecar: prints "<status> <body>".
call() { k -n demo exec deploy/client -c app -- /nodejs/bin/node /app/e2e/app.mjs call "$@"; }
# A fresh token (new jti) for an audience; sets $token and $kid.
mint() {
  local reply
  reply="$(call "http://issuer.demo.svc.cluster.local:8080/token?aud=$1&sub=client")"
  token="$(sed -E 's/.*"token":"([^"]+)".*/\1/' <<<"$reply")"
  kid="$(sed -E 's/.*"kid":"([^"]+)".*/\1/' <<<"$reply")"
}
# check NAME REPLY WANT_STATUS WANT_TEXT
check() {
  if [[ "${2%% *}" == "$3" && "$2" == *"$4"* ]]; then
    echo "ok   $1"
    passed=$((passed + 1))
  else
    echo "FAIL $1: wanted $3 with '$4', got: ${2:0:300}"
    failed=$((failed + 1))
  fi
}

# The CUSTOM policy reaches alpha's sidecar a few seconds after helm install: until then a request
# without a token would pass, so wait until one is refused.
for _ in $(seq 1 60); do
  reply="$(call http://alpha.demo:8080/ || true)"
  [[ "${reply%% *}" == "401" ]] && break
  sleep 2
done
check "no token is refused at alpha" "$reply" 401 token_missing

# --- the assertions --------------------------------------------------------------------------
mint "$beta_id"
check "a token for beta is refused at alpha" "$(call http://alpha.demo:8080/ "$token")" 401 audience_mismatch

mint "$alpha_id"
first="$token"
check "a token for alpha passes at alpha" "$(call http://alpha.demo:8080/ "$first")" 200 "\"x-hopguard-workload\":\"$alpha_id\""
check "the same token again is a replay" "$(call http://alpha.demo:8080/ "$first")" 401 replayed

old_kid="$kid"
rotated="$(call http://issuer.demo.svc.cluster.local:8080/rotate "" POST)"
check "the issuer rotates its signing key" "$rotated" 200 '"kid"'
# hopguard holds the old key set (max-age 300s); the new kid must trigger a refetch.
reply=""
for _ in $(seq 1 10); do
  mint "$alpha_id"
  reply="$(call http://alpha.demo:8080/ "$token")"
  [[ "${reply%% *}" == "200" ]] && break
  sleep 2
done
[[ "$kid" != "$old_kid" ]] || { echo "FAIL the new token still carries kid $old_kid"; failed=$((failed + 1)); }
check "a token signed with the rotated key passes" "$reply" 200 "\"x-hopguard-workload\":\"$alpha_id\""

mint "$beta_id"
check "a token for beta passes at beta" "$(call http://beta.demo:8080/ "$token")" 200 "\"x-hopguard-workload\":\"$beta_id\""

echo "e2e kind: $passed passed, $failed failed"
((failed == 0))
