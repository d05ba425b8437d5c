//! The in-process vector index of the SQLite store. Vectors live in the `passages` table (the
//! source of truth) and are loaded here at open; every insert and delete goes to both.
//!
//! Passages are grouped by (project, model). A search whose project filter covers at most
//! [`EXACT_MAX`] passages scans them exactly: a filter never costs recall, and a scan of that
//! size takes a couple of milliseconds. Above it the search walks the model's HNSW graph
//! ([`crate::ann`]) with the filter applied inside the walk, and falls back to the exact scan if
//! the graph is still being built or returns fewer contexts than asked while more exist, so a
//! result is never short. `examples/vector_index.rs` measures both paths at 100k and 1M
//! passages (docs/benchmarks.md).
//!
//! Public so that the benchmark can drive it without a database; the store is its only user.
//!
//! Longer than our 450-line guide on purpose: 400 lines of code and the tests of the exact and
//! graph paths against each other; the grouping, both paths and the fallback between them share
//! one lock discipline that is easier to check in one file.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::RwLock;

use tc_store::{PassageRecord, VectorHit};
use uuid::Uuid;

pub use crate::ann::EXPANSION_FILTERED;
use crate::ann::{ModelGraph, NewNode, Slot};

/// The largest filtered passage count searched by exact scan.
pub const EXACT_MAX: usize = 20_000;

/// Candidates kept by a walk whose filter covers the whole graph, scaled down by the share a
/// narrower filter covers (to at least [`EXPANSION_FILTERED`]).
pub const EXPANSION_WIDE: usize = 256;

/// Passages added to a graph per lock hold while it is built in the background.
const BUILD_BATCH: usize = 2048;

#[derive(Debug, Clone)]
pub struct VectorIndex {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    groups: RwLock<HashMap<(Uuid, String), Group>>,
    graphs: RwLock<HashMap<String, Arc<ModelGraph>>>,
    next_slot: AtomicU64,
    exact_max: usize,
    /// Candidates of a walk whose filter covers the whole graph ([`EXPANSION_WIDE`]).
    expansion_wide: AtomicUsize,
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
    /// The passage's key in its model's graph.
    slot: u64,
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

impl Default for VectorIndex {
    fn default() -> Self {
        Self::with_exact_max(EXACT_MAX)
    }
}

impl VectorIndex {
    /// An index that scans exactly up to `exact_max` filtered passages (tests lower it to
    /// exercise the graph on small data).
    pub fn with_exact_max(exact_max: usize) -> Self {
        VectorIndex {
            state: Arc::new(State {
                groups: RwLock::default(),
                graphs: RwLock::default(),
                next_slot: AtomicU64::new(1),
                exact_max,
                expansion_wide: AtomicUsize::new(EXPANSION_WIDE),
            }),
        }
    }

    fn graph(&self, model: &str) -> Arc<ModelGraph> {
        if let Some(graph) = self.state.graphs.read().get(model) {
            return graph.clone();
        }
        let mut graphs = self.state.graphs.write();
        graphs
            .entry(model.to_string())
            .or_insert_with(|| {
                let graph = ModelGraph::default();
                // A model first seen in a live insert has nothing older to catch up on.
                graph.mark_complete();
                Arc::new(graph)
            })
            .clone()
    }

    /// Adds passages to the exact groups and, unless `deferred`, to their models' graphs.
    fn add(&self, passages: &[PassageRecord], deferred: bool) {
        let mut groups = self.state.groups.write();
        let mut for_graphs: HashMap<&str, Vec<NewNode<'_>>> = HashMap::new();
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
            let slot = self.state.next_slot.fetch_add(1, Ordering::Relaxed);
            group.entries.push(Entry {
                context_id: p.context_id,
                start: p.start,
                end: p.end,
                slot,
            });
            group.data.extend_from_slice(&p.vector);
            if !deferred {
                let target = Slot {
                    project_id: p.project_id,
                    context_id: p.context_id,
                    start: p.start,
                    end: p.end,
                };
                for_graphs.entry(&p.model).or_default().push((slot, target, &p.vector));
            }
        }
        // Still under the groups lock: a concurrent delete cannot slip between the two.
        for (model, items) in for_graphs {
            self.graph(model).add(&items);
        }
    }

