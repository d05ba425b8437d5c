//! Codebase scanning, the parts that know nothing of jobs or storage (SPEC §7):
//!
//! - [`archive`]: unpacking `.zip` and `.tar.gz` uploads into a scan's own workspace, refusing
//!   entries that would land outside it and never creating links;
//! - [`git`]: checking a repository URL against server-side request forgery and cloning it
//!   shallowly in process (gix);
//! - [`walk`]: choosing the files to index (patterns, `.gitignore`, and the binary, oversized,
//!   vendored and generated files skipped with a reason);
//! - [`chunk`]: language-aware chunking (tree-sitter grammars through text-splitter) with line
//!   ranges and symbol names.
//!
//! The scan job that drives these (embedding, incremental storage, progress) lives in the domain.

pub mod archive;
pub mod chunk;
pub mod git;
pub mod walk;

/// A file left out of a scan, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What stops a scan (or refuses its input) as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("archive entry {0:?} would be written outside the scan's workspace")]
    UnsafeArchiveEntry(String),
    #[error("the archive is not a readable {kind}: {message}")]
    BadArchive { kind: &'static str, message: String },
    #[error("the archive unpacks to more than {limit} bytes")]
    ArchiveTooLarge { limit: u64 },
    #[error("{0}")]
    RefusedUrl(String),
    #[error("cloning the repository failed: {0}")]
    Clone(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("invalid file pattern {pattern:?}: {message}")]
    BadPattern { pattern: String, message: String },
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScanError {
    let context = context.into();
    move |source| ScanError::Io { context, source }
}

/// The SHA-256 of a file's bytes, hex; decides whether a re-scan redoes the file.
pub fn content_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
