//! The `teamcontext` command: `serve` (the default), `migrate`, `purge`, `reindex`, operator commands for
//! accounts, and `mcp`, the stdio MCP proxy an assistant launches. Configuration comes from the
//! environment and an optional TOML file (`config/settings.rs` declares every setting; the
//! README's table is rendered from it).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tc_domain::SystemClock;
use teamcontext::config::Config;

// The embedding model allocates and frees large tensors per layer; mimalloc keeps them in
// user space where glibc malloc maps and unmaps them each time (NOTES: 1.7x faster).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "teamcontext",
    version,
    about = "One shared, searchable memory for a team's AI assistants"
)]
struct Cli {
    /// A TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = "TEAMCONTEXT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Remove projects deleted more than 30 days ago, for good.
    Purge,
    /// Embed every context that lacks vectors from the configured model, with a progress bar:
    /// after a change of EMBEDDING_PROVIDER, EMBEDDING_MODEL or EMBEDDING_PRECISION, or saves
    /// made while the model was down. The server does this by itself in the background; this
    /// does it now. With SQLite, stop the server first. Interrupted, it resumes where it was.
    Reindex,
    /// Copy the database to FILE while the server runs (a consistent snapshot).
    Backup {
        /// Where to write the backup; must not exist yet.
        file: PathBuf,
    },
    /// Replace the database with the backup in FILE. Stop the server first; the current
    /// database is kept beside it, renamed.
    Restore {
        /// A file written by `teamcontext backup`.
        file: PathBuf,
    },
    /// Copy a SQLite installation's data (the database file FROM) into the PostgreSQL database
    /// of DATABASE_URL, which must be empty. Stop the server using FROM first.
    MigrateData {
        /// The SQLite database file, e.g. ./data/teamcontext.db.
        #[arg(long)]
        from: PathBuf,
    },
    /// Index a local directory into a project on a server, with a progress bar.
    Scan(teamcontext::scan_cli::ScanArgs),
    /// Serve MCP on stdin/stdout for an assistant that launches a command (Claude Desktop,
    /// Claude Code, Cursor), forwarding to a TeamContext server.
    Mcp {
        /// The TeamContext server's URL.
        #[arg(long, env = "TEAMCONTEXT_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        #[command(flatten)]
        key: teamcontext::cli_key::KeyArgs,
    },
    /// Reseal every Jira and Confluence secret with a new key: with ENCRYPTION_KEY set, its
    /// current value (the old key in ENCRYPTION_KEY_PREVIOUS); otherwise a freshly generated
    /// key replaces DATA_DIR/encryption_key (stop the server first). With ENCRYPTION_KEY, restart
    /// the servers with both settings before running it. Interrupted, it can simply run again.
    RotateEncryptionKey,
    /// Operator actions on an account.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Stop an account: its API keys and tokens stop working at once.
    Deactivate { email: String },
    /// Re-enable a deactivated account.
    Activate { email: String },
    /// Mark an account's email address as verified.
    VerifyEmail { email: String },
    /// Set a new password, read from standard input; signs out every session.
    ResetPassword { email: String },
    /// Invite someone to register (for REGISTRATION=invite): prints a single-use token, valid
    /// for 7 days, to send them with the registration.
    Invite { email: String },
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(anyhow::Error::new(e).context("starting the async runtime")),
    };
    let result = runtime.block_on(run(Cli::parse()));
    // Work handed to blocking threads (a file being chunked, a clone) is not waited for: the
    // jobs it served were queued again at shutdown, and another start resumes them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Says what went wrong, with its causes, on one line; never a stack trace, even where
