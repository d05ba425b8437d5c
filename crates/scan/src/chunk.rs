//! Language-aware chunking.
//!
//! Code in a language we have a tree-sitter grammar for (Python, Rust, TypeScript/TSX,
//! JavaScript, Go, Java, C, C++) is split by text-splitter's `CodeSplitter`, which cuts at the
//! highest syntax level that fits (whole functions, classes and impl blocks before statements);
//! Markdown by its `MarkdownSplitter` (sections, then paragraphs); anything else by its text
//! splitter (paragraphs, lines, sentences). Sizes and overlaps are in characters, as the seed's
//! `chunk_size` / `chunk_overlap` are. Each chunk records its line range, and for code the
//! definitions enclosing it (`Parser.parse`, `Store::open`), found in the same syntax tree.
//!
//! Hostile input: the code splitter's work grows with the depth of the syntax tree times its
//! size (it tries each nesting level in turn), so a file nested 200,000 levels deep once kept a
//! scan busy for hours. A file is parsed first under a deadline ([`PARSE_DEADLINE`]) and its
//! depth measured without recursion; one too deep ([`MAX_SYNTAX_DEPTH`]) or too slow to parse is
//! split as plain text instead. Nothing here recurses over a syntax tree.
//!
//! Over our 450-line guide only by its tests (350 lines of code): the splitters, the depth and
//! time guards and the definition finder walk the same tree and read best together.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use text_splitter::{ChunkConfig, CodeSplitter, MarkdownSplitter, TextSplitter};
use tree_sitter::{Language, Node, ParseOptions, Parser, Tree};

/// Deeper syntax trees are split as text. Real code stays far below (this repository's deepest
/// file is under 40 levels; minified bundles reach about 100).
pub const MAX_SYNTAX_DEPTH: usize = 256;
/// A file whose parse takes longer than this is split as text.
pub const PARSE_DEADLINE: Duration = Duration::from_secs(5);

/// A piece of a file, ready to be saved as a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    /// 1-based, inclusive.
    pub start_line: usize,
    pub end_line: usize,
    /// The enclosing definitions, outermost first, joined the language's way.
    pub symbol: Option<String>,
}

/// What a file is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Code(Lang),
    Markdown,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Rust,
    TypeScript,
    Tsx,
    JavaScript,
    Go,
    Java,
    C,
    Cpp,
}

impl Lang {
    fn grammar(self) -> Language {
        match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
            Lang::C => tree_sitter_c::LANGUAGE.into(),
            Lang::Cpp => tree_sitter_cpp::LANGUAGE.into(),
        }
    }

    /// Node kinds that define something with a name worth reporting.
    fn definitions(self) -> &'static [&'static str] {
        match self {
            Lang::Python => &["function_definition", "class_definition"],
            Lang::Rust => &[
                "function_item",
                "function_signature_item",
                "struct_item",
                "enum_item",
                "union_item",
                "trait_item",
                "impl_item",
                "mod_item",
                "macro_definition",
            ],
            Lang::TypeScript | Lang::Tsx | Lang::JavaScript => &[
                "function_declaration",
                "generator_function_declaration",
                "class_declaration",
                "abstract_class_declaration",
                "method_definition",
                "interface_declaration",
                "enum_declaration",
                "type_alias_declaration",
            ],
            Lang::Go => &["function_declaration", "method_declaration", "type_spec"],
            Lang::Java => &[
                "class_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
                "method_declaration",
                "constructor_declaration",
            ],
            Lang::C => &["function_definition", "struct_specifier", "enum_specifier"],
            Lang::Cpp => &[
                "function_definition",
                "class_specifier",
                "struct_specifier",
                "enum_specifier",
                "namespace_definition",
            ],
        }
    }

    fn separator(self) -> &'static str {
        match self {
            Lang::Rust | Lang::Cpp => "::",
            _ => ".",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Rust => "rust",
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
            Lang::JavaScript => "javascript",
            Lang::Go => "go",
            Lang::Java => "java",
            Lang::C => "c",
            Lang::Cpp => "cpp",
        }
    }
}

