//! Chat turns under way, decoupled from the connections that watch them. A run keeps every
//! event it sent, numbered from 1, so a client that lost its connection resumes from the last
//! number it saw (`Last-Event-ID`) on this replica; when nobody has watched a run for the grace
//! period it is stopped (its model request closed), and an explicit stop ends it at once. A
//! finished run's events stay replayable for a few minutes; after that the stored message is
//! the record.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::views::ChatEvent;

/// How long a finished run's events can still be replayed.
const RETAIN_FINISHED: Duration = Duration::from_secs(300);
/// Events a watcher may fall behind by before it is cut off (it resumes from where it was).
const LAG: usize = 1024;

/// An event and its number within the run.
pub type Numbered = (u64, ChatEvent);

/// The runs of this process.
#[derive(Default)]
pub struct RunRegistry {
    runs: Mutex<HashMap<Uuid, Arc<Run>>>,
}

impl RunRegistry {
    /// A new run, registered under `id`.
    pub(crate) fn start(
        self: &Arc<Self>,
        id: Uuid,
        session_id: Uuid,
        user_id: Uuid,
        grace: Duration,
    ) -> Arc<Run> {
        let (tx, _) = broadcast::channel(LAG);
        let run = Arc::new(Run {
            id,
            session_id,
            user_id,
            state: Mutex::new(State { events: Vec::new(), finished: false }),
            tx,
            cancel: CancellationToken::new(),
            watchers: AtomicUsize::new(0),
            grace,
        });
        self.runs.lock().insert(id, run.clone());
        run
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<Arc<Run>> {
        self.runs.lock().get(&id).cloned()
    }

    /// Forgets `run` once its replay window has passed.
    pub(crate) fn retire(self: &Arc<Self>, run: &Arc<Run>) {
        let (registry, id) = (Arc::clone(self), run.id);
        tokio::spawn(async move {
            tokio::time::sleep(RETAIN_FINISHED).await;
            registry.runs.lock().remove(&id);
        });
    }
}

/// One chat turn's events and its stop switch.
pub struct Run {
    pub id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    state: Mutex<State>,
    tx: broadcast::Sender<Numbered>,
    cancel: CancellationToken,
    watchers: AtomicUsize,
    grace: Duration,
}

struct State {
    events: Vec<Numbered>,
    finished: bool,
}

impl Run {
    /// Sends `event` to every watcher and keeps it for those who come later.
    pub(crate) fn push(&self, event: ChatEvent) {
        let mut state = self.state.lock();
        let seq = state.events.len() as u64 + 1;
        if matches!(event, ChatEvent::Done { .. }) {
            state.finished = true;
        }
        state.events.push((seq, event.clone()));
        // No watcher right now is fine: the event is kept for the next.
        let _ = self.tx.send((seq, event));
    }

    /// Resolves when the run is told to stop (explicitly, or for want of watchers).
    pub(crate) async fn stopped(&self) {
        self.cancel.cancelled().await;
    }

    /// Whether the run was told to stop.
    pub(crate) fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Stops the run now.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    pub fn is_finished(&self) -> bool {
        self.state.lock().finished
    }

    /// The events after `after`, then the live ones to the end. None when the run is over and
    /// nothing is left to send.
    pub fn watch(self: &Arc<Self>, after: u64) -> Option<Watch> {
        // Snapshot and subscription under the lock `push` takes: nothing is lost or doubled.
        let state = self.state.lock();
        let backlog: VecDeque<Numbered> =
            state.events.iter().filter(|(seq, _)| *seq > after).cloned().collect();
        if state.finished && backlog.is_empty() {
            return None;
        }
        let live = (!state.finished).then(|| self.tx.subscribe());
        self.watchers.fetch_add(1, Ordering::SeqCst);
        Some(Watch { backlog, live, ended: false, run: Arc::clone(self) })
    }
}

/// A watcher of a run; when the last one goes and the run is still going, the run is stopped
/// after its grace period unless someone comes back.
pub struct Watch {
    backlog: VecDeque<Numbered>,
    live: Option<broadcast::Receiver<Numbered>>,
    ended: bool,
    run: Arc<Run>,
}

impl Watch {
    /// The next event; None after `done` (or when the watcher fell too far behind: it
    /// resumes from the last number it got).
    pub async fn next(&mut self) -> Option<Numbered> {
        if self.ended {
            return None;
        }
        let next = match self.backlog.pop_front() {
            Some(event) => Some(event),
            None => self.live.as_mut()?.recv().await.ok(),
        };
        self.ended = matches!(next, None | Some((_, ChatEvent::Done { .. })));
        next
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.run.watchers.fetch_sub(1, Ordering::SeqCst) != 1 || self.run.is_finished() {
            return;
        }
        let run = Arc::clone(&self.run);
        let stop_later = async move {
            tokio::time::sleep(run.grace).await;
            if run.watchers.load(Ordering::SeqCst) == 0 && !run.is_finished() {
                run.stop();
            }
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(stop_later);
        }
    }
}
