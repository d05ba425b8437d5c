//! Unpacking uploaded archives into a scan's workspace, and packing a workspace to hand it to
//! another replica.
//!
//! Every entry's name is checked before anything is written: an absolute path, a drive prefix or
//! a `..` component refuses the whole archive (zip-slip), since an archive built to escape is not
//! one to index partly. Symbolic and hard links are never created (they are reported as
//! skipped), so nothing in the workspace can point outside it. The unpacked size and the number
//! of entries are capped against decompression bombs.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::{ScanError, Skipped, io_err};

/// The most an archive may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 200_000;

/// Which archive format a file name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zip,
    TarGz,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".zip") {
            Some(Self::Zip)
        } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(Self::TarGz)
        } else {
            None
        }
    }
}

/// Where an entry named `name` goes under `dest`, or an error if it would leave it.
pub fn safe_join(dest: &Path, name: &str) -> Result<PathBuf, ScanError> {
    let unsafe_entry = || ScanError::UnsafeArchiveEntry(name.to_string());
    if name.contains('\\') && name.contains("..") {
        return Err(unsafe_entry());
    }
    let mut out = dest.to_path_buf();
    for part in Path::new(name).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry());
            }
        }
    }
    Ok(out)
}

/// Unpacks `archive` (of `format`) into `dest`, which must exist.
pub fn extract(archive: &Path, format: Format, dest: &Path) -> Result<Vec<Skipped>, ScanError> {
    match format {
        Format::Zip => extract_zip(archive, dest),
        Format::TarGz => extract_tar_gz(archive, dest),
    }
}

/// Packs the directory `dir` as a tar.gz into `out` (fastest compression: the archive only
/// travels through the database to another replica, which unpacks it with [`extract`]).
/// Symbolic links are stored as links, so they are skipped again on the other side.
pub fn pack_tar_gz<W: Write>(dir: &Path, out: W) -> Result<W, ScanError> {
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir).map_err(io_err("packing the workspace"))?;
    let gz = builder.into_inner().map_err(io_err("packing the workspace"))?;
    gz.finish().map_err(io_err("packing the workspace"))
}

fn write_entry(reader: &mut dyn Read, path: &Path, budget: &mut u64) -> Result<(), ScanError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io_err(format!("creating {}", parent.display())))?;
    }
    let mut file =
        std::fs::File::create(path).map_err(io_err(format!("writing {}", path.display())))?;
    // One byte more than the budget tells "too large" from "exactly at the limit".
    let copied = std::io::copy(&mut reader.take(*budget + 1), &mut file)
        .map_err(io_err(format!("writing {}", path.display())))?;
    if copied > *budget {
        return Err(ScanError::ArchiveTooLarge { limit: MAX_UNPACKED_BYTES });
    }
    *budget -= copied;
    Ok(())
}

fn extract_zip(archive: &Path, dest: &Path) -> Result<Vec<Skipped>, ScanError> {
    let bad =
        |e: zip::result::ZipError| ScanError::BadArchive { kind: "zip", message: e.to_string() };
    let file = std::fs::File::open(archive).map_err(io_err("opening the archive"))?;
    let mut zip = zip::ZipArchive::new(file).map_err(bad)?;
    if zip.len() > MAX_ENTRIES {
        return Err(ScanError::BadArchive {
            kind: "zip",
            message: format!("more than {MAX_ENTRIES} entries"),
        });
    }
    // Check every name first, so a refused archive writes nothing.
    let mut targets = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(bad)?;
        targets.push(safe_join(dest, &entry.name().map_err(bad)?)?);
    }
    let mut skipped = Vec::new();
    let mut budget = MAX_UNPACKED_BYTES;
    for (i, path) in targets.into_iter().enumerate() {
        let mut entry = zip.by_index(i).map_err(bad)?;
        let name = entry.name().map_err(bad)?.into_owned();
        if entry.is_symlink() {
            skipped.push(Skipped { path: name, reason: "symbolic link (never followed)".into() });
        } else if entry.is_dir() {
            std::fs::create_dir_all(&path)
                .map_err(io_err(format!("creating {}", path.display())))?;
        } else {
            write_entry(&mut entry, &path, &mut budget)?;
        }
    }
    Ok(skipped)
}

fn extract_tar_gz(archive: &Path, dest: &Path) -> Result<Vec<Skipped>, ScanError> {
    let bad = |e: std::io::Error| ScanError::BadArchive { kind: "tar.gz", message: e.to_string() };
    let open = || -> Result<tar::Archive<flate2::read::GzDecoder<std::fs::File>>, ScanError> {
        let file = std::fs::File::open(archive).map_err(io_err("opening the archive"))?;
        Ok(tar::Archive::new(flate2::read::GzDecoder::new(file)))
    };
    // First pass: names only, so a refused archive writes nothing.
    let mut count = 0;
    for entry in open()?.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        safe_join(dest, &name)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ScanError::BadArchive {
                kind: "tar.gz",
                message: format!("more than {MAX_ENTRIES} entries"),
            });
        }
    }
    let mut skipped = Vec::new();
    let mut budget = MAX_UNPACKED_BYTES;
    for entry in open()?.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let path = safe_join(dest, &name)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&path)
                .map_err(io_err(format!("creating {}", path.display())))?;
        } else if kind.is_file() {
            write_entry(&mut entry, &path, &mut budget)?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            skipped.push(Skipped { path: name, reason: "link (never followed)".into() });
        } else if !matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            skipped.push(Skipped { path: name, reason: "not a regular file".into() });
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_workspace_are_refused() {
        let dest = Path::new("/tmp/ws");
        assert_eq!(safe_join(dest, "src/a.py").unwrap(), Path::new("/tmp/ws/src/a.py"));
        assert_eq!(safe_join(dest, "./src/./a.py").unwrap(), Path::new("/tmp/ws/src/a.py"));
        for bad in ["../evil.sh", "src/../../evil", "/etc/passwd", "..\\evil"] {
            assert!(matches!(safe_join(dest, bad), Err(ScanError::UnsafeArchiveEntry(_))), "{bad}");
        }
    }

    #[test]
    fn formats_come_from_the_name() {
        assert_eq!(Format::from_name("Repo.ZIP"), Some(Format::Zip));
        assert_eq!(Format::from_name("repo.tar.gz"), Some(Format::TarGz));
        assert_eq!(Format::from_name("repo.tgz"), Some(Format::TarGz));
        assert_eq!(Format::from_name("repo.rar"), None);
    }
}