/// The kind of file `path` is and the language name recorded with its chunks.
pub fn classify(path: &str) -> (Kind, String) {
    let file = path.rsplit('/').next().unwrap_or(path);
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let lang = match ext.as_str() {
        "py" | "pyi" => Some(Lang::Python),
        "rs" => Some(Lang::Rust),
        "ts" | "mts" | "cts" => Some(Lang::TypeScript),
        "tsx" => Some(Lang::Tsx),
        "js" | "mjs" | "cjs" | "jsx" => Some(Lang::JavaScript),
        "go" => Some(Lang::Go),
        "java" => Some(Lang::Java),
        "c" | "h" => Some(Lang::C),
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => Some(Lang::Cpp),
        _ => None,
    };
    if let Some(lang) = lang {
        return (Kind::Code(lang), lang.name().into());
    }
    let name = match ext.as_str() {
        "md" | "markdown" | "mdx" => return (Kind::Markdown, "markdown".into()),
        "" => "text".to_string(),
        "txt" | "rst" | "adoc" => "text".to_string(),
        "yml" => "yaml".to_string(),
        "sh" | "bash" | "zsh" => "shell".to_string(),
        other => other.to_string(),
    };
    (Kind::Text, name)
}

/// Chunk sizes in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub chunk_size: usize,
    pub chunk_overlap: usize,
}

/// Splits `text` (the content of `path`) into chunks.
pub fn chunk_file(path: &str, text: &str, sizes: Sizes) -> Vec<Chunk> {
    let config = || {
        ChunkConfig::new(sizes.chunk_size)
            .with_overlap(sizes.chunk_overlap.min(sizes.chunk_size.saturating_sub(1)))
            .unwrap_or_else(|_| ChunkConfig::new(sizes.chunk_size))
    };
    let lines = LineIndex::new(text);
    let (kind, _) = classify(path);
    // Code whose tree is usable is split by syntax, with its definitions; anything else as text.
    let code = match kind {
        Kind::Code(lang) => parse(lang, text).map(|tree| (lang, tree)),
        _ => None,
    };
    let pieces: Vec<(usize, &str)> = match (&code, kind) {
        (Some((lang, _)), _) => match CodeSplitter::new(lang.grammar(), config()) {
            Ok(splitter) => splitter.chunk_indices(text).collect(),
            Err(_) => TextSplitter::new(config()).chunk_indices(text).collect(),
        },
        (None, Kind::Markdown) => MarkdownSplitter::new(config()).chunk_indices(text).collect(),
        (None, _) => TextSplitter::new(config()).chunk_indices(text).collect(),
    };
    let definitions = match &code {
        Some((lang, tree)) => definitions(*lang, text, tree),
        None => Vec::new(),
    };
    coalesce(text, &pieces, sizes.chunk_size)
        .into_iter()
        .map(|(start, end)| {
            let piece = &text[start..end];
            Chunk {
                text: piece.to_string(),
                start_line: lines.line_of(start),
                end_line: lines.line_of(end.saturating_sub(1).max(start)),
                symbol: symbol_for(&definitions, start, end),
            }
        })
        .collect()
}

/// The splitters' pieces as byte ranges, with fragments joined to their neighbours. The code
/// splitter, descending into a syntax node too large for one chunk, leaves what opens it as
/// pieces of their own: `for event in events`, `{`, `match event`, `{`, one after the other
/// (a tenth of this repository's chunks were such fragments of a few tokens, found by no query
/// and matching any). A piece shorter than a quarter of `chunk_size` is joined to the pieces
/// around it while the whole fits in `chunk_size` (overlapping pieces join by their union); such
/// a piece of punctuation alone (`}`) that fits nowhere is left out, unless it is all there is.
fn coalesce(text: &str, pieces: &[(usize, &str)], chunk_size: usize) -> Vec<(usize, usize)> {
    let small = |range: (usize, usize)| text[range.0..range.1].chars().count() < chunk_size / 4;
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &(start, piece) in pieces {
        if piece.trim().is_empty() {
            continue;
        }
        let next = (start, start + piece.len());
        if let Some(last) = out.last_mut() {
            let joined = (last.0, last.1.max(next.1));
            let gap_is_blank = next.0 <= last.1 || text[last.1..next.0].trim().is_empty();
            let fits = text[joined.0..joined.1].chars().count() <= chunk_size;
            if gap_is_blank && fits && (small(*last) || small(next)) {
                *last = joined;
                continue;
            }
        }
        out.push(next);
    }
    let fragment =
        |r: &(usize, usize)| small(*r) && !text[r.0..r.1].chars().any(char::is_alphanumeric);
    if !out.iter().all(fragment) {
        out.retain(|r| !fragment(r));
    }
    out
}

