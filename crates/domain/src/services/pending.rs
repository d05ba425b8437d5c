//! Writes that must not slow a request down: context access counts and analytics events are
//! queued in memory and written in one batch by [`Services::flush_pending`], which the server
//! calls every few seconds and at shutdown. A failed flush keeps the batch for the next try.

use parking_lot::Mutex;

use chrono::{DateTime, Utc};
use tc_store::AnalyticsEventRecord;
use tracing::warn;
use uuid::Uuid;

use super::Services;

#[derive(Debug, Default)]
pub(crate) struct Pending {
    accesses: Mutex<Vec<(Uuid, DateTime<Utc>)>>,
    events: Mutex<Vec<AnalyticsEventRecord>>,
}

/// Beyond this many queued items new ones are dropped (with a warning) rather than growing
/// without bound while the database is unavailable.
const MAX_QUEUED: usize = 100_000;

impl Pending {
    pub(crate) fn accessed(&self, ids: impl IntoIterator<Item = Uuid>, at: DateTime<Utc>) {
        let mut accesses = self.accesses.lock();
        if accesses.len() < MAX_QUEUED {
            accesses.extend(ids.into_iter().map(|id| (id, at)));
        }
    }

    pub(crate) fn event(&self, event: AnalyticsEventRecord) {
        let mut events = self.events.lock();
        if events.len() < MAX_QUEUED {
            events.push(event);
        } else {
            warn!("analytics queue full; event dropped");
        }
    }
}

impl Services {
    /// Context accesses and analytics events waiting for the next flush.
    pub fn pending_writes(&self) -> (usize, usize) {
        let accesses = self.pending.accesses.lock().len();
        let events = self.pending.events.lock().len();
        (accesses, events)
    }

    /// Writes queued key uses, context accesses and analytics events.
    pub async fn flush_pending(&self) {
        self.flush_key_usage().await;
        let accesses = std::mem::take(&mut *self.pending.accesses.lock());
        if !accesses.is_empty()
            && let Err(e) = self.store.record_context_access(&accesses).await
        {
            warn!(error = %e, "could not record context accesses; will retry");
            self.pending.accesses.lock().extend(accesses);
        }
        let events = std::mem::take(&mut *self.pending.events.lock());
        if !events.is_empty()
            && let Err(e) = self.store.insert_analytics_events(&events).await
        {
            warn!(error = %e, "could not write analytics events; will retry");
            self.pending.events.lock().extend(events);
        }
    }
}
