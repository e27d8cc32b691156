#!/usr/bin/env python3
"""Independent end-to-end check of the webhook against the admission fixtures in tests/fixtures/admission.

Starts the real `lameduck serve`, sends every AdmissionReview in tests/fixtures/admission
over HTTPS, applies each returned patch with Python's `jsonpatch` (an RFC 6902
implementation that shares no code with ours), validates every mutated object with
`kubernetes-validate --strict` against the upstream schemas, and sends the mutated
object back to check that a second pass changes nothing.
"""

import base64
import json
import os
import pathlib
import ssl
import subprocess
import sys
import urllib.request

import jsonpatch
import kubernetes_validate

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "admission"
BINARY = os.environ.get("LAMEDUCK_BIN", str(ROOT / "target" / "debug" / "lameduck"))
VERSIONS = os.environ.get("KUBERNETES_VERSIONS", "1.34.0").split()


def start_server():
    process = subprocess.Popen(
        [BINARY, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
         "--kube", "off", "--log-format", "json"],
        stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("message") == "serving admission reviews":
            return process, event["listen"]
    raise SystemExit("lameduck exited before serving")


def review(address, body):
    context = ssl.create_default_context()
    # The server runs on its in-memory self-signed certificate.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(
        f"https://{address}/mutate", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        assert response.status == 200, response.status
        return json.load(response)


def main():
    process, address = start_server()
    failures = 0
    try:
        for path in sorted(FIXTURES.glob("*.json")):
            body = json.loads(path.read_text())
            answer = review(address, body)["response"]
            assert answer["uid"] == body["request"]["uid"], path.name
            assert answer["allowed"] is True, path.name
            obj = body["request"]["object"]
            if "patch" not in answer:
                print(f"{path.name}: no patch")
                continue
            assert answer["patchType"] == "JSONPatch", path.name
            patch = json.loads(base64.b64decode(answer["patch"]))
            mutated = jsonpatch.apply_patch(obj, patch)
            for version in VERSIONS:
                try:
                    kubernetes_validate.validate(mutated, version, strict=True)
                except kubernetes_validate.ValidationError as error:
                    failures += 1
                    print(f"{path.name}: invalid for {version}: {error.message} at {list(error.path)}")
            again = dict(body, request=dict(body["request"], object=mutated))
            second = review(address, again)["response"]
            if "patch" in second:
                failures += 1
                print(f"{path.name}: second pass patched: {base64.b64decode(second['patch'])!r}")
            print(f"{path.name}: {len(patch)} operations applied by jsonpatch, valid for {', '.join(VERSIONS)}, fixpoint")
    finally:
        process.terminate()
        process.wait(timeout=15)
    if failures:
        raise SystemExit(f"{failures} failure(s)")
    print(f"exit code of lameduck after SIGTERM: {process.returncode}")
    if process.returncode != 0:
        raise SystemExit("lameduck did not exit 0 on SIGTERM")


if __name__ == "__main__":
    sys.exit(main())
