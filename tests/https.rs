//! End to end over real HTTPS: the admission fixtures (tests/fixtures/admission) as the API server sends them, the
//! patches applied with an RFC 6902 implementation, and the bad inputs a webhook meets.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{ReviewBody, TestServer, fixture, fixtures, https_client, patch_of, tls_connect};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Each container's preStop sleep (`None`: left alone) and the pod's grace period.
type Expected = (Vec<(&'static str, Option<u64>)>, i64);

/// What each fixture must end with; `None` for fixtures that must come back unpatched.
fn expected() -> BTreeMap<&'static str, Option<Expected>> {
    BTreeMap::from([
        (
            "01-pod-single-container.json",
            Some((vec![("app", Some(10))], 40)),
        ),
        (
            "02-pod-nginx-and-app.json",
            Some((vec![("nginx", Some(10)), ("app", Some(15))], 45)),
        ),
        (
            "03-pod-app-and-cloud-sql-proxy.json",
            Some((vec![("app", Some(10)), ("cloud-sql-proxy", Some(40))], 45)),
        ),
        (
            "04-pod-native-sidecar.json",
            Some((vec![("app", Some(10))], 45)),
        ),
        (
            "05-pod-existing-prestop.json",
            Some((vec![("app", None), ("nginx", Some(10))], 30)),
        ),
        (
            "06-pod-annotation-overrides.json",
            Some((vec![("nginx", Some(20)), ("app", Some(23))], 68)),
        ),
        (
            "07-pod-bad-annotations.json",
            Some((vec![("app", Some(10))], 40)),
        ),
        ("08-pod-job-never-restart.json", None),
        ("09-pod-opt-out.json", None),
        (
            "10-deployment-create.json",
            Some((vec![("nginx", Some(10)), ("app", Some(15))], 45)),
        ),
        (
            "11-statefulset-update.json",
            Some((vec![("db", Some(10))], 130)),
        ),
        ("12-pod-dry-run.json", Some((vec![("app", Some(10))], 40))),
        (
            "13-pod-long-grace.json",
            Some((vec![("ledger", Some(10))], 130)),
        ),
        ("14-configmap-not-a-pod.json", None),
    ])
}

fn pod_spec(object: &Value) -> &Value {
    match object["kind"].as_str() {
        Some("Pod") => &object["spec"],
        _ => &object["spec"]["template"]["spec"],
    }
}

async fn review(server: &TestServer, client: &reqwest::Client, body: Vec<u8>) -> Value {
    let response = client
        .post(server.url("/mutate"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_fixture_gets_the_documented_plan() {
    let server = TestServer::start().await;
    let client = server.client();
    let expected = expected();
    let fixtures = fixtures();
    assert_eq!(
        fixtures.len(),
        expected.len(),
        "a fixture without an expectation"
    );
    for (name, body) in fixtures {
        let request: Value = serde_json::from_slice(&body).unwrap();
        let answer = review(&server, &client, body).await;
        let response = &answer["response"];
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{name}");
        assert_eq!(answer["kind"], "AdmissionReview", "{name}");
        assert_eq!(response["uid"], request["request"]["uid"], "{name}");
        assert_eq!(response["allowed"], true, "{name}");

        let Some((containers, grace)) = &expected[name.as_str()] else {
            assert!(response.get("patch").is_none(), "{name} was patched");
            assert!(response.get("patchType").is_none(), "{name}");
            continue;
        };
        assert_eq!(response["patchType"], "JSONPatch", "{name}");
        let patch = patch_of(&answer).expect("a patch");
        let mut object = request["request"]["object"].clone();
        json_patch::patch(&mut object, &patch.0).unwrap_or_else(|e| panic!("{name}: {e}"));
        let spec = pod_spec(&object);
        assert_eq!(spec["terminationGracePeriodSeconds"], *grace, "{name}");
        for (container, sleep) in containers {
            let found = spec["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == *container)
                .unwrap();
            let seconds = found["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64();
            match sleep {
                Some(sleep) => assert_eq!(seconds, Some(*sleep), "{name} {container}"),
                None => assert_eq!(seconds, None, "{name} {container} was touched"),
            }
        }
        assert!(
            response["auditAnnotations"]["plan"].is_string(),
            "{name} has no plan audit annotation"
        );

        // The mutated object, sent again (a reinvocation), is a fixpoint.
        let mut again = request.clone();
        again["request"]["object"] = object;
        let second = review(&server, &client, serde_json::to_vec(&again).unwrap()).await;
        assert!(
            second["response"].get("patch").is_none(),
            "{name}: second pass patched: {:?}",
            patch_of(&second)
        );
    }
}

#[tokio::test]
async fn warnings_name_the_bad_annotations_and_the_users_hook() {
    let server = TestServer::start().await;
    let client = server.client();
    let warnings = |answer: &Value| -> Vec<String> {
        answer["response"]["warnings"]
            .as_array()
            .map(|w| w.iter().map(|w| w.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };

    let bad = review(&server, &client, fixture("07-pod-bad-annotations.json")).await;
    let bad = warnings(&bad);
    assert_eq!(bad.len(), 3, "{bad:?}");
    for key in [
        "lameduck.dev/sleep",
        "lameduck.dev/shutdown",
        "lameduck.dev/stagger",
    ] {
        assert!(
            bad.iter().any(|w| w.contains(key)),
            "no warning names {key}"
        );
    }
    assert!(bad.iter().all(|w| w.starts_with("lameduck: ")));

    let own = review(&server, &client, fixture("05-pod-existing-prestop.json")).await;
    let own = warnings(&own);
    assert_eq!(own.len(), 1);
    assert!(own[0].contains("\"app\""), "{own:?}");

    let clean = review(&server, &client, fixture("02-pod-nginx-and-app.json")).await;
    assert!(warnings(&clean).is_empty());
}

#[tokio::test]
async fn dry_run_gets_the_same_answer_as_a_real_create() {
    let server = TestServer::start().await;
    let client = server.client();
    let real = review(&server, &client, fixture("01-pod-single-container.json")).await;
    let dry = review(&server, &client, fixture("12-pod-dry-run.json")).await;
    assert_eq!(patch_of(&real), patch_of(&dry));
}

#[tokio::test]
async fn http2_and_http1_are_both_served() {
    let server = TestServer::start().await;
    let body = fixtures()[0].1.clone();
    for (http1_only, version) in [
        (false, reqwest::Version::HTTP_2),
        (true, reqwest::Version::HTTP_11),
    ] {
        let client = https_client(&server.ca_pem, http1_only);
        let response = client
            .post(server.url("/mutate"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), version);
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn what_is_not_a_review_gets_a_400_with_one_line() {
    let server = TestServer::start().await;
    let client = server.client();
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let deep_object = format!(
        r#"{{"request":{{"uid":"u","kind":{{"group":"","version":"v1","kind":"Pod"}},"operation":"CREATE","object":{{"spec":{{"containers":[{{"name":"a","lifecycle":{{"preStop":{deep}}}}}]}}}}}}}}"#
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not json", b"hello".to_vec()),
        ("empty", Vec::new()),
        (
            "no request",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
        ),
        (
            "no uid",
            br#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE"}}"#.to_vec(),
        ),
        ("deep nesting", deep.clone().into_bytes()),
        ("deep object", deep_object.into_bytes()),
        (
            "containers not a list",
            ReviewBody::create(json!({"spec": {"containers": {"a": 1}}})).to_vec(),
        ),
        (
            "grace a string",
            ReviewBody::create(json!({"spec": {"terminationGracePeriodSeconds": "30"}})).to_vec(),
        ),
        (
            "annotation a number",
            ReviewBody::create(json!({"metadata": {"annotations": {"a": 1}}})).to_vec(),
        ),
        (
            "create without object",
            ReviewBody::create(Value::Null).to_vec(),
        ),
    ];
    for (what, body) in cases {
        let response = client
            .post(server.url("/mutate"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{what}");
        let text = response.text().await.unwrap();
        assert_eq!(text.trim_end().lines().count(), 1, "{what}: {text}");
    }
    // The server is still fine.
    let ok = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn hostile_but_well_formed_objects_are_admitted_unchanged_or_planned() {
    let server = TestServer::start().await;
    let client = server.client();
    let many_containers: Vec<Value> = (0..500)
        .map(|i| json!({"name": format!("c{i}"), "image": "app"}))
        .collect();
    let cases = [
        json!({}),
        json!({"spec": null}),
        json!({"spec": {"containers": []}}),
        json!({"spec": {"containers": many_containers}}),
        json!({"metadata": {"annotations": {"lameduck.dev/sleep": "9".repeat(10_000)}}, "spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"name": "a", "lifecycle": null}], "terminationGracePeriodSeconds": i64::MAX}}),
        json!({"spec": {"containers": [{}]}}),
    ];
    for object in cases {
        let answer = review(
            &server,
            &client,
            ReviewBody::create(object.clone()).to_vec(),
        )
        .await;
        assert_eq!(answer["response"]["allowed"], true);
        if let Some(patch) = patch_of(&answer) {
            let mut patched = object.clone();
            json_patch::patch(&mut patched, &patch.0).expect("patch applies");
        }
    }
}

#[tokio::test]
async fn other_kinds_operations_and_subresources_are_allowed_unchanged() {
    let server = TestServer::start().await;
    let client = server.client();
    let pod = json!({"spec": {"containers": [{"name": "app", "image": "a"}]}});
    let cases = [
        ("", "Pod", "UPDATE", None),
        ("", "Pod", "DELETE", None),
        ("", "Pod", "CREATE", Some("ephemeralcontainers")),
        ("apps", "Deployment", "DELETE", None),
        ("", "Service", "CREATE", None),
        ("example.com", "Deployment", "CREATE", None),
    ];
    for (group, kind, operation, sub_resource) in cases {
        let mut body = ReviewBody::create(pod.clone())
            .kind(group, "v1", kind)
            .operation(operation);
        if let Some(sub_resource) = sub_resource {
            body = body.sub_resource(sub_resource);
        }
        let body = body.to_vec();
        let answer = review(&server, &client, body).await;
        assert_eq!(answer["response"]["allowed"], true);
        assert!(
            answer["response"].get("patch").is_none(),
            "{kind} {operation}"
        );
    }
}

#[tokio::test]
async fn methods_paths_and_sizes() {
    let server = TestServer::start().await;
    let client = server.client();
    let get = client.get(server.url("/mutate")).send().await.unwrap();
    assert_eq!(get.status(), 405);
    let unknown = client.post(server.url("/validate")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    // 8 MiB is accepted (an UPDATE carries two objects)...
    let filler = "x".repeat(7 * 1024 * 1024);
    let big = ReviewBody::update(
        json!({"metadata": {"annotations": {"filler": filler}}, "spec": {"template": {"spec": {"containers": [{"name": "db"}]}}}}),
        json!({"metadata": {"annotations": {"filler": "old"}}}),
    )
    .kind("apps", "v1", "StatefulSet")
    .uid("big")
    .to_vec();
    assert!(big.len() < 8 * 1024 * 1024);
    let accepted = client
        .post(server.url("/mutate"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    // ...more is not, and the client reads why on either protocol. The HTTP/1.1 client
    // here writes its whole body (4 MiB past the limit) before it reads, as simple
    // clients do: it must get the answer, not a reset.
    let huge = vec![b' '; 12 * 1024 * 1024];
    let refused = client
        .post(server.url("/mutate"))
        .body(huge.clone())
        .send()
        .await
        .unwrap_or_else(|error| panic!("h2: no answer: {error:?}"));
    assert_eq!(refused.version(), reqwest::Version::HTTP_2);
    assert_eq!(refused.status(), 413);
    assert_eq!(
        refused.text().await.unwrap(),
        "request body larger than 8388608 bytes\n"
    );

    let mut stream = tls_connect(server.https, &server.ca_pem).await;
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        huge.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&huge)
        .await
        .expect("the server reads an oversized body to its end");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\nrequest body larger than 8388608 bytes\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = TestServer::start().await;
    let client = server.client();
    let plain = reqwest::Client::new();
    for url in [server.url("/healthz"), server.url("/readyz")] {
        assert_eq!(
            client.get(&url).send().await.unwrap().status(),
            200,
            "{url}"
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let url = server.metrics_url(path);
        assert_eq!(plain.get(&url).send().await.unwrap().status(), 200, "{url}");
    }
    let readyz = plain
        .get(server.metrics_url("/readyz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(readyz.contains("sleep"), "{readyz}");
}

/// ALPN decides the protocol (DESIGN.md, "Connections"): a client that did not negotiate
/// `h2` and sends h2's preface anyway is read as HTTP/1.1, not served h2 under the head
/// timeout meant for HTTP/1.1.
#[tokio::test]
async fn h2_is_spoken_only_when_alpn_settles_on_it() {
    let server = TestServer::start().await;
    let mut stream = tls_connect(server.https, &server.ca_pem).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    // An h2 server's first bytes are its SETTINGS frame (type 0x4 after a 3-byte length).
    assert!(
        answer.len() < 4 || answer[3] != 0x4,
        "answered as h2: {answer:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
