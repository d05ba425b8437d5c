//! The fusion study (`--study`): the two retrievers' top 100 of every query, fetched once from
//! the store, fused offline by each candidate function and scored like the real modes. This is
//! how the production fusion was chosen (docs/benchmarks.md); it never feeds the main table,
//! which goes through the real search path.

use std::collections::HashMap;

use uuid::Uuid;

use tc_domain::services;

use crate::metrics::{self, Scores};

/// One query's candidates: (context, cosine of its best passage) and (context, BM25 score),
/// each best first.
pub struct Candidates {
    pub vector: Vec<(Uuid, f32)>,
    pub keyword: Vec<(Uuid, f64)>,
    pub query: String,
}

type Fuse = Box<dyn Fn(&Candidates) -> Vec<Uuid>>;

fn sorted(scores: HashMap<Uuid, f64>) -> Vec<Uuid> {
    let mut all: Vec<(Uuid, f64)> = scores.into_iter().collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.into_iter().map(|(id, _)| id).collect()
}

fn rrf(k: f64, vector_weight: f64) -> Fuse {
    Box::new(move |c| {
        let mut s: HashMap<Uuid, f64> = HashMap::new();
        for (rank, (id, _)) in c.vector.iter().enumerate() {
            *s.entry(*id).or_default() += vector_weight / (k + rank as f64 + 1.0);
        }
        for (rank, (id, _)) in c.keyword.iter().enumerate() {
            *s.entry(*id).or_default() += (1.0 - vector_weight) / (k + rank as f64 + 1.0);
        }
        sorted(s)
    })
}

/// Convex combination `alpha * vector + (1 - alpha) * keyword` of scores normalised to 0..1:
/// cosine from `floor` (its theoretical or practical minimum) to the best cosine of the list,
/// BM25 from 0 to the best score of the list. A context missing from a list scores 0 there.
fn convex(alpha: f64, floor: f64) -> Fuse {
    Box::new(move |c| convex_scores(c, alpha, floor))
}

fn convex_scores(c: &Candidates, alpha: f64, floor: f64) -> Vec<Uuid> {
    let mut s: HashMap<Uuid, f64> = HashMap::new();
    let vmax = c.vector.first().map_or(1.0, |v| v.1 as f64);
    for (id, sim) in &c.vector {
        let n = ((*sim as f64 - floor) / (vmax - floor).max(1e-9)).clamp(0.0, 1.0);
        *s.entry(*id).or_default() += alpha * n;
    }
    let kmax = c.keyword.first().map_or(1.0, |k| k.1);
    for (id, score) in &c.keyword {
        *s.entry(*id).or_default() += (1.0 - alpha) * (score / kmax.max(1e-9));
    }
    sorted(s)
}

pub fn variants() -> Vec<(String, Fuse)> {
    let mut v: Vec<(String, Fuse)> = vec![
        ("vector only".into(), Box::new(|c: &Candidates| c.vector.iter().map(|x| x.0).collect())),
        ("keyword only".into(), Box::new(|c: &Candidates| c.keyword.iter().map(|x| x.0).collect())),
        ("RRF k=60".into(), rrf(60.0, 0.5)),
    ];
    for k in [10.0, 60.0] {
        for w in [0.6, 0.7, 0.8] {
            v.push((format!("weighted RRF k={k} w_vec={w}"), rrf(k, w)));
        }
    }
    for floor in [0.0, -1.0] {
        for alpha in [0.5, 0.6, 0.7, 0.8, 0.9] {
            v.push((format!("convex floor={floor} α={alpha}"), convex(alpha, floor)));
        }
    }
    for code in [0.5, 0.6, 0.7] {
        let prose = f64::from((services::VECTOR_WEIGHT * 100.0).round()) / 100.0;
        v.push((
            format!("convex floor=0 α={prose}, {code} when the query names code"),
            Box::new(move |c: &Candidates| {
                let alpha = if services::names_code(&c.query) { code } else { prose };
                convex_scores(c, alpha, 0.0)
            }),
        ));
    }
    v.push((
        "**production** (tc_domain::services::fuse)".into(),
        Box::new(|c: &Candidates| {
            let fused = services::fuse(
                c.vector.iter().copied(),
                c.keyword.iter().map(|(id, s)| (*id, *s as f32)),
                services::vector_weight(&c.query),
            );
            sorted(fused.into_iter().map(|(id, s)| (id, s as f64)).collect())
        }),
    ));
    v
}

/// Scores every variant over a set's queries.
pub fn study(
    queries: &[(Candidates, &HashMap<String, u32>)],
    doc_of: &HashMap<Uuid, String>,
) -> Vec<(String, Scores)> {
    variants()
        .into_iter()
        .map(|(name, fuse)| {
            let all: Vec<Scores> = queries
                .iter()
                .map(|(c, relevant)| {
                    let ranking: Vec<String> = fuse(c)
                        .into_iter()
                        .take(10)
                        .filter_map(|id| doc_of.get(&id).cloned())
                        .collect();
                    metrics::score(&ranking, relevant, 10)
                })
                .collect();
            (name, metrics::mean(&all))
        })
        .collect()
}
