#!/usr/bin/env bash
# Scenario 3: the API server validates and stores every mutated object: pods with native
# sidecars, a raised grace period, a user's own preStop; pods made by the Job, CronJob,
# StatefulSet and DaemonSet controllers; and, with targets=all, the workloads' templates.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
fake_node=e2e-s3-node
trap 'kubectl delete node $fake_node --ignore-not-found >/dev/null 2>&1; lameduck_configure "" >/dev/null; on_exit' EXIT

lameduck_configure "" >/dev/null
new_ns s3
lameduck_caught_up
c() { echo "{\"name\":\"$1\",\"image\":\"$E2E_IMAGE\",\"imagePullPolicy\":\"Never\"${2:+,$2}}"; }

# --- pods ---
pod=$(kubectl -n s3 create -o json -f - <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"native-sidecar"},
 "spec":{"initContainers":[$(c log-agent '"restartPolicy":"Always"')],"containers":[$(c app)]}}
EOF
)
expect "native sidecar: stored; the app is hooked, the sidecar (stopped by the kubelet after it) is not" \
  "$(prestop_of "$pod" app), $(prestop_of "$pod" log-agent)" "sleep 10, none"
expect_match "native sidecar: the grace period leaves it time after the app" "$(grace_of "$pod")" '^[0-9]+$'

pod=$(kubectl -n s3 create -o json -f - <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"graceful","annotations":{"lameduck.dev/shutdown":"120"}},
 "spec":{"terminationGracePeriodSeconds":30,"containers":[$(c app)]}}
EOF
)
expect "a raised grace period is stored (30 -> sleep 10 + shutdown 120)" "$(grace_of "$pod")" 130

err=$(mktemp)
pod=$(kubectl -n s3 create -o json -f - 2>"$err" <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"own-prestop"},
 "spec":{"containers":[$(c app '"lifecycle":{"preStop":{"exec":{"command":["/bin/drain","--now"]}}}'),$(c nginx)]}}
EOF
)
expect "a pod's own preStop is kept as written" "$(prestop_of "$pod" app)" "exec /bin/drain --now"
expect "and the other containers are still planned" "$(prestop_of "$pod" nginx)" "sleep 10"
expect_match "and kubectl prints a warning about the kept hook" "$(cat "$err")" "^Warning: .*app"
rm -f "$err"

# --- pods made by controllers (targets=pods, the default) ---
# A node the DaemonSet can place a pod on, which nothing else may use.
kubectl create -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$fake_node","labels":{"e2e.lameduck.dev/fake":"true"}},
 "spec":{"unschedulable":true,"taints":[{"key":"e2e.lameduck.dev/fake","effect":"NoSchedule"}]}}
EOF
template() { # template LABEL [RESTART-POLICY] [ANNOTATIONS]
  echo "{\"metadata\":{\"labels\":{\"app\":\"$1\"},\"annotations\":${3:-"{}"}},\"spec\":{\"restartPolicy\":\"${2:-Always}\",\"containers\":[$(c app)]}}"
}
kubectl -n s3 create -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"job"},
  "spec":{"backoffLimit":0,"template":$(template job Never '{"lameduck.dev/inject":"true"}')}},
 {"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"cron"},
  "spec":{"schedule":"0 0 1 1 *","jobTemplate":{"spec":{"backoffLimit":0,"template":$(template cron Never '{"lameduck.dev/inject":"true"}')}}}},
 {"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"sts"},
  "spec":{"serviceName":"sts","replicas":1,"selector":{"matchLabels":{"app":"sts"}},"template":$(template sts)}},
 {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ds"},
  "spec":{"selector":{"matchLabels":{"app":"ds"}},"template":{"metadata":{"labels":{"app":"ds"}},
   "spec":{"nodeSelector":{"e2e.lameduck.dev/fake":"true"},
    "tolerations":[{"key":"e2e.lameduck.dev/fake","operator":"Exists"}],"containers":[$(c app)]}}}}
]}
EOF
# The CronJob's schedule never fires during a test: make its Job now, from its template.
kubectl -n s3 create job cron-now --from=cronjob/cron >/dev/null
for app in job cron sts ds; do
  if wait_until 90 "a pod of $app" bash -c "[[ -n \$(kubectl -n s3 get pods -l app=$app -o name) ]]"; then
    pod=$(kubectl -n s3 get pods -l "app=$app" -o json | jq '.items[0]')
    expect "$app: the controller's pod is stored with the plan" "$(prestop_of "$pod" app)/$(status_of "$pod" | cut -c1-11)" 'sleep 10/{"graceSet"'
  else
    fail "$app: the controller's pod is stored with the plan" "no pod within 90s"
  fi
done

# --- targets=all: the templates themselves are mutated and stored ---
lameduck_configure "targets=all" >/dev/null
kubectl -n s3 create -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"t-job"},
  "spec":{"suspend":true,"template":$(template t-job Never '{"lameduck.dev/inject":"true"}')}},
 {"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"t-cron"},
  "spec":{"schedule":"0 0 1 1 *","jobTemplate":{"spec":{"template":$(template t-cron Never '{"lameduck.dev/inject":"true"}')}}}},
 {"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"t-sts"},
  "spec":{"serviceName":"t-sts","replicas":0,"selector":{"matchLabels":{"app":"t-sts"}},"template":$(template t-sts)}},
 {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"t-ds"},
  "spec":{"selector":{"matchLabels":{"app":"t-ds"}},"template":{"metadata":{"labels":{"app":"t-ds"}},
   "spec":{"nodeSelector":{"e2e.lameduck.dev/none":"true"},"containers":[$(c app)]}}}},
 {"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"t-rs"},
  "spec":{"replicas":0,"selector":{"matchLabels":{"app":"t-rs"}},"template":$(template t-rs)}}
]}
EOF
for kind in job/t-job cronjob/t-cron statefulset/t-sts daemonset/t-ds replicaset/t-rs; do
  obj=$(kubectl -n s3 get "$kind" -o json | jq '.spec.jobTemplate.spec.template // .spec.template')
  expect "targets=all: the stored ${kind%/*} template carries the plan" "$(prestop_of "$obj" app)" "sleep 10"
done
kubectl -n s3 annotate statefulset t-sts lameduck.dev/unrelated=1 >/dev/null
kubectl -n s3 patch statefulset t-sts --type=merge -p '{"spec":{"template":{"metadata":{"annotations":{"lameduck.dev/sleep":"12"}}}}}' >/dev/null
obj=$(kubectl -n s3 get statefulset t-sts -o json | jq .spec.template)
expect "targets=all: an UPDATE re-plans the template (fixpoint, no stacked hooks)" "$(prestop_of "$obj" app)" "sleep 12"

finish
