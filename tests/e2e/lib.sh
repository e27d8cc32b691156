# Shared by scripts/e2e.sh, tests/e2e/node and the scenarios in tests/e2e/scenarios:
# where things live, certificates and kubeconfigs (pki.sh), waiting with a deadline, and
# how lameduck is (re)configured from its chart in either mode (on the host when the
# cluster has no node, in-cluster via `helm` when it has one).
# shellcheck shell=bash

E2E_REPO=${E2E_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
E2E_CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lameduck-e2e}
E2E_BIN=${E2E_BIN:-$E2E_CACHE/bin}
E2E_STATE=${E2E_STATE:-$E2E_CACHE/state}
# The Kubernetes minor (E2E_KUBE_VERSION, default 1.34; tests/e2e/kube-version.sh) and
# the folder holding its six binaries: $E2E_BIN for 1.34, $E2E_CACHE/bin-<minor> for
# another. etcd, helm, traefik and e2e-webhook2 are in $E2E_BIN for every minor.
# shellcheck source=tests/e2e/versions.sh
source "$E2E_REPO/tests/e2e/versions.sh"
# shellcheck source=tests/e2e/kube-version.sh
source "$E2E_REPO/tests/e2e/kube-version.sh"
if [[ $E2E_KUBE_BIN_DIR == bin ]]; then
  E2E_KUBE_BIN=${E2E_KUBE_BIN:-$E2E_BIN}
else
  E2E_KUBE_BIN=${E2E_KUBE_BIN:-$E2E_CACHE/$E2E_KUBE_BIN_DIR}
fi
# shellcheck source=tests/e2e/pki.sh
source "$E2E_REPO/tests/e2e/pki.sh"

# Fixed loopback ports: one cluster per machine.
E2E_ETCD_PORT=${E2E_ETCD_PORT:-23790}
E2E_ETCD_PEER_PORT=${E2E_ETCD_PEER_PORT:-23800}
E2E_APISERVER_PORT=${E2E_APISERVER_PORT:-16443}
E2E_KCM_PORT=${E2E_KCM_PORT:-10257}
E2E_SCHEDULER_PORT=${E2E_SCHEDULER_PORT:-10259}
E2E_LAMEDUCK_PORT=${E2E_LAMEDUCK_PORT:-18443}
E2E_LAMEDUCK_METRICS_PORT=${E2E_LAMEDUCK_METRICS_PORT:-19090}
E2E_WEBHOOK2_PORT=${E2E_WEBHOOK2_PORT:-19444}
E2E_SERVICE_CIDR=${E2E_SERVICE_CIDR:-10.96.0.0/16}
E2E_POD_CIDR=${E2E_POD_CIDR:-10.244.0.0/16}

# The chart's release: name and namespace as the README tells users.
E2E_RELEASE=${E2E_RELEASE:-lameduck}
E2E_LAMEDUCK_NS=${E2E_LAMEDUCK_NS:-lameduck}

