#!/usr/bin/env bash
# e2e: background (each round waits for queue-proxy's drain: the other traffic scenarios run beside it)
# Helpers below are called by name (deploy).
# shellcheck disable=SC2329
# Scenario 51 (Knative): a pod that choreographs its own shutdown, wired as Knative wires a
# revision: the app (user-container) behind queue-proxy, the app's own preStop an
# httpGet to queue-proxy's admin port 8022 /wait-for-drain, which returns once
# queue-proxy, itself stopping, has drained. Knative declares no port 8022: queue-proxy
# is known by name. queue-proxy here is tests/e2e/images/queue: its shutdown protocol,
# because Knative's own modules are not on the Go module proxy (see that file).
# Three variants, two rollouts each under two arms:
#   without        lameduck leaves the namespace alone: the choreography works
#   with           lameduck plans the pod: queue-proxy gets no hook, the app keeps its own
#   before the fix the plan lameduck made before it knew the pattern (queue-proxy:
#                  preStop sleep 10; grace 70), pinned: the app's hook returns after a
#                  second (queue-proxy cancels a drain it was not told to do) and the app
#                  stops while queue-proxy still routes to it
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

scenario="Knative revision"
E2E_BEACON_PORT=$((E2E_BEACON_PORT + 2))
ROLLOUT_ROUNDS=${KNATIVE_ROUNDS:-2}

# revision NAME [QUEUE-EXTRA]: the two containers as Knative's revision reconciler makes
# them (ports, environment, probes), queue-proxy draining after 5 s without a request
# (Knative: 30 s; shorter keeps the rounds short, the protocol is the same).
revision() {
  local user queue
  user=$(container user-container lameduck-demo "" "$(demo_args)" \
    "          ports: [{name: user-port, containerPort: 8080}]
          lifecycle: {preStop: {httpGet: {path: /wait-for-drain, port: 8022}}}")
  queue="        - name: queue-proxy
          image: localhost/lameduck-queue:e2e
          imagePullPolicy: Never
          args: [\"-quiet=5s\"]
          ports: [{name: http1, containerPort: 8012}, {name: queue-metrics, containerPort: 9091}]
          env:
            - {name: SERVING_NAMESPACE, value: $NS}
            - {name: SERVING_SERVICE, value: $1}
            - {name: SERVING_CONFIGURATION, value: $1}
            - {name: SERVING_REVISION, value: $1-00001}
            - {name: QUEUE_SERVING_PORT, value: \"8012\"}
            - {name: QUEUE_SERVING_TLS_PORT, value: \"8112\"}
            - {name: CONTAINER_CONCURRENCY, value: \"0\"}
            - {name: REVISION_TIMEOUT_SECONDS, value: \"300\"}
            - {name: USER_PORT, value: \"8080\"}
            - {name: SERVING_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: SERVING_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
          readinessProbe:
            httpGet: {port: 8012, httpHeaders: [{name: K-Network-Probe, value: queue}]}
            periodSeconds: 1
            failureThreshold: 1${2:+
$2}"
  rolling_app "$1" 8012 "$user
$queue" "      terminationGracePeriodSeconds: ${GRACE:-60}"
}

new_ns s54-without lameduck.dev/inject=disabled
new_ns s54-with
new_ns s54-before lameduck.dev/inject=disabled
export REPLICAS=2
deploy s54-without revision rev
deploy s54-with revision rev
GRACE=70 deploy s54-before revision rev "          lifecycle: {preStop: {sleep: {seconds: 10}}}"

pod=$(kubectl -n s54-with get pods -l app=rev -o json | jq '.items[0]')
expect "Knative revision: lameduck gives queue-proxy no hook (the app's preStop waits on it)" \
  "$(jq -r '.spec.containers[] | select(.name == "queue-proxy") | .lifecycle.preStop // "none"' <<<"$pod")" none
expect "Knative revision: and keeps the app's own hook" \
  "$(jq -c '.spec.containers[] | select(.name == "user-container") | .lifecycle.preStop' <<<"$pod")" \
  '{"httpGet":{"path":"/wait-for-drain","port":8022,"scheme":"HTTP"}}'

variant without s54-without
variant with s54-with
variant "before the fix" s54-before
arm A nodeport new 30 / "NodePort, new connection per request"
arm C ingress pool 30 / "ingress, keep-alive client"
measure "$scenario" rev

expect_rounds "$scenario" without no
# Nothing is injected (the plan leaves both containers to their choreography): no record.
expect_rounds "$scenario" with any
expect_rounds "$scenario" "before the fix" no
for a in A C; do
  expect_clean "$scenario" without "$a"
  expect_clean "$scenario" with "$a"
done
expect_failures "$scenario" "before the fix" C "the app stops a second after deletion while queue-proxy, still in the ingress's routes, proxies to it"
report_arm "$scenario" "before the fix" A
finish
