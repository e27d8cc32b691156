#!/usr/bin/env bash
# The e2e node's work: see node.sh for the interface. Commands:
#   preflight   checks; prints E2E_*=VALUE lines for the API server on success
#   up          starts containerd, the apiserver forwarder, kubelet and kube-proxy
#   down        stops them and undoes the network changes
#   images      builds the images and imports them into the running containerd
#
# What it does to the machine, all undone by `down`:
#   - a bridge ($E2E_NODE_BRIDGE, default ldk0) holding the node address, the first
#     address of the first /24 of the pod range (nodeipam gives the only node that /24);
#   - routes: the pod range and the service range to that bridge, so a packet for a pod
#     or a ClusterIP that nothing rewrote dies on the bridge instead of taking the
#     default route off this machine;
#   - iptables chain LDK-NODE (filter FORWARD and OUTPUT): pods' traffic to anything
#     outside the pod range is dropped, and a ClusterIP packet that kube-proxy did not
#     rewrite is rejected;
#   - kube-proxy's own chains (removed with `kube-proxy --cleanup`).
# Nothing is pulled: containerd sends every registry request to a closed port on
# 127.0.0.1 (hosts.toml for every host, and HTTP(S)_PROXY for any host not listed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"

if [[ -f $E2E_STATE/env ]]; then
  set -a
  # shellcheck source=/dev/null
  source "$E2E_STATE/env"
  set +a
fi

NODE_NAME=${E2E_NODE_NAME:-e2e-node}
BRIDGE=${E2E_NODE_BRIDGE:-ldk0}
# A port nothing listens on: every registry pull is sent there and refused at once.
DEAD_PORT=${E2E_NODE_DEAD_PORT:-9}
N=$E2E_STATE/node
CNI_BIN=${E2E_CNI_BIN:-/usr/lib/cni}
PACKAGES=(containerd runc containernetworking-plugins iptables conntrack nginx jq)
# What the kubelet and kube-proxy change for themselves; down puts the values back.
SAVED_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes net/ipv4/conf/all/route_localnet net/bridge/bridge-nf-call-iptables)

say() { printf 'e2e-node: %s\n' "$*" >&2; }
die() {
  say "$*"
  # A node that passed preflight and then failed must not pass for "no node here":
  # scenario 50 reads this.
  [[ ${MODE:-} != up ]] || echo "node_up failed: $*" >"$E2E_STATE/node-result"
  exit 1
}

# The node's /24 and address: the first /24 of the pod range.
IFS=. read -r p1 p2 _ _ <<<"${E2E_POD_CIDR%/*}"
NODE_SUBNET=$p1.$p2.0.0/24
NODE_IP=$p1.$p2.0.1
IFS=. read -r s1 s2 _ _ <<<"${E2E_SERVICE_CIDR%/*}"
SERVICE_PROBE=$s1.$s2.0.10
POD_PROBE=$p1.$p2.0.200

# --- preflight -----------------------------------------------------------------------------

# Debian's packages, with their maintainer scripts kept from starting services: no
# systemd here, and the node starts its daemons itself.
install_packages() {
  local missing=() p guard=""
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# e2e node: no service starts during apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  say "installing ${missing[*]} (services kept from starting by policy-rc.d)"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"${TMPDIR:-/tmp}/e2e-node-apt.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    # An old package list is the usual cause: refresh once and retry.
    apt-get update -qq >/dev/null 2>&1 || true
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >"${TMPDIR:-/tmp}/e2e-node-apt.log" 2>&1 || rc=$?
  fi
  [[ -n $guard ]] && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || die "apt-get install ${missing[*]} failed: see ${TMPDIR:-/tmp}/e2e-node-apt.log"
  # Debian's containerd.service would have started it; policy-rc.d stopped that. Make sure.
  return 0
}

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

