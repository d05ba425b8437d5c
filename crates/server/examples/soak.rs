//! The soak of `make bench`: many clients at once against a running server, for minutes, in a
//! mix of what a team's assistants and scripts do: list projects, read a context, browse a
//! project, save, search over REST, and search and save over MCP (one real MCP client session
//! per client, rmcp over Streamable HTTP). Each client sends its next request when the last
//! one is answered. Prints a markdown table: calls, errors, calls/s, p50 and p99 per operation,
//! and the server's resident memory at the start, the end and its peak (read from /proc).
//!
//! ```text
//! cargo run --release -p teamcontext --example soak -- \
//!     --base http://127.0.0.1:8080 --key tc_… --project ID --pid PID [--clients 64] [--seconds 300]
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

type Mcp = RunningService<rmcp::RoleClient, ClientConfig>;

/// The mix: each operation with its weight out of 100.
const MIX: &[(Op, u32)] = &[
    (Op::ListProjects, 15),
    (Op::ReadContext, 15),
    (Op::BrowseProject, 10),
    (Op::Save, 10),
    (Op::Search, 20),
    (Op::McpSearch, 20),
    (Op::McpSave, 10),
];

const QUERIES: &[&str] = &[
    "how are refresh tokens rotated and what happens when one is reused",
    "which rate limits apply to a search",
    "where does the server keep its generated secrets",
    "what happens to a project's context when the project is deleted",
    "how does hybrid search combine keyword and vector results",
    "what does a scan skip",
    "how are MCP sessions shared between replicas",
    "backup and restore of the database",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    ListProjects,
    ReadContext,
    BrowseProject,
    Save,
    Search,
    McpSearch,
    McpSave,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::ListProjects => "REST GET /projects",
            Op::ReadContext => "REST GET /context/{id}",
            Op::BrowseProject => "REST GET /projects/{id}/context",
            Op::Save => "REST POST /context/save",
            Op::Search => "REST POST /context/search (hybrid)",
            Op::McpSearch => "MCP get_relevant_context",
            Op::McpSave => "MCP save_to_context",
        }
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: u64,
    first_errors: Vec<String>,
}

struct Args {
    base: String,
    key: String,
    project: String,
    pid: u32,
    clients: usize,
    seconds: u64,
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let (mut base, mut key, mut project, mut pid) = (None, None, None, None);
    let (mut clients, mut seconds) = (64, 300);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => base = Some(value.trim_end_matches('/').to_string()),
            "--key" => key = Some(value),
            "--project" => project = Some(value),
            "--pid" => pid = Some(value.parse().expect("--pid is a number")),
            "--clients" => clients = value.parse().expect("--clients is a number"),
            "--seconds" => seconds = value.parse().expect("--seconds is a number"),
            other => panic!("unknown flag {other}"),
        }
    }
    Args {
        base: base.expect("--base"),
        key: key.expect("--key"),
        project: project.expect("--project"),
        pid: pid.expect("--pid"),
        clients,
        seconds,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    project: String,
    contexts: Arc<Vec<String>>,
    mcp: Mcp,
    id: usize,
}

impl Client {
    /// One call of `op`: `Err` with what went wrong when it did not succeed.
    async fn call(&self, op: Op, n: u64) -> Result<(), String> {
        let query = QUERIES[(n as usize + self.id) % QUERIES.len()];
        let note = format!(
            "Soak note {n} from client {}: the deploy pipeline for service {} runs its smoke \
             tests after the canary, and rolls back on two failed health checks.",
            self.id,
            n % 17
        );
        let rest = |method: reqwest::Method, path: String| {
            self.http.request(method, format!("{}/api/v1{path}", self.base)).bearer_auth(&self.key)
        };
        let request = match op {
            Op::ListProjects => rest(reqwest::Method::GET, "/projects".into()),
            Op::ReadContext => {
                let id = &self.contexts[(n as usize * 31 + self.id) % self.contexts.len()];
                rest(reqwest::Method::GET, format!("/context/{id}"))
            }
            Op::BrowseProject => {
                rest(reqwest::Method::GET, format!("/projects/{}/context?limit=20", self.project))
            }
            Op::Save => rest(reqwest::Method::POST, "/context/save".into()).json(&json!({
                "content": note, "project_id": self.project,
                "metadata": {"source": "note", "tags": ["soak"]}
            })),
            Op::Search => rest(reqwest::Method::POST, "/context/search".into()).json(&json!({
                "query": query, "project_ids": [self.project], "limit": 5, "mode": "hybrid"
            })),
            Op::McpSearch | Op::McpSave => {
                let (tool, arguments) = if op == Op::McpSearch {
                    (
                        "get_relevant_context",
                        json!({"query": query, "project_id": self.project, "limit": 5}),
                    )
                } else {
                    (
                        "save_to_context",
                        json!({"content": note, "project_id": self.project, "tags": ["soak"]}),
                    )
                };
                let Value::Object(arguments) = arguments else { unreachable!() };
                let params = CallToolRequestParams::new(tool).with_arguments(arguments);
                let result = self.mcp.call_tool(params).await.map_err(|e| e.to_string())?;
                return if result.is_error == Some(true) {
                    Err(format!("{tool}: {:?}", result.content))
                } else {
                    Ok(())
                };
            }
        };
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        // Read the whole body, as a client would.
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{} {status}: {}", op.label(), String::from_utf8_lossy(&body)))
        }
    }
}

