#!/usr/bin/env python3
"""Render, lint and split the lameduck chart with a real Helm engine.

The engine is the Helm CLI named by the environment variable HELM: scripts/check-chart.sh
sets it to the real Helm v4 that tests/e2e/build.sh builds from source (any Helm 3.15+
or 4 works). Without HELM, the Helm 4 SDK from PyPI (`helm-python-sdk`) renders
instead. Both engines are formatted the same way, so `manifests/` does not depend on
which one rendered it.

    python tests/chart/helmrender.py template --set certs.mode=cert-manager -o out.yaml
    python tests/chart/helmrender.py lint --kube-version 1.30.0
    python tests/chart/helmrender.py split --out DIR FILE...   # one object per file
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "lameduck"

# Helm's install order (pkg/release/util/kind_sorter.go); unknown kinds go last.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
    "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]

# Kinds served by CRDs: no upstream schema for kubernetes-validate.
CRD_KINDS = {
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "ClusterIssuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}

DEFAULT_CLI_KUBE_VERSION = "1.30.0"

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (\S+)[ \t]*\n", re.MULTILINE)


class RenderError(Exception):
    """The chart did not render (schema violation, `fail`, template error)."""


@dataclass
class Doc:
    source: str  # template path, e.g. lameduck/templates/deployment.yaml
    text: str  # the document as rendered, stripped
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))


def _split_docs(source: str, text: str) -> list[Doc]:
    docs: list[Doc] = []
    for part in _SEPARATOR.split(text):
        part = part.strip()
        if not part:
            continue
        obj = yaml.safe_load(part)
        if obj is None:  # only comments
            continue
        if not isinstance(obj, dict):
            raise RenderError(f"{source}: a document is not a mapping")
        docs.append(Doc(source, part, obj))
    return docs


def _order(docs: list[Doc]) -> list[Doc]:
    # Helm's order (unknown kinds alphabetically, after the known ones), then by name:
    # the same whichever engine rendered.
    def key(doc: Doc) -> tuple[int, str, str, str]:
        kind = INSTALL_ORDER.index(doc.kind) if doc.kind in INSTALL_ORDER else len(INSTALL_ORDER)
        return (kind, doc.kind, doc.name, doc.source)

    return sorted(docs, key=key)


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """`--set a.b=c` expressions, merged left to right (Helm's strvals syntax)."""
    import helm_python as helm

    merged: dict[str, Any] = {}
    for expression in sets:
        _deep_merge(merged, helm.parse_set_string(expression))
    return merged


def _deep_merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def render(
    values: dict[str, Any] | None = None,
    *,
    name: str = "lameduck",
    namespace: str = "lameduck",
    kube_version: str | None = None,
    chart: Path = CHART,
    sets: list[str] | None = None,
) -> list[Doc]:
    """Render the chart; every object, in Helm's install order. NOTES.txt excluded.
    `sets`: `--set` expressions applied after `values`."""
    values = values or {}
    helm_cli = os.environ.get("HELM")
    if helm_cli:
        return _order(_render_cli(helm_cli, values, name, namespace, kube_version, chart, sets or []))
    import helm_python as helm

    _deep_merge(values, parse_sets(sets or []))

    # kube_version: only the CLI takes one; the SDK renders with its default (>= 1.30).
    try:
        with helm.Chart.load(chart) as loaded:
            loaded.validate_schema(loaded.merge_values(values))
            rendered = loaded.render(values=values, name=name, namespace=namespace, is_install=True)
    except helm.HelmError as error:
        raise RenderError(str(error)) from error
    docs: list[Doc] = []
    for source, text in sorted(rendered.items()):
        if source.endswith("NOTES.txt"):
            continue
        docs.extend(_split_docs(source, text))
    return _order(docs)


def notes(values: dict[str, Any] | None = None, *, name: str = "lameduck", namespace: str = "lameduck") -> str:
    helm_cli = os.environ.get("HELM")
    if helm_cli:
        # NOTES.txt is rendered by install, not template: a client-side dry run.
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
            json.dump(values or {}, file)
            file.flush()
            command = [helm_cli, "install", name, str(CHART), "--namespace", namespace, "-f", file.name,
                       "--dry-run=client", "-o", "json"]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RenderError(result.stderr.strip())
        return str(json.loads(result.stdout).get("info", {}).get("notes", ""))
    import helm_python as helm

    with helm.Chart.load(CHART) as loaded:
        rendered = loaded.render(values=values or {}, name=name, namespace=namespace, is_install=True)
    return next((text for source, text in rendered.items() if source.endswith("NOTES.txt")), "")


def _render_cli(
    helm_cli: str, values: dict[str, Any], name: str, namespace: str, kube_version: str | None, chart: Path,
    sets: list[str],
) -> list[Doc]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        json.dump(values, file)
        file.flush()
        # Helm 3's offline default is v1.20, below the chart's kubeVersion.
        command = [helm_cli, "template", name, str(chart), "--namespace", namespace, "-f", file.name,
                   "--kube-version", kube_version or DEFAULT_CLI_KUBE_VERSION]
        for expression in sets:
            command += ["--set", expression]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    docs: list[Doc] = []
    # The CLI prints "---\n# Source: path\n<doc>" per document.
    for part in _SEPARATOR.split(result.stdout):
        match = _SOURCE.search(part)
        if not match:
            continue
        docs.extend(_split_docs(match.group(1), part[match.end():]))
    return docs


def to_yaml(docs: list[Doc], header: str = "") -> str:
    """The `helm template` layout: `---`, `# Source:`, the document."""
    out = [header.rstrip("\n") + "\n"] if header else []
    for doc in docs:
        out.append(f"---\n# Source: {doc.source}\n{doc.text}\n")
    return "".join(out)


def lint(values: dict[str, Any], kube_version: str, namespace: str = "lameduck",
         sets: list[str] | None = None) -> list[str]:
    """Lint findings at warning level or worse (strict: warnings count)."""
    helm_cli = os.environ.get("HELM")
    if helm_cli:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
            json.dump(values, file)
            file.flush()
            command = [helm_cli, "lint", "--strict", str(CHART), "--namespace", namespace, "-f", file.name,
                       "--kube-version", kube_version]
            for expression in sets or []:
                command += ["--set", expression]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        return [] if result.returncode == 0 else [result.stdout + result.stderr]
    import helm_python as helm

    values = dict(values)
    _deep_merge(values, parse_sets(sets or []))
    report = helm.lint(CHART, values, strict=True, namespace=namespace, kube_version=f"v{kube_version}")
    problems = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]
    return problems + list(report.get("errors") or [])


