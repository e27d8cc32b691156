//! What a person sees when a command fails: one line, context first, each cause once.
//! Golden files in tests/golden/errors hold the exact stderr.

use std::path::Path;
use std::process::Command;

fn lameduck(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lameduck"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("LAMEDUCK_LOG_FORMAT", "json")
        .output()
        .unwrap_or_else(|e| panic!("running lameduck: {e}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The last stderr line: log lines (JSON) may come before the error.
fn error_line(stderr: &str) -> &str {
    stderr.lines().last().unwrap_or("")
}

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/errors")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_golden(args: &[&str], name: &str, replace: &[(&str, &str)]) {
    let (code, stderr) = lameduck(args);
    assert_eq!(code, Some(1), "exit code; stderr:\n{stderr}");
    let mut line = error_line(&stderr).to_string();
    for (from, to) in replace {
        line = line.replace(from, to);
    }
    assert_eq!(format!("{line}\n"), golden(name), "stderr:\n{stderr}");
}

#[test]
fn a_missing_manifest_is_named_once_with_its_cause() {
    assert_golden(
        &["explain", "-f", "/no/such/file.yaml"],
        "missing-manifest.stderr",
        &[],
    );
    let (_, stderr) = lameduck(&["mutate", "-f", "/no/such/file.yaml"]);
    assert_eq!(
        error_line(&stderr)
            .matches("No such file or directory")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_missing_certificate_file_stops_serve_with_its_path() {
    assert_golden(
        &[
            "serve",
            "--kube",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/no/such/tls.crt",
            "--tls-key",
            "/no/such/tls.key",
        ],
        "missing-certificate.stderr",
        &[],
    );
}

#[test]
fn certs_refuse_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let out = dir.path().to_str().unwrap_or_else(|| panic!("temp path"));
    let (code, stderr) = lameduck(&["certs", "--out-dir", out]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_golden(
        &["certs", "--out-dir", out],
        "certs-exist.stderr",
        &[(out, "OUT")],
    );
}

#[test]
fn inconsistent_settings_are_refused_before_anything_starts() {
    assert_golden(
        &[
            "serve",
            "--kube",
            "off",
            "--default-sleep",
            "10m",
            "--max-sleep",
            "1m",
        ],
        "settings.stderr",
        &[],
    );
}
