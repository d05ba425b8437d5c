//! The state every handler receives: the service layer and the rate limiters.

use std::sync::Arc;

use tc_domain::Services;

use crate::rate_limit::RateLimits;

#[derive(Debug, Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub limits: Arc<RateLimits>,
}