def split(files: list[Path], out: Path) -> tuple[list[Path], list[str]]:
    """One object per file under `out`, CRD kinds left out. Returns (files, skipped)."""
    written: list[Path] = []
    skipped: list[str] = []
    for number, file in enumerate(files):
        for index, obj in enumerate(yaml.safe_load_all(file.read_text())):
            if not obj:
                continue
            label = f"{file.name}#{index} {obj.get('apiVersion')}/{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
            if (obj.get("apiVersion"), obj.get("kind")) in CRD_KINDS:
                skipped.append(label)
                continue
            target = out / f"{number:03d}-{file.stem}-{index:03d}-{str(obj.get('kind', 'x')).lower()}.yaml"
            target.write_text(yaml.safe_dump(obj, sort_keys=False))
            written.append(target)
    return written, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    template = commands.add_parser("template", help="render the chart like `helm template`")
    template.add_argument("--set", action="append", default=[], help="Helm --set expression")
    template.add_argument("-f", "--values", action="append", default=[], type=Path, help="values file")
    template.add_argument("--name", default="lameduck")
    template.add_argument("--namespace", default="lameduck")
    template.add_argument("--kube-version", help="only with HELM (the SDK render has none)")
    template.add_argument("--header", default="", help="text put before the first document")
    template.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    lint_cmd = commands.add_parser("lint", help="helm lint --strict")
    lint_cmd.add_argument("--set", action="append", default=[])
    lint_cmd.add_argument("--kube-version", default="1.30.0")

    split_cmd = commands.add_parser("split", help="one object per file, CRD kinds left out")
    split_cmd.add_argument("--out", type=Path, required=True)
    split_cmd.add_argument("files", nargs="+", type=Path)

    args = parser.parse_args()
    if args.command == "template":
        values: dict[str, Any] = {}
        for file in args.values:
            _deep_merge(values, yaml.safe_load(file.read_text()) or {})
        try:
            docs = render(values, name=args.name, namespace=args.namespace, kube_version=args.kube_version,
                          sets=args.set)
        except RenderError as error:
            print(f"render failed: {error}", file=sys.stderr)
            return 1
        text = to_yaml(docs, args.header)
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    if args.command == "lint":
        problems = lint({}, args.kube_version, sets=args.set)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if args.command == "split":
        args.out.mkdir(parents=True, exist_ok=True)
        written, skipped = split(args.files, args.out)
        kinds = sorted({label.split(" ")[1] for label in skipped})
        print(f"{len(written)} objects to validate; skipped {len(skipped)} of CRD kinds with no "
              f"upstream schema: {', '.join(kinds) or 'none'}", file=sys.stderr)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