preflight() {
  [[ $(id -u) == 0 ]] || die "not root: a node needs to create bridges, iptables rules and mounts"
  [[ -x $E2E_KUBE_BIN/kubelet && -x $E2E_KUBE_BIN/kube-proxy ]] ||
    die "kubelet/kube-proxy not built in $E2E_KUBE_BIN (tests/e2e/build.sh)"
  install_packages
  local t
  for t in containerd containerd-shim-runc-v2 runc ctr iptables ip ss conntrack; do
    command -v "$t" >/dev/null || die "$t not found after installing ${PACKAGES[*]}"
  done
  for t in bridge host-local loopback; do
    [[ -x $CNI_BIN/$t ]] || die "CNI plugin $CNI_BIN/$t missing (containernetworking-plugins)"
  done
  # cgroups: kubelet needs these v1 controllers (or a v2 hierarchy).
  if [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
    for t in cpu cpuacct cpuset memory pids devices freezer; do
      [[ -d /sys/fs/cgroup/$t ]] || die "cgroup v1 controller $t not mounted at /sys/fs/cgroup/$t"
    done
  fi
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] ||
    die "no br_netfilter (/proc/sys/net/bridge missing): kube-proxy cannot see bridged pod traffic"
  iptables -w 5 -t nat -S >/dev/null 2>&1 || die "iptables -t nat does not work: $(iptables -w 5 -t nat -S 2>&1 | head -1)"
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    die "interface $BRIDGE exists already (another node running? scripts/e2e.sh down)"
  fi
  ip link add ldk-probe0 type bridge 2>/dev/null || die "cannot create a bridge: $(ip link add ldk-probe0 type bridge 2>&1)"
  ip link del ldk-probe0
  ip link add ldk-probe1 type veth peer name ldk-probe2 2>/dev/null ||
    die "cannot create a veth pair: $(ip link add ldk-probe1 type veth peer name ldk-probe2 2>&1)"
  ip link del ldk-probe1
  # Routes: the ranges must be free (no interface holds them, no route but the default
  # claims them); up puts them on the bridge. `ip route get` only asks; it sends nothing.
  local r
  for t in "$NODE_IP" "$POD_PROBE" "$SERVICE_PROBE"; do
    if ip -o addr show | grep -q " $t/"; then die "$t is already an address of this machine"; fi
    r=$(ip route get "$t" 2>&1 | head -1) || true
    if ip route show match "$t" | grep -v '^default' | grep -q .; then
      die "a route already claims $t: $(ip route show match "$t" | grep -v '^default' | head -1)"
    fi
    say "route check: $t -> ${r:-none} (to be moved onto $BRIDGE)"
  done
  for t in 10250 10248 10249 10256 "$DEAD_PORT"; do
    listening "$t" && die "port $t is in use on this machine"
  done
  # Facts worth recording (the issue lists what is known about these machines).
  say "facts: $(facts | tr '\n' ';')"
  echo "E2E_APISERVER_ADVERTISE=$NODE_IP"
  echo "E2E_APISERVER_EXTRA_SANS=IP:$NODE_IP"
  # The `kubernetes` Service gets the advertised address as its endpoint again.
  echo "E2E_APISERVER_EXTRA_ARGS=--endpoint-reconciler-type=lease"
}

facts() {
  local capeff
  capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status)
  echo "CAP_SYS_RESOURCE=$(((16#$capeff >> 24) & 1))"
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo "cgroups=v2"; else
    echo "cgroups=v1 on $(stat -f -c %T /sys/fs/cgroup)"
  fi
  echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
  echo "br_netfilter=$([[ -e /proc/sys/net/bridge ]] && echo yes || echo no)"
  echo "dummy=$(ip link add ldk-dummy0 type dummy 2>/dev/null && ip link del ldk-dummy0 && echo yes || echo no)"
  echo "ipvs=$([[ -e /proc/net/ip_vs ]] && echo yes || echo no)"
  echo "swap=$(($(wc -l </proc/swaps) - 1)) devices"
  echo "systemd=$([[ -d /run/systemd/system ]] && echo yes || echo no)"
  echo "iptables=$(iptables --version)"
  echo "containerd=$(containerd --version | awk '{print $3}') runc=$(runc --version | awk 'NR==1{print $3}')"
}

