# The cluster's ingress controller: Traefik v3 (built from source by tests/e2e/build.sh,
# image localhost/lameduck-traefik:e2e) as users run it, a Deployment with its own
# ServiceAccount and RBAC, reading Ingresses and EndpointSlices through the API server,
# with the IngressClass `traefik` as the cluster's default. Its entry point is a NodePort
# on 127.0.0.1 ($E2E_INGRESS_PORT): any Ingress in any namespace is served at
# http://127.0.0.1:$E2E_INGRESS_PORT (Host or path routing, as Traefik does it). Sourced by
# scripts/e2e.sh.
# shellcheck shell=bash

E2E_INGRESS_PORT=${E2E_INGRESS_PORT:-30080}
# Traefik applies provider events at most this often (its default, 2 s): its own lag
# behind an endpoint removal. A larger value stands in for a slow load balancer.
E2E_INGRESS_THROTTLE=${E2E_INGRESS_THROTTLE:-2s}

traefik_manifest() {
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: ingress}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: traefik, namespace: ingress}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-traefik}
rules:
  - apiGroups: [""]
    resources: [services, secrets, nodes]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses, ingressclasses]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-traefik}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-traefik}
subjects: [{kind: ServiceAccount, name: traefik, namespace: ingress}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: traefik
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: traefik.io/ingress-controller}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: traefik, namespace: ingress}
spec:
  replicas: 1
  selector: {matchLabels: {app: traefik}}
  template:
    metadata: {labels: {app: traefik}}
    spec:
      serviceAccountName: traefik
      containers:
        - name: traefik
          image: localhost/lameduck-traefik:e2e
          imagePullPolicy: Never
          args:
            - --entryPoints.web.address=:8000
            - --entryPoints.traefik.address=:9000
            - --ping=true
            - --providers.kubernetesIngress=true
            - --providers.providersThrottleDuration=$E2E_INGRESS_THROTTLE
            # Nothing leaves this machine: no version check, no usage report.
            - --global.checkNewVersion=false
            - --global.sendAnonymousUsage=false
            - --log.level=INFO
          ports:
            - {name: web, containerPort: 8000}
            - {name: admin, containerPort: 9000}
          readinessProbe:
            httpGet: {path: /ping, port: 9000}
            periodSeconds: 1
          securityContext:
            runAsNonRoot: true
            runAsUser: 65532
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata: {name: traefik, namespace: ingress}
spec:
  type: NodePort
  selector: {app: traefik}
  ports: [{name: web, port: 80, targetPort: 8000, nodePort: $E2E_INGRESS_PORT}]
YAML
}

# On failure, Traefik's own log goes to stderr: it runs as a pod, not under start_proc.
ingress_up() {
  traefik_manifest | admin_kubectl apply -f - >/dev/null
  if admin_kubectl -n ingress rollout status deployment/traefik --timeout=180s >/dev/null &&
    wait_until 60 "Traefik at 127.0.0.1:$E2E_INGRESS_PORT" \
      curl -s -o /dev/null "http://127.0.0.1:$E2E_INGRESS_PORT/"; then
    return 0
  fi
  admin_kubectl -n ingress logs deployment/traefik --tail=30 >&2 || true
  return 1
}
