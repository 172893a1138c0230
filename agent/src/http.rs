//! The HTTP endpoint: `/metrics` (OpenMetrics when asked for, else the classic text
//! format), `/healthz`, and a small index.

use axum::Router;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::{Exposition, Registry};

/// The router.
pub fn router(registry: Registry) -> Router {
    router_for("rmq-agent", registry)
}

/// The router of the program `name` (shown on the index page).
pub fn router_for(name: &'static str, registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(move || async move { format!("{name}: /metrics /healthz\n") }))
        .with_state(registry)
}

async fn metrics(State(reg): State<Registry>, headers: HeaderMap) -> impl IntoResponse {
    let format = Exposition::from_accept(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    // Families are encoded when collectors publish them; a scrape concatenates the slots
    // (and converts to the classic format on the fly), a few milliseconds for 100k series.
    let body = reg.render(format);
    if body.is_empty() {
        tracing::error!("rendering /metrics failed");
        return (StatusCode::INTERNAL_SERVER_ERROR, [(CONTENT_TYPE, "text/plain")], "render failed\n".to_owned());
    }
    (StatusCode::OK, [(CONTENT_TYPE, format.content_type())], body)
}