e2e_log() { printf 'e2e: %s\n' "$*" >&2; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds; fails with
# DESCRIPTION after SECONDS. The poll interval is short; the deadline is what bounds it.
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      e2e_log "timed out waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

pid_alive() { [[ -f $E2E_STATE/pids/$1 ]] && kill -0 "$(cat "$E2E_STATE/pids/$1")" 2>/dev/null; }

# start_proc NAME COMMAND...: starts COMMAND detached (own session, so it outlives this
# shell and a terminal hangup), output to logs/NAME.log, PID in pids/NAME.
start_proc() {
  local name=$1
  shift
  mkdir -p "$E2E_STATE/pids" "$E2E_STATE/logs"
  setsid "$@" >>"$E2E_STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$E2E_STATE/pids/$name"
}

# stop_proc NAME: SIGTERM, then SIGKILL after 20 s; waits until the PID is gone.
stop_proc() {
  local name=$1 pid
  [[ -f $E2E_STATE/pids/$name ]] || return 0
  pid=$(cat "$E2E_STATE/pids/$name")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until 20 "$name (pid $pid) to exit" bash -c "! kill -0 $pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_until 10 "$name (pid $pid) to die" bash -c "! kill -0 $pid" || true
    fi
  fi
  rm -f "$E2E_STATE/pids/$name"
}

admin_kubectl() { "$E2E_KUBE_BIN/kubectl" --kubeconfig "$E2E_STATE/admin.kubeconfig" "$@"; }

# --- lameduck, configured from its chart --------------------------------------------------

# The values every configuration starts from, then the scenario's --set pairs. Host mode
# renders the chart with them; node mode installs it with them.
lameduck_helm_args() {
  local values=${1:-}
  printf '%s\n' --namespace "$E2E_LAMEDUCK_NS"
  if [[ ${E2E_NODE:-0} == 1 ]]; then
    printf '%s\n' --set "image.repository=${E2E_LAMEDUCK_IMAGE_REPO:-localhost/lameduck}" \
      --set "image.tag=${E2E_LAMEDUCK_IMAGE_TAG:-e2e}" --set image.pullPolicy=Never
  fi
  [[ -z $values ]] || printf '%s\n' --set "$values"
}

# lameduck_configure [HELM-SET-VALUES]: makes lameduck run as the chart renders it with
# these values (e.g. "mode=namespace"; empty: the chart's defaults), and waits until it
# answers with its namespace cache synced. Idempotent.
lameduck_configure() {
  local values=${1:-}
  echo "$values" >"$E2E_STATE/lameduck-values"
  if [[ ${E2E_NODE:-0} == 1 ]]; then
    lameduck_configure_in_cluster "$values"
  else
    lameduck_configure_on_host "$values"
  fi
}

lameduck_configure_in_cluster() {
  local args
  mapfile -t args < <(lameduck_helm_args "$1")
  "$E2E_BIN/helm" --kubeconfig "$E2E_STATE/admin.kubeconfig" upgrade --install "$E2E_RELEASE" \
    "$E2E_REPO/charts/lameduck" --create-namespace --reset-values --wait --timeout 5m "${args[@]}" >&2
  admin_kubectl -n "$E2E_LAMEDUCK_NS" rollout status "deployment/$E2E_RELEASE" --timeout=5m >&2
  wait_until 120 "lameduck pods to be ready and synced" lameduck_ready
}

# Host mode: the chart's ServiceAccount, RBAC and MutatingWebhookConfiguration applied
# as rendered, the webhook pointed at 127.0.0.1 with the CA of the certificate lameduck
# serves, and lameduck started with the arguments the chart's Deployment gives it.
lameduck_configure_on_host() {
  local values=$1 args rendered=$E2E_STATE/lameduck-rendered
  mapfile -t args < <(lameduck_helm_args "$values")
  mkdir -p "$rendered"
  "$E2E_BIN/helm" template "$E2E_RELEASE" "$E2E_REPO/charts/lameduck" "${args[@]}" \
    --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml \
    --show-only templates/webhook.yaml >"$rendered/objects.yaml"
  "$E2E_BIN/helm" template "$E2E_RELEASE" "$E2E_REPO/charts/lameduck" "${args[@]}" \
    --show-only templates/deployment.yaml >"$rendered/deployment.yaml"

  admin_kubectl create namespace "$E2E_LAMEDUCK_NS" --dry-run=client -o yaml | admin_kubectl apply -f - >/dev/null
  # The chart's helm-mode Secrets come with webhook.yaml; they are applied as rendered
  # (unused on the host) so that the MutatingWebhookConfiguration is exactly the chart's,
  # but for clientConfig: the host's URL and the CA of the certificate lameduck serves.
  local ca
  ca=$(base64 -w0 "$E2E_STATE/pki/lameduck-ca.crt")
  admin_kubectl create --dry-run=client -o json -f "$rendered/objects.yaml" |
    jq --arg url "https://127.0.0.1:$E2E_LAMEDUCK_PORT/mutate" --arg ca "$ca" '
      (if .kind == "List" then . else {apiVersion: "v1", kind: "List", items: [.]} end)
      | .items |= map(if .kind == "MutatingWebhookConfiguration"
          then .webhooks |= map(.clientConfig = {url: $url, caBundle: $ca}) else . end)' \
      >"$rendered/objects.json"
  grep -q '"MutatingWebhookConfiguration"' "$rendered/objects.json" ||
    { e2e_log "the chart rendered no MutatingWebhookConfiguration"; return 1; }
  admin_kubectl apply --server-side --force-conflicts --field-manager=e2e -f "$rendered/objects.json" >/dev/null || return 1

  # The Deployment's args, as the API server would store them (kubectl parses the YAML).
  local serve_args=()
  mapfile -t serve_args < <(admin_kubectl create --dry-run=client -o go-template \
    --template='{{range (index .spec.template.spec.containers 0).args}}{{.}}{{"\n"}}{{end}}' \
    -f "$rendered/deployment.yaml")
  [[ ${serve_args[0]:-} == serve ]] || { e2e_log "unexpected args in the chart's Deployment: ${serve_args[*]}"; return 1; }
  local host_args=(serve) a
  for a in "${serve_args[@]:1}"; do
    # Addresses and certificate paths are the pod's; the host has its own.
    case $a in
      --listen=* | --metrics-listen=* | --tls-cert=* | --tls-key=*) ;;
      *) host_args+=("$a") ;;
    esac
  done
  host_args+=(--listen="127.0.0.1:$E2E_LAMEDUCK_PORT" --metrics-listen="127.0.0.1:$E2E_LAMEDUCK_METRICS_PORT"
    --tls-cert="$E2E_STATE/pki/lameduck.crt" --tls-key="$E2E_STATE/pki/lameduck.key")
  printf '%s\n' "${host_args[@]}" >"$E2E_STATE/lameduck-args"
  lameduck_start
}

