#!/usr/bin/env bash
# A real Kubernetes control plane on loopback with lameduck in it, and the scenarios that
# run against it.
#
#   scripts/e2e.sh up      build what is missing, start etcd, kube-apiserver,
#                          kube-controller-manager, kube-scheduler (and a node when
#                          tests/e2e/node/node.sh says this machine can run one), then
#                          lameduck as its chart configures it, and (with a node) the
#                          Traefik ingress controller. Ends with the lines
#                            export KUBECONFIG=...   export PATH=...
#                            export INGRESS_URL=http://127.0.0.1:PORT   (with a node)
#                          so that  eval "$(scripts/e2e.sh up | grep ^export)"  works.
#   scripts/e2e.sh test    run tests/e2e/scenarios/*.sh (bringing a cluster up if none)
#   scripts/e2e.sh down    stop every process `up` started, by PID, and remove the state
#
# Everything lives in $E2E_STATE (default ~/.cache/lameduck-e2e/state); binaries in
# $E2E_BIN (built by tests/e2e/build.sh), the six Kubernetes ones in $E2E_KUBE_BIN (the
# same folder for 1.34, ~/.cache/lameduck-e2e/bin-<minor> for another minor).
# $E2E_STATE/env holds the variables other scripts source. Environment: LAMEDUCK (the
# lameduck binary; default: cargo build --release), E2E_NODE=0 to skip the node even where
# one could run, E2E_KUBE_VERSION (1.34, the default, or 1.37: tests/e2e/kube-version.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export E2E_REPO=$repo
# shellcheck source=tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"
# shellcheck source=tests/e2e/ingress/traefik.sh
source "$repo/tests/e2e/ingress/traefik.sh"
node_script=$repo/tests/e2e/node/node.sh

# The controllers pods and their owners need; nodeipam hands the node its pod range.
controllers=deployment-controller,replicaset-controller,statefulset-controller
controllers+=,daemonset-controller,job-controller,cronjob-controller,namespace-controller
controllers+=,serviceaccount-controller,serviceaccount-token-controller,endpointslice-controller
controllers+=,endpointslice-mirroring-controller,garbage-collector-controller
controllers+=,root-ca-certificate-publisher-controller,node-ipam-controller
controllers+=,pod-garbage-collector-controller,disruption-controller,clusterrole-aggregation-controller
# Lifts the not-ready taint the kubelet registers with once the node is Ready.
controllers+=,node-lifecycle-controller

exports() {
  echo "export KUBECONFIG=$E2E_STATE/admin.kubeconfig"
  echo "export PATH=$E2E_STATE/path:\$PATH"
  if [[ -f $E2E_STATE/env ]] && grep -q '^E2E_NODE=1' "$E2E_STATE/env"; then
    echo "export INGRESS_URL=http://127.0.0.1:$E2E_INGRESS_PORT"
  fi
}

healthy() { [[ -f $E2E_STATE/env ]] && admin_kubectl get --raw /readyz >/dev/null 2>&1; }

# same_kube_version: true unless the state is that of a cluster of another minor than
# E2E_KUBE_VERSION asks for (a state written before there was a choice is 1.34); then it
# says what to do. Asked before healthy, which runs this minor's kubectl: a cluster of
# another minor must not pass for a stale one and be taken down.
same_kube_version() {
  local running
  [[ -f $E2E_STATE/env ]] || return 0
  running=$(sed -n 's/^E2E_KUBE_VERSION=//p' "$E2E_STATE/env")
  running=${running:-1.34}
  [[ $running == "$E2E_KUBE_VERSION" ]] && return 0
  e2e_log "a Kubernetes $running cluster is up (state in $E2E_STATE) and E2E_KUBE_VERSION asks for $E2E_KUBE_VERSION:"
  e2e_log "  take it down first (scripts/e2e.sh down)"
  return 1
}

# --- certificates and kubeconfigs (tests/e2e/pki.sh) -----------------------------------------

