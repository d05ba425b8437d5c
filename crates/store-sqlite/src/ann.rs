//! The approximate side of the vector index: one HNSW graph (usearch) per embedding model over
//! every passage of every project, searched with the caller's project filter applied inside the
//! graph walk. [`super::vectors::VectorIndex`] uses it only when the filtered passage count is
//! too large to scan exactly, and only once it holds every passage (it is built in the
//! background after the store opens, and kept current by every insert and delete afterwards).
//!
//! Vectors are kept in half precision (f16): a tenth of a percent of similarity is lost, which is
//! far below what ranks results differently, and the graph needs half the memory.

use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
use uuid::Uuid;

/// Neighbours per node (twice that on the base layer). Denser than usearch's default of 16,
/// which reached recall@10 0.88 unfiltered at 1M passages whatever the search width: its graph
/// did not lead to every neighbour (docs/benchmarks.md).
const CONNECTIVITY: usize = 24;
/// Candidate list while inserting (usearch's `expansion_add`).
const EXPANSION_ADD: usize = 128;
/// The least candidate list of a walk. A walk whose filter rejects most nodes keeps this one:
/// it steps through the rejected nodes too, so it explores far more of the graph than this.
pub const EXPANSION_FILTERED: usize = 64;
/// Concurrent searches the graph can serve (usearch keeps a context per thread).
const THREADS: usize = 64;

/// A passage to add: its graph key, what it stands for, and its unit vector.
pub(crate) type NewNode<'a> = (u64, Slot, &'a [f32]);

/// What a graph node stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub project_id: Uuid,
    pub context_id: Uuid,
    pub start: usize,
    pub end: usize,
}

pub(crate) struct Graph {
    index: Index,
    slots: HashMap<u64, Slot>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("size", &self.slots.len()).finish()
    }
}

/// One model's graph and whether it holds every passage yet.
#[derive(Debug, Default)]
pub(crate) struct ModelGraph {
    graph: RwLock<Option<Graph>>,
    complete: AtomicBool,
}

impl ModelGraph {
    fn new_graph(dim: usize) -> Result<Graph, String> {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::IP,
            quantization: ScalarKind::F16,
            connectivity: CONNECTIVITY,
            expansion_add: EXPANSION_ADD,
            expansion_search: EXPANSION_FILTERED,
            multi: false,
        };
        let index = Index::new(&options).map_err(|e| e.to_string())?;
        index.reserve_capacity_and_threads(1024, THREADS).map_err(|e| e.to_string())?;
        Ok(Graph { index, slots: HashMap::new() })
    }

    /// Adds passages (slot, where it points, unit vector). A slot already present is skipped,
    /// so the background build and live inserts may overlap. Large batches are inserted from
    /// several threads (usearch's graph takes concurrent inserts once capacity is reserved).
    pub(crate) fn add(&self, items: &[NewNode<'_>]) {
        let Some(dim) = items.first().map(|(_, _, v)| v.len()) else { return };
        let fresh: Vec<(u64, &[f32])> = {
            let mut guard = self.graph.write();
            if guard.is_none() {
                match Self::new_graph(dim) {
                    Ok(graph) => *guard = Some(graph),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot create the vector graph");
                        return self.complete.store(false, Ordering::Release);
                    }
                }
            }
            let graph = guard.as_mut().expect("created above");
            let needed = graph.index.size() + items.len();
            if needed > graph.index.capacity() {
                let capacity = needed.max(graph.index.capacity() * 2);
                if let Err(e) = graph.index.reserve_capacity_and_threads(capacity, THREADS) {
                    tracing::error!(error = %e, "cannot grow the vector graph");
                    return self.complete.store(false, Ordering::Release);
                }
            }
            let mut fresh = Vec::with_capacity(items.len());
            for (key, slot, vector) in items {
                if vector.len() == dim && graph.slots.insert(*key, *slot).is_none() {
                    fresh.push((*key, *vector));
                }
            }
            fresh
        };
        let guard = self.graph.read();
        let Some(graph) = guard.as_ref() else { return };
        let insert = |part: &[(u64, &[f32])]| {
            for (key, vector) in part {
                if let Err(e) = graph.index.add(*key, vector) {
                    // The graph no longer mirrors the passages: stop using it.
                    tracing::error!(error = %e, "vector graph insert failed; exact search only");
                    self.complete.store(false, Ordering::Release);
                    return;
                }
            }
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if fresh.len() < 64 || threads == 1 {
            insert(&fresh);
        } else {
            std::thread::scope(|scope| {
                for part in fresh.chunks(fresh.len().div_ceil(threads)) {
                    scope.spawn(move || insert(part));
                }
            });
        }
    }

    pub(crate) fn remove(&self, keys: &[u64]) {
        let mut guard = self.graph.write();
        let Some(graph) = guard.as_mut() else { return };
        for key in keys {
            if graph.slots.remove(key).is_some() {
                let _ = graph.index.remove(*key);
            }
        }
    }

    /// Passages in the graph.
    pub(crate) fn size(&self) -> usize {
        let guard = self.graph.read();
        guard.as_ref().map_or(0, |g| g.slots.len())
    }

    pub(crate) fn set_expansion_search(&self, candidates: usize) {
        let guard = self.graph.read();
        if let Some(graph) = guard.as_ref() {
            graph.index.change_expansion_search(candidates);
        }
    }

    pub(crate) fn mark_complete(&self) {
        self.complete.store(true, Ordering::Release);
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Up to `count` passages of `projects` nearest to `query`, as (similarity, slot), best
    /// first, from a walk keeping at least `candidates` candidates. `None` when the graph cannot
    /// answer (the caller then scans exactly).
    pub(crate) fn search(
        &self,
        query: &[f32],
        projects: &HashSet<Uuid>,
        count: usize,
        candidates: usize,
    ) -> Option<Vec<(f32, Slot)>> {
        let guard = self.graph.read();
        let graph = guard.as_ref()?;
        let in_filter =
            |key: u64| graph.slots.get(&key).is_some_and(|s| projects.contains(&s.project_id));
        // usearch keeps max(asked, expansion_search) candidates: asking for more widens it.
        let matches = graph.index.filtered_search(query, count.max(candidates), in_filter).ok()?;
        let found = matches
            .keys
            .iter()
            .zip(&matches.distances)
            .take(count)
            .filter_map(|(key, distance)| graph.slots.get(key).map(|slot| (1.0 - distance, *slot)))
            .collect();
        Some(found)
    }
}