lameduck_token_kubeconfig() { # a kubeconfig holding a fresh token of the chart's ServiceAccount
  local sa token
  sa=$(admin_kubectl -n "$E2E_LAMEDUCK_NS" get serviceaccount -l "app.kubernetes.io/instance=$E2E_RELEASE" \
    -o jsonpath='{.items[0].metadata.name}')
  [[ -n $sa ]] || { e2e_log "the chart rendered no ServiceAccount"; return 1; }
  token=$(admin_kubectl -n "$E2E_LAMEDUCK_NS" create token "$sa" --duration=24h)
  kubeconfig_token "$E2E_STATE/lameduck.kubeconfig" "$E2E_APISERVER" "$E2E_CA_CRT" "$sa" "$token" "$E2E_LAMEDUCK_NS"
}

# lameduck_readyz: the /readyz body of every running lameduck (in-cluster: of each pod,
# through the API server's pod proxy), one after the other.
lameduck_readyz() {
  if [[ ${E2E_NODE:-0} == 1 ]]; then
    # Pods being deleted are left out: during their preStop sleep they still say ready,
    # with what they read before the change a test is waiting for.
    local pod
    for pod in $(admin_kubectl -n "$E2E_LAMEDUCK_NS" get pods -l "app.kubernetes.io/instance=$E2E_RELEASE" -o json |
      jq -r '.items[] | select(.status.phase == "Running" and .metadata.deletionTimestamp == null) | .metadata.name'); do
      admin_kubectl get --raw "/api/v1/namespaces/$E2E_LAMEDUCK_NS/pods/$pod:${E2E_LAMEDUCK_POD_METRICS_PORT:-9090}/proxy/readyz" || return 1
    done
  else
    curl -fsS "http://127.0.0.1:$E2E_LAMEDUCK_METRICS_PORT/readyz"
  fi
}

