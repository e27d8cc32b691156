#!/usr/bin/env bash
# Builds the container image and checks it runs: /healthz and /readyz on the metrics
# port, a real AdmissionReview over HTTPS, and a clean stop on SIGTERM. Runs the
# container the way the chart does: non-root, read-only root filesystem, no
# capabilities.
#
#   scripts/docker-smoke.sh
#
# Skips (exit 0, with a message) when there is no Docker daemon.
#   LAMEDUCK_BINARY  static binary to package (default: the static release build,
#                    brought up to date with cargo first)
#   IMAGE            tag to build (default lameduck:smoke)
#   DOCKER           docker CLI (default docker)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
docker=${DOCKER:-docker}
image=${IMAGE:-lameduck:smoke}
target=x86_64-unknown-linux-gnu
binary=${LAMEDUCK_BINARY:-target/$target/release/lameduck}

if ! command -v "$docker" >/dev/null || ! "$docker" info >/dev/null 2>&1; then
  echo "docker-smoke: SKIP: no Docker daemon reachable ('$docker info' failed); image not built" >&2
  exit 0
fi

# Always through cargo (a no-op when up to date), so a stale binary is never packaged.
if [[ -z ${LAMEDUCK_BINARY:-} ]]; then
  echo "docker-smoke: building $binary (static)" >&2
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target "$target"
fi
# scratch has no libc: the binary must be static.
linkage=$(ldd "$binary" 2>&1 || true)
if ! grep -qE 'statically linked|not a dynamic executable' <<<"$linkage"; then
  echo "docker-smoke: $binary is dynamically linked:" >&2
  echo "$linkage" >&2
  exit 1
fi
if command -v file >/dev/null && ! file "$binary" | grep -qE 'static(-pie)? linked|statically linked'; then
  echo "docker-smoke: $binary does not look static: $(file "$binary")" >&2
  exit 1
fi

echo "docker-smoke: docker build -t $image" >&2
"$docker" build --quiet --build-arg "BINARY=$binary" -t "$image" . >/dev/null

container=$("$docker" run --detach \
  --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges \
  --publish 127.0.0.1::8443 --publish 127.0.0.1::9090 \
  "$image" serve --kube off --drain-delay 1s --shutdown-timeout 2s --log-format json)
cleanup() { "$docker" rm --force "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT

port() { "$docker" port "$container" "$1/tcp" | head -n 1 | sed 's/.*://'; }
metrics="http://127.0.0.1:$(port 9090)"
https="https://127.0.0.1:$(port 8443)"

fail() {
  echo "docker-smoke: FAIL: $*" >&2
  "$docker" logs "$container" >&2 || true
  exit 1
}

# Wait for the listener (bounded: 10 s).
for _ in $(seq 100); do
  curl --silent --fail --max-time 1 "$metrics/healthz" >/dev/null && break
  "$docker" inspect --format '{{.State.Running}}' "$container" | grep -q true || fail "container exited"
  sleep 0.1
done
curl --silent --show-error --fail --max-time 2 "$metrics/healthz" >/dev/null || fail "GET /healthz (metrics port)"
curl --silent --show-error --fail --max-time 2 "$metrics/readyz" >/dev/null || fail "GET /readyz (metrics port)"
curl --silent --show-error --fail --max-time 2 --insecure "$https/healthz" >/dev/null || fail "GET /healthz over HTTPS"
curl --silent --show-error --fail --max-time 2 "$metrics/metrics" | grep -q '^# EOF' || fail "GET /metrics is not OpenMetrics"

review='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
  "uid":"11111111-2222-3333-4444-555555555555",
  "kind":{"group":"","version":"v1","kind":"Pod"},
  "resource":{"group":"","version":"v1","resource":"pods"},
  "namespace":"default","operation":"CREATE",
  "userInfo":{"username":"smoke"},
  "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},
    "spec":{"containers":[{"name":"app","image":"example/app:1"}]}}}}'
answer=$(curl --silent --show-error --fail --max-time 3 --insecure \
  -H 'Content-Type: application/json' --data "$review" "$https/mutate") || fail "POST /mutate"
grep -q '"uid":"11111111-2222-3333-4444-555555555555"' <<<"$answer" || fail "answer lacks the request uid: $answer"
grep -q '"allowed":true' <<<"$answer" || fail "pod not allowed: $answer"
grep -q '"patchType":"JSONPatch"' <<<"$answer" || fail "no patch for a plain pod: $answer"

# SIGTERM: readiness fails at once, then the process exits 0 within the drain bounds.
"$docker" kill --signal TERM "$container" >/dev/null
for _ in $(seq 20); do
  code=$(curl --silent --output /dev/null --max-time 1 --write-out '%{http_code}' "$metrics/readyz" || true)
  [[ $code == 200 ]] || break
  sleep 0.05
done
[[ $code == 503 ]] || fail "/readyz answered $code after SIGTERM, expected 503 during the drain delay"
status=$(timeout 15 "$docker" wait "$container") || fail "did not stop within 15 s of SIGTERM"
[[ $status == 0 ]] || fail "exit status $status after SIGTERM"

size=$("$docker" image inspect --format '{{.Size}}' "$image")
echo "docker-smoke: OK: $image ($((size / 1024 / 1024)) MiB) answers /healthz, /readyz, /metrics, /mutate and stops cleanly" >&2
