//! What scenarios build on: fixed times, records that are not yet stored, and reproducible
//! random vectors.

use chrono::{DateTime, TimeZone, Utc};
use tc_store::*;
use uuid::Uuid;

/// A fixed instant, truncated to milliseconds (the coarsest precision a backend may keep).
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 10, 30, 0).single().expect("valid time")
}

/// A user record (not stored) with this email.
pub fn user(email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        email: email.to_string(),
        name: "Test User".into(),
        password_hash: "$argon2id$dummy".into(),
        is_active: true,
        email_verified: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// A private project record (not stored) owned by `owner_id`.
pub fn project(owner_id: Uuid, name: &str) -> ProjectRecord {
    ProjectRecord {
        id: Uuid::now_v7(),
        name: name.to_string(),
        description: format!("{name} description"),
        owner_id,
        visibility: Visibility::Private,
        settings: ProjectSettings { auto_scan: false, embedding_model: "all-MiniLM-L6-v2".into() },
        deleted_at: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

pub(crate) async fn new_user<S: Store>(s: &S, email: &str) -> UserRecord {
    let u = user(email);
    s.insert_user(&u).await.expect("insert user");
    u
}

/// A context record (not stored) with this content.
pub fn context(project_id: Uuid, created_by: Uuid, content: &str) -> ContextRecord {
    ContextRecord {
        id: Uuid::now_v7(),
        project_id,
        content: content.to_string(),
        content_hash: format!("hash-of-{}", content.len()),
        token_count: content.split_whitespace().count() as i64,
        source: "manual".into(),
        file_path: None,
        parent_id: None,
        chunk_index: None,
        metadata: serde_json::json!({"tags": []}),
        created_by,
        accessed_count: 0,
        last_accessed: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// A unit vector in 4 dimensions pointing mostly along `axis`, tilted by `tilt`.
pub(crate) fn unit(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = [tilt; 4];
    v[axis] = 1.0;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// A passage of `c` over its whole content, made by `test-model`.
pub fn passage_for(c: &ContextRecord, vector: Vec<f32>) -> PassageRecord {
    PassageRecord {
        context_id: c.id,
        project_id: c.project_id,
        start: 0,
        end: c.content.len(),
        model: "test-model".into(),
        vector,
    }
}

pub(crate) async fn owned_project<S: Store>(s: &S, email: &str) -> (UserRecord, ProjectRecord) {
    let u = new_user(s, email).await;
    let p = project(u.id, "ctx");
    s.insert_project(&p).await.unwrap();
    (u, p)
}

/// xorshift64*: reproducible, dependency-free pseudo-random numbers, for scenarios and the
/// vector benchmarks (which thereby all draw from one distribution).
pub struct Rng(pub u64);

impl Rng {
    /// The next number, uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// A unit vector near one of `centres` (each coordinate moved by up to `spread`), so that
    /// neighbourhoods exist as in real embeddings.
    pub fn vector(&mut self, centres: &[Vec<f32>], spread: f32) -> Vec<f32> {
        let centre =
            &centres[(self.next_f32().abs() * centres.len() as f32) as usize % centres.len()];
        let mut v: Vec<f32> = centre.iter().map(|c| c + spread * self.next_f32()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    /// A unit vector in any direction.
    pub(crate) fn direction(&mut self, dim: usize) -> Vec<f32> {
        self.vector(&[vec![0.0; dim]], 1.0)
    }
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
