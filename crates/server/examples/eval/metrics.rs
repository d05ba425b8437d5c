//! MRR@k, Recall@k and nDCG@k of one ranking against graded judgements, and their means.

use std::collections::HashMap;

#[derive(Debug, Default, Clone, Copy)]
pub struct Scores {
    pub mrr: f64,
    pub recall: f64,
    pub ndcg: f64,
}

/// The scores of `ranking` (document ids, best first) cut at `k`.
pub fn score(ranking: &[String], relevant: &HashMap<String, u32>, k: usize) -> Scores {
    let top = &ranking[..ranking.len().min(k)];
    let first = top.iter().position(|d| relevant.get(d).is_some_and(|g| *g > 0));
    let mrr = first.map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    let wanted = relevant.values().filter(|g| **g > 0).count();
    let found = top.iter().filter(|d| relevant.get(*d).is_some_and(|g| *g > 0)).count();
    let recall = if wanted == 0 { 0.0 } else { found as f64 / wanted as f64 };
    let gain = |g: u32| 2f64.powi(g as i32) - 1.0;
    let dcg: f64 = top
        .iter()
        .enumerate()
        .map(|(i, d)| gain(relevant.get(d).copied().unwrap_or(0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = relevant.values().copied().filter(|g| *g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 =
        ideal.iter().take(k).enumerate().map(|(i, g)| gain(*g) / (i as f64 + 2.0).log2()).sum();
    let ndcg = if idcg == 0.0 { 0.0 } else { dcg / idcg };
    Scores { mrr, recall, ndcg }
}

/// The mean of each score.
pub fn mean(all: &[Scores]) -> Scores {
    let n = all.len().max(1) as f64;
    Scores {
        mrr: all.iter().map(|s| s.mrr).sum::<f64>() / n,
        recall: all.iter().map(|s| s.recall).sum::<f64>() / n,
        ndcg: all.iter().map(|s| s.ndcg).sum::<f64>() / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_relevant_document_at_rank_two() {
        let relevant: HashMap<String, u32> = [("b".to_string(), 1)].into();
        let s = score(&["a".into(), "b".into(), "c".into()], &relevant, 10);
        assert_eq!(s.mrr, 0.5);
        assert_eq!(s.recall, 1.0);
        assert!((s.ndcg - 1.0 / 3f64.log2()).abs() < 1e-12);
        let missed = score(&["a".into()], &relevant, 10);
        assert_eq!((missed.mrr, missed.recall, missed.ndcg), (0.0, 0.0, 0.0));
    }
}
