//! The local model against sentence-transformers' own vectors (computed once by
//! `scripts/reference-vectors.py` and checked in), plus the properties the rest of the server
//! relies on. Needs the model files: `make test` fetches them (`make model`).

use std::path::PathBuf;

use tc_embed::{EmbedError, Embedder, LocalEmbedder, Precision, cosine};

fn model_dir() -> PathBuf {
    match std::env::var_os("TEAMCONTEXT_TEST_MODEL_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.model-cache/all-MiniLM-L6-v2")
        }
    }
}

fn load() -> LocalEmbedder {
    load_with(Precision::Fp32)
}

fn load_with(precision: Precision) -> LocalEmbedder {
    let dir = model_dir();
    LocalEmbedder::load(&dir, precision).unwrap_or_else(|e| {
        panic!(
            "{e}\nfetch the model first: scripts/fetch-model.sh {} (or `make model`)",
            dir.display()
        )
    })
}

#[derive(serde::Deserialize)]
struct Reference {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

#[tokio::test]
async fn matches_sentence_transformers() {
    let reference: Reference =
        serde_json::from_str(include_str!("data/reference.json")).expect("reference vectors");
    let model = load();
    assert_eq!(model.dimension(), 384);
    let ours = model.embed(reference.texts.clone()).await.unwrap();
    let worst = reference.vectors.iter().zip(&ours).map(|(a, b)| cosine(a, b)).fold(1.0, f32::min);
    eprintln!("lowest cosine to sentence-transformers: {worst:.7}");
    for ((text, theirs), mine) in reference.texts.iter().zip(&reference.vectors).zip(&ours) {
        let similarity = cosine(theirs, mine);
        assert!(similarity >= 0.999, "cosine {similarity} for {text:?}");
        let norm: f32 = mine.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
    }
}

/// The fast path trades a little accuracy for speed: its vectors stay in the same space, close
/// enough that vectors stored by one precision are found by queries of the other.
#[tokio::test]
async fn int8_stays_close_to_sentence_transformers() {
    let reference: Reference =
        serde_json::from_str(include_str!("data/reference.json")).expect("reference vectors");
    let model = load_with(Precision::Int8);
    assert_eq!(model.precision(), Precision::Int8);
    let ours = model.embed(reference.texts.clone()).await.unwrap();
    for ((text, theirs), mine) in reference.texts.iter().zip(&reference.vectors).zip(&ours) {
        let similarity = cosine(theirs, mine);
        assert!(similarity >= 0.98, "cosine {similarity} for {text:?}");
        let norm: f32 = mine.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
    }
    // What matters for search: each int8 vector is nearest to its own text's reference vector.
    for (i, mine) in ours.iter().enumerate() {
        let nearest = (0..reference.vectors.len())
            .max_by(|&a, &b| {
                cosine(mine, &reference.vectors[a]).total_cmp(&cosine(mine, &reference.vectors[b]))
            })
            .unwrap();
        assert_eq!(nearest, i, "{:?}", reference.texts[i]);
    }
}

#[test]
fn a_directory_without_the_graph_is_a_load_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "1_Pooling/config.json"] {
        std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
        std::fs::copy(model_dir().join(file), dir.path().join(file)).unwrap();
    }
    match LocalEmbedder::load(dir.path(), Precision::Int8) {
        Err(EmbedError::Load { reason, .. }) => {
            assert!(reason.contains("model-int8.onnx"), "{reason}")
        }
        other => panic!("expected a load error, got {other:?}"),
    }
}

/// A call of a few texts runs on the interactive session; larger ones, and every bulk call,
/// are cut into passes of similar length shared out among the bulk sessions. Whichever way a
/// text goes, and whatever runs beside it, its vector is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_text_embeds_the_same_alone_in_a_batch_or_in_bulk() {
    let model = load();
    let mut texts: Vec<String> = vec![
        "short".into(),
        "a considerably longer sentence about database migrations and rollbacks".into(),
        "medium length text here".into(),
    ];
    // Lengths from a few tokens to past the 256-token window: many passes of several sizes.
    texts.extend((0..37).map(|i| {
        (0..i * 7).map(|j| format!("fn step_{j}(x: u32) -> u32 {{ x + {i} }} ")).collect::<String>()
            + "end"
    }));
    let batch = model.embed(texts.clone()).await.unwrap();
    assert_eq!(batch.len(), texts.len());
    for (text, in_batch) in texts.iter().zip(&batch) {
        let alone = model.embed(vec![text.clone()]).await.unwrap().remove(0);
        assert!(cosine(&alone, in_batch) > 0.99999, "{text}");
    }
    let one_in_bulk = model.embed_bulk(vec![texts[1].clone()]).await.unwrap().remove(0);
    assert!(cosine(&one_in_bulk, &batch[1]) > 0.99999);
    // Concurrent bulk calls share the sessions and still return their own texts' vectors.
    let calls: Vec<_> = (0..4)
        .map(|k| {
            let (model, mine) = (model.clone(), texts[k..].to_vec());
            tokio::spawn(async move { model.embed_bulk(mine).await })
        })
        .collect();
    for (k, call) in calls.into_iter().enumerate() {
        let vectors = call.await.unwrap().unwrap();
        assert_eq!(vectors.len(), texts.len() - k);
        for (i, v) in vectors.iter().enumerate() {
            assert!(cosine(v, &batch[k + i]) > 0.99999, "call {k}, text {}", k + i);
        }
    }
    assert!(model.embed(Vec::new()).await.unwrap().is_empty());
    assert!(model.embed_bulk(Vec::new()).await.unwrap().is_empty());
}

#[test]
fn passages_cover_long_texts_with_overlap() {
    let model = load();
    assert!(model.passages("   ").is_empty());
    let whole = 0..18;
    assert_eq!(model.passages("one short sentence"), vec![whole]);
    let text: String = (0..600).map(|i| format!("token{i} ")).collect();
    let passages = model.passages(&text);
    assert!(passages.len() >= 3, "{passages:?}");
    assert_eq!(passages.first().unwrap().start, 0);
    assert_eq!(passages.last().unwrap().end, text.len());
    for pair in passages.windows(2) {
        assert!(pair[1].start < pair[0].end, "passages overlap");
    }
}

#[test]
fn passages_are_byte_ranges_on_character_boundaries() {
    let model = load();
    let text: String =
        (0..400).map(|i| format!("Café {i} déjà vu — 東京 naïve façade 🚀 ")).collect();
    let passages = model.passages(&text);
    assert!(passages.len() > 1);
    for range in &passages {
        assert!(
            text.is_char_boundary(range.start) && text.is_char_boundary(range.end),
            "{range:?}"
        );
        assert!(text.get(range.clone()).is_some());
    }
    assert_eq!(passages.last().unwrap().end, text.len());
}