# lameduck_ready: ready, its namespace watch synced and the cluster versions read (before
# that, `auto` means exec and unknown namespaces are left to the namespaceSelector). On a
# node, also reached by the API server through its Service: endpoints and kube-proxy's
# rules trail the pods' readiness by a moment, and until they catch up failurePolicy
# Ignore admits pods unmutated.
lameduck_ready() {
  local body
  body=$(lameduck_readyz) || return 1
  [[ -n $body ]] && ! grep -q 'not ready\|not read yet\|namespaces: unknown\|unreachable' <<<"$body" || return 1
  [[ ${E2E_NODE:-0} != 1 ]] || { lameduck_replaced && lameduck_answers; }
}

# lameduck_replaced: no lameduck pod is being deleted. An old pod answers reviews until it
# drains: through its preStop sleep the API server keeps using its kept-alive connections to
# it (as clients of any pod lameduck protects do), with the settings it started with.
lameduck_replaced() {
  admin_kubectl -n "$E2E_LAMEDUCK_NS" get pods -l "app.kubernetes.io/instance=$E2E_RELEASE" -o json |
    jq -e '[.items[] | select(.metadata.deletionTimestamp != null)] | length == 0' >/dev/null
}

# lameduck_answers: a dry-run pod in a namespace labelled for injection comes back from
# the API server with a preStop hook.
E2E_PROBE_NS=e2e-probe
lameduck_answers() {
  if ! admin_kubectl get serviceaccount default -n "$E2E_PROBE_NS" >/dev/null 2>&1; then
    admin_kubectl create namespace "$E2E_PROBE_NS" >/dev/null 2>&1 || true
    admin_kubectl label --overwrite namespace "$E2E_PROBE_NS" lameduck.dev/inject=enabled >/dev/null 2>&1
    return 1
  fi
  admin_kubectl -n "$E2E_PROBE_NS" create --dry-run=server -o json -f - 2>/dev/null <<<'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"probe"},"spec":{"containers":[{"name":"app","image":"localhost/lameduck-demo:e2e","imagePullPolicy":"Never"}]}}' |
    jq -e '.spec.containers[0].lifecycle.preStop != null' >/dev/null
}

# lameduck_stop / lameduck_start: take lameduck away and bring it back, in either mode.
lameduck_stop() {
  if [[ ${E2E_NODE:-0} == 1 ]]; then
    admin_kubectl -n "$E2E_LAMEDUCK_NS" scale "deployment/$E2E_RELEASE" --replicas=0 >&2
    wait_until 120 "lameduck pods to go" bash -c \
      "[[ -z \$('$E2E_KUBE_BIN/kubectl' --kubeconfig '$E2E_STATE/admin.kubeconfig' -n '$E2E_LAMEDUCK_NS' get pods -l app.kubernetes.io/instance=$E2E_RELEASE -o name) ]]"
  else
    stop_proc lameduck
  fi
}

lameduck_start() {
  if [[ ${E2E_NODE:-0} == 1 ]]; then
    lameduck_configure_in_cluster "$(cat "$E2E_STATE/lameduck-values" 2>/dev/null)"
    return
  fi
  stop_proc lameduck
  lameduck_token_kubeconfig
  local args
  mapfile -t args <"$E2E_STATE/lameduck-args"
  start_proc lameduck env KUBECONFIG="$E2E_STATE/lameduck.kubeconfig" "$E2E_LAMEDUCK" "${args[@]}"
  if ! wait_until 60 "lameduck to be ready" lameduck_ready; then
    tail -n 20 "$E2E_STATE/logs/lameduck.log" >&2
    return 1
  fi
}

# lameduck_restart: a fresh start, e.g. so that it reads the Nodes again now (it lists
# them every 5 minutes).
lameduck_restart() {
  if [[ ${E2E_NODE:-0} == 1 ]]; then
    admin_kubectl -n "$E2E_LAMEDUCK_NS" rollout restart "deployment/$E2E_RELEASE" >&2
    admin_kubectl -n "$E2E_LAMEDUCK_NS" rollout status "deployment/$E2E_RELEASE" --timeout=5m >&2
    wait_until 120 "lameduck pods to be ready and synced" lameduck_ready
  else
    lameduck_start
  fi
}
