//! `lameduck mutate` and `lameduck explain`, run as the real binary over the files in
//! `tests/golden/`. Outputs are compared byte for byte with the checked-in goldens;
//! `UPDATE_GOLDEN=1 cargo test --test offline` rewrites them (then read the diff: every
//! number in them was checked by hand against DESIGN.md's arithmetic).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden_path(name: &str) -> PathBuf {
    root().join("tests/golden").join(name)
}

fn read_golden(name: &str) -> String {
    std::fs::read_to_string(golden_path(name))
        .unwrap_or_else(|error| panic!("reading tests/golden/{name}: {error}"))
}

/// Runs the binary from the crate root (so paths in messages are `tests/golden/...`),
/// with nothing from the caller's environment that could change planning or messages.
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lameduck"));
    command
        .args(args)
        .current_dir(root())
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LAMEDUCK_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().expect("the lameduck binary runs");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input).expect("writing stdin");
    }
    child.wait_with_output().expect("lameduck finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Compares `actual` with `tests/golden/{name}`, or rewrites it under `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("writing the golden file");
        return;
    }
    let expected = read_golden(name);
    if expected != actual {
        panic!(
            "output differs from tests/golden/{name} (UPDATE_GOLDEN=1 rewrites it)\n\
             --- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

const MULTI: &str = "tests/golden/multi.yaml";
const THREE_TIER: &str = "tests/golden/three-tier.yaml";
const WAIT: &str = "tests/golden/wait.yaml";
const WAITER_IMAGE: &str = "--waiter-image=localhost/lameduck:e2e";

/// The `wait` action: hooks that call the waiter, the waiter itself, and the timeline.
#[test]
fn a_waiting_deployment_is_mutated_and_explained_as_the_golden_says() {
    let output = run(
        &[
            "mutate",
            WAITER_IMAGE,
            "--waiter-image-pull-policy=Never",
            "-f",
            WAIT,
        ],
        None,
    );
    assert_exit(&output, 0);
    assert_eq!(text(&output.stderr), "");
    golden("wait.mutated.yaml", &text(&output.stdout));
    let explained = run(&["explain", WAITER_IMAGE, "-f", WAIT], None);
    assert_exit(&explained, 0);
    golden("wait.explain.txt", &text(&explained.stdout));
    // Without a waiter image: the fixed sleep, and a warning that says why.
    let fallback = run(&["explain", "-f", WAIT], None);
    assert!(text(&fallback.stdout).contains("has no --waiter-image"));
}

#[test]
fn multi_document_manifest_is_mutated_as_the_golden_says() {
    let output = run(&["mutate", "-f", MULTI], None);
    assert_exit(&output, 0);
    golden("multi.mutated.yaml", &text(&output.stdout));
    // The StatefulSet's backup agent has its own preStop: one warning, named by file
    // and object.
    golden("multi.mutate.stderr", &text(&output.stderr));
}

#[test]
fn stdin_and_file_give_the_same_bytes() {
    let from_file = run(&["mutate", "-f", MULTI], None);
    assert_exit(&from_file, 0);
    let input = read_golden("multi.yaml");
    for args in [&["mutate", "-f", "-"][..], &["mutate"][..]] {
        let from_stdin = run(args, Some(input.as_bytes()));
        assert_exit(&from_stdin, 0);
        assert_eq!(from_stdin.stdout, from_file.stdout, "{args:?}");
        assert!(text(&from_stdin.stderr).starts_with("<stdin>: StatefulSet/db"));
    }
}

#[test]
fn mutating_twice_gives_the_same_bytes() {
    for name in [
        "multi.yaml",
        "three-tier.yaml",
        "resource-list.yaml",
        "list.json",
        "wait.yaml",
    ] {
        let once = run(
            &["mutate", WAITER_IMAGE],
            Some(read_golden(name).as_bytes()),
        );
        assert_exit(&once, 0);
        let twice = run(&["mutate", WAITER_IMAGE], Some(&once.stdout));
        assert_exit(&twice, 0);
        assert_eq!(text(&twice.stdout), text(&once.stdout), "{name}");
    }
}

#[test]
fn several_files_are_one_stream_in_order() {
    let both = run(&["mutate", "-f", MULTI, "-f", THREE_TIER], None);
    assert_exit(&both, 0);
    let first = run(&["mutate", "-f", MULTI], None);
    let second = run(&["mutate", "-f", THREE_TIER], None);
    let joined = format!("{}---\n{}", text(&first.stdout), text(&second.stdout));
    assert_eq!(text(&both.stdout), joined);
}

#[test]
fn krm_resource_list_on_stdin_gets_results() {
    // As kustomize and kpt run a function: no arguments, a ResourceList on stdin.
    let output = run(
        &["mutate"],
        Some(read_golden("resource-list.yaml").as_bytes()),
    );
    assert_exit(&output, 0);
    golden("resource-list.out.yaml", &text(&output.stdout));
}

#[test]
fn krm_strict_makes_results_errors_and_exits_2() {
    let output = run(
        &["mutate", "--strict"],
        Some(read_golden("resource-list.yaml").as_bytes()),
    );
    assert_exit(&output, 2);
    assert!(text(&output.stdout).contains("severity: error"));
}

#[test]
fn json_list_stays_json() {
    let output = run(&["mutate", "-f", "tests/golden/list.json"], None);
    assert_exit(&output, 0);
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
    golden("list.mutated.json", &text(&output.stdout));
}

#[test]
fn malformed_yaml_is_exit_1_naming_file_line_and_column() {
    let output = run(&["mutate", "-f", "tests/golden/malformed.yaml"], None);
    assert_exit(&output, 1);
    assert!(output.stdout.is_empty(), "no partial output");
    let stderr = text(&output.stderr);
    // Line 10 is ` labels: {}`, indented by one space under `metadata:`.
    assert!(
        stderr.starts_with("Error: tests/golden/malformed.yaml:10:2: "),
        "{stderr}"
    );
    let explain = run(&["explain", "-f", "tests/golden/malformed.yaml"], None);
    assert_exit(&explain, 1);
}

#[test]
fn malformed_json_names_the_line_too() {
    let output = run(
        &["mutate", "-f", "-"],
        Some(b"{\n  \"kind\": \"Pod\",\n}\n"),
    );
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("Error: <stdin>:3:1: "), "{stderr}");
}

#[test]
fn a_template_of_the_wrong_shape_is_exit_1_naming_the_object() {
    let output = run(
        &["mutate", "-f", "tests/golden/invalid-template.yaml"],
        None,
    );
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("Error: tests/golden/invalid-template.yaml: Pod/odd: invalid Pod: "),
        "{stderr}"
    );
}

