//! What clients send and receive: request bodies and response views, shared by REST and MCP,
//! with their OpenAPI schemas (and JSON Schemas for MCP tool output), one module per feature.
//! Views never carry hashes or other stored secrets.

mod accounts;
mod ai;
mod analytics;
mod context;
mod integrations;
mod jobs;
mod projects;
mod stories;
mod tasks;

pub use accounts::*;
pub use ai::*;
pub use analytics::*;
pub use context::*;
pub use integrations::*;
pub use jobs::*;
pub use projects::*;
pub use stories::*;
pub use tasks::*;