# --- certificates ------------------------------------------------------------------------

# client_cert NAME CN [O]: pki/NAME.{key,crt} signed by the cluster CA, and NAME.kubeconfig
# for it.
client_cert() {
  pki_cert "$E2E_STATE/pki/ca" "$N/pki/$1" "$2" "${3:-}"
  kubeconfig_cert "$N/$1.kubeconfig" "$E2E_APISERVER" "$E2E_CA_CRT" "$1" "$N/pki/$1"
}

# --- network -------------------------------------------------------------------------------

network_up() {
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Dead ends on this machine for the whole pod range and the service range: a packet
  # nothing rewrote dies on the bridge (and LDK-NODE rejects ClusterIP ones) instead of
  # following the default route. Not `blackhole`: connect() to a blackholed address fails
  # before kube-proxy's OUTPUT DNAT can rewrite it.
  ip route add "$E2E_POD_CIDR" dev "$BRIDGE" src "$NODE_IP" proto static
  ip route add "$E2E_SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP" proto static
  # br_netfilter: bridged pod-to-pod traffic goes through iptables, so kube-proxy's
  # DNAT applies to it (already 1 on these machines; set in case).
  echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  iptables -w 5 -N LDK-NODE
  iptables -w 5 -A LDK-NODE -s "$E2E_POD_CIDR" ! -d "$E2E_POD_CIDR" -j DROP
  iptables -w 5 -A LDK-NODE -d "$E2E_SERVICE_CIDR" -j REJECT
  iptables -w 5 -I FORWARD 1 -j LDK-NODE
  iptables -w 5 -I OUTPUT 1 -j LDK-NODE
  check_routes
}

# Every pod or service address now routes to the bridge; nothing to them can leave.
check_routes() {
  local t r
  for t in "$POD_PROBE" "$SERVICE_PROBE" "$p1.$p2.200.7"; do
    r=$(ip route get "$t" | head -1)
    [[ $r == *" dev $BRIDGE "* ]] || die "route check: $t -> $r (want dev $BRIDGE)"
    say "route check: $t -> $r"
  done
}

network_down() {
  iptables -w 5 -D FORWARD -j LDK-NODE 2>/dev/null || true
  iptables -w 5 -D OUTPUT -j LDK-NODE 2>/dev/null || true
  iptables -w 5 -F LDK-NODE 2>/dev/null || true
  iptables -w 5 -X LDK-NODE 2>/dev/null || true
  ip route del "$E2E_POD_CIDR" dev "$BRIDGE" 2>/dev/null || true
  ip route del "$E2E_SERVICE_CIDR" dev "$BRIDGE" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
}

# --- containerd ------------------------------------------------------------------------------

containerd_config() {
  local c=$N/containerd h
  mkdir -p "$c/certs.d" "$N/cni"
  cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
[grpc]
  address = "$c/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  # The pause image is built here; nothing can pull one.
  sandbox_image = "localhost/lameduck-pause:e2e"
  # No CAP_SYS_RESOURCE: runc cannot set a negative oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$N/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$c/certs.d"
EOF
  # Every registry host, including the fallback `_default`, points at the closed port
  # (`server` is the last resort containerd tries, so it is the closed port too).
  for h in _default docker.io registry-1.docker.io registry.k8s.io k8s.gcr.io gcr.io ghcr.io quay.io \
    public.ecr.aws mcr.microsoft.com localhost; do
    mkdir -p "$c/certs.d/$h"
    cat >"$c/certs.d/$h/hosts.toml" <<EOF
server = "http://127.0.0.1:$DEAD_PORT"
[host."http://127.0.0.1:$DEAD_PORT"]
  capabilities = ["pull", "resolve"]
EOF
  done
}

cni_config() {
  cat >"$N/cni/10-lameduck-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "lameduck-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_SUBNET", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$N/cni-ipam"
      }
    }
  ]
}
EOF
}