    pub fn insert(&self, passages: &[PassageRecord]) {
        self.add(passages, false);
    }

    /// Adds passages read at open to the exact groups only; their models' graphs stay
    /// incomplete (searches scan exactly) until [`Self::build_graphs`] has filled them.
    pub fn load(&self, passages: &[PassageRecord]) {
        {
            let mut graphs = self.state.graphs.write();
            for p in passages {
                graphs.entry(p.model.clone()).or_insert_with(|| Arc::new(ModelGraph::default()));
            }
        }
        self.add(passages, true);
    }

    /// Builds the graph of every model whose passages were [`Self::load`]ed, on a thread of its
    /// own; searches scan exactly until a model's graph is complete. Returns the thread.
    pub fn build_graphs(&self) -> std::thread::JoinHandle<()> {
        let index = self.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let keys: Vec<(Uuid, String)> = {
                let groups = index.state.groups.read();
                groups.keys().cloned().collect()
            };
            let mut added = 0usize;
            for (project, model) in &keys {
                let graph = index.graph(model);
                let mut offset = 0;
                loop {
                    // Hold the groups lock while adding, so a concurrent delete either
                    // happened before (the passage is gone) or waits for this batch.
                    let groups = index.state.groups.read();
                    let Some(group) = groups.get(&(*project, model.clone())) else { break };
                    if offset >= group.entries.len() {
                        break;
                    }
                    let end = (offset + BUILD_BATCH).min(group.entries.len());
                    let items: Vec<NewNode<'_>> = (offset..end)
                        .map(|i| {
                            let e = group.entries[i];
                            let slot = Slot {
                                project_id: *project,
                                context_id: e.context_id,
                                start: e.start,
                                end: e.end,
                            };
                            (e.slot, slot, &group.data[i * group.dim..(i + 1) * group.dim])
                        })
                        .collect();
                    graph.add(&items);
                    added += items.len();
                    offset = end;
                }
            }
            let models: HashSet<&String> = keys.iter().map(|(_, m)| m).collect();
            for model in models {
                index.graph(model).mark_complete();
            }
            tracing::info!(
                passages = added,
                secs = started.elapsed().as_secs_f64(),
                "vector graphs built"
            );
        })
    }

    /// Sets the candidate lists of graph searches (`ef_search`): at least `filtered` (default
    /// 64), and `wide` (default 256) scaled by the share of the graph the filter covers; the
    /// benchmark sweeps them to show the recall/latency trade.
    pub fn set_graph_expansion(&self, filtered: usize, wide: usize) {
        for graph in self.state.graphs.read().values() {
            graph.set_expansion_search(filtered);
        }
        self.state.expansion_wide.store(wide, Ordering::Relaxed);
    }

    /// Drops the passages of these contexts (all in `project_id`).
    pub fn remove_contexts(&self, project_id: Uuid, context_ids: &[Uuid]) {
        let mut groups = self.state.groups.write();
        for ((project, model), group) in groups.iter_mut() {
            if *project != project_id {
                continue;
            }
            let dim = group.dim;
            let mut kept_entries = Vec::with_capacity(group.entries.len());
            let mut kept_data = Vec::with_capacity(group.data.len());
            let mut removed = Vec::new();
            for (i, entry) in group.entries.iter().enumerate() {
                if context_ids.contains(&entry.context_id) {
                    removed.push(entry.slot);
                } else {
                    kept_entries.push(*entry);
                    kept_data.extend_from_slice(&group.data[i * dim..(i + 1) * dim]);
                }
            }
            group.entries = kept_entries;
            group.data = kept_data;
            self.graph(model).remove(&removed);
        }
    }

    pub fn remove_projects(&self, project_ids: &[Uuid]) {
        let mut groups = self.state.groups.write();
        for ((project, model), group) in groups.iter() {
            if project_ids.contains(project) {
                let slots: Vec<u64> = group.entries.iter().map(|e| e.slot).collect();
                self.graph(model).remove(&slots);
            }
        }
        groups.retain(|(project, _), _| !project_ids.contains(project));
    }

    /// Drops every passage made by a model other than `model`, with those models' graphs.
    pub fn retain_model(&self, model: &str) {
        let mut groups = self.state.groups.write();
        groups.retain(|(_, m), _| m == model);
        self.state.graphs.write().retain(|m, _| m == model);
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
        let groups = self.state.groups.read();
        let searched: Vec<&Group> = project_ids
            .iter()
            .filter_map(|project| groups.get(&(*project, model.to_string())))
            .filter(|group| group.dim == query.len())
            .collect();
        let total: usize = searched.iter().map(|g| g.entries.len()).sum();
        // Ranking (nearly) everything is an exact job whatever the size.
        if total > self.state.exact_max
            && limit < total / 2
            && let Some(hits) = self.graph_search(query, model, project_ids, limit, total)
        {
            return hits;
        }
        exact_search(query, &searched, limit)
    }

    /// Search through the model's graph; `None` when the exact scan must answer instead.
    fn graph_search(
        &self,
        query: &[f32],
        model: &str,
        project_ids: &[Uuid],
        limit: usize,
        total: usize,
    ) -> Option<Vec<VectorHit>> {
        let graph = self.state.graphs.read().get(model)?.clone();
        if !graph.is_complete() {
            return None;
        }
        let projects: HashSet<Uuid> = project_ids.iter().copied().collect();
        // The walk steps through the nodes its filter rejects as well, so with a filter
        // covering a share f of the graph it explores about candidates / f nodes. The wide list
        // scaled by f keeps that as deep as an unfiltered walk's; the graph's own expansion
        // (EXPANSION_FILTERED) is the floor.
        let wide = self.state.expansion_wide.load(Ordering::Relaxed);
        let candidates = wide.saturating_mul(total) / graph.size().max(1);
        // A context may own several of the nearest passages: ask for more than `limit` and
        // widen until `limit` distinct contexts are found or every passage was returned.
        let mut count = limit.saturating_mul(4).max(40);
        loop {
            let found = graph.search(query, &projects, count.min(total), candidates)?;
            let returned = found.len();
            let hits = best_per_context(
                found.into_iter().map(|(similarity, s)| (similarity, s.context_id, s.start, s.end)),
                limit,
            );
            if hits.len() == limit || returned >= total {
                return Some(hits);
            }
            if returned < count.min(total) || count >= total {
                // The walk ran out of reachable matches while more exist: not short, exact.
                return None;
            }
            count = count.saturating_mul(4);
        }
    }
}

