//! The store conformance suite: scenarios every [`Store`] backend must pass, written once,
//! generic over the backend. A backend's test file invokes [`conformance_suite!`] with an async
//! function that returns a fresh, isolated store (and a guard that keeps its resources alive),
//! and gets one `#[tokio::test]` per scenario.

pub mod accounts;
pub mod analytics;
pub mod chat;
pub mod contexts;
pub mod embedding;
mod fixtures;
pub mod jobs;
pub mod projects;
pub mod search;
pub mod tasks;

pub use fixtures::{Rng, context, passage_for, project, user};

/// Expands to one test per scenario of every area for the backend made by `$make` (an async fn
/// returning `(impl Store, guard)`). Each area lists its own scenarios (`accounts_scenarios!`
/// and so on, at the top of its module), so a new scenario is listed where it is written.
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::accounts_scenarios!($make);
        $crate::projects_scenarios!($make);
        $crate::contexts_scenarios!($make);
        $crate::search_scenarios!($make);
        $crate::embedding_scenarios!($make);
        $crate::analytics_scenarios!($make);
        $crate::jobs_scenarios!($make);
        $crate::chat_scenarios!($make);
        $crate::tasks_scenarios!($make);
    };
    (@tests $make:path; $area:ident; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $make().await;
                $crate::$area::$name(std::sync::Arc::new(store)).await;
            }
        )*
    };
}
