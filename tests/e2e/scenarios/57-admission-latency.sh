#!/usr/bin/env bash
# Scenario 57: what lameduck adds to pod creation through the real API server. Server-side
# dry-run creates of a three-container pod (the whole admission chain runs, nothing is
# stored) at a steady rate into three namespaces in turn:
#   lameduck       planned by lameduck, as installed by its chart
#   lameduck, pod skipped   the same, the pod annotated lameduck.dev/inject: "false":
#                  lameduck reads the review and answers without a plan, so the
#                  difference from the row above is the plan and its patch
#   no-op webhook  served by a webhook that admits with no patch (tests/e2e/images/
#                  noop-webhook), deployed as lameduck is: two replicas, TLS, a Service,
#                  the chart's resources and failurePolicy; lameduck's selector skips it
#   no-op webhook, one-annotation patch   the same webhook answering with a one-operation
#                  patch: the least any webhook that mutates costs (the API server then
#                  encodes, patches and decodes the pod, whatever the patch holds)
#   no webhook     excluded by lameduck's namespaceSelector: the API server alone
# Checked: every create sent succeeds, every lameduck answer is a plan and no other answer
# is, the API server counts no failed webhook call, and it reuses its connections (a
# handful of TLS handshakes, not one per create), also after 8 s of quiet. Latency is measured, not asserted:
# ADMISSION_RATES (default "50"), ADMISSION_SECONDS (default 5) set the run; with
# ADMISSION_OUT=FILE the result lines are appended there (docs/results/admission.jsonl
# is such a file; scripts/admission-table.py makes the README's table from it).
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node
mwc=zz-e2e-noop-webhook
trap 'kubectl delete mutatingwebhookconfiguration $mwc --ignore-not-found >/dev/null 2>&1; on_exit' EXIT

# stop WHAT WHY: a failed step the rest cannot run without.
stop() { fail "$1" "$2"; finish; }

rates=${ADMISSION_RATES:-50}
seconds=${ADMISSION_SECONDS:-5}
lameduck_configure "" >/dev/null

# A run just before this one (by hand) may still be deleting its namespaces.
for ns in s57-lameduck s57-excluded s57-noop s57-noop-patch s57-noop-webhook; do
  kubectl wait --for=delete "namespace/$ns" --timeout=180s >/dev/null 2>&1 || true
done
new_ns s57-lameduck
new_ns s57-excluded lameduck.dev/inject=disabled
new_ns s57-noop lameduck.dev/inject=disabled e2e.lameduck.dev/noop-webhook=on
new_ns s57-noop-patch lameduck.dev/inject=disabled e2e.lameduck.dev/noop-webhook=annotate
new_ns s57-noop-webhook lameduck.dev/inject=disabled
lameduck_caught_up

pki=$(mktemp -d)
# The key type lameduck's chart gives it: a handshake costs the same on both.
PKI_KEY=ec pki_cert "$E2E_STATE/pki/lameduck-ca" "$pki/noop" noop-webhook "" \
  DNS:noop-webhook.s57-noop-webhook.svc DNS:noop-webhook.s57-noop-webhook.svc.cluster.local