/// Line numbers from byte offsets.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

/// A named definition: its byte range and its qualified name.
#[derive(Debug, Clone)]
struct Definition {
    start: usize,
    end: usize,
    name: String,
}

/// The syntax tree of `text`, unless parsing fails, passes [`PARSE_DEADLINE`], or the tree is
/// deeper than [`MAX_SYNTAX_DEPTH`].
fn parse(lang: Lang, text: &str) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    let deadline = Instant::now() + PARSE_DEADLINE;
    let mut past_deadline = |_: &tree_sitter::ParseState| {
        if Instant::now() > deadline { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    };
    let options = ParseOptions::new().progress_callback(&mut past_deadline);
    let bytes = text.as_bytes();
    let tree = parser.parse_with_options(
        &mut |offset, _| bytes.get(offset..).unwrap_or_default(),
        None,
        Some(options),
    )?;
    (depth_at_most(&tree, MAX_SYNTAX_DEPTH)).then_some(tree)
}

/// Visits every node of `tree` in document order (pre-order) with its depth, using a cursor
/// rather than recursion, until `visit` breaks; returns whether the walk ran to the end. The
/// depth is counted here: the cursor's own `depth()` walks its stack, which on a deep tree
/// made a walk quadratic.
fn walk(tree: &Tree, mut visit: impl FnMut(Node<'_>, usize) -> ControlFlow<()>) -> bool {
    let mut cursor = tree.walk();
    let mut depth = 0;
    loop {
        if visit(cursor.node(), depth).is_break() {
            return false;
        }
        if cursor.goto_first_child() {
            depth += 1;
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return true;
            }
            depth -= 1;
        }
    }
}

/// Whether no node of `tree` lies deeper than `limit` (the walk stops at the first that does).
fn depth_at_most(tree: &Tree, limit: usize) -> bool {
    walk(
        tree,
        |_, depth| if depth > limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) },
    )
}

/// Every named definition of `tree` with its qualified name, in document order, keeping the
/// names of the definitions enclosing the walk.
fn definitions(lang: Lang, text: &str, tree: &Tree) -> Vec<Definition> {
    let mut out = Vec::new();
    // (depth of the definition's node, its name) for each definition enclosing the walk.
    let mut path: Vec<(usize, String)> = Vec::new();
    walk(tree, |node, depth| {
        while path.last().is_some_and(|(d, _)| *d >= depth) {
            path.pop();
        }
        if lang.definitions().contains(&node.kind())
            && let Some(name) = name_of(node, text)
        {
            path.push((depth, name));
            let names: Vec<&str> = path.iter().map(|(_, n)| n.as_str()).collect();
            out.push(Definition {
                start: node.start_byte(),
                end: node.end_byte(),
                name: names.join(lang.separator()),
            });
        }
        ControlFlow::Continue(())
    });
    out
}

/// A definition's name: its `name` field, an impl's type (`impl Display for Store` → `Store`),
/// or, for C and C++ functions, the identifier inside the declarator chain.
fn name_of(node: Node<'_>, text: &str) -> Option<String> {
    let field = node
        .child_by_field_name("name")
        .or_else(|| {
            let mut d = node.child_by_field_name("declarator")?;
            while let Some(inner) = d.child_by_field_name("declarator") {
                d = inner;
            }
            Some(d)
        })
        .or_else(|| node.child_by_field_name("type"))?;
    let name = text.get(field.byte_range())?.trim();
    (!name.is_empty() && name.len() <= 200).then(|| name.to_string())
}

