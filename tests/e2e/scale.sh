#!/usr/bin/env bash
# Scale, measured once (not part of CI): lameduck against a real API server holding many
# namespaces and nodes. Prints lameduck's time to first sync, its RSS, and its answer
# latency while its namespace watch is busy.
#
#   tests/e2e/scale.sh [NAMESPACES] [NODES]     (default 10000 2000)
#
# Needs a cluster from `scripts/e2e.sh up` with lameduck on the host (no node), and
# leaves the objects in it: take it down afterwards (scripts/e2e.sh down).
set -euo pipefail
namespaces=${1:-10000}
nodes=${2:-2000}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"
set -a
# shellcheck source=/dev/null
source "$E2E_STATE/env"
set +a
[[ ${E2E_NODE:-0} == 0 ]] || { echo "scale.sh measures lameduck on the host: bring the cluster up with E2E_NODE=0" >&2; exit 2; }
export KUBECONFIG=$E2E_ADMIN_KUBECONFIG PATH=$E2E_STATE/path:$PATH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

images=$(for i in $(seq 1 12); do printf '{"names":["registry.example/team-%d/service@sha256:%064d","registry.example/team-%d/service:v%d"],"sizeBytes":%d},' "$i" "$i" "$i" "$i" $((i * 10000000)); done)
images=${images%,}

# create_many KIND COUNT: COUNT objects, in Lists of 500 sent by 4 kubectl at a time;
# nothing when they exist already (a second run on the same cluster).
create_many() {
  local kind=$1 count=$2 i chunk=500 have
  have=$(kubectl get "${kind,,}s" --no-headers 2>/dev/null | grep -c scale- || true)
  ((have < count)) || return 0
  for ((i = 0; i < count; i += chunk)); do
    {
      echo '{"apiVersion":"v1","kind":"List","items":['
      local j end=$((i + chunk < count ? i + chunk : count))
      for ((j = i; j < end; j++)); do
        ((j == i)) || echo ,
        if [[ $kind == Namespace ]]; then
          printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"scale-%05d","annotations":{"lameduck.dev/sleep":"%d"}}}' "$j" $((j % 30 + 1))
        else
          # Nodes take their status on create; nothing can be scheduled on them. A dozen
          # images in the status, as real nodes carry, so a Node list page weighs what it
          # does in a real cluster.
          printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"scale-node-%05d","labels":{"e2e.lameduck.dev/fake":"scale"}},"spec":{"unschedulable":true,"taints":[{"key":"e2e.lameduck.dev/fake","effect":"NoSchedule"}]},"status":{"nodeInfo":{"kubeletVersion":"v1.34.%d","kubeProxyVersion":"","machineID":"m%05d","systemUUID":"s%05d","bootID":"b%05d","kernelVersion":"6.1.0","osImage":"Debian GNU/Linux 12","containerRuntimeVersion":"containerd://1.6.20","operatingSystem":"linux","architecture":"amd64"},"images":[%s]}}' "$j" $((j % 4 + 1)) "$j" "$j" "$j" "$images"
        fi
      done
      echo ']}'
    } >"$work/$kind-$i.json"
  done
  printf '%s\n' "$work/$kind"-*.json | xargs -P 4 -n 1 kubectl create -f >/dev/null
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$(cat "$E2E_STATE/pids/lameduck")/status"; }

echo "creating $namespaces namespaces and $nodes nodes..."
started=$SECONDS
create_many Namespace "$namespaces"
create_many Node "$nodes"
echo "created in $((SECONDS - started))s: $(kubectl get namespaces --no-headers | wc -l) namespaces, $(kubectl get nodes --no-headers | wc -l) nodes"
rss_before=$(rss_kib)

# Time to first sync: from a fresh start to /readyz saying namespaces watched and the
# cluster versions read.
stop_proc lameduck
t0=$(date +%s.%N)
lameduck_start
t1=$(date +%s.%N)
echo "time to first sync (start -> namespaces watched, versions read): $(echo "$t1 - $t0" | bc) s"
echo "readyz: $(lameduck_readyz | tr '\n' ' ')"
echo "RSS after sync: $(($(rss_kib) / 1024)) MiB (before, with an empty-ish cluster and these objects arriving: $((rss_before / 1024)) MiB)"

# Answer latency while the watch is busy: a writer re-annotates every namespace while
# a client sends reviews straight to lameduck.
review='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"scale-00007","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"scale-00007"},"spec":{"containers":[{"name":"nginx","image":"nginx"},{"name":"app","image":"app"}]}}}}'
latencies() { # latencies N: N sequential reviews (curl: a new TLS connection each), one time_total per line (seconds)
  local i
  for ((i = 0; i < $1; i++)); do
    curl -sS -o /dev/null -w '%{time_total}\n' --cacert "$E2E_LAMEDUCK_CA_CRT" \
      -H 'Content-Type: application/json' --data "$review" "https://127.0.0.1:$E2E_LAMEDUCK_PORT/mutate"
  done
}
summary() { sort -n | awk '{a[NR] = $1} END {printf "n=%d p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms\n", NR, a[int(NR*0.5)]*1000, a[int(NR*0.9)]*1000, a[int(NR*0.99)]*1000, a[NR]*1000}'; }

# lameduck's own view (its duration histogram): the time from request to answer inside
# the server, without curl's process start and TLS handshake.
server_seconds() { # "SUM COUNT" of lameduck_admission_duration_seconds
  curl -fsS "http://127.0.0.1:$E2E_LAMEDUCK_METRICS_PORT/metrics" |
    awk '/^lameduck_admission_duration_seconds_sum/ {s = $2} /^lameduck_admission_duration_seconds_count/ {c = $2} END {print s, c}'
}
server_mean() { # server_mean "SUM COUNT" (before) "SUM COUNT" (after)
  echo "$1 $2" | awk '{n = $4 - $2; printf "server-side mean %.2fms over %d reviews", n ? ($3 - $1) / n * 1000 : 0, n}'
}

before=$(server_seconds)
echo "answer latency, idle watch:  $(latencies 500 | summary)"
echo "  $(server_mean "$before" "$(server_seconds)")"
before=$(server_seconds)
(
  for round in 1 2 3; do
    kubectl get namespaces -o name | grep scale- |
      xargs -n 500 -P 4 sh -c 'kubectl annotate --overwrite "$@" lameduck.dev/stagger='"$round"' >/dev/null' _
  done
) &
writer=$!
echo "answer latency, busy watch:  $(latencies 500 | summary)"
echo "  $(server_mean "$before" "$(server_seconds)")"
events_done=0
kill -0 "$writer" 2>/dev/null || events_done=1
wait "$writer"
echo "(the writer re-annotated ${namespaces} namespaces 3 times; it had $([[ $events_done == 1 ]] && echo "already" || echo "not yet") finished when the 500 reviews were done)"
echo "RSS after the busy watch: $(($(rss_kib) / 1024)) MiB"
