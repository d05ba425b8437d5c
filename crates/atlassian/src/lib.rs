//! Jira and Confluence for TeamContext: the REST client every Atlassian call goes through
//! (`client`: authentication, retries, `Retry-After`, circuit breaker, outbound rule), Jira's
//! API on Cloud and Data Center (`jira`), Confluence's (`confluence`), OAuth 2.0 (3LO) for
//! Cloud (`oauth`), creating issues from their create metadata (`create`), and the converters that turn Atlassian's rich text
//! into Markdown (`adf` for Atlassian Document Format, `html` for rendered HTML).
//!
//! Nothing here touches storage: the domain's sync jobs call this crate and store the result.

pub mod adf;
pub mod client;
pub mod compose;
pub mod confluence;
pub mod create;
pub mod html;
pub mod jira;
pub mod oauth;

pub use client::{AtlassianError, Auth, Breakers, Endpoint, RetryPolicy};
