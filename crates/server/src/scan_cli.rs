//! `teamcontext scan PATH --project ID|NAME`: sends a directory to a server's scan endpoint and
//! follows the job with a progress bar.
//!
//! The directory is packed into a `.tar.gz` in memory with the same file selection the server
//! applies (`.gitignore`, vendored and generated folders, binaries and oversized files left out),
//! so a repository with `node_modules` does not upload it only to have it skipped. The server
//! treats the archive as the whole project: files deleted locally since the last scan lose their
//! chunks there too.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tc_scan::walk::{SelectOptions, select};

/// What `teamcontext scan` was asked to do (its command-line arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// The directory to scan (its .gitignore is honoured).
    pub path: PathBuf,
    /// The project to index into: its id, or its name among the projects the key can reach.
    #[arg(long)]
    pub project: String,
    /// The TeamContext server's URL.
    #[arg(long, env = "TEAMCONTEXT_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    #[command(flatten)]
    pub key: crate::cli_key::KeyArgs,
    /// Only files matching this glob (repeatable), e.g. `--pattern '*.py'`.
    #[arg(long = "pattern")]
    pub patterns: Vec<String>,
    /// Characters per chunk (default 1000).
    #[arg(long)]
    pub chunk_size: Option<u32>,
    /// Characters shared by consecutive chunks (default 200).
    #[arg(long)]
    pub chunk_overlap: Option<u32>,
    /// Return once the scan is queued instead of following it.
    #[arg(long)]
    pub no_wait: bool,
}

/// Files larger than this are not packed (the server's default limit).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

fn pack(args: &ScanArgs) -> anyhow::Result<(Vec<u8>, usize)> {
    let root = &args.path;
    anyhow::ensure!(root.is_dir(), "{} is not a directory", root.display());
    let options =
        SelectOptions { file_patterns: args.patterns.clone(), max_file_bytes: MAX_FILE_BYTES };
    let selection = select(root, &options).context("reading the directory")?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for file in &selection.files {
        let bytes = std::fs::read(&file.abs_path)
            .with_context(|| format!("reading {}", file.abs_path.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, &file.path, bytes.as_slice())
            .with_context(|| format!("packing {}", file.path))?;
    }
    let bytes = tar.into_inner()?.finish()?;
    Ok((bytes, selection.files.len()))
}

/// The body of a successful answer; otherwise an error saying the server refused `what`, with
/// the message of its error envelope.
async fn answer(resp: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no details");
        bail!("the server refused {what} ({status}): {message}");
    }
    Ok(body)
}

/// The id of the project `wanted` names: `wanted` itself when it is an id, otherwise the one
/// project of that name among those the key can reach (exactly, else ignoring case).
async fn project_id(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    wanted: &str,
) -> anyhow::Result<String> {
    if uuid::Uuid::parse_str(wanted).is_ok() {
        return Ok(wanted.to_string());
    }
    let mut projects: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request =
            client.get(format!("{base}/projects")).bearer_auth(api_key).query(&[("limit", "100")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let resp = request.send().await.with_context(|| format!("cannot reach {base}"))?;
        let page = answer(resp, "to list the projects").await?;
        for p in page["items"].as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) {
                projects.push((id.to_string(), name.to_string()));
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let named = |exact: bool| -> Vec<&(String, String)> {
        projects
            .iter()
            .filter(
                |(_, name)| if exact { name == wanted } else { name.eq_ignore_ascii_case(wanted) },
            )
            .collect()
    };
    let mut matches = named(true);
    if matches.is_empty() {
        matches = named(false);
    }
    match matches.as_slice() {
        [(id, _)] => Ok(id.clone()),
        [] if projects.is_empty() => bail!("no project named {wanted:?}: this key reaches none"),
        [] => {
            let names: Vec<&str> = projects.iter().map(|(_, n)| n.as_str()).collect();
            bail!("no project named {wanted:?}; this key reaches: {}", names.join(", "))
        }
        several => {
            let ids: Vec<&str> = several.iter().map(|(id, _)| id.as_str()).collect();
            bail!(
                "{} projects are named {wanted:?}; pass one's id: {}",
                several.len(),
                ids.join(", ")
            )
        }
    }
}

/// Runs the command; the error says what went wrong in the user's terms.
pub async fn run(args: ScanArgs) -> anyhow::Result<()> {
    let api_key = args.key.resolve(&args.server)?;
    let (archive, files) = {
        let args = args.clone();
        tokio::task::spawn_blocking(move || pack(&args)).await??
    };
    if files == 0 {
        bail!("no files to scan in {}", args.path.display());
    }
    let base = format!("{}/api/v1", args.server.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let project = project_id(&client, &base, &api_key, &args.project).await?;
    eprintln!(
        "uploading {files} file(s) ({:.1} MB) to {}",
        archive.len() as f64 / 1e6,
        args.server
    );
    let mut form = reqwest::multipart::Form::new()
        .part("archive", reqwest::multipart::Part::bytes(archive).file_name("scan.tar.gz"));
    for pattern in &args.patterns {
        form = form.text("file_patterns", pattern.clone());
    }
    if let Some(n) = args.chunk_size {
        form = form.text("chunk_size", n.to_string());
    }
    if let Some(n) = args.chunk_overlap {
        form = form.text("chunk_overlap", n.to_string());
    }
    let resp = client
        .post(format!("{base}/projects/{project}/scan"))
        .bearer_auth(&api_key)
        .multipart(form)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.server))?;
    let body = answer(resp, "the scan").await?;
    let job = body["job_id"].as_str().context("the server's answer has no job id")?.to_string();
    if args.no_wait {
        println!("scan queued: job {job}");
        return Ok(());
    }

    let bar = ProgressBar::new(files as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let url = format!("{base}/projects/{project}/scan/status/{job}");
    let final_status = loop {
        let resp = client.get(&url).bearer_auth(&api_key).send().await;
        let status: Value = match resp {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null, // a blip; try again
        };
        let progress = &status["progress"];
        if let Some(total) = progress["files_total"].as_u64().filter(|t| *t > 0) {
            bar.set_length(total);
        }
        bar.set_position(progress["files_done"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "{} · {} chunks",
            progress["phase"].as_str().unwrap_or("queued"),
            progress["chunks"].as_u64().unwrap_or(0)
        ));
        match status["status"].as_str() {
            Some("succeeded" | "failed" | "cancelled") => break status,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    bar.finish_and_clear();
    let result = &final_status["result"];
    match final_status["status"].as_str() {
        Some("succeeded") => {
            println!(
                "scanned: {} file(s) indexed, {} unchanged, {} removed; {} chunk(s), {} token(s); \
                 {} skipped, {} error(s) in {:.1} s",
                result["files_indexed"],
                result["files_unchanged"],
                result["files_removed"],
                result["chunks"],
                result["tokens"],
                result["skipped_total"],
                result["errors"].as_array().map_or(0, Vec::len),
                result["elapsed_ms"].as_f64().unwrap_or(0.0) / 1000.0
            );
            for e in result["errors"].as_array().into_iter().flatten() {
                println!("  error: {}: {}", e["path"].as_str().unwrap_or(""), e["message"]);
            }
            Ok(())
        }
        Some(other) => {
            bail!("the scan {other}: {}", final_status["error"].as_str().unwrap_or("no details"))
        }
        None => bail!("lost track of job {job}"),
    }
}
