//! The official MCP clients (the Python and TypeScript SDKs), installed by
//! `scripts/fetch-mcp-clients.sh` beside their scripts in `tests/mcp_clients`, driven by a JSON
//! plan of operations; each answers one JSON document.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};

use super::TestApp;

pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients")
}

/// Runs a client script and returns its output, with a hint when the clients are missing.
pub async fn run(program: PathBuf, args: Vec<String>) -> Output {
    assert!(
        program.exists(),
        "{} is missing: run scripts/fetch-mcp-clients.sh (make test does)",
        program.display()
    );
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(&program)
            .args(&args)
            .current_dir(clients_dir())
            .output()
            .expect("client runs")
    })
    .await
    .unwrap()
}

pub fn parse(output: Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

pub async fn python(plan: Value) -> Value {
    let dir = clients_dir();
    parse(run(dir.join("venv/bin/python"), vec!["python_client.py".into(), plan.to_string()]).await)
}

pub async fn typescript(plan: Value) -> Value {
    let dir = clients_dir();
    parse(
        run(dir.join("node_modules/.bin/node"), vec!["ts_client.mjs".into(), plan.to_string()])
            .await,
    )
}

pub fn http_plan(app: &TestApp, key: &str, client_name: &str, ops: Value) -> Value {
    json!({"transport": "http", "url": format!("{}/mcp", app.base), "key": key, "client_name": client_name, "ops": ops})
}

pub fn call(name: &str, args: Value) -> Value {
    json!({"op": "call", "name": name, "args": args})
}
