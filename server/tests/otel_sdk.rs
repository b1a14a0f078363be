//! A real OpenTelemetry SDK (Python, `tests/otel/export.py`) exports spans, metrics and logs to
//! Osprey over OTLP/HTTP on a TCP port; the test reads them back through the query API.
//!
//! Needs the venv `scripts/otel-venv.sh` builds (`scripts/setup.sh` runs it).

mod common;

use osprey::Osprey;
use serde_json::Value;
use std::future::IntoFuture;
use std::path::PathBuf;
use std::process::Command;

fn venv_python() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let python = PathBuf::from(home).join(".cache/osprey/otel-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/otel-venv.sh (or scripts/setup.sh) to install the \
         OpenTelemetry Python SDK this test exports with",
        python.display()
    );
    python
}

async fn get(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let resp = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    serde_json::from_str(&body).unwrap()
}

/// The values of a query_range answer's one series.
async fn values(client: &reqwest::Client, base: &str, query: &str) -> Vec<f64> {
    let answer = get(client, base, &format!("/api/v1/query_range?{query}")).await;
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{query}: {answer}");
    series[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_exports_traces_metrics_and_logs() {
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let osprey = Osprey::start(common::config(dir.path()))
        .await
        .expect("start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, osprey.router()).into_future());

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel/export.py");
    let url = base.clone();
    // The exporters retry refused exports with backoff for a while; a stuck run fails here.
    let run = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("OSPREY_URL", url)
            .env("OSPREY_INGEST_KEY", common::INGEST_KEY)
            .env("OTEL_SDK_DISABLED", "false")
            .output()
            .expect("run the python exporter")
    });
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("export.py finished within 2 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "export.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let trace_id = stdout.trim().to_owned();
    assert_eq!(trace_id.len(), 32, "{stdout}");
    let client = reqwest::Client::new();

    // Traces: both spans, the child failed with the exception recorded on it.
    let trace = get(&client, &base, &format!("/api/v1/traces/{trace_id}")).await;
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{trace}");
    let root = spans
        .iter()
        .find(|s| s["name"] == "POST /checkout")
        .unwrap();
    let child = spans.iter().find(|s| s["name"] == "charge card").unwrap();
    assert_eq!(root["service"], "sdk-shop");
    assert_eq!(root["attributes"]["span.kind"], "internal");
    assert_eq!(root["attributes"]["http.route"], "/checkout");
    assert_eq!(child["parent_span_id"], root["span_id"]);
    assert_eq!(child["status"], "error");
    let errors = trace["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{trace}");
    // The SDK qualifies span exception types with their module (its logging handler does not).
    assert_eq!(errors[0]["type"], "__main__.CardDeclined");
    assert_eq!(errors[0]["span_id"], child["span_id"]);
    assert_eq!(errors[0]["labels"]["release"], "2.0.1");
    // Innermost frame first: where the exception was raised.
    assert_eq!(errors[0]["stacktrace"][0]["function"], "charge", "{trace}");

    // The span's exception and the logged one: each an issue of its own (their type names and
    // callers differ), both blaming the raising function.
    let groups = get(&client, &base, "/api/v1/errors?service=sdk-shop").await;
    let groups = groups["errors"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let mut types: Vec<&str> = groups.iter().map(|g| g["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(types, ["CardDeclined", "__main__.CardDeclined"]);
    for group in groups {
        assert!(
            group["culprit"].as_str().unwrap().starts_with("charge ("),
            "{groups:?}"
        );
    }

    // Logs.
    let logs = get(&client, &base, "/api/v1/logs?service=sdk-shop").await;
    let logs = logs["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let warn = logs.iter().find(|l| l["severity"] == "warn").unwrap();
    assert_eq!(warn["body"], "stock low for sku B-7");
    assert_eq!(warn["attributes"]["sku"], "B-7");
    let error = logs.iter().find(|l| l["severity"] == "error").unwrap();
    assert_eq!(error["body"], "payment failed");

    // Metrics: the cumulative histogram's second interval answers p95, the delta counter is a
    // running total.
    let window = "from=now-10m&to=now&step=10m";
    let p95 = values(
        &client,
        &base,
        &format!("metric=sdk.request.duration&agg=p95&{window}"),
    )
    .await;
    // Only the second interval has samples (the first cumulative point is the baseline).
    assert!(
        p95.len() == 1 && p95[0] > 250.0 && p95[0] <= 500.0,
        "p95 {p95:?}"
    );
    let count = values(
        &client,
        &base,
        &format!("metric=sdk.request.duration.count&agg=max&{window}"),
    )
    .await;
    assert_eq!(count.last(), Some(&120.0), "{count:?}");
    let orders = values(
        &client,
        &base,
        &format!("metric=sdk.orders&agg=max&{window}"),
    )
    .await;
    assert_eq!(orders.last(), Some(&12.0), "{orders:?}");
    let metrics = get(&client, &base, "/api/v1/metrics").await;
    let kind = |name: &str| {
        metrics["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["kind"].clone())
    };
    assert_eq!(kind("sdk.orders"), Some("counter".into()));
    assert_eq!(kind("sdk.request.duration"), Some("gauge".into()));

    server.abort();
    osprey.shutdown().await;
}
