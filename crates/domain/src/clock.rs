//! Time as a dependency. Services ask a [`Clock`] instead of the system so that expiry rules
//! (token lifetimes, grace periods, reuse windows, restore deadlines) are tested by moving a
//! [`ManualClock`] rather than by sleeping.

use parking_lot::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// The current time at the precision every store keeps (milliseconds), so that what a
    /// create returns equals what a later read returns.
    fn now_millis(&self) -> DateTime<Utc> {
        let now = self.now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Real time plus an offset the caller can push forward.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock();
        *offset += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock()
    }
}