make_pki() {
  local pki=$E2E_STATE/pki
  mkdir -p "$pki"
  pki_ca "$pki/ca" e2e-cluster-ca
  pki_cert "$pki/ca" "$pki/apiserver" kube-apiserver "" IP:127.0.0.1 "IP:${E2E_SERVICE_CIDR%.0/*}.1" \
    ${E2E_APISERVER_EXTRA_SANS:+"$E2E_APISERVER_EXTRA_SANS"} DNS:localhost DNS:kubernetes DNS:kubernetes.default \
    DNS:kubernetes.default.svc DNS:kubernetes.default.svc.cluster.local
  pki_cert "$pki/ca" "$pki/admin" e2e-admin system:masters
  pki_cert "$pki/ca" "$pki/kube-controller-manager" system:kube-controller-manager
  pki_cert "$pki/ca" "$pki/kube-scheduler" system:kube-scheduler
  pki_cert "$pki/ca" "$pki/apiserver-kubelet-client" kube-apiserver-kubelet-client system:masters
  pki_keypair "$pki/sa"
  # lameduck's serving certificate on the host, from its own CA (the webhook's caBundle).
  pki_ca "$pki/lameduck-ca" e2e-lameduck-ca
  pki_cert "$pki/lameduck-ca" "$pki/lameduck" lameduck "" IP:127.0.0.1 DNS:localhost
  pki_cert "$pki/lameduck-ca" "$pki/webhook2" e2e-webhook2 "" IP:127.0.0.1 DNS:localhost
}

kubeconfig() { # kubeconfig NAME: $E2E_STATE/NAME.kubeconfig for the client certificate pki/NAME
  kubeconfig_cert "$E2E_STATE/$1.kubeconfig" "$E2E_APISERVER" "$E2E_STATE/pki/ca.crt" "$1" "$E2E_STATE/pki/$1"
}

write_env() {
  cat >"$E2E_STATE/env" <<EOF
# Written by scripts/e2e.sh up: the running cluster, for other scripts to source.
E2E_REPO=$E2E_REPO
E2E_STATE=$E2E_STATE
E2E_BIN=$E2E_BIN
E2E_KUBE_VERSION=$E2E_KUBE_VERSION
E2E_KUBE_BIN=$E2E_KUBE_BIN
E2E_CACHE=$E2E_CACHE
E2E_APISERVER=$E2E_APISERVER
E2E_APISERVER_PORT=$E2E_APISERVER_PORT
E2E_CA_CRT=$E2E_STATE/pki/ca.crt
E2E_CA_KEY=$E2E_STATE/pki/ca.key
E2E_ADMIN_KUBECONFIG=$E2E_STATE/admin.kubeconfig
E2E_SERVICE_CIDR=$E2E_SERVICE_CIDR
E2E_POD_CIDR=$E2E_POD_CIDR
E2E_RELEASE=$E2E_RELEASE
E2E_LAMEDUCK_NS=$E2E_LAMEDUCK_NS
E2E_LAMEDUCK=$E2E_LAMEDUCK
E2E_LAMEDUCK_PORT=$E2E_LAMEDUCK_PORT
E2E_LAMEDUCK_METRICS_PORT=$E2E_LAMEDUCK_METRICS_PORT
E2E_LAMEDUCK_CA_CRT=$E2E_STATE/pki/lameduck-ca.crt
E2E_WEBHOOK2_PORT=$E2E_WEBHOOK2_PORT
E2E_INGRESS_PORT=$E2E_INGRESS_PORT
E2E_INGRESS_THROTTLE=$E2E_INGRESS_THROTTLE
INGRESS_URL=http://127.0.0.1:$E2E_INGRESS_PORT
E2E_KUBE_PROXY_MIN_SYNC=${E2E_KUBE_PROXY_MIN_SYNC:-1s}
E2E_NODE=${E2E_NODE:-0}
EOF
}

# --- up / down ------------------------------------------------------------------------------

