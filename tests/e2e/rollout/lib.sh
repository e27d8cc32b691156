# Shared by the rollout scenarios (tests/e2e/scenarios/5*-*.sh): the demo workloads, the
# load generator, and the results table. Sourced after tests/e2e/check.sh.
# shellcheck shell=bash

ROLLOUT_DIR=$E2E_REPO/tests/e2e/rollout
RESULTS_JSON=$E2E_STATE/results.jsonl
RESULTS_MD=$E2E_STATE/results.md
# Load: 150 requests/s, each on a new connection, through the NodePort on loopback.
ROLLOUT_RATE=${ROLLOUT_RATE:-150}
ROLLOUT_ROUNDS=${ROLLOUT_ROUNDS:-3}

# skip_without_node: these scenarios need pods that run.
skip_without_node() {
  if [[ ${E2E_NODE:-0} != 1 && -f $E2E_STATE/node-result ]]; then
    # Preflight said yes, then node_up failed: that is a failure, not a machine without nodes.
    fail "$(basename "$0"): the node came up" "$(cat "$E2E_STATE/node-result")"
    finish
  fi
  if [[ ${E2E_NODE:-0} != 1 ]]; then
    echo "skip $(basename "$0"): no node in this cluster (tests/e2e/node/node.sh preflight said no)"
    exit 0
  fi
}

# rollout_load_bin: the load generator, built once into the cache (vegeta as a library).
rollout_load_bin() {
  local bin=$E2E_CACHE/bin/rollout-load
  (cd "$ROLLOUT_DIR" && GOMODCACHE=$E2E_CACHE/gomod GOCACHE=$E2E_CACHE/gocache CGO_ENABLED=0 \
    GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local go build -trimpath -o "$bin" .) >&2
  echo "$bin"
}

# rolling_app NAME PORT CONTAINERS: a Deployment (3 replicas, maxSurge 1, maxUnavailable
# 0) of the pod whose containers are given as YAML list items, and a NodePort Service to
# PORT on them.
rolling_app() {
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: 3
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
$3
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  type: NodePort
  selector: {app: $1}
  ports: [{port: 80, targetPort: $2}]
EOF
}

# container NAME IMAGE [PORT [ARG]]: one container as a YAML list item; with PORT, it is
# ready (checked every second) while GET /healthz on PORT answers.
container() {
  cat <<EOF
        - name: $1
          image: localhost/$2:e2e
          imagePullPolicy: Never
EOF
  [[ -z ${4:-} ]] || echo "          args: [\"$4\"]"
  [[ -z ${3:-} ]] || cat <<EOF
          ports: [{containerPort: $3}]
          readinessProbe:
            httpGet: {path: /healthz, port: $3}
            periodSeconds: 1
            failureThreshold: 1
EOF
}

# demo_app NAME: the demo app alone, serving on 8080.
demo_app() { rolling_app "$1" 8080 "$(container app lameduck-demo 8080)"; }

# nginx_app NAME: nginx in front of the app in one pod, nginx proxying to 127.0.0.1:8080.
nginx_app() {
  rolling_app "$1" 8000 "$(container nginx lameduck-nginx 8000)
$(container app lameduck-demo "" --listen=127.0.0.1:8080)"
}

answers() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") == 200 ]]; }

# measure SCENARIO VARIANT NAMESPACE APP: the app's rollout restarted ROLLOUT_ROUNDS times
# under load; one JSON line per round in $RESULTS_JSON. Prints the rounds' summary lines.
measure() {
  local scenario=$1 variant=$2 ns=$3 app=$4 port url
  kubectl -n "$ns" rollout status "deployment/$app" --timeout=180s >/dev/null ||
    { fail "$scenario $variant: the app comes up" "deployment/$app not available"; return 1; }
  port=$(kubectl -n "$ns" get service "$app" -o jsonpath='{.spec.ports[0].nodePort}')
  url=http://127.0.0.1:$port/
  # kube-proxy has the NodePort once it answers (its sync is not instant).
  wait_until 60 "$url to answer" answers "$url" ||
    { fail "$scenario $variant: $url answers" "no 200 within 60 s"; return 1; }
  "$(rollout_load_bin)" -kubectl kubectl -namespace "$ns" -deployment "$app" -selector "app=$app" \
    -target "$url" -rate "$ROLLOUT_RATE" -rollouts "$ROLLOUT_ROUNDS" \
    -scenario "$scenario" -variant "$variant" -json "$RESULTS_JSON"
}