/// Scores every passage of `groups`, then picks the best `limit` contexts from a partially
/// sorted prefix: a context with several passages may fill the prefix more than once, so the
/// prefix grows until it holds `limit` distinct contexts or every passage.
fn exact_search(query: &[f32], groups: &[&Group], limit: usize) -> Vec<VectorHit> {
    let mut scored: Vec<(f32, &Entry)> =
        Vec::with_capacity(groups.iter().map(|g| g.entries.len()).sum());
    for group in groups {
        for (entry, vector) in group.entries.iter().zip(group.data.chunks_exact(group.dim)) {
            scored.push((dot(query, vector), entry));
        }
    }
    let by_score = |a: &(f32, &Entry), b: &(f32, &Entry)| {
        b.0.total_cmp(&a.0).then(a.1.context_id.cmp(&b.1.context_id))
    };
    let mut prefix = limit.saturating_mul(4).max(16);
    loop {
        let take = prefix.min(scored.len());
        if take < scored.len() {
            scored.select_nth_unstable_by(take, by_score);
        }
        let mut top = scored[..take].to_vec();
        top.sort_by(by_score);
        let hits = best_per_context(
            top.into_iter().map(|(similarity, e)| (similarity, e.context_id, e.start, e.end)),
            limit,
        );
        if hits.len() == limit || take == scored.len() {
            return hits;
        }
        prefix = prefix.saturating_mul(4);
    }
}