/// The symbol of a chunk: the innermost definition that contains its start, or else the first
/// definition that begins inside it.
fn symbol_for(definitions: &[Definition], start: usize, end: usize) -> Option<String> {
    let enclosing = definitions
        .iter()
        .filter(|d| d.start <= start && start < d.end)
        .min_by_key(|d| d.end - d.start);
    enclosing
        .or_else(|| definitions.iter().find(|d| d.start >= start && d.start < end))
        .map(|d| d.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: Sizes = Sizes { chunk_size: 200, chunk_overlap: 0 };

    #[test]
    fn python_chunks_follow_definitions() {
        let text = "import os\n\n\nclass Parser:\n    def parse(self, text):\n        return [line for line in text.splitlines() if line]\n\n    def close(self):\n        os.close(self.fd)\n\n\ndef main():\n    Parser().parse(open('x').read())\n    print('done, and a little more text to fill the chunk up')\n";
        let chunks = chunk_file("src/tool.py", text, SIZES);
        assert!(chunks.len() >= 2, "{chunks:#?}");
        let symbols: Vec<Option<&str>> = chunks.iter().map(|c| c.symbol.as_deref()).collect();
        assert!(
            symbols.contains(&Some("Parser")) || symbols.contains(&Some("Parser.parse")),
            "{symbols:?}"
        );
        let main = chunks.iter().find(|c| c.text.starts_with("def main")).expect("main alone");
        assert_eq!(main.symbol.as_deref(), Some("main"));
        assert_eq!(main.start_line, 12);
        assert_eq!(main.end_line, 14);
        // Chunks are pieces of the text at their recorded lines.
        for c in &chunks {
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines[c.start_line - 1].contains(c.text.lines().next().unwrap().trim()));
        }
    }

    #[test]
    fn rust_c_and_typescript_names() {
        let rust = "pub struct Store { path: String }\n\nimpl Store {\n    pub fn open(path: &str) -> Self {\n        Store { path: path.to_string() }\n    }\n}\n";
        let chunks = chunk_file("src/store.rs", rust, Sizes { chunk_size: 60, chunk_overlap: 0 });
        let symbols: Vec<&str> = chunks.iter().filter_map(|c| c.symbol.as_deref()).collect();
        assert!(symbols.contains(&"Store::open"), "{chunks:#?}");
        let c = "static int helper(int x) {\n    return x * 2;\n}\n";
        assert_eq!(chunk_file("a.c", c, SIZES)[0].symbol.as_deref(), Some("helper"));
        let ts = "export class Api {\n  get(id: string): Promise<Item> {\n    return fetch(id);\n  }\n}\n";
        let chunks = chunk_file("api.ts", ts, Sizes { chunk_size: 40, chunk_overlap: 0 });
        assert!(chunks.iter().any(|c| c.symbol.as_deref() == Some("Api.get")), "{chunks:#?}");
    }

    #[test]
    fn every_language_has_a_working_grammar() {
        for (path, lang) in [
            ("a.py", "python"),
            ("a.rs", "rust"),
            ("a.ts", "typescript"),
            ("a.tsx", "tsx"),
            ("a.js", "javascript"),
            ("a.go", "go"),
            ("A.java", "java"),
            ("a.c", "c"),
            ("a.cpp", "cpp"),
        ] {
            let (Kind::Code(l), name) = classify(path) else { panic!("{path} is code") };
            assert_eq!(name, lang);
            assert!(Parser::new().set_language(&l.grammar()).is_ok(), "{lang}");
        }
        assert_eq!(classify("docs/README.md").0, Kind::Markdown);
        assert_eq!(classify("config.yml"), (Kind::Text, "yaml".into()));
        assert_eq!(classify("Makefile"), (Kind::Text, "text".into()));
    }

    /// Hole 2 of the hardening issue: `x = ((((…1))))` 200,000 levels deep kept a scan busy
    /// for hours and the definition walk recursed once per level. Now such a file is split as
    /// text, quickly and without a deep stack (this runs on a 256 KiB thread).
    #[test]
    fn a_deeply_nested_file_is_split_as_text() {
        // The attack's depth in one language; the others need less to pass the limit many
        // times over (splitting the long line as text is what takes the time here).
        for (path, open, close, depth) in [
            ("deep.py", "(", ")", 200_000),
            ("deep.rs", "{", "}", 20_000),
            ("deep.js", "[", "]", 20_000),
            ("deep.c", "(", ")", 20_000),
        ] {
            let text = format!("x = {}1{}\n", open.repeat(depth), close.repeat(depth));
            let path = path.to_string();
            let sizes = Sizes { chunk_size: 1000, chunk_overlap: 0 };
            let chunks = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || chunk_file(&path, &text, sizes))
                .unwrap()
                .join()
                .expect("no stack overflow");
            let total: usize = chunks.iter().map(|c| c.text.len()).sum();
            assert!(total >= 2 * depth, "the text is kept: {total}");
            assert!(chunks.iter().all(|c| c.symbol.is_none()));
        }
        // Just under the limit the tree is still used: definitions are found.
        let nested = format!(
            "def f():\n    return {}1{}\n",
            "(".repeat(MAX_SYNTAX_DEPTH / 4),
            ")".repeat(MAX_SYNTAX_DEPTH / 4)
        );
        let chunks = chunk_file("ok.py", &nested, SIZES);
        assert_eq!(chunks[0].symbol.as_deref(), Some("f"), "{chunks:#?}");
    }

    #[test]
    fn nested_definitions_get_qualified_names_without_recursion() {
        let text = "class A:\n    class B:\n        def c(self):\n            pass\n    def d(self):\n        pass\ndef e():\n    pass\n";
        let tree = parse(Lang::Python, text).unwrap();
        let names: Vec<String> =
            definitions(Lang::Python, text, &tree).into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["A", "A.B", "A.B.c", "A.d", "e"]);
    }

    /// A loop too large for one chunk: what opens it (`for …`, `{`, `match …`, `{`) used to
    /// come out as chunks of a few characters each.
    #[test]
    fn code_splits_leave_no_fragments() {
        let arms: String = (0..12)
            .map(|i| {
                format!(
                    "            Event::Kind{i}(value) => {{\n                let item = convert_{i}(value, &options);\n                out.push(item);\n            }}\n"
                )
            })
            .collect();
        let text = format!(
            "pub fn render(events: Vec<Event>) -> Vec<Item> {{\n    let mut out = Vec::new();\n    for event in events {{\n        match event {{\n{arms}        }}\n    }}\n    out\n}}\n"
        );
        for overlap in [0, 50] {
            let sizes = Sizes { chunk_size: 300, chunk_overlap: overlap };
            let chunks = chunk_file("src/render.rs", &text, sizes);
            assert!(chunks.iter().all(|c| c.text.chars().count() <= 300), "{chunks:#?}");
            // What opens the loop is one chunk with the function's head; only the function's
            // last line may be left short, after a full chunk.
            assert!(chunks[0].text.contains("for event in events {\n        match event"));
            let short: Vec<&Chunk> =
                chunks.iter().filter(|c| c.text.trim().chars().count() < 40).collect();
            assert!(short.len() <= 1 && short.iter().all(|c| c.text == "out\n}"), "{chunks:#?}");
            // Nothing that says something is lost: every line with a word is in the chunks
            // (a line may end one chunk and open the next).
            let bare = |t: &str| t.split_whitespace().collect::<String>();
            let joined: String = chunks.iter().map(|c| bare(&c.text)).collect();
            for line in text.lines().filter(|l| l.chars().any(char::is_alphanumeric)) {
                assert!(joined.contains(&bare(line)), "{line} lost: {chunks:#?}");
            }
        }
    }

    #[test]
    fn sizes_and_overlap_are_characters() {
        let text = "word ".repeat(400);
        let chunks = chunk_file("notes.txt", &text, Sizes { chunk_size: 100, chunk_overlap: 20 });
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 100));
        assert!(chunks.len() > 20);
        let markdown = "# One\n\nFirst section text.\n\n# Two\n\nSecond section text.\n";
        let chunks = chunk_file("a.md", markdown, Sizes { chunk_size: 30, chunk_overlap: 0 });
        assert_eq!(chunks[0].start_line, 1);
        assert!(
            chunks.iter().any(|c| c.text.starts_with("# Two") && c.start_line == 5),
            "{chunks:#?}"
        );
    }
}
