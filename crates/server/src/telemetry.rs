//! Logging setup: JSON lines when stdout is not a terminal (or `LOG_FORMAT=json`), readable
//! text on a terminal; a JSON line lists its spans (`spans`), the first being the `request`
//! span with its `request_id`; the stdio MCP proxy logs to stderr, since stdout carries the protocol. Handlers never log request bodies or credentials; emails are masked
//! where the services log them.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    // A second initialisation (tests) is harmless, so its error is ignored.
    let _ = if json {
        builder.json().flatten_event(true).with_current_span(false).with_span_list(true).try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Logging for `teamcontext mcp`: plain text on stderr, warnings and errors only unless
/// `LOG_LEVEL` says otherwise.
pub fn init_stderr(level: Option<&str>) {
    let filter =
        level.and_then(|l| EnvFilter::try_new(l).ok()).unwrap_or_else(|| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .compact()
        .try_init();
}
