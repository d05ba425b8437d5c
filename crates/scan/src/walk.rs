//! Choosing the files a scan indexes.
//!
//! The walk honours `.gitignore` (and `.ignore`) files whether or not the tree is a git
//! repository, never follows a symbolic link, and leaves out, with a reason: vendored and
//! generated directories, lock files and minified or marked-generated files, files larger than
//! the limit, binary or non-UTF-8 files, and files that hold secrets (`.env` files, private
//! keys, credential stores; see [`secret_reason`]) even when no ignore file names them, so a
//! scan never makes a credential searchable by everyone on the project. `file_patterns` (globs such as `*.py` or
//! `src/**/*.rs`) narrow the rest; files they do not match are counted, not listed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::{ScanError, Skipped};

/// Directories that hold other people's code or build output.
const VENDORED_DIRS: &[&str] = &[
    "node_modules",
    "bower_components",
    "vendor",
    "third_party",
    "target",
    "dist",
    "build",
    "out",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".next",
    ".nuxt",
    ".gradle",
    "Pods",
    "coverage",
];
/// Files that are generated from others.
const GENERATED_FILES: &[&str] = &[
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "Pipfile.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
];
const GENERATED_SUFFIXES: &[&str] = &[".min.js", ".min.css", ".map", ".pb.go", "_pb2.py"];
/// File names that hold credentials by convention.
const SECRET_FILES: &[&str] = &[
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".htpasswd",
    ".pgpass",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "credentials.json",
    "service-account.json",
    "terraform.tfstate",
    "terraform.tfstate.backup",
];
/// Extensions of key stores and private keys.
const SECRET_SUFFIXES: &[&str] =
    &[".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".ppk", ".gpg"];
/// `.env` variants that are templates, meant to be shared.
const ENV_TEMPLATES: &[&str] = &["example", "sample", "template", "dist", "defaults"];
/// How much of a file is read to decide whether it is binary or marked generated.
const SNIFF_BYTES: usize = 8 * 1024;

/// What to select.
#[derive(Debug, Clone)]
pub struct SelectOptions {
    /// Globs a file's relative path must match (any of them); empty means every file.
    pub file_patterns: Vec<String>,
    pub max_file_bytes: u64,
}

/// A file chosen for indexing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the scanned root, `/`-separated.
    pub path: String,
    pub abs_path: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub files: Vec<SourceFile>,
    pub skipped: Vec<Skipped>,
    /// Files `file_patterns` did not match.
    pub not_matched: usize,
    /// Every file in the tree, chosen or not (outside pruned directories): what a re-scan
    /// compares with to find deleted files.
    pub present: Vec<String>,
}

fn patterns(list: &[String]) -> Result<Option<GlobSet>, ScanError> {
    if list.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in list {
        let glob = Glob::new(pattern).map_err(|e| ScanError::BadPattern {
            pattern: pattern.clone(),
            message: e.kind().to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|e| ScanError::BadPattern {
        pattern: list.join(", "),
        message: e.kind().to_string(),
    })
}

/// Checks the patterns without walking anything (for validating a request up front).
pub fn check_patterns(list: &[String]) -> Result<(), ScanError> {
    patterns(list).map(drop)
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Why a file may hold secrets, judged from its path and first bytes.
pub fn secret_reason(path: &str, head: &[u8]) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    let env_file = lower == ".env"
        || lower.strip_prefix(".env.").is_some_and(|rest| !ENV_TEMPLATES.contains(&rest))
        || lower.ends_with(".env") && !lower.ends_with(".example.env");
    if env_file {
        return Some("environment file (may hold secrets; not indexed)");
    }
    let in_credential_dir = [".aws/credentials", ".docker/config.json", ".kube/config", ".ssh/"]
        .iter()
        .any(|p| path.contains(p));
    if SECRET_FILES.contains(&lower.as_str())
        || SECRET_SUFFIXES.iter().any(|s| lower.ends_with(s))
        || in_credential_dir
    {
        return Some("credential or key file (may hold secrets; not indexed)");
    }
    let text = String::from_utf8_lossy(head);
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        return Some("contains a private key (not indexed)");
    }
    None
}

/// Why a file that exists should not be indexed, judged from its name and first bytes.
fn reject(path: &str, name: &str, size: u64, head: &[u8], max: u64) -> Option<String> {
    if let Some(reason) = secret_reason(path, head) {
        return Some(reason.into());
    }
    if GENERATED_FILES.contains(&name) || GENERATED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Some("generated file".into());
    }
    if size > max {
        return Some(format!("larger than {max} bytes"));
    }
    if head.contains(&0) {
        return Some("binary file".into());
    }
    // A multi-byte character may be cut at the end of the sniffed bytes.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() == SNIFF_BYTES,
    };
    if !valid {
        return Some("not UTF-8 text".into());
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(1024)]);
    if text.contains("@generated") || text.contains("DO NOT EDIT") {
        return Some("generated file (marked as such)".into());
    }
    None
}