containerd_up() {
  containerd_config
  cni_config
  # HTTP(S)_PROXY catches a pull from a host with no hosts.toml above: the proxy is the
  # closed port, so the request is refused on this machine.
  start_proc containerd env HTTP_PROXY="http://127.0.0.1:$DEAD_PORT" HTTPS_PROXY="http://127.0.0.1:$DEAD_PORT" \
    NO_PROXY="" containerd --config "$N/containerd/config.toml"
  wait_until 60 "containerd" ctr --address "$N/containerd/containerd.sock" version ||
    die "containerd did not start: $(tail -5 "$E2E_STATE/logs/containerd.log")"
}

import_images() {
  local tar
  # Build output goes to stderr; the archive paths come on stdout.
  for tar in $("$repo/tests/e2e/images/build.sh"); do
    ctr --address "$N/containerd/containerd.sock" -n k8s.io images import "$tar" >/dev/null
  done
}

# --- kubelet, kube-proxy ---------------------------------------------------------------------

kubelet_up() {
  mkdir -p "$N/pki" "$N/kubelet"
  client_cert kubelet "system:node:$NODE_NAME" system:nodes
  cat >"$N/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $E2E_CA_CRT}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$N/containerd/containerd.sock
# cgroups v1 on a tmpfs, no systemd.
cgroupDriver: cgroupfs
# No CAP_SYS_RESOURCE: a negative oom_score_adj (the default -999) cannot be set.
oomScoreAdj: 0
# No DNS queries leave this machine: pods get no nameserver from the host.
resolvConf: ""
failSwapOn: false
# The node's images are imported, not pulled: never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
maxPods: 110
podLogsDir: $N/pod-logs
EOF
  if [[ $E2E_KUBE_VERSION != 1.34 ]]; then
    # Since 1.35 failCgroupV1 defaults to true: the kubelet refuses to start on a cgroup
    # v1 host, which these machines are (tmpfs with v1 controllers). 1.34 gets the file it
    # always had (its default is false).
    echo "failCgroupV1: false" >>"$N/kubelet.yaml"
  fi
  start_proc kubelet "$E2E_KUBE_BIN/kubelet" --config="$N/kubelet.yaml" --kubeconfig="$N/kubelet.kubeconfig" \
    --root-dir="$N/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
}

kube_proxy_up() {
  client_cert kube-proxy system:kube-proxy
  cat >"$N/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $N/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $E2E_POD_CIDR
# NodePorts answer on loopback only: clients connect to 127.0.0.1:<nodePort>.
nodePortAddresses: ["127.0.0.0/8"]
# No CAP_SYS_RESOURCE (see kubelet).
oomScoreAdj: 0
# Leave the machine's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables:
  localhostNodePorts: true
  masqueradeAll: false
  minSyncPeriod: ${E2E_KUBE_PROXY_MIN_SYNC:-1s}
  syncPeriod: 30s
EOF
  start_proc kube-proxy "$E2E_KUBE_BIN/kube-proxy" --config="$N/kube-proxy.yaml"
}

node_ready() {
  admin_kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' |
    grep -qx True
}

