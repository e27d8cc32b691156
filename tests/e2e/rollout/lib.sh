# Shared by the traffic scenarios (tests/e2e/scenarios/5*-*.sh): the workloads, the load
# tool, the checks every measured round must pass, and the results. Sourced after
# tests/e2e/check.sh.
#
# A scenario is a few lines: make one namespace per variant (without lameduck, with it,
# a negative control, ...), apply the same workload to each, describe the traffic arms
# (`arm` lines), `measure`, then `expect_clean` / `expect_failures` per variant.
# shellcheck shell=bash

ROLLOUT_DIR=$E2E_REPO/tests/e2e/rollout
RESULTS_JSON=$E2E_STATE/results.jsonl
# shellcheck disable=SC2034 # read by scenario 59
RESULTS_MD=$E2E_STATE/results.md
# Rollouts per variant; every arm of a variant is measured in the same rollouts.
ROLLOUT_ROUNDS=${ROLLOUT_ROUNDS:-3}
# How long after the last old pod is gone the data plane may still route to it (failures
# then are the race's tail, not noise): Traefik's 2 s throttle and kube-proxy's 1 s sync.
ROLLOUT_TAIL=${ROLLOUT_TAIL:-3s}
# The demo app reports its SIGTERM to the load tool here (the node's bridge address).
E2E_BEACON_PORT=${E2E_BEACON_PORT:-19555}

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

node_ip() {
  kubectl get node "${E2E_NODE_NAME:-e2e-node}" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'
}

# --- workloads -----------------------------------------------------------------------------

# rolling_app NAME PORT CONTAINERS [POD-SPEC-EXTRA] [POD-ANNOTATIONS-JSON]: a Deployment
# ($REPLICAS replicas, default 3; maxSurge 1, maxUnavailable 0) of the pod whose
# containers are given as YAML list items, a NodePort Service to PORT on them, and an
# Ingress for host NAME.NAMESPACE.test (the default IngressClass: Traefik). NAMESPACE is
# $NS.
rolling_app() {
  local annotations=${5:-"{}"}
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: ${REPLICAS:-3}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}, annotations: $annotations}
    spec:
${4:+$4
}      containers:
$3
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  type: NodePort
  selector: {app: $1}
  ports: [{port: 80, targetPort: $2}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1}
spec:
  rules:
    - host: $1.$NS.test
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: $1, port: {number: 80}}}}
EOF
}

# container NAME IMAGE [PORT [ARGS-JSON [EXTRA-YAML]]]: one container as a YAML list item;
# with PORT, it is ready (checked every second) while GET /healthz on PORT answers.
container() {
  cat <<EOF
        - name: $1
          image: localhost/$2:e2e
          imagePullPolicy: Never
EOF
  [[ -z ${4:-} ]] || echo "          args: $4"
  [[ -z ${3:-} ]] || cat <<EOF
          ports: [{containerPort: $3}]
          readinessProbe:
            httpGet: {path: /healthz, port: $3}
            periodSeconds: 1
            failureThreshold: 1
EOF
  [[ -z ${5:-} ]] || echo "$5"
}

# demo_args [LISTEN]: the demo app's arguments: it reports its SIGTERM to the load tool.
# DEMO_ON_SIGTERM: its --on-sigterm (default drain, Go's Shutdown).
demo_args() {
  local args
  args="\"--report=http://$(node_ip):$E2E_BEACON_PORT/sigterm\", \"--on-sigterm=${DEMO_ON_SIGTERM:-drain}\""
  [[ -z ${1:-} ]] || args="\"--listen=$1\", $args"
  echo "[$args]"
}

# demo_app NAME [POD-SPEC-EXTRA] [POD-ANNOTATIONS-JSON] [CONTAINER-EXTRA-YAML]: the demo
# app alone, serving on 8080.
demo_app() {
  rolling_app "$1" 8080 "$(container app lameduck-demo 8080 "$(demo_args)" "${4:-}")" "${2:-}" "${3:-}"
}

# nginx_app NAME [POD-SPEC-EXTRA] [POD-ANNOTATIONS-JSON]: nginx in front of the app in
# one pod, nginx proxying to 127.0.0.1:8080.
nginx_app() {
  rolling_app "$1" 8000 "$(container nginx lameduck-nginx 8000)
$(container app lameduck-demo "" "$(demo_args 127.0.0.1:8080)")" "${2:-}" "${3:-}"
}

# deploy NAMESPACE WORKLOAD-FUNCTION NAME [ARGS...]: applies the workload in NAMESPACE and
# waits until it is available.
deploy() {
  local ns=$1 fn=$2 name=$3
  shift 3
  NS=$ns "$fn" "$name" "$@" | kubectl -n "$ns" apply -f - >/dev/null
  kubectl -n "$ns" rollout status "deployment/$name" --timeout=180s >/dev/null ||
    fail "$name comes up in $ns" "deployment/$name not available in 180 s"
}