/// Walks `root` and returns the files to index, sorted by path.
pub fn select(root: &Path, options: &SelectOptions) -> Result<Selection, ScanError> {
    let matcher = patterns(&options.file_patterns)?;
    let skipped: Arc<Mutex<Vec<Skipped>>> = Arc::default();
    let dirs_skipped = skipped.clone();
    let root_owned = root.to_path_buf();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .ignore(true)
        .parents(false)
        .follow_links(false)
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            let name = entry.file_name().to_string_lossy();
            if is_dir && name == ".git" {
                return false;
            }
            if is_dir && entry.depth() > 0 && VENDORED_DIRS.contains(&name.as_ref()) {
                let path = relative(&root_owned, entry.path());
                dirs_skipped
                    .lock()
                    .push(Skipped { path, reason: "vendored or generated directory".into() });
                return false;
            }
            true
        })
        .build();

    let mut selection = Selection::default();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = match &e {
                    ignore::Error::WithPath { path, .. } => relative(root, path),
                    _ => String::new(),
                };
                selection.skipped.push(Skipped { path, reason: format!("unreadable: {e}") });
                continue;
            }
        };
        let Some(kind) = entry.file_type() else { continue };
        let path = relative(root, entry.path());
        if kind.is_symlink() || kind.is_file() {
            selection.present.push(path.clone());
        }
        if kind.is_symlink() {
            selection
                .skipped
                .push(Skipped { path, reason: "symbolic link (never followed)".into() });
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        if let Some(m) = &matcher
            && !m.is_match(&path)
        {
            selection.not_matched += 1;
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let read = std::fs::File::open(entry.path()).and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, SNIFF_BYTES as u64), &mut head)
        });
        if let Err(e) = read {
            selection.skipped.push(Skipped { path, reason: format!("unreadable: {e}") });
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        match reject(&path, &name, size, &head, options.max_file_bytes) {
            Some(reason) => selection.skipped.push(Skipped { path, reason }),
            None => selection.files.push(SourceFile { path, abs_path: entry.path().to_path_buf() }),
        }
    }
    selection.skipped.extend(std::mem::take(&mut *skipped.lock()));
    selection.files.sort_by(|a, b| a.path.cmp(&b.path));
    selection.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, bytes: &[u8]) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// Hole 9 of the hardening issue: secrets not named by an ignore file were indexed and so
    /// searchable by everyone on the project.
    #[test]
    fn files_that_hold_secrets_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        for (path, bytes) in [
            (".env", &b"STRIPE_KEY=sk_live_x\n"[..]),
            (".env.production", b"DB_PASSWORD=x\n"),
            ("config/prod.env", b"A=1\n"),
            ("deploy/id_ed25519", key),
            ("deploy/server.pem", b"cert\n"),
            ("deploy/notes.txt", key),
            (".npmrc", b"//registry/:_authToken=x\n"),
            ("home/.aws/credentials", b"[default]\n"),
            ("infra/terraform.tfstate", b"{}\n"),
        ] {
            write(root, path, bytes);
        }
        write(root, ".env.example", b"STRIPE_KEY=\n");
        write(root, "src/env.py", b"import os\n");
        let opts = SelectOptions { file_patterns: Vec::new(), max_file_bytes: 100_000 };
        let s = select(root, &opts).unwrap();
        let files: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(files, [".env.example", "src/env.py"]);
        assert_eq!(s.skipped.len(), 9, "{:?}", s.skipped);
        assert!(s.skipped.iter().all(|k| k.reason.contains("not indexed")), "{:?}", s.skipped);
        let notes = s.skipped.iter().find(|k| k.path == "deploy/notes.txt").unwrap();
        assert_eq!(notes.reason, "contains a private key (not indexed)");
    }

    #[test]
    fn selects_source_and_says_why_the_rest_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "src/app.py", b"def main():\n    pass\n");
        write(root, "src/lib.rs", b"fn main() {}\n");
        write(root, "README.md", b"# Title\n");
        write(root, "node_modules/left-pad/index.js", b"module.exports = 1;\n");
        write(root, "src/generated.rs", b"// @generated by a tool\nfn x() {}\n");
        write(root, "package-lock.json", b"{}");
        write(root, "logo.png", b"\x89PNG\r\n\x1a\n\0\0\0");
        write(root, "latin1.txt", b"caf\xe9 au lait\n");
        write(root, "big.txt", &vec![b'a'; 2000]);
        write(root, "secret.env", b"TOKEN=1\n");
        write(root, ".gitignore", b"secret.env\n");
        write(root, ".git/config", b"[core]\n");
        std::os::unix::fs::symlink("/etc/passwd", root.join("src/passwd")).unwrap();

        let opts = SelectOptions { file_patterns: Vec::new(), max_file_bytes: 1000 };
        let s = select(root, &opts).unwrap();
        let files: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(files, [".gitignore", "README.md", "src/app.py", "src/lib.rs"]);
        let reasons: Vec<(&str, &str)> =
            s.skipped.iter().map(|k| (k.path.as_str(), k.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                ("big.txt", "larger than 1000 bytes"),
                ("latin1.txt", "not UTF-8 text"),
                ("logo.png", "binary file"),
                ("node_modules", "vendored or generated directory"),
                ("package-lock.json", "generated file"),
                ("src/generated.rs", "generated file (marked as such)"),
                ("src/passwd", "symbolic link (never followed)"),
            ]
        );

        let opts = SelectOptions {
            file_patterns: vec!["*.py".into(), "src/**/*.rs".into()],
            max_file_bytes: 1000,
        };
        let s = select(root, &opts).unwrap();
        let files: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(files, ["src/app.py", "src/lib.rs"]);
        assert!(s.not_matched >= 2);
        assert!(check_patterns(&["src/[".into()]).is_err());
    }
}