up() {
  [[ -f $E2E_STATE/env ]] || die "no control plane ($E2E_STATE/env missing): scripts/e2e.sh up"
  echo "node_up failed: see $E2E_STATE/logs" >"$E2E_STATE/node-result"
  mkdir -p "$N"
  facts >"$N/facts.txt"
  # Network namespaces that exist now are not ours: down removes only the newer ones.
  ls /run/netns 2>/dev/null >"$N/netns-before" || true
  # The kubelet sets these kernel tunables for itself (protectKernelDefaults off): down
  # puts the machine's values back.
  local t
  for t in "${SAVED_SYSCTLS[@]}"; do echo "$t $(cat "/proc/sys/$t")"; done >"$N/sysctl-before"
  network_up
  containerd_up
  import_images
  # Pods reach the API server at the advertised address (the Service `kubernetes`).
  go_tool tcpfwd
  start_proc apiserver-fwd "$N/bin/tcpfwd" "$NODE_IP:$E2E_APISERVER_PORT" "127.0.0.1:$E2E_APISERVER_PORT"
  kubelet_up
  kube_proxy_up
  wait_until 180 "node $NODE_NAME to be Ready" node_ready || {
    tail -20 "$E2E_STATE/logs/kubelet.log" >&2
    die "node $NODE_NAME did not become Ready"
  }
  # The kubelet registers with the not-ready taint; the node lifecycle controller lifts
  # it once the node is Ready. Lift it here too, for a controller-manager without that
  # controller (nothing re-adds it but that controller).
  admin_kubectl taint node "$NODE_NAME" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
  local cidr
  cidr=$(admin_kubectl get node "$NODE_NAME" -o jsonpath='{.spec.podCIDR}')
  [[ $cidr == "$NODE_SUBNET" ]] || die "the node got podCIDR $cidr; the bridge serves $NODE_SUBNET"
  wait_until 60 "kube-proxy /healthz" curl -fsS http://127.0.0.1:10256/healthz ||
    die "kube-proxy is not healthy: $(tail -5 "$E2E_STATE/logs/kube-proxy.log")"
  echo "ready" >"$E2E_STATE/node-result"
  say "node $NODE_NAME Ready ($(admin_kubectl get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.kubeletVersion}'), podCIDR $cidr)"
}

go_tool() { # go_tool NAME: builds tests/e2e/node/NAME into $N/bin
  mkdir -p "$N/bin"
  (cd "$here" && GOMODCACHE=$E2E_CACHE/gomod GOCACHE=$E2E_CACHE/gocache CGO_ENABLED=0 \
    GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local go build -trimpath -o "$N/bin/$1" "./$1")
}

down() {
  local sock=$N/containerd/containerd.sock c
  if [[ -f $E2E_STATE/admin.kubeconfig ]] && pid_alive kubelet && pid_alive kube-apiserver; then
    # The kubelet tears pods down properly (CNI DEL, netns removal): give it a moment.
    admin_kubectl delete pods --all-namespaces --all --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    wait_until 30 "pods to be gone from the node" bash -c \
      "[[ -z \$(ctr --address '$sock' -n k8s.io tasks ls -q 2>/dev/null) ]]" || true
  fi
  stop_proc kube-proxy
  stop_proc kubelet
  stop_proc apiserver-fwd
  if [[ -S $sock ]] && pid_alive containerd; then
    for c in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    done
    for c in $(ctr --address "$sock" -n k8s.io containers ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
      ctr --address "$sock" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  stop_proc containerd
  # Shims outlive containerd by design; each one's PID is in its task's state folder.
  local pidfile pid
  for pidfile in "$N"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    kill -KILL "$pid" 2>/dev/null || true
  done
  "$E2E_KUBE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  network_down
  local key value
  if [[ -f $N/sysctl-before ]]; then
    while read -r key value; do echo "$value" >"/proc/sys/$key" 2>/dev/null || true; done <"$N/sysctl-before"
  fi
  # Network namespaces the CRI made and did not get to remove.
  local path ns
  for path in /run/netns/*; do
    [[ -e $path ]] || continue
    ns=${path##*/}
    grep -qx "$ns" "$N/netns-before" 2>/dev/null && continue
    [[ $ns == cni-* ]] && ip netns delete "$ns" 2>/dev/null || true
  done
  # Mounts under the node's folder (overlay rootfs, pod volumes), deepest first.
  local m
  if [[ -d $N ]]; then
    while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done < <(awk -v n="$N" '$2 ~ "^"n {print $2}' /proc/self/mounts | sort -r)
    rm -rf "$N"
  fi
  say "node down"
}

images() {
  [[ -S $N/containerd/containerd.sock ]] || die "containerd is not running (node_up)"
  import_images
}

MODE=${1:-}
case ${1:-} in
  preflight) preflight ;;
  up) up ;;
  down) down ;;
  images) images ;;
  facts) facts ;;
  *) die "usage: node-ctl.sh preflight|up|down|images|facts" ;;
esac
