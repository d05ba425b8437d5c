//! Property tests of what a scan reads from strangers: the chunker on every language and the
//! archive reader. Whatever the input, nothing panics, chunks are pieces of the file at their
//! recorded lines, and nothing is written outside the destination. `make fuzz` runs many more
//! cases (`PROPTEST_CASES`) in a release build.

use std::path::Path;

use proptest::prelude::*;
use tc_scan::archive::{self, Format};
use tc_scan::chunk::{Sizes, chunk_file};

/// Text that looks enough like code to reach deep into the grammars: brackets, quotes,
/// keywords, indentation and newlines, with arbitrary characters mixed in.
fn code_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("(".to_string()),
        Just(")".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\n".to_string()),
        Just("    ".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("/*".to_string()),
        Just("#".to_string()),
        Just("def f(x):".to_string()),
        Just("fn main() {".to_string()),
        Just("class A:".to_string()),
        Just("struct S;".to_string()),
        Just("<div>".to_string()),
        Just("```".to_string()),
        "[a-z0-9_ =+;,.]{1,8}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(token, 0..400).prop_map(|t| t.concat())
}

const PATHS: &[&str] =
    &["a.py", "a.rs", "a.ts", "a.tsx", "a.js", "a.go", "A.java", "a.c", "a.cpp", "a.md", "a.txt"];

proptest! {
    #[test]
    fn chunks_are_pieces_of_the_file_at_their_lines(
        text in code_like(),
        path in proptest::sample::select(PATHS),
        size in 100usize..600,
        overlap in 0usize..50,
    ) {
        let chunks = chunk_file(path, &text, Sizes { chunk_size: size, chunk_overlap: overlap });
        let lines = text.split('\n').count();
        for c in &chunks {
            prop_assert!(text.contains(&c.text), "a chunk is a piece of the file");
            prop_assert!(!c.text.trim().is_empty());
            prop_assert!(1 <= c.start_line && c.start_line <= c.end_line && c.end_line <= lines);
        }
        // Every letter and digit is in some chunk. Punctuation may go: a lone `}` or `{` that
        // fits beside no neighbour is left out rather than stored as a chunk of its own.
        let meaningful = |s: &str| s.chars().filter(|ch| ch.is_alphanumeric()).count();
        let kept: usize = chunks.iter().map(|c| meaningful(&c.text)).sum();
        let given = meaningful(&text);
        prop_assert!(kept >= given, "no text is lost: {} of {}", kept, given);
    }

    #[test]
    fn any_bytes_as_an_archive_fail_cleanly(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        zip in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upload");
        std::fs::write(&file, &bytes).unwrap();
        let dest = dir.path().join("dest");
        std::fs::create_dir_all(&dest).unwrap();
        let format = if zip { Format::Zip } else { Format::TarGz };
        let _ = archive::extract(&file, format, &dest);
        assert_nothing_outside(dir.path(), &dest, &file);
    }

    #[test]
    fn hostile_entry_names_never_escape(names in proptest::collection::vec(entry_name(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upload.tar.gz");
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for name in &names {
            let mut header = tar::Header::new_gnu();
            header.set_size(2);
            header.set_mode(0o644);
            // Written raw, so that `..` and absolute names reach the reader as an attacker
            // would send them (the builder's own setters refuse them).
            let bytes = name.as_bytes();
            let field = &mut header.as_old_mut().name;
            let n = bytes.len().min(field.len());
            field[..n].copy_from_slice(&bytes[..n]);
            header.set_cksum();
            tar.append(&header, &b"hi"[..]).unwrap();
        }
        std::fs::write(&file, tar.into_inner().unwrap().finish().unwrap()).unwrap();
        let dest = dir.path().join("dest");
        std::fs::create_dir_all(&dest).unwrap();
        let _ = archive::extract(&file, Format::TarGz, &dest);
        assert_nothing_outside(dir.path(), &dest, &file);
    }
}

fn entry_name() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just("etc".to_string()),
        Just("C:".to_string()),
        Just("a\\..\\b".to_string()),
        "[a-z]{1,6}",
    ];
    (any::<bool>(), proptest::collection::vec(part, 1..5)).prop_map(|(absolute, parts)| {
        format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
    })
}

/// Everything under `root` is the upload itself or inside `dest`.
fn assert_nothing_outside(root: &Path, dest: &Path, upload: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path == upload || path.starts_with(dest) {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                panic!("{} was written outside the destination", path.display());
            }
        }
    }
}
