//! The request id: echoed when the client sent a sane one, generated otherwise, and readable
//! anywhere while the request is handled (error bodies carry it). It sits below both the error
//! envelope and the middleware, which each need it.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue};
use uuid::Uuid;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, or an empty string outside a request.
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// The client's id if it sent a sane one, else a new one.
pub fn for_request(headers: &HeaderMap) -> String {
    sane(headers.get(HEADER)).unwrap_or_else(|| format!("req_{}", Uuid::now_v7().simple()))
}

/// Runs `work` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// [`scope`] for synchronous work.
pub fn sync_scope<R>(id: String, work: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, work)
}

/// A client-sent id is kept if it is short and made of safe characters (it ends up in logs).
fn sane(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= 128
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_sanitised() {
        let ok = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(sane(Some(&ok)).as_deref(), Some("abc-123_x.y:z"));
        for bad in ["", "has space", "semi;colon", &"x".repeat(129)] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert_eq!(sane(Some(&v)), None, "{bad:?}");
        }
    }
}