up() {
  same_kube_version || exit 1
  if healthy; then
    e2e_log "already up (state in $E2E_STATE)"
    exports
    return 0
  fi
  if [[ -e $E2E_STATE ]]; then
    e2e_log "stale state in $E2E_STATE: taking it down first"
    down
  fi
  local started=$SECONDS
  # build.sh and node-ctl.sh pick the same minor.
  export E2E_KUBE_VERSION
  "$repo/tests/e2e/build.sh" >/dev/null
  if [[ -z ${LAMEDUCK:-} ]]; then
    (cd "$repo" && cargo build --release --locked --quiet)
    LAMEDUCK=$repo/target/release/lameduck
  fi
  E2E_LAMEDUCK=$(cd "$(dirname "$LAMEDUCK")" && pwd)/$(basename "$LAMEDUCK")
  E2E_APISERVER=https://127.0.0.1:$E2E_APISERVER_PORT
  export E2E_APISERVER E2E_LAMEDUCK E2E_CA_CRT=$E2E_STATE/pki/ca.crt

  local want_node=0
  if [[ ${E2E_NODE:-} != 0 && -f $node_script ]]; then
    # shellcheck source=/dev/null
    source "$node_script"
    if node_preflight; then want_node=1; else e2e_log "no node on this machine: lameduck runs on the host"; fi
  fi

  mkdir -p "$E2E_STATE"/{pki,logs,pids,path,etcd}
  ln -sf "$E2E_KUBE_BIN/kubectl" "$E2E_BIN/helm" "$E2E_STATE/path/"
  make_pki
  local pki=$E2E_STATE/pki

  e2e_log "etcd"
  start_proc etcd "$E2E_BIN/etcd" --name e2e --data-dir "$E2E_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$E2E_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$E2E_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$E2E_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$E2E_ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$E2E_ETCD_PEER_PORT" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn
  wait_until 60 "etcd" curl -fsS "http://127.0.0.1:$E2E_ETCD_PORT/health" || fail_up etcd

  e2e_log "kube-apiserver (Kubernetes $("$E2E_KUBE_BIN/kube-apiserver" --version | awk '{print $2}') from $E2E_KUBE_BIN)"
  # Without a node the Service `kubernetes` has no address to point at (a loopback one
  # is refused), so its endpoints are left alone; node.sh may set a reachable one.
  # shellcheck disable=SC2206 # node.sh passes extra flags as one space-separated string
  local apiserver_extra=(${E2E_APISERVER_EXTRA_ARGS:---endpoint-reconciler-type=none})
  start_proc kube-apiserver "$E2E_KUBE_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$E2E_ETCD_PORT" \
    --bind-address="${E2E_APISERVER_BIND:-127.0.0.1}" --secure-port="$E2E_APISERVER_PORT" \
    --advertise-address="${E2E_APISERVER_ADVERTISE:-127.0.0.1}" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$E2E_SERVICE_CIDR" --allow-privileged=true \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --profiling=false "${apiserver_extra[@]}"
  kubeconfig admin
  wait_until 120 "kube-apiserver /readyz" admin_kubectl get --raw /readyz || fail_up kube-apiserver

  e2e_log "kube-controller-manager, kube-scheduler"
  kubeconfig kube-controller-manager
  kubeconfig kube-scheduler
  start_proc kube-controller-manager "$E2E_KUBE_BIN/kube-controller-manager" \
    --kubeconfig="$E2E_STATE/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$E2E_STATE/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$E2E_STATE/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$E2E_KCM_PORT" --leader-elect=false \
    --controllers="$controllers" --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-cidr="$E2E_POD_CIDR" --allocate-node-cidrs=true --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$E2E_SERVICE_CIDR" --profiling=false \
    ${E2E_KCM_EXTRA_ARGS:+$E2E_KCM_EXTRA_ARGS}
  start_proc kube-scheduler "$E2E_KUBE_BIN/kube-scheduler" \
    --kubeconfig="$E2E_STATE/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$E2E_STATE/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$E2E_STATE/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$E2E_SCHEDULER_PORT" --leader-elect=false --profiling=false
  wait_until 120 "kube-controller-manager /healthz" curl -fsSk "https://127.0.0.1:$E2E_KCM_PORT/healthz" ||
    fail_up kube-controller-manager
  wait_until 120 "kube-scheduler /healthz" curl -fsSk "https://127.0.0.1:$E2E_SCHEDULER_PORT/healthz" ||
    fail_up kube-scheduler
  # Pods need their namespace's ServiceAccount: proof the controllers work.
  wait_until 120 "the default ServiceAccount" admin_kubectl -n default get serviceaccount default ||
    fail_up kube-controller-manager

  E2E_NODE=0
  write_env
  if ((want_node)); then
    e2e_log "node"
    if node_up; then
      E2E_NODE=1
      write_env
    else
      e2e_log "node_up failed: see $E2E_STATE/logs; lameduck runs on the host"
      node_down || true
    fi
  fi

  e2e_log "lameduck ($([[ $E2E_NODE == 1 ]] && echo "in the cluster, helm install" || echo "on the host"))"
  lameduck_configure "" || fail_up lameduck
  if [[ $E2E_NODE == 1 ]]; then
    e2e_log "ingress (Traefik $(grep -oP '^TRAEFIK_VERSION=\K\S+' "$repo/tests/e2e/versions.sh"), IngressClass traefik, 127.0.0.1:$E2E_INGRESS_PORT)"
    ingress_up || fail_up traefik
  fi
  e2e_log "up in $((SECONDS - started))s; state in $E2E_STATE"
  exports
}

