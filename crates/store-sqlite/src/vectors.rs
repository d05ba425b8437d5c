//! The in-process vector index of the SQLite store. Vectors live in the `passages` table (the
//! source of truth) and are loaded here at open; every insert and delete goes to both.
//!
//! The index is grouped by (project, model) and searched exactly: a query scores every passage
//! of the projects it may see, keeps the best passage per context, and returns the top `limit`.
//! Exact search cannot lose recall under a project filter, which is the property the search
//! contract insists on; its cost is linear in the filtered passage count (measured at 100k and
//! 1M passages by `examples/vector_index.rs`, see docs/benchmarks.md).
//!
//! Public so that the benchmark can drive it without a database; the store is its only user.

use std::collections::HashMap;
use std::sync::RwLock;

use tc_store::{PassageRecord, VectorHit};
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct VectorIndex {
    groups: RwLock<HashMap<(Uuid, String), Group>>,
}

/// The passages of one project made by one model, vectors stored contiguously.
#[derive(Debug, Default)]
struct Group {
    dim: usize,
    entries: Vec<Entry>,
    data: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    context_id: Uuid,
    start: usize,
    end: usize,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler keep the loop in SIMD registers.
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for lane in 0..8 {
            acc[lane] += a[i * 8 + lane] * b[i * 8 + lane];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

impl VectorIndex {
    pub fn insert(&self, passages: &[PassageRecord]) {
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        for p in passages {
            let group = groups.entry((p.project_id, p.model.clone())).or_default();
            if group.entries.is_empty() {
                group.dim = p.vector.len();
            }
            if p.vector.len() != group.dim {
                // Cannot happen for one model; refuse rather than corrupt the group.
                tracing::error!(model = %p.model, "passage vector of unexpected dimension skipped");
                continue;
            }
            group.entries.push(Entry { context_id: p.context_id, start: p.start, end: p.end });
            group.data.extend_from_slice(&p.vector);
        }
    }

    /// Drops the passages of these contexts (all in `project_id`).
    pub fn remove_contexts(&self, project_id: Uuid, context_ids: &[Uuid]) {
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        for ((project, _), group) in groups.iter_mut() {
            if *project != project_id {
                continue;
            }
            let dim = group.dim;
            let mut kept_entries = Vec::with_capacity(group.entries.len());
            let mut kept_data = Vec::with_capacity(group.data.len());
            for (i, entry) in group.entries.iter().enumerate() {
                if !context_ids.contains(&entry.context_id) {
                    kept_entries.push(*entry);
                    kept_data.extend_from_slice(&group.data[i * dim..(i + 1) * dim]);
                }
            }
            group.entries = kept_entries;
            group.data = kept_data;
        }
    }

    pub fn remove_projects(&self, project_ids: &[Uuid]) {
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        groups.retain(|(project, _), _| !project_ids.contains(project));
    }

    /// The `limit` contexts in `project_ids` whose best passage is most similar to `query`
    /// (a unit vector made by `model`), best first.
    pub fn search(
        &self,
        query: &[f32],
        model: &str,
        project_ids: &[Uuid],
        limit: usize,
    ) -> Vec<VectorHit> {
        let groups = self.groups.read().unwrap_or_else(|e| e.into_inner());
        let searched: Vec<&Group> = project_ids
            .iter()
            .filter_map(|project| groups.get(&(*project, model.to_string())))
            .filter(|group| group.dim == query.len())
            .collect();
        // Score every passage, then pick the best `limit` contexts from a partially sorted
        // prefix: a context with several passages may fill the prefix more than once, so the
        // prefix grows until it holds `limit` distinct contexts or every passage.
        let mut scored: Vec<(f32, &Entry)> =
            Vec::with_capacity(searched.iter().map(|g| g.entries.len()).sum());
        for group in &searched {
            for (entry, vector) in group.entries.iter().zip(group.data.chunks_exact(group.dim)) {
                scored.push((dot(query, vector), entry));
            }
        }
        let by_score = |a: &(f32, &Entry), b: &(f32, &Entry)| {
            b.0.total_cmp(&a.0).then(a.1.context_id.cmp(&b.1.context_id))
        };
        let mut prefix = (limit * 4).max(16);
        loop {
            let take = prefix.min(scored.len());
            if take < scored.len() {
                scored.select_nth_unstable_by(take, by_score);
            }
            let mut top = scored[..take].to_vec();
            top.sort_by(by_score);
            let mut hits: Vec<VectorHit> = Vec::with_capacity(limit);
            for (similarity, entry) in top {
                if hits.len() == limit {
                    break;
                }
                if hits.iter().all(|h| h.context_id != entry.context_id) {
                    hits.push(VectorHit {
                        context_id: entry.context_id,
                        start: entry.start,
                        end: entry.end,
                        similarity,
                    });
                }
            }
            if hits.len() == limit || take == scored.len() {
                return hits;
            }
            prefix *= 4;
        }
    }
}

/// Little-endian f32s, as stored in `passages.vector`.
pub(crate) fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn from_blob(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(project: Uuid, context: Uuid, v: Vec<f32>) -> PassageRecord {
        PassageRecord {
            context_id: context,
            project_id: project,
            start: 0,
            end: 1,
            model: "m".into(),
            vector: v,
        }
    }

    #[test]
    fn best_passage_per_context_within_the_filter() {
        let index = VectorIndex::default();
        let (p1, p2) = (Uuid::now_v7(), Uuid::now_v7());
        let (c1, c2, c3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        index.insert(&[
            passage(p1, c1, vec![1.0, 0.0]),
            passage(p1, c1, vec![0.6, 0.8]),
            passage(p1, c2, vec![0.0, 1.0]),
            passage(p2, c3, vec![1.0, 0.0]),
        ]);
        let hits = index.search(&[1.0, 0.0], "m", &[p1], 10);
        assert_eq!(hits.iter().map(|h| h.context_id).collect::<Vec<_>>(), vec![c1, c2]);
        assert!((hits[0].similarity - 1.0).abs() < 1e-6);
        assert!(index.search(&[1.0, 0.0], "other-model", &[p1], 10).is_empty());
        assert_eq!(index.search(&[1.0, 0.0], "m", &[p1, p2], 1).len(), 1);

        index.remove_contexts(p1, &[c1]);
        let hits = index.search(&[1.0, 0.0], "m", &[p1], 10);
        assert_eq!(hits.iter().map(|h| h.context_id).collect::<Vec<_>>(), vec![c2]);
        index.remove_projects(&[p2]);
        assert!(index.search(&[1.0, 0.0], "m", &[p2], 10).is_empty());
    }

    #[test]
    fn many_passages_of_one_context_do_not_crowd_out_the_next() {
        let index = VectorIndex::default();
        let project = Uuid::now_v7();
        let (long, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut passages: Vec<PassageRecord> =
            (0..100).map(|i| passage(project, long, vec![1.0, i as f32 * 1e-4])).collect();
        passages.push(passage(project, other, vec![0.0, 1.0]));
        index.insert(&passages);
        let hits = index.search(&[1.0, 0.0], "m", &[project], 2);
        assert_eq!(hits.iter().map(|h| h.context_id).collect::<Vec<_>>(), vec![long, other]);
    }

    #[test]
    fn blobs_round_trip_and_dot_matches() {
        let v: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        assert_eq!(from_blob(&to_blob(&v)), v);
        let naive: f32 = v.iter().map(|x| x * x).sum();
        assert!((dot(&v, &v) - naive).abs() < 1e-3);
    }
}