# deploy_without_with_wait PREFIX WORKLOAD-FUNCTION NAME: the usual three namespaces, the
# workload deployed in each: PREFIX-without (lameduck leaves it alone), PREFIX-with
# (lameduck plans it) and PREFIX-wait (its pods ask for `lameduck.dev/action: wait`).
deploy_without_with_wait() {
  local p=$1 fn=$2 name=$3
  new_ns "$p-without" lameduck.dev/inject=disabled
  new_ns "$p-with"
  new_ns "$p-wait"
  deploy "$p-without" "$fn" "$name"
  deploy "$p-with" "$fn" "$name"
  deploy "$p-wait" "$fn" "$name" "" '{"lameduck.dev/action": "wait"}'
}

# --- the experiment ------------------------------------------------------------------------

arms=()
variants=()
# arm NAME VIA MODE RATE PATH LABEL [CONNS] [TIMEOUT] [METHOD]: one traffic arm (see
# rollout/main.go).
arm() {
  arms+=("$(jq -nc --arg name "$1" --arg via "$2" --arg mode "$3" --argjson rate "$4" --arg path "$5" \
    --arg lbl "$6" --argjson conns "${7:-16}" --arg timeout "${8:-5s}" --arg method "${9:-GET}" \
    '{name: $name, via: $via, mode: $mode, rate: $rate, path: $path, label: $lbl, conns: $conns,
      timeout: $timeout, method: $method}')")
}
# variant NAME NAMESPACE
variant() { variants+=("$(jq -nc --arg name "$1" --arg ns "$2" '{name: $name, namespace: $ns}')"); }