fail_up() {
  e2e_log "$1 did not come up; last lines of its log:"
  tail -n 30 "$E2E_STATE/logs/$1.log" >&2 || true
  e2e_log "taking the cluster down"
  down
  exit 1
}

down() {
  if [[ ! -e $E2E_STATE ]]; then
    e2e_log "nothing to take down"
    return 0
  fi
  if [[ -f $E2E_STATE/env ]]; then
    set -a
    # shellcheck source=/dev/null
    source "$E2E_STATE/env"
    set +a
  fi
  if [[ ${E2E_NODE:-0} == 1 && -f $node_script ]]; then
    # shellcheck source=/dev/null
    source "$node_script"
    node_down || e2e_log "node_down failed"
  fi
  local name
  for name in lameduck e2e-webhook2 kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_proc "$name"
  done
  # Whatever else was started through start_proc (scenarios, node pieces).
  for name in "$E2E_STATE"/pids/*; do
    [[ -e $name ]] && stop_proc "$(basename "$name")"
  done
  rm -rf "$E2E_STATE"
  e2e_log "down"
}

# --- test ---------------------------------------------------------------------------------

# A scenario marked `# e2e: background` starts and the next ones run beside it; it is
# joined (its lines printed and counted) before the first scenario that is not a traffic
# one (`*-traffic-*`), so that nothing else disturbs the cluster while it measures.
run_tests() {
  same_kube_version || exit 1
  healthy || up >/dev/null
  set -a
  # shellcheck source=/dev/null
  source "$E2E_STATE/env"
  set +a
  export KUBECONFIG=$E2E_STATE/admin.kubeconfig PATH=$E2E_STATE/path:$PATH
  passed=0 failed=0
  local script background=()
  for script in "$repo"/tests/e2e/scenarios/*.sh; do
    [[ -x $script ]] || continue
    [[ -z ${E2E_ONLY:-} || $(basename "$script") == *"$E2E_ONLY"* ]] || continue
    if [[ $(basename "$script") != *-traffic-* ]]; then
      join_scenarios "${background[@]}"
      background=()
    fi
    if grep -q '^# e2e: background' "$script"; then
      printf '== %s (in the background)\n' "$(basename "$script")"
      start_scenario "$script" &
      background+=("$script:$!")
      continue
    fi
    start_scenario "$script"
    report_scenario "$script"
  done
  join_scenarios "${background[@]}"
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

# start_scenario SCRIPT: runs it, output in $E2E_STATE/scenarios/NAME.{out,err,rc,seconds}.
start_scenario() {
  local out started=$SECONDS rc=0
  out=$E2E_STATE/scenarios/$(basename "$1")
  mkdir -p "$E2E_STATE/scenarios"
  "$1" >"$out.out" 2>"$out.err" || rc=$?
  echo "$rc" >"$out.rc"
  echo "$((SECONDS - started))" >"$out.seconds"
}

join_scenarios() {
  local entry
  for entry in "$@"; do
    wait "${entry##*:}" || true
    report_scenario "${entry%:*}"
  done
}

# report_scenario SCRIPT: prints its lines and counts its checks.
report_scenario() {
  local name out rc
  name=$(basename "$1")
  out=$E2E_STATE/scenarios/$name
  rc=$(cat "$out.rc")
  printf '== %s\n' "$name"
  cat "$out.out"
  passed=$((passed + $(grep -c '^ok ' "$out.out" || true)))
  failed=$((failed + $(grep -c '^FAIL ' "$out.out" || true)))
  if ((rc != 0)) && ! grep -q '^FAIL ' "$out.out"; then
    echo "FAIL $name: exited $rc without naming a failed check"
    failed=$((failed + 1))
  fi
  if ((rc != 0)); then
    echo "   stderr of $name (last 40 lines):"
    tail -n 40 "$out.err" | sed 's/^/   | /'
  fi
  printf '   (%ss)\n' "$(cat "$out.seconds")"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  test) run_tests ;;
  env) cat "$E2E_STATE/env" ;;
  *)
    echo "usage: scripts/e2e.sh up | test | down" >&2
    exit 2
    ;;
esac
