//! A fake OpenAI-compatible server (`POST /v1/chat/completions`) for tests that need a
//! language model. Each request is answered by the next queued [`Reply`] (or, when none is
//! queued, by [`recorded::cited_answer`]), streamed as Server-Sent Events exactly as servers
//! send them, or as a whole JSON document when the request does not ask for a stream. It
//! records what it was asked and counts streams whose client left before the end, so tests
//! can check that a disconnect stops the upstream request.

pub mod recorded;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::stream;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// These `data:` payloads (`[DONE]` included if wanted), `delay` apart.
    Stream { chunks: Vec<String>, delay: Duration },
    /// These payloads, then text chunks forever (until the client leaves).
    Endless { chunks: Vec<String>, delay: Duration },
    /// Nothing at all: headers are never sent (a model that hangs).
    Hang,
    /// An HTTP error with this JSON body.
    Status(u16, Value),
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<(HeaderMap, Value)>>,
    /// Streams whose body was dropped before its last chunk: the client went away.
    abandoned: AtomicUsize,
    /// Streams that sent their last chunk.
    finished: AtomicUsize,
}

impl Reply {
    /// These payloads, all at once.
    pub fn chunks(chunks: Vec<String>) -> Self {
        Reply::Stream { chunks, delay: Duration::ZERO }
    }
}

/// The fake on its loopback port; stops when dropped.
pub struct FakeLlm {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The model name the fake reports.
pub const MODEL: &str = "fake-small-model";

impl FakeLlm {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        // Each chunk leaves at once, as a model server's do (Nagle would hold the second
        // chunk until the first is acknowledged, 40 ms later).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm { addr, shared, task }
    }

    /// `LLM_BASE_URL` for the fake.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues the answer to a coming request.
    pub fn push(&self, reply: Reply) {
        self.shared.replies.lock().push_back(reply);
    }

    /// The bodies of the requests so far.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().iter().map(|(_, b)| b.clone()).collect()
    }

    /// The headers of the requests so far.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.shared.requests.lock().iter().map(|(h, _)| h.clone()).collect()
    }

    /// Streams whose client left before the end.
    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Streams sent to their end.
    pub fn finished(&self) -> usize {
        self.shared.finished.load(Ordering::SeqCst)
    }
}

/// Counts a stream as abandoned if it is dropped before its end.
struct Watch {
    shared: Arc<Shared>,
    done: bool,
}

impl Watch {
    /// The stream sent its last chunk.
    fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let counter = if self.done { &self.shared.finished } else { &self.shared.abandoned };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": "not JSON"}})))
            .into_response();
    };
    shared.requests.lock().push((headers, body.clone()));
    let reply = shared.replies.lock().pop_front().unwrap_or_else(|| Reply::Stream {
        chunks: recorded::cited_answer(),
        delay: Duration::from_millis(5),
    });
    let streaming = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    match reply {
        Reply::Status(code, body) => {
            (StatusCode::from_u16(code).expect("status"), axum::Json(body)).into_response()
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Stream { chunks, .. } if !streaming => {
            axum::Json(recorded::as_document(&chunks)).into_response()
        }
        Reply::Stream { chunks, delay } => sse(shared, chunks, delay, false),
        Reply::Endless { chunks, delay } => sse(shared, chunks, delay, true),
    }
}

fn sse(shared: Arc<Shared>, chunks: Vec<String>, delay: Duration, endless: bool) -> Response {
    let watch = Watch { shared, done: false };
    let body = stream::unfold(
        (chunks.into_iter(), watch, 0usize),
        move |(mut rest, watch, n)| async move {
            tokio::time::sleep(delay).await;
            let payload = match rest.next() {
                Some(p) => p,
                None if endless => recorded::text_chunk(&format!("word{n} ")),
                None => {
                    watch.finish();
                    return None;
                }
            };
            let frame = Bytes::from(format!("data: {payload}\n\n"));
            Some((Ok::<_, std::convert::Infallible>(frame), (rest, watch, n + 1)))
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body))
        .expect("response")
}