#[test]
fn unreadable_file_is_exit_1() {
    let output = run(&["explain", "-f", "tests/golden/no-such-file.yaml"], None);
    assert_exit(&output, 1);
    assert!(text(&output.stderr).contains("tests/golden/no-such-file.yaml: "));
}

#[test]
fn explain_text_for_the_three_tier_pod() {
    let output = run(&["explain", "-f", THREE_TIER], None);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    // DESIGN.md: proxy at S = 10, app at S + stagger = 15, sidecar at the app's end
    // 15 + 30 = 45, grace 45 + 5 = 50.
    for row in [
        "10s  nginx       proxy    sleep 10s  5s      15s",
        "15s  app         app      sleep 15s  30s     45s",
        "45s  fluent-bit  sidecar  sleep 45s  5s      50s",
        "grace period 50s",
    ] {
        assert!(stdout.contains(row), "{row:?} in\n{stdout}");
    }
    golden("three-tier.explain.txt", &stdout);
}

#[test]
fn explain_text_and_json_for_the_multi_document_manifest() {
    let output = run(&["explain", "-f", MULTI], None);
    assert_exit(&output, 0);
    golden("multi.explain.txt", &text(&output.stdout));

    let output = run(&["explain", "-f", MULTI, "--output", "json"], None);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    golden("multi.explain.json", &stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(report["version"], 1);
    let graces: Vec<_> = report["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .map(|t| (t["kind"].clone(), t["gracePeriodSeconds"].clone()))
        .collect();
    // Deployment 10 + 5 + 30; CronJob 5 + 30; StatefulSet 10 + 60 + 5 (native sidecar).
    assert_eq!(
        graces,
        [
            ("Deployment".into(), 45.into()),
            ("CronJob".into(), 35.into()),
            ("StatefulSet".into(), 75.into()),
        ]
    );
}

#[test]
fn explaining_mutated_output_says_the_same() {
    let original = run(&["explain"], Some(read_golden("multi.yaml").as_bytes()));
    let mutated = run(&["mutate", "-f", MULTI], None);
    let again = run(&["explain"], Some(&mutated.stdout));
    assert_exit(&again, 0);
    assert_eq!(text(&again.stdout), text(&original.stdout));
}

#[test]
fn strict_turns_warnings_into_exit_2_and_still_writes_output() {
    let plain = run(&["mutate", "-f", MULTI], None);
    let strict = run(&["mutate", "--strict", "-f", MULTI], None);
    assert_exit(&strict, 2);
    assert_eq!(strict.stdout, plain.stdout);
    assert_eq!(strict.stderr, plain.stderr);
    assert_exit(&run(&["explain", "--strict", "-f", MULTI], None), 2);
    // No warnings: strict changes nothing.
    assert_exit(&run(&["mutate", "--strict", "-f", THREE_TIER], None), 0);
    assert_exit(&run(&["explain", "--strict", "-f", THREE_TIER], None), 0);
}

#[test]
fn planning_flags_are_those_of_serve() {
    let output = run(
        &[
            "explain",
            "-f",
            THREE_TIER,
            "--default-sleep",
            "20s",
            "--default-stagger",
            "2s",
            "-o",
            "json",
        ],
        None,
    );
    assert_exit(&output, 0);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let template = &report["templates"][0];
    let sigterms: Vec<_> = template["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| c["sigtermAtSeconds"].as_u64())
        .collect();
    // proxy 20, app 22, sidecar 22 + 30 = 52; grace 52 + 2 = 54.
    assert_eq!(sigterms, [Some(20), Some(22), Some(52)]);
    assert_eq!(template["gracePeriodSeconds"], 54);

    let exec = run(&["mutate", "-f", THREE_TIER, "--action", "exec"], None);
    assert_exit(&exec, 0);
    assert!(text(&exec.stdout).contains("- sleep\n"));
}

#[test]
fn stdin_twice_is_refused() {
    let output = run(&["mutate", "-f", "-", "-f", "-"], Some(b""));
    assert_exit(&output, 1);
}

#[test]
fn explain_warns_about_a_grace_the_autoscaler_will_not_wait_for() {
    let output = run(
        &["explain", "-f", THREE_TIER, "--warn-grace-above", "30s"],
        None,
    );
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("warning: lameduck: grace period 50s is above --warn-grace-above (30s)"),
        "{stdout}"
    );
    // With the default cap, the same file plans without that warning.
    let output = run(&["explain", "--strict", "-f", THREE_TIER], None);
    assert_exit(&output, 0);
}

#[test]
fn a_windows_pod_never_gets_an_exec_hook() {
    let manifest = b"apiVersion: apps/v1
kind: Deployment
metadata:
  name: iis
spec:
  template:
    spec:
      nodeSelector:
        kubernetes.io/os: windows
      containers:
      - name: iis
        image: mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022
";
    let output = run(&["mutate", "--action", "exec"], Some(manifest));
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("sleep:\n"), "{stdout}");
    assert!(!stdout.contains("exec:"), "{stdout}");
    assert!(text(&output.stderr).contains("Windows pod"));
}

/// JSON values equal as kubectl would send them: numbers by value (`1.0` and `1` are the
/// same number once Go has read them), objects whatever their key order.
fn same_json(ours: &serde_json::Value, theirs: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => ours == theirs,
    }
}