kubectl -n s57-noop-webhook create secret tls noop-webhook-tls --cert "$pki/noop.crt" --key "$pki/noop.key" >/dev/null
rm -rf "$pki"
# The chart's shape for lameduck: two replicas, the same resources, probes on a plain
# HTTP port, a Service on 443.
kubectl -n s57-noop-webhook apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: noop-webhook}
spec:
  replicas: 2
  selector: {matchLabels: {app: noop-webhook}}
  template:
    metadata: {labels: {app: noop-webhook}}
    spec:
      containers:
        - name: noop-webhook
          image: localhost/lameduck-noop-webhook:e2e
          imagePullPolicy: Never
          args: [-listen=:8443, -metrics-listen=:9090, -tls-cert=/tls/tls.crt, -tls-key=/tls/tls.key]
          ports: [{name: https, containerPort: 8443}, {name: metrics, containerPort: 9090}]
          readinessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 2}
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {cpu: 500m, memory: 128Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            capabilities: {drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
          volumeMounts: [{name: tls, mountPath: /tls, readOnly: true}]
      volumes: [{name: tls, secret: {secretName: noop-webhook-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: noop-webhook}
spec:
  selector: {app: noop-webhook}
  ports: [{name: https, port: 443, targetPort: https}]
EOF
kubectl -n s57-noop-webhook rollout status deployment/noop-webhook --timeout=120s >/dev/null ||
  stop "the no-op webhook" "not ready in 120 s"
# As the chart configures lameduck's webhook, but for one namespace each.
noop_hook() { # noop_hook NAME PATH SELECTOR-VALUE
  local policy timeout
  policy=$(kubectl get mutatingwebhookconfiguration "$E2E_RELEASE" -o jsonpath='{.webhooks[0].failurePolicy}')
  timeout=$(kubectl get mutatingwebhookconfiguration "$E2E_RELEASE" -o jsonpath='{.webhooks[0].timeoutSeconds}')
  cat <<EOF
{"name":"$1","admissionReviewVersions":["v1"],"sideEffects":"None",
 "failurePolicy":"$policy","reinvocationPolicy":"Never","timeoutSeconds":$timeout,
 "clientConfig":{"service":{"namespace":"s57-noop-webhook","name":"noop-webhook","path":"$2","port":443},
                 "caBundle":"$(base64 -w0 "$E2E_LAMEDUCK_CA_CRT")"},
 "namespaceSelector":{"matchLabels":{"e2e.lameduck.dev/noop-webhook":"$3"}},
 "rules":[{"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"operations":["CREATE"],"scope":"Namespaced"}]}
EOF
}
kubectl create -f - >/dev/null <<EOF
{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration",
 "metadata":{"name":"$mwc"},
 "webhooks":[$(noop_hook noop.e2e.lameduck.dev /mutate on), $(noop_hook annotate.e2e.lameduck.dev /annotate annotate)]}
EOF

# metrics_paths NS SELECTOR PORT: the pods' /metrics through the API server's pod proxy.
metrics_paths() {
  kubectl -n "$1" get pods -l "$2" -o json |
    jq -c --arg ns "$1" --arg port "$3" '[.items[] | select(.metadata.deletionTimestamp == null)
      | "/api/v1/namespaces/\($ns)/pods/\(.metadata.name):\($port)/proxy/metrics"]'
}
noop_paths=$(metrics_paths s57-noop-webhook app=noop-webhook 9090)
lameduck_paths=$(metrics_paths "$E2E_LAMEDUCK_NS" "app.kubernetes.io/instance=$E2E_RELEASE" 9090)
lameduck_webhook=$(kubectl get mutatingwebhookconfiguration "$E2E_RELEASE" -o jsonpath='{.webhooks[0].name}')

# metric_sum PATHS METRIC: METRIC summed over all its series in every pod's /metrics.
metric_sum() {
  local path total=0 n
  for path in $(jq -r '.[]' <<<"$1"); do
    n=$(kubectl get --raw "$path" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}')
    total=$((total + n))
  done
  echo "$total"
}

# The API server picks up a new configuration through its informer: wait until it calls it.
((${#noop_paths} > 2)) || stop "the no-op webhook" "no pod found"
# shellcheck disable=SC2329 # called through wait_until
noop_called() {
  kubectl -n s57-noop create --dry-run=server -o name -f - <<<"$(pod_manifest probe)" >/dev/null &&
    (($(metric_sum "$noop_paths" noop_webhook_reviews_total) > 0))
}
wait_until 60 "the API server to call the no-op webhook" noop_called ||
  stop "the no-op webhook" "the API server never called it"

commit=$(git -C "$E2E_REPO" rev-parse --short HEAD)
git -C "$E2E_REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock charts tests/e2e 2>/dev/null || commit+=-dirty
config=$E2E_STATE/admission-config.json
jq -n --arg kubeconfig "$KUBECONFIG" --argjson rates "[$(tr ' ' ',' <<<"$rates")]" --argjson seconds "$seconds" \
  --arg lameduck_webhook "$lameduck_webhook" --argjson lameduck_paths "$lameduck_paths" \
  --argjson noop_paths "$noop_paths" --arg commit "$commit" \
  --arg kube "$(kubectl version -o json | jq -r .serverVersion.gitVersion)" \
  --arg cpus "$(nproc)" --arg model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" '{
  kubeconfig: $kubeconfig, rates: $rates, seconds: $seconds, warmup_seconds: 1, max_in_flight: 512,
  labels: {commit: $commit, kubernetes: $kube, cpus: ($cpus | tonumber), cpu_model: $model},
  targets: [
    {name: "lameduck", namespace: "s57-lameduck", webhook: $lameduck_webhook, metrics_paths: $lameduck_paths,
     handshake_metric: "lameduck_tls_handshakes_total", duration_metric: "lameduck_admission_duration_seconds"},
    {name: "lameduck, pod skipped", namespace: "s57-lameduck", webhook: $lameduck_webhook, metrics_paths: $lameduck_paths,
     handshake_metric: "lameduck_tls_handshakes_total", duration_metric: "lameduck_admission_duration_seconds",
     pod_annotations: {"lameduck.dev/inject": "false"}},
    {name: "no-op webhook", namespace: "s57-noop", webhook: "noop.e2e.lameduck.dev", metrics_paths: $noop_paths,
     handshake_metric: "noop_webhook_tls_handshakes_total"},
    {name: "no-op webhook, one-annotation patch", namespace: "s57-noop-patch", webhook: "annotate.e2e.lameduck.dev",
     metrics_paths: $noop_paths, handshake_metric: "noop_webhook_tls_handshakes_total"},
    {name: "no webhook", namespace: "s57-excluded"}
  ]}' >"$config"

out=$E2E_STATE/admission.jsonl
rm -f "$out"
createload_bin() {
  local bin=$E2E_CACHE/bin/e2e-createload
  (cd "$E2E_REPO/tests/e2e/createload" && GOMODCACHE=$E2E_CACHE/gomod GOCACHE=$E2E_CACHE/gocache CGO_ENABLED=0 \
    GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local go build -trimpath -o "$bin" .) >&2
  echo "$bin"
}
"$(createload_bin)" -config "$config" -json "$out" || stop "e2e-createload" "exited with an error"
[[ -z ${ADMISSION_OUT:-} ]] || { cat "$out" >>"$ADMISSION_OUT" && ok "results appended to $ADMISSION_OUT"; }

for rate in $rates; do
  row() { jq -c --arg t "$1" --argjson r "$rate" 'select(.target == $t and .rate == $r)' "$out"; }
  targets=(lameduck "lameduck, pod skipped" "no-op webhook" "no-op webhook, one-annotation patch" "no webhook")
  for target in "${targets[@]}"; do
    r=$(row "$target")
    # Creates the tool did not send (512 in flight already) are this machine's limit,
    # reported in the table, not a failure.
    expect "$target at $rate/s: every create sent succeeded" "$(jq -r '.failed' <<<"$r")" 0
  done
  expect "lameduck at $rate/s: every answer carries the plan" "$(jq -r '.mutated == .sent' <<<"$(row lameduck)")" true
  expect "lameduck's skipped pods, the no-op webhooks and no webhook at $rate/s: no pod gets a hook" \
    "$(for t in "${targets[@]:1}"; do jq -r '.mutated' <<<"$(row "$t")"; done | xargs)" "0 0 0 0"
  expect "the one-annotation patch at $rate/s: every answer carries it, and only there" \
    "$(for t in "${targets[@]}"; do jq -r '.annotated_by_noop == .sent' <<<"$(row "$t")"; done | xargs)" "false false false true false"
  for target in "${targets[@]:0:4}"; do
    r=$(row "$target")
    expect "$target at $rate/s: the API server called it for every create, and no call failed" \
      "$(jq -r '"\(.apiserver_webhook_calls >= .sent) \(.apiserver_webhook_failed_calls)"' <<<"$r")" "true 0"
    # A handshake per create would show connections were not reused. Past what the
    # machine's API server keeps up with (creates left unsent, answers after seconds),
    # it opens one per call beyond its 25 idle connections: reported, not checked.
    if jq -e '.skipped_in_flight_limit == 0 and .p99_ms < 1000' <<<"$r" >/dev/null; then
      expect "$target at $rate/s: the API server reuses its connections (handshakes ≤ a tenth of the creates)" \
        "$(jq -r '.webhook_tls_handshakes * 10 <= .sent' <<<"$r")" true
    fi
  done
  jq -r '"   \(.rate)/s \(.target): p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, API server → webhook mean \(.apiserver_webhook_mean_ms) ms, handshakes \(.webhook_tls_handshakes)"' \
    <<<"$(for t in "${targets[@]}"; do row "$t"; done)"
done

# An idle connection outlives lameduck's 5 s header timeout: the API server keeps its
# idle connections 90 s and would send the next review onto one lameduck was closing.
# One create, 8 s of quiet, another: the second must reach lameduck and need no new
# connection.
lameduck_counts() {
  echo "$(metric_sum "$lameduck_paths" lameduck_admission_requests_total)" \
    "$(metric_sum "$lameduck_paths" lameduck_tls_handshakes_total)"
}
kubectl -n s57-lameduck create --dry-run=server -o name -f - <<<"$(pod_manifest idle-1)" >/dev/null
read -r reviews handshakes <<<"$(lameduck_counts)"
sleep 8
kubectl -n s57-lameduck create --dry-run=server -o name -f - <<<"$(pod_manifest idle-2)" >/dev/null
read -r reviews_after handshakes_after <<<"$(lameduck_counts)"
expect "lameduck: after 8 s idle, the API server's next review reaches it on a kept connection (reviews +1, handshakes +0)" \
  "+$((reviews_after - reviews)) +$((handshakes_after - handshakes))" "+1 +0"
finish
