#!/usr/bin/env bash
# Scenario 54: the `wait` action when its waiter is not there to answer. Each container's
# preStop is an httpGet to the pod's waiter, and the kubelet sends SIGTERM at once when
# that call fails, so what a dead or hung waiter costs is measured here, on the real
# kubelet, by killing the waiter's process on the node:
#   healthy     the hook holds the pod at least `min` (2 s): the measure's baseline
#   healthy     the waiter is a regular container: SIGTERM reaches it together with the
#               hook call, and it answers the hook all the same (--hold-on-sigterm)
#   restarted   the waiter was SIGKILLed earlier; the kubelet restarts it (the pod's
#               restartPolicy: Always), so the pod is held as if nothing happened
#   down        SIGKILLed at the moment of deletion: the kubelet does not restart a
#               container of a terminating pod, the hook fails (FailedPreStopHook) and
#               the app gets SIGTERM at once, as without lameduck (DESIGN.md says so)
#   hung        SIGSTOPped: it still accepts connections but never answers, so the
#               hook holds until the grace period ends, never less than `min`
# Deletion to gone is timed by kubectl: a lower bound on the hold, never shortened by a
# slow machine.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

ns=s54-waiter-down
new_ns "$ns"

# start_pod NAME: a pod of the demo app whose hooks call a waiter, once it is ready.
start_pod() {
  pod_manifest "$1" '{"lameduck.dev/action": "wait", "lameduck.dev/wait-max": "20"}' app |
    kubectl -n "$ns" create -f - >/dev/null
  kubectl -n "$ns" wait --for=condition=Ready "pod/$1" --timeout=120s >/dev/null ||
    fail "$1 becomes ready" "$(kubectl -n "$ns" get pod "$1" -o wide 2>&1)"
}

# waiter_pid NAME: the node's PID of the pod's waiter (its cgroup names the pod's UID).
waiter_pid() {
  local uid dir
  uid=$(kubectl -n "$ns" get pod "$1" -o jsonpath='{.metadata.uid}')
  for dir in /proc/[0-9]*; do
    [[ $(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null) == "/lameduck waiter "* ]] || continue
    if grep -q -e "pod$uid" -e "pod${uid//-/_}" "$dir/cgroup" 2>/dev/null; then
      echo "${dir#/proc/}"
      return
    fi
  done
}

waiter_restarts() {
  kubectl -n "$ns" get pod "$1" \
    -o jsonpath='{.status.containerStatuses[?(@.name=="lameduck-waiter")].restartCount}'
}

# held NAME: seconds from the deletion until the pod is gone.
held() {
  local start end
  start=$(date +%s.%N)
  kubectl -n "$ns" delete pod "$1" --wait=true --timeout=120s >/dev/null
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'
}

# failed_hooks NAME: FailedPreStopHook events the kubelet recorded for the pod.
failed_hooks() {
  sleep 2 # the kubelet records events asynchronously
  kubectl -n "$ns" get events --field-selector "involvedObject.name=$1,reason=FailedPreStopHook" \
    -o name | wc -l | tr -d ' '
}

at_least_min() { awk -v s="$1" 'BEGIN { exit !(s >= 2.0) }'; }

for p in healthy restarted down hung; do start_pod "$p"; done

s=$(held healthy)
if at_least_min "$s"; then ok "waiter healthy: the pod is held ${s}s (min 2 s)"; else
  fail "waiter healthy: the pod is held at least min" "gone ${s}s after deletion"
fi
expect "waiter healthy: the hook did not fail" "$(failed_hooks healthy)" 0

pid=$(waiter_pid restarted)
if [[ -z $pid ]]; then
  fail "waiter restarted: its process is found on the node" "no /lameduck waiter in pod restarted's cgroup"
else
  kill -KILL "$pid"
  wait_until 60 "the kubelet restarts the waiter" \
    bash -c "[[ \$(kubectl -n $ns get pod restarted -o jsonpath='{.status.containerStatuses[?(@.name==\"lameduck-waiter\")].ready}') == true && \
      \$(kubectl -n $ns get pod restarted -o jsonpath='{.status.containerStatuses[?(@.name==\"lameduck-waiter\")].restartCount}') -ge 1 ]]"
  expect "waiter restarted: the kubelet restarted the waiter" "$(waiter_restarts restarted)" 1
  s=$(held restarted)
  if at_least_min "$s"; then ok "waiter restarted: the pod is still held, ${s}s (min 2 s)"; else
    fail "waiter restarted: the pod is still held at least min" "gone ${s}s after deletion"
  fi
  expect "waiter restarted: the hook did not fail" "$(failed_hooks restarted)" 0
fi

pid=$(waiter_pid down)
if [[ -z $pid ]]; then
  fail "waiter down: its process is found on the node" "no /lameduck waiter in pod down's cgroup"
else
  kill -KILL "$pid"
  s=$(held down)
  # The stated limit, reported rather than asserted: whether the kubelet restarted the
  # waiter before it saw the deletion is a race this scenario does not control.
  echo "report waiter down at deletion: gone ${s}s after deletion, $(failed_hooks down) FailedPreStopHook event(s)"
fi

pid=$(waiter_pid hung)
if [[ -z $pid ]]; then
  fail "waiter hung: its process is found on the node" "no /lameduck waiter in pod hung's cgroup"
else
  grace=$(kubectl -n "$ns" get pod hung -o jsonpath='{.spec.terminationGracePeriodSeconds}')
  kill -STOP "$pid"
  s=$(held hung)
  if at_least_min "$s"; then ok "waiter hung: the pod is held ${s}s, up to its grace period (${grace}s)"; else
    fail "waiter hung: the pod is held at least min" "gone ${s}s after deletion"
  fi
fi
finish