# totals SCENARIO VARIANT: "requests failed seconds,seconds,..." over the recorded rounds.
totals() {
  jq -rs --arg s "$1" --arg v "$2" '
    [.[] | select(.scenario == $s and .variant == $v)] as $r
    | "\([$r[].requests] | add // 0) \([$r[].failed] | add // 0) \([$r[].rollout_seconds | tostring] | join(","))"' \
    "$RESULTS_JSON"
}

# failure_kinds SCENARIO VARIANT: "connection refused×12, 502×3" over the rounds.
failure_kinds() {
  jq -rs --arg s "$1" --arg v "$2" '
    [.[] | select(.scenario == $s and .variant == $v) | (.errors // {}), (.non_2xx_codes // {}) | to_entries[]]
    | group_by(.key) | map("\(.[0].key)×\(map(.value) | add)") | join(", ")' "$RESULTS_JSON"
}

# results_table: the Markdown table of every scenario measured so far, to stdout and to
# $RESULTS_MD.
results_table() {
  [[ -s $RESULTS_JSON ]] || return 0
  local s without with rw rf rs ww wf ws scenarios
  # One name a line: scenario names have spaces.
  mapfile -t scenarios < <(jq -rs '[.[].scenario] | unique | .[]' "$RESULTS_JSON")
  {
    echo "| scenario | requests (without / with) | failed without | failed with | rollout seconds without | rollout seconds with |"
    echo "|---|---|---|---|---|---|"
    for s in "${scenarios[@]}"; do
      read -r rw rf rs <<<"$(totals "$s" without)"
      read -r ww wf ws <<<"$(totals "$s" with)"
      without=$(failure_kinds "$s" without)
      with=$(failure_kinds "$s" with)
      echo "| $s | $rw / $ww | $rf${without:+ ($without)} | $wf${with:+ ($with)} | ${rs:--} | ${ws:--} |"
    done
  } | tee "$RESULTS_MD"
}

# forget SCENARIO: drops the scenario's earlier rows, so a rerun replaces them.
forget() {
  [[ -f $RESULTS_JSON ]] || return 0
  jq -c --arg s "$1" 'select(.scenario != $s)' "$RESULTS_JSON" >"$RESULTS_JSON.tmp"
  mv "$RESULTS_JSON.tmp" "$RESULTS_JSON"
}

# compare SCENARIO: the checks every measured scenario makes. The baseline must fail (or
# the test proves nothing); with lameduck, no request may fail.
compare() {
  local s=$1 rw rf rs ww wf ws
  read -r rw rf rs <<<"$(totals "$s" without)"
  read -r ww wf ws <<<"$(totals "$s" with)"
  if ((rw > 0 && rf > 0)); then
    ok "$s: without lameduck, $rf of $rw requests failed during $ROLLOUT_ROUNDS rollouts ($(failure_kinds "$s" without))"
  else
    fail "$s: the baseline shows the race" "$rf of $rw requests failed without lameduck: the test would prove nothing"
  fi
  if ((ww > 0 && wf == 0)); then
    ok "$s: with lameduck, 0 of $ww requests failed during $ROLLOUT_ROUNDS rollouts (rollout seconds $ws vs $rs)"
  else
    fail "$s: with lameduck no request fails" "$wf of $ww failed ($(failure_kinds "$s" with))"
  fi
}
