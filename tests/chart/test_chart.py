"""Assertions on the rendered chart: selectors per mode, the webhook configuration,
the webhook's own hardening, least RBAC and the three certificate modes.

Run: python -m pytest tests/chart  (needs helm-python-sdk, PyYAML, pytest).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helmrender  # noqa: E402
from helmrender import Doc, RenderError  # noqa: E402

NS = "lameduck-system"
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}
WORKLOAD_RESOURCES = {
    "apps": {"deployments", "statefulsets", "daemonsets", "replicasets"},
    "batch": {"jobs", "cronjobs"},
}


@lru_cache(maxsize=None)
def _render(values_json: str) -> tuple[Doc, ...]:
    return tuple(helmrender.render(json.loads(values_json), name="lameduck", namespace=NS))


def render(values: dict[str, Any] | None = None) -> list[Doc]:
    return list(_render(json.dumps(values or {}, sort_keys=True)))


def objects(values: dict[str, Any] | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    return [doc.obj for doc in render(values) if kind is None or doc.kind == kind]


def one(values: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    found = objects(values, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def webhook(values: dict[str, Any] | None = None) -> dict[str, Any]:
    config = one(values, "MutatingWebhookConfiguration")
    assert len(config["webhooks"]) == 1
    return config["webhooks"][0]


def container(values: dict[str, Any] | None = None) -> dict[str, Any]:
    pod = one(values, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return pod["containers"][0]


def flags(values: dict[str, Any] | None = None) -> dict[str, str]:
    args = container(values)["args"]
    assert args[0] == "serve"
    parsed = {}
    for arg in args[1:]:
        assert arg.startswith("--") and "=" in arg, arg
        key, value = arg[2:].split("=", 1)
        assert key not in parsed, f"--{key} given twice"
        parsed[key] = value
    return parsed


def seconds(text: str) -> int:
    assert text.endswith("s") and text[:-1].isdigit(), text
    return int(text[:-1])


def expressions(selector: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    assert set(selector) == {"matchExpressions"}
    return {e["key"]: (e["operator"], e.get("values", [])) for e in selector["matchExpressions"]}


ALL_COMBINATIONS = [
    {"mode": mode, "targets": targets, "certs": certs}
    for mode in ("cluster", "namespace")
    for targets in ("pods", "all")
    for certs in (
        {"mode": "helm"},
        {"mode": "cert-manager"},
        {"mode": "existing", "existing": {"secretName": "my-tls", "caBundle": "Zm9v"}},
    )
]


# --- the webhook configuration ---------------------------------------------------------


@pytest.mark.parametrize("values", ALL_COMBINATIONS, ids=lambda v: f"{v['mode']}-{v['targets']}-{v['certs']['mode']}")
def test_webhook_fields_in_every_combination(values: dict[str, Any]) -> None:
    hook = webhook(values)
    assert hook["name"] == "mutate.lameduck.dev"
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["matchPolicy"] == "Equivalent"
    assert 1 <= hook["timeoutSeconds"] <= 5
    service = hook["clientConfig"]["service"]
    assert service == {"name": "lameduck", "namespace": NS, "path": "/mutate", "port": 443}
    assert "url" not in hook["clientConfig"]


def test_cluster_mode_selects_all_but_system_release_and_disabled_namespaces() -> None:
    selector = expressions(webhook({"mode": "cluster"})["namespaceSelector"])
    assert set(selector) == {"kubernetes.io/metadata.name", "lameduck.dev/inject"}
    operator, names = selector["kubernetes.io/metadata.name"]
    assert operator == "NotIn" and set(names) == SYSTEM_NAMESPACES | {NS}
    assert selector["lameduck.dev/inject"] == ("NotIn", ["disabled"])


def test_namespace_mode_selects_only_enabled_namespaces() -> None:
    selector = expressions(webhook({"mode": "namespace"})["namespaceSelector"])
    assert selector["lameduck.dev/inject"] == ("In", ["enabled"])
    operator, names = selector["kubernetes.io/metadata.name"]
    assert operator == "NotIn" and set(names) == SYSTEM_NAMESPACES | {NS}
    assert set(selector) == {"kubernetes.io/metadata.name", "lameduck.dev/inject"}


@pytest.mark.parametrize("mode", ["cluster", "namespace"])
def test_server_mode_flag_follows_the_selector_mode(mode: str) -> None:
    assert flags({"mode": mode})["mode"] == mode


def test_excluded_namespaces_are_added_without_duplicates() -> None:
    values = {"excludedNamespaces": ["istio-system", "kube-system"]}
    _, names = expressions(webhook(values)["namespaceSelector"])["kubernetes.io/metadata.name"]
    assert sorted(names) == sorted(SYSTEM_NAMESPACES | {NS, "istio-system"})


def test_default_targets_pods_on_create_only() -> None:
    assert webhook()["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "operations": ["CREATE"],
            "scope": "Namespaced",
        }
    ]


def test_targets_all_adds_workload_templates_on_create_and_update() -> None:
    rules = webhook({"targets": "all"})["rules"]
    pods = [r for r in rules if r["apiGroups"] == [""]]
    assert len(pods) == 1 and pods[0]["resources"] == ["pods"] and pods[0]["operations"] == ["CREATE"]
    seen: dict[str, set[str]] = {}
    for rule in rules:
        if rule["apiGroups"] == [""]:
            continue
        (group,) = rule["apiGroups"]
        assert rule["apiVersions"] == ["v1"]
        assert sorted(rule["operations"]) == ["CREATE", "UPDATE"]
        assert rule["scope"] == "Namespaced"
        assert not any("/" in resource for resource in rule["resources"]), "no subresources"
        seen.setdefault(group, set()).update(rule["resources"])
    assert seen == WORKLOAD_RESOURCES


def test_failure_policy_and_timeout_are_configurable() -> None:
    hook = webhook({"webhook": {"failurePolicy": "Fail", "timeoutSeconds": 5}})
    assert hook["failurePolicy"] == "Fail" and hook["timeoutSeconds"] == 5


def test_object_selector_passes_through() -> None:
    selector = {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}
    assert webhook({"objectSelector": selector})["objectSelector"] == selector
    assert "objectSelector" not in webhook()


# --- schema: typos and unsafe values fail the render -----------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"webhook": {"timeoutSeconds": 6}},
        {"webhook": {"timeoutSeconds": 0}},
        {"webhook": {"failurePolicy": "ignore"}},
        {"mode": "namespaces"},
        {"targets": "workloads"},
        {"replicas": 3},  # typo of replicaCount
        {"webhook": {"timeout": 3}},
        {"settings": {"defaultSleep": "ten seconds"}},
        {"settings": {"action": "pause"}},
        {"certs": {"mode": "vault"}},
        {"certs": {"mode": "existing"}},  # needs a secret name
        {"certs": {"existing": {"caBundle": "not base64!"}}},
        {"shutdown": {"drainDelay": "5s"}},
        {"shutdown": {"terminationGracePeriodSeconds": 10}},  # below 5 + 5 + 10
        {"metrics": {"port": 8443}},
        {"auditRole": {"enabled": True}},  # typo of create
        {"auditRole": {"create": True, "subjects": [{"kind": "ServiceAccount", "name": "audit"}]}},  # no namespace
        {"auditRole": {"create": True, "subjects": [{"kind": "Team", "name": "x"}]}},
    ],
    ids=json.dumps,
)
def test_bad_values_are_rejected(values: dict[str, Any]) -> None:
    with pytest.raises(RenderError):
        render(values)


# --- the webhook's own Deployment ------------------------------------------------------


def test_two_replicas_and_a_pdb_that_selects_them() -> None:
    deployment = one(None, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0
    pdb = one(None, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"] == pdb["spec"]["selector"]["matchLabels"]


def test_no_pdb_for_a_single_replica() -> None:
    # minAvailable 1 of 1 would block every node drain.
    assert objects({"replicaCount": 1}, "PodDisruptionBudget") == []


def test_replicas_spread_across_nodes() -> None:
    pod = one(None, "Deployment")["spec"]["template"]
    constraints = pod["spec"]["topologySpreadConstraints"]
    by_key = {c["topologyKey"]: c for c in constraints}
    node = by_key["kubernetes.io/hostname"]
    assert node["whenUnsatisfiable"] == "DoNotSchedule" and node["maxSkew"] == 1
    for constraint in constraints:
        assert constraint["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_restricted_security_context() -> None:
    pod = one(None, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container()["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in context or context["privileged"] is False
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")


def test_requests_and_limits() -> None:
    resources = container()["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert {"cpu", "memory"} <= set(resources["limits"])


def test_probes_on_the_metrics_port() -> None:
    main = container()
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"https": 8443, "metrics": 9090}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert flags()["metrics-listen"] == "0.0.0.0:9090"
    assert flags()["listen"] == "0.0.0.0:8443"


def test_metrics_port_is_configurable_everywhere() -> None:
    values = {"metrics": {"port": 9400, "serviceMonitor": {"enabled": True}}}
    ports = {p["name"]: p["containerPort"] for p in container(values)["ports"]}
    assert ports["metrics"] == 9400
    assert flags(values)["metrics-listen"] == "0.0.0.0:9400"
    service_ports = {p["name"]: p for p in one(values, "Service")["spec"]["ports"]}
    assert service_ports["metrics"]["port"] == 9400 and service_ports["metrics"]["targetPort"] == "metrics"


def test_own_prestop_sleep_and_a_grace_period_that_covers_the_whole_stop() -> None:
    pod = one(None, "Deployment")["spec"]["template"]["spec"]
    sleep = container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep == 5
    args = flags()
    drain, timeout = seconds(args["drain-delay"]), seconds(args["shutdown-timeout"])
    assert drain > 0
    assert pod["terminationGracePeriodSeconds"] >= sleep + drain + timeout
    assert pod["terminationGracePeriodSeconds"] > sleep  # the API server's own rule


def test_grace_follows_the_shutdown_values() -> None:
    values = {"shutdown": {"preStopSleepSeconds": 7, "drainDelaySeconds": 3, "shutdownTimeoutSeconds": 20}}
    pod = one(values, "Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 7 + 3 + 20 + 5
    assert flags(values)["drain-delay"] == "3s" and flags(values)["shutdown-timeout"] == "20s"
    explicit = {"shutdown": {"terminationGracePeriodSeconds": 90}}
    assert one(explicit, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 90
    no_sleep = {"shutdown": {"preStopSleepSeconds": 0}}
    assert "lifecycle" not in container(no_sleep)


def test_never_mutates_itself() -> None:
    template = one(None, "Deployment")["spec"]["template"]
    assert template["metadata"]["annotations"]["lameduck.dev/inject"] == "false"
    # Even when the user brings their own pod annotations.
    template = one({"podAnnotations": {"lameduck.dev/inject": "true", "a": "b"}}, "Deployment")["spec"]["template"]
    assert template["metadata"]["annotations"]["lameduck.dev/inject"] == "false"


def test_settings_become_flags() -> None:
    values = {
        "settings": {
            "defaultSleep": "20s",
            "defaultStagger": "3s",
            "maxSleep": "10m",
            "maxGrace": "2h",
            "action": "exec",
            "sidecarPatterns": ["vault-agent", "fluent-bit"],
            "proxyPatterns": ["nginx"],
            "kube": "off",
        },
        "logging": {"format": "text", "level": "debug"},
    }
    assert flags(values) | {} == {
        "listen": "0.0.0.0:8443",
        "metrics-listen": "0.0.0.0:9090",
        "tls-cert": "/etc/lameduck/tls/tls.crt",
        "tls-key": "/etc/lameduck/tls/tls.key",
        "drain-delay": "5s",
        "shutdown-timeout": "10s",
        "mode": "cluster",
        "kube": "off",
        "default-sleep": "20s",
        "default-stagger": "3s",
        "max-sleep": "10m",
        "max-grace": "2h",
        "action": "exec",
        "waiter-image": "ghcr.io/lameduck/lameduck:0.1.0",
        "waiter-image-pull-policy": "IfNotPresent",
        "wait-min": "2s",
        "wait-max": "30s",
        "wait-on": "requests",
        "wait-window": "1500ms",
        "waiter-port": "9471",
        "waiter-cpu-request": "5m",
        "waiter-memory-request": "8Mi",
        "waiter-cpu-limit": "100m",
        "waiter-memory-limit": "32Mi",
        "sidecar-patterns": "vault-agent,fluent-bit",
        "proxy-patterns": "nginx",
        "log-format": "text",
        "log-level": "debug",
    }
    assert "sidecar-patterns" not in flags() and "proxy-patterns" not in flags()
    pod = one(values, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # --kube=off needs no token


def test_the_waiter_is_the_charts_own_image() -> None:
    values = {
        "image": {"repository": "localhost/lameduck", "tag": "e2e", "pullPolicy": "Never"},
        "settings": {"action": "wait", "wait": {"max": "45s", "traffic": "connections", "resources": {"limits": {"memory": "16Mi"}}}},
    }
    f = flags(values)
    assert f["action"] == "wait"
    assert f["waiter-image"] == container(values)["image"] == "localhost/lameduck:e2e"
    assert f["waiter-image-pull-policy"] == "Never"
    assert f["wait-max"] == "45s" and f["waiter-memory-limit"] == "16Mi"
    assert f["wait-on"] == "connections"
    assert f["waiter-cpu-limit"] == "100m"  # the rest of the defaults stay


@pytest.mark.parametrize("certs", [c["certs"] for c in ALL_COMBINATIONS[:3]], ids=lambda c: c["mode"])
def test_tls_secret_is_mounted_whole_and_read_only(certs: dict[str, Any]) -> None:
    values = {"certs": certs}
    pod = one(values, "Deployment")["spec"]["template"]["spec"]
    (mount,) = container(values)["volumeMounts"]
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    expected = certs.get("existing", {}).get("secretName", "lameduck-tls")
    assert volume["secret"]["secretName"] == expected
    args = flags(values)
    assert args["tls-cert"] == f"{mount['mountPath']}/tls.crt"
    assert args["tls-key"] == f"{mount['mountPath']}/tls.key"


def test_service_443_to_https_port() -> None:
    service = one(None, "Service")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["https"]["port"] == 443 and ports["https"]["targetPort"] == "https"
    pod_labels = one(None, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


# --- RBAC ------------------------------------------------------------------------------


def test_least_rbac_reads_namespaces_and_nodes_only() -> None:
    assert objects(None, "Role") == [] and objects(None, "RoleBinding") == []
    role = one(None, "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {("", r, v) for r in ("namespaces", "nodes") for v in ("get", "list", "watch")}
    assert all(set(rule) == {"apiGroups", "resources", "verbs"} for rule in role["rules"])  # no resourceNames etc.
    binding = one(None, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]}
    account = one(None, "ServiceAccount")
    pod = one(None, "Deployment")["spec"]["template"]["spec"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NS}]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def _grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_audit_role_is_off_by_default() -> None:
    assert [r["metadata"]["name"] for r in objects(None, "ClusterRole")] == ["lameduck"]
    assert [b["metadata"]["name"] for b in objects(None, "ClusterRoleBinding")] == ["lameduck"]


def test_audit_role_reads_what_lameduck_audit_lists_and_nothing_more() -> None:
    values = {"auditRole": {"create": True}}
    roles = {r["metadata"]["name"]: r for r in objects(values, "ClusterRole")}
    assert set(roles) == {"lameduck", "lameduck-audit"}
    core = {("", r, v) for r in ("namespaces", "nodes", "pods") for v in ("get", "list")}
    apps = {("apps", r, v) for r in WORKLOAD_RESOURCES["apps"] for v in ("get", "list")}
    batch = {("batch", r, v) for r in WORKLOAD_RESOURCES["batch"] for v in ("get", "list")}
    assert _grants(roles["lameduck-audit"]) == core | apps | batch
    # The webhook's own role does not grow, and no binding is made without subjects.
    assert _grants(roles["lameduck"]) == _grants(one(None, "ClusterRole"))
    assert [b["metadata"]["name"] for b in objects(values, "ClusterRoleBinding")] == ["lameduck"]


def test_audit_role_binds_the_given_subjects() -> None:
    values = {
        "auditRole": {
            "create": True,
            "subjects": [
                {"kind": "Group", "name": "platform-team"},
                {"kind": "ServiceAccount", "name": "audit", "namespace": "ci"},
            ],
        }
    }
    bindings = {b["metadata"]["name"]: b for b in objects(values, "ClusterRoleBinding")}
    binding = bindings["lameduck-audit"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lameduck-audit"}
    assert binding["subjects"] == [
        {"kind": "Group", "name": "platform-team", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": "audit", "namespace": "ci"},
    ]
    # The webhook's ServiceAccount is never bound to it.
    assert bindings["lameduck"]["roleRef"]["name"] == "lameduck"


# --- certificates ----------------------------------------------------------------------


def _openssl(*args: str, data: bytes) -> str:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout.decode()


def test_helm_certs_share_one_ca_with_the_webhook(tmp_path: Path) -> None:
    secrets = {s["metadata"]["name"]: s for s in objects({"certs": {"mode": "helm"}}, "Secret")}
    assert set(secrets) == {"lameduck-ca", "lameduck-tls"}
    serving, ca = secrets["lameduck-tls"], secrets["lameduck-ca"]
    assert serving["type"] == "kubernetes.io/tls" and {"tls.crt", "tls.key", "ca.crt"} <= set(serving["data"])
    bundle = webhook({"certs": {"mode": "helm"}})["clientConfig"]["caBundle"]
    assert bundle == serving["data"]["ca.crt"] == ca["data"]["tls.crt"]
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: certificate contents not checked")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(base64.b64decode(bundle))
    cert = base64.b64decode(serving["data"]["tls.crt"])
    assert ": OK" in _openssl("verify", "-CAfile", str(ca_file), data=cert)
    text = _openssl("x509", "-noout", "-ext", "subjectAltName", data=cert)
    names = {part.strip() for part in text.splitlines()[-1].split(",")}
    assert names == {f"DNS:lameduck{suffix}" for suffix in ("", f".{NS}", f".{NS}.svc", f".{NS}.svc.cluster.local")}
    # ECDSA P-256, CA and serving certificate: past its 25 idle connections the API server
    # opens one per webhook call, and an RSA-2048 handshake costs lameduck 5x the CPU.
    for pem in (cert, base64.b64decode(bundle)):
        key = _openssl("x509", "-noout", "-text", data=pem)
        assert "id-ecPublicKey" in key and "prime256v1" in key, key


def test_cert_manager_chain_and_ca_injection() -> None:
    values = {"certs": {"mode": "cert-manager"}}
    assert objects(values, "Secret") == []
    config = one(values, "MutatingWebhookConfiguration")
    assert "caBundle" not in config["webhooks"][0]["clientConfig"]
    certificates = {c["metadata"]["name"]: c for c in objects(values, "Certificate")}
    issuers = {i["metadata"]["name"]: i for i in objects(values, "Issuer")}
    assert set(certificates) == {"lameduck", "lameduck-ca"} and set(issuers) == {"lameduck-selfsigned", "lameduck-ca"}
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NS}/lameduck"
    serving = certificates["lameduck"]["spec"]
    assert serving["secretName"] == "lameduck-tls"
    assert f"lameduck.{NS}.svc" in serving["dnsNames"]
    assert serving["issuerRef"]["name"] == "lameduck-ca"
    ca = certificates["lameduck-ca"]["spec"]
    assert ca["isCA"] is True and ca["issuerRef"]["name"] == "lameduck-selfsigned"
    assert issuers["lameduck-ca"]["spec"] == {"ca": {"secretName": ca["secretName"]}}
    assert issuers["lameduck-selfsigned"]["spec"] == {"selfSigned": {}}


def test_cert_manager_with_your_own_issuer() -> None:
    values = {"certs": {"mode": "cert-manager", "certManager": {"issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}}}}
    assert objects(values, "Issuer") == []
    (certificate,) = objects(values, "Certificate")
    assert certificate["spec"]["issuerRef"] == {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_existing_secret_and_ca_bundle() -> None:
    values = {"certs": {"mode": "existing", "existing": {"secretName": "my-tls", "caBundle": "Zm9v"}}}
    assert objects(values, "Secret") == [] and objects(values, "Certificate") == []
    config = one(values, "MutatingWebhookConfiguration")
    assert config["webhooks"][0]["clientConfig"]["caBundle"] == "Zm9v"
    assert "cert-manager.io/inject-ca-from" not in (config["metadata"].get("annotations") or {})
    without_bundle = {"certs": {"mode": "existing", "existing": {"secretName": "my-tls"}}}
    assert "caBundle" not in webhook(without_bundle)["clientConfig"]
    assert "WARNING" in helmrender.notes(without_bundle, namespace=NS)


# --- odds and ends ---------------------------------------------------------------------


def test_service_monitor_is_optional() -> None:
    assert objects(None, "ServiceMonitor") == []
    monitor = one({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"


def test_namespace_object_only_on_request_and_excluded_from_injection() -> None:
    assert objects(None, "Namespace") == []
    namespace = one({"createNamespace": True}, "Namespace")
    assert namespace["metadata"]["name"] == NS
    assert namespace["metadata"]["labels"]["lameduck.dev/inject"] == "disabled"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("values", ALL_COMBINATIONS[:6] + [{"metrics": {"serviceMonitor": {"enabled": True}}, "createNamespace": True}], ids=str)
def test_standard_labels_on_every_object(values: dict[str, Any]) -> None:
    for obj in objects(values):
        labels = obj["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']} {obj['metadata']['name']} lacks {key}"
        namespaced = obj["kind"] not in {"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "Namespace"}
        assert (obj["metadata"].get("namespace") == NS) == namespaced, obj["kind"]


@pytest.mark.parametrize("values", ALL_COMBINATIONS, ids=str)
def test_notes_render(values: dict[str, Any]) -> None:
    assert "lameduck" in helmrender.notes(values, namespace=NS)


def test_lint_is_clean() -> None:
    for values in ({}, {"certs": {"mode": "cert-manager"}, "targets": "all", "mode": "namespace"}):
        assert helmrender.lint(values, "1.30.0") == []


@pytest.mark.skipif(not os.environ.get("HELM"), reason="needs a Helm CLI (HELM) for --kube-version")
def test_kubernetes_1_29_gets_no_native_sleep() -> None:
    # Native preStop sleep is beta (on) from 1.30; on 1.29 the drain delay alone covers it.
    docs = helmrender.render({}, namespace=NS, kube_version="1.29.0")
    (deployment,) = [d.obj for d in docs if d.kind == "Deployment"]
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "lifecycle" not in main
    assert any(arg.startswith("--drain-delay=") and arg != "--drain-delay=0s" for arg in main["args"])
