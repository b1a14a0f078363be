//! The dashboard: Leptos pages rendered on the server, their server functions, and the static
//! site (wasm, JS, CSS) embedded in the binary.

use crate::app_state::AppState;
use crate::query::params::{self, Agg};
use crate::query::{QueryService, RangeQuery};
use app::model::{PanelData, PanelSpec};
use app::panels::source::{PanelFuture, PanelSource, PanelSourceHandle};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;

/// One file of the built site.
pub struct Asset {
    pub path: &'static str,
    pub body: &'static [u8],
    pub gzip: &'static [u8],
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Answers the dashboard's panel queries with the same query service as the API.
struct ServerPanels {
    query: QueryService,
}

impl PanelSource for ServerPanels {
    fn panel<'a>(&'a self, spec: &'a PanelSpec, from: i64, to: i64) -> PanelFuture<'a> {
        Box::pin(async move {
            let step = params::default_step(from, to, 300);
            let agg = Agg::parse(&spec.agg).map_err(|e| e.to_string())?;
            let q = RangeQuery {
                metric: spec.metric.clone(),
                from,
                to,
                step,
                agg,
                group_by: spec.group_by.clone(),
                filter: spec.filter.clone(),
            };
            let (mut series, _) = self
                .query
                .run(&q, self.now())
                .await
                .map_err(|e| e.to_string())?;
            for s in &mut series {
                s.points.iter_mut().for_each(|p| p.1 *= spec.scale);
            }
            Ok(PanelData {
                spec: spec.clone(),
                from,
                to,
                step,
                series,
            })
        })
    }

    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

pub fn router(state: AppState) -> Router {
    let source = PanelSourceHandle(Arc::new(ServerPanels {
        query: state.query.clone(),
    }));
    let context = move || provide_context(source.clone());
    let options = state.leptos.clone();
    let server_fn_context = context.clone();
    Router::new()
        .route(
            "/_osprey/{*fn_name}",
            post(move |req: Request<Body>| {
                leptos_axum::handle_server_fns_with_context(server_fn_context.clone(), req)
            }),
        )
        .leptos_routes_with_context(&state, generate_route_list(app::App), context, move || {
            app::shell(options.clone())
        })
        .fallback(asset)
        .with_state(state)
}

/// Serves an embedded file, gzipped when the client takes it; anything else is a 404 page.
async fn asset(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let Some(file) = ASSETS.iter().find(|a| a.path == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response();
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(file.etag)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut response = if gzip {
        Body::from(file.gzip).into_response()
    } else {
        Body::from(file.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::ETAG, HeaderValue::from_static(file.etag));
    // File names carry no hash, so browsers revalidate (cheaply, by ETag) on every load.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}