/// Every scalar form, anchor and merge key of `tests/yaml-diff/corpus.json` reads as
/// `sigs.k8s.io/yaml` (what kubectl uses) read it into `expected.json`;
/// `tests/yaml-diff/check.sh` regenerates that file with Go and fails if it changed.
#[test]
fn yaml_reads_as_kubectl_reads_it() {
    let corpus: Vec<String> =
        serde_json::from_str(&read_fixture("tests/yaml-diff/corpus.json")).expect("corpus");
    let expected: Vec<serde_json::Value> =
        serde_json::from_str(&read_fixture("tests/yaml-diff/expected.json")).expect("expected");
    assert_eq!(corpus.len(), expected.len(), "regenerate expected.json");
    let mut differences = Vec::new();
    for (document, kubectl) in corpus.iter().zip(&expected) {
        let ours = lameduck::manifests::yaml::parse(document);
        let agree = match (&ours, kubectl.get("json")) {
            (Ok(documents), Some(theirs)) => {
                documents.len() == 1 && same_json(&documents[0].value, theirs)
            }
            (Err(_), None) => true,
            _ => false,
        };
        if !agree {
            differences.push(format!(
                "{document:?}: lameduck {ours:?}, kubectl {kubectl}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Generated objects (`tests/yaml-diff/generate.go`: random Kubernetes-like objects
/// written by `kubectl get -o yaml`'s emitter, `JSONToYAML` and go-yaml v3) read as
/// `sigs.k8s.io/yaml` reads them: the same JSON, and no document refused by either.
/// `tests/yaml-diff/check.sh` generates thousands and points `LAMEDUCK_YAML_GENERATED`
/// at them; without it, the committed sample is read.
#[test]
fn generated_yaml_reads_as_kubectl_reads_it() {
    let path = std::env::var("LAMEDUCK_YAML_GENERATED")
        .unwrap_or_else(|_| "tests/yaml-diff/generated-sample.json".to_string());
    let samples: Vec<serde_json::Value> =
        serde_json::from_str(&read_fixture(&path)).expect("generated samples");
    assert!(!samples.is_empty(), "{path}: no samples");
    let mut problems = Vec::new();
    for sample in &samples {
        let (Some(writer), Some(yaml)) = (sample["writer"].as_str(), sample["yaml"].as_str())
        else {
            panic!("{path}: not a sample: {sample}");
        };
        let Some(kubectl) = sample.get("json") else {
            problems.push(format!("kubectl refuses ({writer}): {sample}"));
            continue;
        };
        match lameduck::manifests::yaml::parse(yaml) {
            Ok(documents) if documents.len() == 1 && same_json(&documents[0].value, kubectl) => {}
            Ok(documents) => problems.push(format!(
                "differs ({writer}) at {}:\n{yaml}",
                match documents.as_slice() {
                    [document] => first_difference(&document.value, kubectl, String::new()),
                    _ => format!("{} documents", documents.len()),
                }
            )),
            Err(error) => problems.push(format!("lameduck refuses ({writer}): {error:?}\n{yaml}")),
        }
    }
    eprintln!(
        "{path}: {} documents, {} differences or refusals",
        samples.len(),
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{} of {} generated documents:\n{}",
        problems.len(),
        samples.len(),
        problems
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
}

/// Where two JSON values first differ, as a JSON Pointer with both values.
fn first_difference(ours: &serde_json::Value, theirs: &serde_json::Value, at: String) -> String {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) if a.len() == b.len() => a
            .iter()
            .find_map(|(key, value)| match b.get(key) {
                Some(other) if same_json(value, other) => None,
                Some(other) => Some(first_difference(value, other, format!("{at}/{key}"))),
                None => Some(format!("{at}/{key}: only lameduck has it")),
            })
            .unwrap_or_default(),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => (a.iter().zip(b))
            .enumerate()
            .find(|(_, (x, y))| !same_json(x, y))
            .map(|(i, (x, y))| first_difference(x, y, format!("{at}/{i}")))
            .unwrap_or_default(),
        _ => format!("{at}: lameduck {ours}, kubectl {theirs}"),
    }
}

fn read_fixture(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Issue 14: `defaultMode: 0755` came out as `755.0`, in objects lameduck planned and in
/// objects it did not touch.
#[test]
fn octal_modes_keep_their_meaning() {
    let manifest = "apiVersion: v1
kind: ConfigMap
metadata: {name: scripts}   # flow style, kept
data:
  run.sh: |
    #!/bin/sh
    exec app
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: shop/app:1
      volumes:
      - name: scripts
        configMap:
          name: scripts
          defaultMode: 0755
";
    let output = run(&["mutate"], Some(manifest.as_bytes()));
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    // The ConfigMap is not lameduck's business: byte for byte as it came.
    assert!(
        stdout.starts_with(&manifest[..manifest.find("---").unwrap()]),
        "{stdout}"
    );
    let documents = lameduck::manifests::yaml::parse(&stdout).expect("output parses");
    let mode =
        &documents[1].value["spec"]["template"]["spec"]["volumes"][0]["configMap"]["defaultMode"];
    assert_eq!(mode, 493, "{stdout}");
    assert!(!stdout.contains("755.0"), "{stdout}");
}

#[test]
fn a_duplicate_key_is_named_with_its_lines() {
    let manifest = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n";
    let output = run(&["explain"], Some(manifest));
    assert_exit(&output, 1);
    assert_eq!(
        text(&output.stderr).trim(),
        "Error: <stdin>:5:3: key \"name\" appears twice in one mapping (lines 4 and 5); keep one"
    );
}

/// For a GitOps user who commits the output, the diff is only what lameduck added:
/// every line of the input is still there, in order, comments and flow style included.
#[test]
fn mutate_only_adds_lines() {
    let input = read_golden("multi.yaml");
    let output = run(&["mutate", "-f", MULTI], None);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let mut out_lines = stdout.lines();
    for line in input.lines() {
        // The one value lameduck changes: the StatefulSet's grace period, raised.
        if line
            .trim_start()
            .starts_with("terminationGracePeriodSeconds: 60")
        {
            continue;
        }
        assert!(
            out_lines.any(|out| out == line),
            "input line {line:?} missing or out of order in:\n{stdout}"
        );
    }
}

/// Issue 21: pods whose own hooks choreograph their shutdown (a Knative revision, Contour's
/// envoy, Envoy Gateway's proxy) come out of `mutate` unchanged, and `explain` says why.
#[test]
fn choreographed_pods_are_left_to_their_authors() {
    for name in [
        "knative-revision-pod",
        "contour-envoy-pod",
        "envoy-gateway-proxy-pod",
    ] {
        let file = format!("tests/golden/{name}.yaml");
        let mutated = run(&["mutate", "-f", &file], None);
        assert_exit(&mutated, 0);
        assert_eq!(
            text(&mutated.stdout),
            read_golden(&format!("{name}.yaml")),
            "{name}: nothing to change"
        );
        let explained = run(&["explain", "-f", &file], None);
        assert_exit(&explained, 0);
        golden(&format!("{name}.explain.txt"), &text(&explained.stdout));
    }
    let explained = run(
        &["explain", "-f", "tests/golden/knative-revision-pod.yaml"],
        None,
    );
    assert!(text(&explained.stdout).contains(
        "queue-proxy: no hook: waited on by user-container's preStop (Knative's queue-proxy: coordinates the shutdown)"
    ));
    let json = run(
        &[
            "explain",
            "--output",
            "json",
            "-f",
            "tests/golden/knative-revision-pod.yaml",
        ],
        None,
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let queue = &report["templates"][0]["containers"][1];
    assert_eq!(queue["name"], "queue-proxy");
    assert_eq!(queue["preStop"], "none");
    assert_eq!(queue["waitedOnBy"], serde_json::json!(["user-container"]));
    assert_eq!(queue["coordinator"], "Knative's queue-proxy");
}

/// Issue 21: `kubectl get -o yaml` output whose wrapped quoted strings continue left of
/// their key (a formatter indented the sequences) is read as kubectl reads it, and
/// mutated with only lameduck's lines added.
#[test]
fn kubectl_yaml_with_wrapped_strings_mutates() {
    let input = read_golden("kubectl-wrapped.yaml");
    // The fixture holds the case: a continuation line left of its `value:` key.
    let lines: Vec<&str> = input.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    assert!(lines.windows(2).any(|pair| {
        pair[0].trim_start().starts_with("value: '") && indent(pair[1]) < indent(pair[0])
    }));
    let output = run(&["mutate", "-f", "tests/golden/kubectl-wrapped.yaml"], None);
    assert_exit(&output, 0);
    let mutated = text(&output.stdout);
    golden("kubectl-wrapped.mutated.yaml", &mutated);
    // Only added lines and the raised grace period: every other input line is still
    // there, in order.
    let mut rest = mutated.lines();
    for line in input.lines() {
        if line
            .trim_start()
            .starts_with("terminationGracePeriodSeconds:")
        {
            continue;
        }
        assert!(rest.any(|l| l == line), "lost or changed: {line:?}");
    }
    assert!(mutated.contains("preStop"), "{mutated}");
}
