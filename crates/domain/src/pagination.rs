//! Cursor pagination as SPEC §4 describes it: `?limit=` (default 20, at most 100) and an opaque
//! `?cursor=`, answered by `{"items": [...], "next_cursor": ...}`. Lists are ordered by UUIDv7
//! id, newest first, so the cursor is simply the last id of the previous page.

use base64::Engine;
use serde::{Deserialize, Serialize};
use tc_store::Page;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// Validates the parameters; the store is asked for one extra row to learn whether another
    /// page exists.
    pub fn to_page(&self) -> DomainResult<Page> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(DomainError::validation(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let before = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        Ok(Page { before, limit: limit + 1 })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// Builds a page from `rows` fetched with [`PageParams::to_page`] (one more than the limit).
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        page: Page,
        id_of: impl Fn(&R) -> Uuid,
        view: impl Fn(R) -> T,
    ) -> Self {
        let limit = (page.limit - 1) as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| encode_cursor(id_of(r)))
        } else {
            None
        };
        Paged { items: rows.into_iter().map(view).collect(), next_cursor }
    }
}

fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> DomainResult<Uuid> {
    let bad = || DomainError::invalid("`cursor` is not a cursor this server issued");
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    Uuid::from_slice(&bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_limits() {
        let id = Uuid::now_v7();
        let params = PageParams { limit: Some(2), cursor: Some(encode_cursor(id)) };
        let page = params.to_page().unwrap();
        assert_eq!(page, Page { before: Some(id), limit: 3 });
        assert!(PageParams { limit: Some(0), cursor: None }.to_page().is_err());
        assert!(PageParams { limit: Some(101), cursor: None }.to_page().is_err());
        assert!(PageParams { limit: None, cursor: Some("!!".into()) }.to_page().is_err());

        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let paged = Paged::from_rows(ids.clone(), page, |u| *u, |u| u);
        assert_eq!(paged.items, ids[..2]);
        assert_eq!(paged.next_cursor, Some(encode_cursor(ids[1])));
        let last = Paged::from_rows(ids[..2].to_vec(), page, |u| *u, |u| u);
        assert_eq!(last.next_cursor, None);
    }
}