fn pick(roll: u32) -> Op {
    let mut acc = 0;
    for (op, weight) in MIX {
        acc += weight;
        if roll < acc {
            return *op;
        }
    }
    MIX[MIX.len() - 1].0
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build().unwrap();
    let listed: Value = http
        .get(format!("{}/api/v1/projects/{}/context?limit=100", args.base, args.project))
        .bearer_auth(&args.key)
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a context list");
    let contexts: Vec<String> = listed["items"]
        .as_array()
        .expect("the project's contexts")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    assert!(!contexts.is_empty(), "seed the project first");
    let contexts = Arc::new(contexts);

    let mut clients = Vec::with_capacity(args.clients);
    for id in 0..args.clients {
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", args.base))
            .auth_header(args.key.clone());
        let transport = StreamableHttpClientTransport::from_config(config);
        let me = Implementation::new(format!("soak-{id}"), "1");
        let mcp = ClientConfig::new(ClientCapabilities::default(), me)
            .serve(transport)
            .await
            .expect("an MCP session opens");
        clients.push(Arc::new(Client {
            http: http.clone(),
            base: args.base.clone(),
            key: args.key.clone(),
            project: args.project.clone(),
            contexts: contexts.clone(),
            mcp,
            id,
        }));
    }

    let tallies: Arc<Mutex<BTreeMap<Op, Tally>>> = Arc::default();
    let start_rss = rss_kib(args.pid);
    let peak_rss = Arc::new(std::sync::atomic::AtomicU64::new(start_rss));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let sampler = {
        let (peak, pid) = (peak_rss.clone(), args.pid);
        tokio::spawn(async move {
            while Instant::now() < deadline {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut workers = Vec::new();
    for client in &clients {
        let (client, tallies) = (client.clone(), tallies.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let op = pick(rand::rng().random_range(0..100));
                let began = Instant::now();
                let outcome = client.call(op, n).await;
                let took = began.elapsed().as_micros() as u64;
                let mut tallies = tallies.lock();
                let tally = tallies.entry(op).or_default();
                tally.latencies_us.push(took);
                if let Err(e) = outcome {
                    tally.errors += 1;
                    if tally.first_errors.len() < 3 {
                        tally.first_errors.push(e);
                    }
                }
                n += 1;
            }
        }));
    }
    for worker in workers {
        worker.await.expect("a client task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    sampler.abort();
    let end_rss = rss_kib(args.pid);
    for client in clients {
        if let Ok(client) = Arc::try_unwrap(client) {
            let _ = client.mcp.cancel().await;
        }
    }

    let tallies = std::mem::take(&mut *tallies.lock());
    let mut all: Vec<u64> = Vec::new();
    let mut total_errors = 0;
    println!("| operation | calls | errors | calls/s | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (op, mut tally) in tallies {
        tally.latencies_us.sort_unstable();
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            op.label(),
            tally.latencies_us.len(),
            tally.errors,
            tally.latencies_us.len() as f64 / elapsed,
            percentile(&tally.latencies_us, 50.0),
            percentile(&tally.latencies_us, 99.0)
        );
        for e in &tally.first_errors {
            eprintln!("{}: {e}", op.label());
        }
        total_errors += tally.errors;
        all.extend(tally.latencies_us);
    }
    all.sort_unstable();
    println!(
        "| all ({} clients, {:.0} s) | {} | {} | {:.1} | {:.1} | {:.1} |",
        args.clients,
        elapsed,
        all.len(),
        total_errors,
        all.len() as f64 / elapsed,
        percentile(&all, 50.0),
        percentile(&all, 99.0)
    );
    println!(
        "| server RSS | start {} MiB, end {} MiB, peak {} MiB | | | | |",
        start_rss / 1024,
        end_rss / 1024,
        peak_rss.load(std::sync::atomic::Ordering::Relaxed) / 1024
    );
}