/// The first `limit` distinct contexts of passages ordered best first, each with its best
/// (first) passage.
fn best_per_context(
    passages: impl Iterator<Item = (f32, Uuid, usize, usize)>,
    limit: usize,
) -> Vec<VectorHit> {
    let mut seen = HashSet::new();
    let mut hits = Vec::new();
    for (similarity, context_id, start, end) in passages {
        if hits.len() == limit {
            break;
        }
        if seen.insert(context_id) {
            hits.push(VectorHit { context_id, start, end, similarity });
        }
    }
    hits
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

    /// Deterministic unit vectors spread over 16 dimensions.
    fn unit(seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut v: Vec<f32> = (0..16)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
        v
    }

    fn corpus(projects: &[Uuid], per_project: usize) -> Vec<PassageRecord> {
        let mut out = Vec::new();
        for (p, project) in projects.iter().enumerate() {
            for i in 0..per_project {
                let seed = (p * per_project + i) as u64;
                out.push(passage(*project, Uuid::from_u128(seed as u128 + 1), unit(seed)));
            }
        }
        out
    }

    fn ids(hits: &[VectorHit]) -> Vec<Uuid> {
        hits.iter().map(|h| h.context_id).collect()
    }

    #[test]
    fn the_graph_answers_large_filters_like_the_exact_scan() {
        let projects: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let passages = corpus(&projects, 500);
        let graph = VectorIndex::with_exact_max(100);
        let exact = VectorIndex::with_exact_max(usize::MAX);
        graph.insert(&passages);
        exact.insert(&passages);
        let (mut agree, mut asked) = (0, 0);
        for q in 0..50 {
            let query = unit(10_000 + q);
            for filter in [&projects[..1], &projects[..3]] {
                let truth = ids(&exact.search(&query, "m", filter, 10));
                let found = graph.search(&query, "m", filter, 10);
                assert_eq!(found.len(), 10);
                let allowed: Vec<Uuid> = passages
                    .iter()
                    .filter(|p| filter.contains(&p.project_id))
                    .map(|p| p.context_id)
                    .collect();
                assert!(found.iter().all(|h| allowed.contains(&h.context_id)), "filter kept");
                agree += found.iter().filter(|h| truth.contains(&h.context_id)).count();
                asked += 10;
            }
        }
        assert!(agree as f64 / asked as f64 >= 0.95, "recall {agree}/{asked}");
    }

    #[test]
    fn deleted_passages_leave_the_graph_at_once() {
        let projects: Vec<Uuid> = (0..2).map(|_| Uuid::now_v7()).collect();
        let index = VectorIndex::with_exact_max(10);
        index.insert(&corpus(&projects, 200));
        let query = unit(7);
        let first = index.search(&query, "m", &projects, 5);
        assert_eq!(first[0].context_id, Uuid::from_u128(8), "the passage equal to the query");
        index.remove_contexts(projects[0], &[first[0].context_id]);
        let after = index.search(&query, "m", &projects, 5);
        assert_eq!(after.len(), 5);
        assert!(!ids(&after).contains(&first[0].context_id));
        let everything = index.search(&query, "m", &projects, usize::MAX);
        assert_eq!(everything.len(), 399, "an unbounded limit ranks every context");
        index.remove_projects(&[projects[0]]);
        let left = index.search(&query, "m", &projects, 500);
        assert_eq!(left.len(), 200, "only the other project's contexts, none short");
        assert!(left.iter().all(|h| h.context_id.as_u128() > 200));
    }

    #[test]
    fn loaded_passages_are_searched_exactly_until_their_graph_is_built() {
        let projects = [Uuid::now_v7()];
        let index = VectorIndex::with_exact_max(10);
        index.load(&corpus(&projects, 300));
        let graph = index.state.graphs.read().get("m").cloned().unwrap();
        assert!(!graph.is_complete());
        let query = unit(42);
        let before = index.search(&query, "m", &projects, 3);
        assert_eq!(before[0].context_id, Uuid::from_u128(43));
        // A live insert while the graph is incomplete is kept for when it is.
        index.insert(&[passage(projects[0], Uuid::from_u128(9999), query.clone())]);
        index.build_graphs().join().unwrap();
        assert!(graph.is_complete());
        let after = index.search(&query, "m", &projects, 3);
        assert_eq!(after.len(), 3);
        assert!(ids(&after).contains(&Uuid::from_u128(9999)));
        assert!(ids(&after).contains(&Uuid::from_u128(43)));
    }

    #[test]
    fn blobs_round_trip_and_dot_matches() {
        let v: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        assert_eq!(from_blob(&to_blob(&v)), v);
        let naive: f32 = v.iter().map(|x| x * x).sum();
        assert!((dot(&v, &v) - naive).abs() < 1e-3);
    }
}