commit() {
  local c
  c=$(git -C "$E2E_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$E2E_REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] || c+=-dirty
  echo "$c"
}

# measure SCENARIO DEPLOYMENT [BEACON-PORT]: every variant's Deployment restarted
# ROLLOUT_ROUNDS times, rounds interleaved, under every arm's load at once. One JSON line
# per round, variant and arm in $RESULTS_JSON; the scenario's earlier lines are replaced.
# A round that cannot complete fails the scenario.
measure() {
  local scenario=$1 deployment=$2 beacon=${3:-$E2E_BEACON_PORT} config
  config=$(mktemp)
  jq -n --arg scenario "$scenario" --arg deployment "$deployment" --argjson rounds "$ROLLOUT_ROUNDS" \
    --arg ingress "${INGRESS_URL:-}" --arg tail "$ROLLOUT_TAIL" --arg beacon "$(node_ip):$beacon" --arg commit "$(commit)" \
    --argjson variants "[$(IFS=,; echo "${variants[*]}")]" --argjson arms "[$(IFS=,; echo "${arms[*]}")]" \
    '{scenario: $scenario, deployment: $deployment, selector: "app=\($deployment)", rounds: $rounds,
      settle: "2s", tail: $tail, timeout: "5m", ingress_url: $ingress, beacon: $beacon, commit: $commit,
      variants: $variants, arms: $arms}' >"$config"
  forget "$scenario"
  if ! "$(rollout_load_bin)" -config "$config" -json "$RESULTS_JSON"; then
    fail "$scenario: every round completes" "the load tool stopped (see above); a round that aborts counts as a failure"
  fi
  rm -f "$config"
  local want=$((ROLLOUT_ROUNDS * ${#variants[@]} * ${#arms[@]})) got
  got=$(rows "$scenario" | jq -s length)
  expect "$scenario: rounds recorded ($ROLLOUT_ROUNDS rollouts × ${#variants[@]} variants × ${#arms[@]} arms)" "$got" "$want"
}

# rows SCENARIO [VARIANT [ARM]]: the recorded JSON lines.
rows() {
  [[ -f $RESULTS_JSON ]] || return 0
  jq -c --arg s "$1" --arg v "${2:-}" --arg a "${3:-}" \
    'select(.scenario == $s and ($v == "" or .variant == $v) and ($a == "" or .arm == $a))' "$RESULTS_JSON"
}

# forget SCENARIO: drops the scenario's earlier rows, so a rerun replaces them.
forget() {
  [[ -f $RESULTS_JSON ]] || return 0
  jq -c --arg s "$1" 'select(.scenario != $s)' "$RESULTS_JSON" >"$RESULTS_JSON.tmp"
  mv "$RESULTS_JSON.tmp" "$RESULTS_JSON"
}

# sum SCENARIO VARIANT ARM FIELD
sum() { rows "$1" "$2" "$3" | jq -s --arg f "$4" 'map(.[$f]) | add // 0'; }

# kinds SCENARIO VARIANT ARM: "connection refused×12, 502×3"
kinds() {
  rows "$1" "$2" "$3" | jq -rs '[.[] | (.errors // {}), (.non_2xx_codes // {}) | to_entries[]]
    | group_by(.key) | map("\(.[0].key)×\(map(.value) | add)") | join(", ")'
}

# expect_rounds SCENARIO VARIANT PLANNED [MIN-ROLLOUT-SECONDS]: what every round of the
# variant must show (the load tool records a round only once every old pod is gone and as
# many new ones run): as many new pods as terminated ones, the new pods planned by lameduck
# (PLANNED=yes) or not (no), the rollout no shorter than the sleep it was given, and no
# failure outside the rollout (else its failures could be noise, not the race).
expect_rounds() {
  local s=$1 v=$2 planned=$3 min=${4:-0} bad
  if [[ -z $(rows "$s" "$v") ]]; then
    fail "$s $v: rounds recorded" "none"
    return
  fi
  bad=$(rows "$s" "$v" | jq -rs --arg planned "$planned" --argjson min "$min" '
    [.[] | select(.new_pods != .pods_terminated
      or ($planned == "yes" and .new_pods_planned != .new_pods)
      or ($planned == "no" and .new_pods_planned != 0)
      or .rollout_seconds < $min)
     | "round \(.round) arm \(.arm): terminated=\(.pods_terminated) new=\(.new_pods) planned=\(.new_pods_planned) rollout=\(.rollout_seconds)s"]
    | unique | join("; ")')
  if [[ -z $bad ]]; then
    ok "$s $v: every round replaced every pod$([[ $planned == yes ]] && echo ", each new pod planned by lameduck")$( ((min > 0)) && echo ", rollouts ≥ ${min} s")"
  else
    fail "$s $v: every round replaced every pod as expected" "$bad"
  fi
  # A failure outside the rollout is noise, not the race: the round says so here,
  # expect_failures does not count it, and expect_clean fails on any failure at all.
  bad=$(rows "$s" "$v" | jq -rs '[.[] | select(.failed_before_first_deletion + .failed_after_last_gone > 0)
    | "round \(.round) arm \(.arm): \(.failed_before_first_deletion) before, \(.failed_after_last_gone) after"] | join("; ")')
  if [[ -z $bad ]]; then
    ok "$s $v: steady state clean before the first deletion and after the last old pod"
  else
    echo "   $s $v: failures outside the rollout (noise, not counted as the race): $bad"
  fi
}

# expect_clean SCENARIO VARIANT ARM: no request failed in any round.
expect_clean() {
  local s=$1 v=$2 a=$3 n f r
  n=$(sum "$s" "$v" "$a" requests)
  f=$(sum "$s" "$v" "$a" failed)
  r=$(rows "$s" "$v" "$a" | jq -s length)
  if ((n > 0 && f == 0)); then
    ok "$s $v, arm $a: 0 of $n requests failed in $r rollouts"
  else
    fail "$s $v, arm $a: no request fails" "$f of $n failed ($(kinds "$s" "$v" "$a"))"
  fi
}

# expect_failures SCENARIO VARIANT ARM WHY: requests failed during the rollouts (the race
# is real here; a harness that cannot see it proves nothing). Failures outside the
# rollout window do not count.
expect_failures() {
  local s=$1 v=$2 a=$3 n f
  n=$(sum "$s" "$v" "$a" requests)
  f=$(($(sum "$s" "$v" "$a" failed) - $(sum "$s" "$v" "$a" failed_before_first_deletion) - $(sum "$s" "$v" "$a" failed_after_last_gone)))
  if ((n > 0 && f > 0)); then
    ok "$s $v, arm $a: $f of $n requests failed ($(kinds "$s" "$v" "$a")): $4"
  else
    fail "$s $v, arm $a: requests fail ($4)" "$f of $n failed: the harness does not see the race"
  fi
}

# report_arm SCENARIO VARIANT ARM: what happened, without a verdict (arms where the
# baseline may or may not fail on this machine).
# expect_cured SCENARIO VARIANT ARM BASELINE: VARIANT fails at most a tenth as often per
# request as BASELINE, which must fail: for arms where a rare failure has a cause the
# variant cannot remove, so a clean run is not promised but the race must be cured.
expect_cured() {
  local s=$1 v=$2 a=$3 base=$4 n f bn bf
  n=$(sum "$s" "$v" "$a" requests)
  f=$(sum "$s" "$v" "$a" failed)
  bn=$(sum "$s" "$base" "$a" requests)
  bf=$(sum "$s" "$base" "$a" failed)
  if ((n > 0 && bn > 0 && bf > 0 && f * bn * 10 <= bf * n)); then
    ok "$s $v, arm $a: $f of $n requests failed ($base: $bf of $bn)"
  else
    fail "$s $v, arm $a: fails at most a tenth as often as $base" "$f of $n failed ($(kinds "$s" "$v" "$a")); $base: $bf of $bn"
  fi
}

report_arm() {
  echo "   $1 $2, arm $3: $(sum "$1" "$2" "$3" failed) of $(sum "$1" "$2" "$3" requests) failed ($(kinds "$1" "$2" "$3"))"
}

# report_linger SCENARIO VARIANT: how long the old pods lingered after their deletion
# before SIGTERM (median and range over every pod), and the rollouts' median length.
# Measured, not asserted: the README's table shows it.
report_linger() {
  rows "$1" "$2" | jq -rs --arg s "$1" --arg v "$2" '
    def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
      else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    (.[0].arm) as $arm | map(select(.arm == $arm)) as $rounds
    | ($rounds | map(.linger_seconds) | add // []) as $l
    | "   \($s) \($v): deletion → SIGTERM median \($l | median) s (\($l | min)–\($l | max) s over \($l | length) pods), rollout median \($rounds | map(.rollout_seconds) | median | . * 10 | round / 10) s"'
}