/// `RUST_BACKTRACE` is set (many developers set it for good, and a missing API key or an
/// unreachable server is not a crash).
fn fail(error: anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The proxy needs none of the server's configuration, and stdout is its protocol channel.
    if let Some(Command::Mcp { server, key }) = cli.command {
        teamcontext::telemetry::init_stderr(std::env::var("LOG_LEVEL").ok().as_deref());
        let api_key = key.resolve(&server)?;
        let target = teamcontext::mcp::proxy::ProxyTarget { server, api_key };
        return teamcontext::mcp::proxy::run_stdio(target).await;
    }
    if let Some(Command::Scan(args)) = cli.command {
        return teamcontext::scan_cli::run(args).await;
    }
    let config = Config::load(cli.config.as_deref()).context("configuration error")?;
    teamcontext::telemetry::init(config.log_format, &config.log_level);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let embedder = teamcontext::load_embedder(&config)?;
            let server = teamcontext::start(config, Arc::new(SystemClock), embedder).await?;
            let stop = teamcontext::shutdown_signal();
            println!("TeamContext is listening on http://{}", server.addr);
            stop.await;
            server.shutdown().await;
        }
        Command::Migrate => {
            teamcontext::create_private_dir(&config.data_dir)
                .context("creating the data directory")?;
            let applied = teamcontext::store::Backend::migrate(&config.database).await?;
            println!("{applied} migration(s) applied to {}", config.database.describe());
        }
        Command::MigrateData { from } => {
            let teamcontext::config::DatabaseConfig::Postgres { url } = &config.database else {
                anyhow::bail!(
                    "migrate-data copies into PostgreSQL: set DATABASE_URL=postgres://… (the target)"
                );
            };
            anyhow::ensure!(from.is_file(), "{} is not a database file", from.display());
            // A server still writing to the file would lose what it writes after the copy.
            let dir = from.parent().filter(|d| d.join("teamcontext.lock").exists());
            let _lock = dir.map(teamcontext::lock_data_dir).transpose()?;
            // An older installation is brought to the current schema first, so the columns
            // match the target's.
            tc_store_sqlite::SqliteStore::migrate(&from).await?;
            let target = tc_store_postgres::PgStore::connect(&url.0).await?;
            let copied = tc_migrate_data::import_sqlite(&target, &from).await;
            target.close().await;
            for (table, rows) in copied? {
                println!("{table:>18}: {rows} row(s)");
            }
            println!("copied {} into {}", from.display(), config.database.describe());
        }
        Command::Backup { file } => {
            let s = tc_store_sqlite::backup::backup(sqlite_path(&config)?, &file).await?;
            println!(
                "backed up {} user(s), {} project(s), {} context(s) ({:.1} MB) to {}",
                s.users,
                s.projects,
                s.contexts,
                s.bytes as f64 / 1e6,
                file.display()
            );
        }
        Command::Restore { file } => {
            teamcontext::create_private_dir(&config.data_dir)
                .context("creating the data directory")?;
            let _lock = teamcontext::lock_data_dir(&config.data_dir)?;
            let done =
                tc_store_sqlite::backup::restore(&file, sqlite_path(&config)?, chrono::Utc::now())
                    .await?;
            let s = &done.summary;
            println!(
                "restored {} user(s), {} project(s), {} context(s) from {} into {}",
                s.users,
                s.projects,
                s.contexts,
                file.display(),
                config.database.describe()
            );
            if let Some(previous) = &done.previous {
                println!("the database it replaced was kept as {}", previous.display());
            }
        }
        Command::Purge => {
            // Operator commands never embed: they start without loading the model.
            let embedder = Arc::new(tc_embed::Unloaded);
            let (services, store, _redis) =
                teamcontext::open_services(&config, Arc::new(SystemClock), embedder).await?;
            let purged = services.purge_expired_projects().await?;
            store.close().await;
            println!("{purged} project(s) purged");
        }
        Command::Reindex => reindex(&config).await?,
        Command::RotateEncryptionKey => {
            println!("{}", teamcontext::rotate_encryption_key(&config).await?);
        }
        Command::User { action } => {
            let embedder = Arc::new(tc_embed::Unloaded);
            let (services, store, _redis) =
                teamcontext::open_services(&config, Arc::new(SystemClock), embedder).await?;
            let result = match action {
                UserAction::Deactivate { email } => services
                    .admin_set_active(&email, false)
                    .await
                    .map(|u| format!("{} deactivated", u.email)),
                UserAction::Activate { email } => services
                    .admin_set_active(&email, true)
                    .await
                    .map(|u| format!("{} activated", u.email)),
                UserAction::VerifyEmail { email } => services
                    .admin_verify_email(&email)
                    .await
                    .map(|u| format!("{} verified", u.email)),
                UserAction::ResetPassword { email } => {
                    let mut password = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut password)
                        .context("reading the new password")?;
                    let password = password.trim_end_matches(['\r', '\n']).to_string();
                    services
                        .admin_reset_password(&email, password)
                        .await
                        .map(|()| format!("password reset for {email}; all sessions signed out"))
                }
                UserAction::Invite { email } => services.admin_invite_signup(&email).await.map(|i| {
                    format!(
                        "invitation for {} (valid until {}); they register with\n\
                         {{\"email\": \"{}\", \"password\": …, \"name\": …, \"invitation_token\": \"{}\"}}",
                        i.email,
                        i.expires_at.to_rfc3339(),
                        i.email,
                        i.token
                    )
                }),
            };
            store.close().await;
            println!("{}", result.map_err(|e| anyhow::anyhow!("{}", e.message))?);
        }
        Command::Mcp { .. } | Command::Scan(_) => {
            unreachable!("handled before the configuration is loaded")
        }
    }
    Ok(())
}

/// `teamcontext reindex`: drains the embedding backlog here, with a progress bar; Ctrl-C stops
/// it after the batch in hand (what is done stays done).
async fn reindex(config: &Config) -> anyhow::Result<()> {
    // SQLite's vector index lives in the server's memory: vectors written behind a running
    // server's back would stay invisible to it until its restart.
    let _lock = match &config.database {
        teamcontext::config::DatabaseConfig::Sqlite { .. } => {
            teamcontext::create_private_dir(&config.data_dir)
                .context("creating the data directory")?;
            Some(teamcontext::lock_data_dir(&config.data_dir)?)
        }
        teamcontext::config::DatabaseConfig::Postgres { .. } => None,
    };
    let embedder = teamcontext::load_embedder(config)?;
    let (services, store, _redis) =
        teamcontext::open_services(config, Arc::new(SystemClock), embedder).await?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} contexts, {per_sec}, {eta} left",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let interrupt = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let report = services
        .drain_embedding_backlog(&stop, |p| {
            bar.set_message(p.model.clone());
            bar.set_length(p.contexts_total);
            bar.set_position(p.contexts_done);
        })
        .await;
    interrupt.abort();
    bar.finish();
    store.close().await;
    match report.map_err(|e| anyhow::anyhow!("{}", e.message))? {
        Some(r) => println!(
            "{} context(s) embedded with {}; {} passage(s) of other models removed; \
             {} project description(s) embedded",
            r.contexts_done, r.model, r.old_passages_removed, r.descriptions_embedded
        ),
        None => println!("stopped; run `teamcontext reindex` again to finish (nothing is lost)"),
    }
    Ok(())
}

/// The SQLite file `backup` and `restore` work on; PostgreSQL has its own tools for that.
fn sqlite_path(config: &Config) -> anyhow::Result<&std::path::Path> {
    match &config.database {
        teamcontext::config::DatabaseConfig::Sqlite { path } => Ok(path),
        teamcontext::config::DatabaseConfig::Postgres { .. } => anyhow::bail!(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump and restore with pg_restore \
             (docs/operations.md)"
        ),
    }
}
