//! The HTTP front door: one router per resource (`auth`, `users`, `projects`, `context`,
//! `scan`, `analytics`, `health`, `metrics`) merged under `/api/v1`, MCP at `/mcp`, the pages
//! that links in mail open (`pages`), the OpenAPI document and Swagger UI, and the
//! layers every request passes through (request context, CORS, body limit, per-IP rate limit,
//! gzip).

pub(crate) mod ai;
mod analytics;
mod auth;
mod context;
pub(crate) mod documents;
mod health;
mod integrations;
mod invitations;
mod llm_settings;
mod mcp_servers;
mod metrics;
mod pages;
mod projects;
pub(crate) mod scan;
mod stories;
mod tasks;
mod users;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use tc_domain::{DomainError, ErrorCode};
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{Config, Origins};
use crate::error::{ApiError, ErrorResponse};
use crate::middleware::{ip_rate_limit, request_context};
use crate::request_id;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "TeamContext API", description = "One shared, searchable memory for a team's AI assistants."),
    modifiers(&BearerAuth),
    components(schemas(
        tc_domain::views::ScanProgress,
        tc_domain::views::ScanResult,
        tc_domain::views::SyncProgress,
        tc_domain::views::SyncResult
    )),
    tags((name = "auth"), (name = "users"), (name = "api keys"), (name = "projects"), (name = "context"), (name = "scanning"), (name = "integrations"), (name = "analytics"), (name = "operations"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A JWT access token from /auth/login, or an API key (tc_…)"))
                    .build(),
            ),
        );
    }
}

/// Gives every operation a `default` response: the error envelope, whatever the status. An
/// operation lists the statuses particular to it; any route may also answer 400, 401, 413,
/// 422, 429 or 500 in the envelope, and clients (and Schemathesis) learn its shape here.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, schema) in [
            ("ErrorResponse", <ErrorResponse as utoipa::PartialSchema>::schema()),
            ("ErrorObject", <crate::error::ErrorObject as utoipa::PartialSchema>::schema()),
        ] {
            components.schemas.insert(name.to_string(), schema);
        }
        let default = ResponseBuilder::new()
            .description("an error, in the envelope every error shares (docs/api.md#errors)")
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorResponse"))).build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("default".to_string())
                    .or_insert_with(|| default.clone().into());
            }
        }
    }
}

/// The `/api/v1` routes and their OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::new()
        .merge(auth::router())
        .merge(ai::router())
        .merge(documents::router())
        .merge(mcp_servers::router())
        .merge(llm_settings::router())
        .merge(tasks::router())
        .merge(stories::router())
        .merge(users::router())
        .merge(projects::router())
        .merge(invitations::router())
        .merge(context::router())
        .merge(analytics::router())
        .merge(scan::router())
        .merge(integrations::router())
        .merge(health::router())
        .merge(metrics::router());
    let (router, mut openapi) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", api).split_for_parts();
    // After the routes are in: a `modifiers(…)` entry would run before there are any.
    ErrorResponses.modify(&mut openapi);
    (router, openapi)
}

/// The whole application with its layers.
pub fn app(state: AppState, config: &Config, shutdown: CancellationToken) -> Router {
    let (api, openapi) = api();
    Router::new()
        .merge(crate::mcp::router(state.clone(), config, shutdown))
        .merge(api)
        .merge(pages::router())
        .merge(crate::web::router(state.clone()))
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi))
        .fallback(|uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
            let missing = DomainError::new(ErrorCode::ResourceNotFound, "no such page");
            // A browser asking for a page outside the API gets one, in the dashboard's style.
            if crate::web::wants_html(&headers) && !uri.path().starts_with("/api/") {
                return crate::web::error_page(None, missing);
            }
            ApiError(DomainError::new(ErrorCode::ResourceNotFound, "no such route")).into_response()
        })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(from_fn_with_state(state.clone(), ip_rate_limit))
        .layer(cors(&config.allowed_origins))
        .layer(from_fn(request_context))
        .layer(CompressionLayer::new())
        .with_state(state)
}

fn cors(origins: &Origins) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(request_id::HEADER),
        ])
        .expose_headers([HeaderName::from_static(request_id::HEADER), header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600));
    match origins {
        Origins::None => base.allow_origin(AllowOrigin::list([])),
        Origins::Any => base.allow_origin(AllowOrigin::any()),
        Origins::List(list) => base.allow_origin(
            list.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect::<Vec<_>>(),
        ),
    }
}
