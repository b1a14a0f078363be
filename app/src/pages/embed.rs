//! Embeds: one panel (`/embed/panel/{id}`) or several of a dashboard
//! (`/embed/dashboard/{id}?panels=a,b`) with no navigation, for other sites' iframes. The
//! `token` in the URL says what may be shown and which sites may frame it (the response's
//! `frame-ancestors`); `range`/`from`/`to` and `var-<name>` work as on the dashboard, and the host
//! page can change them by postMessage (see [`crate::islands::EmbedBridge`]).

use super::overview::Panel;
use crate::embeds::load_embed;
use crate::islands::{EmbedBridge, LiveToggle};
use crate::model::{query_encode, EmbedTarget, EmbedView};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn EmbedPanel() -> impl IntoView {
    let id = use_params_map()
        .read_untracked()
        .get("id")
        .unwrap_or_default();
    let live_path = format!("/embed/live/panel/{id}");
    let target = EmbedTarget::Panel(id);
    view! { <Embed target live_path/> }
}

#[component]
pub fn EmbedDashboard() -> impl IntoView {
    let id = use_params_map()
        .read_untracked()
        .get("id")
        .unwrap_or_default();
    let panels = use_query_map().read_untracked().get("panels");
    let live_path = format!("/embed/live/dashboard/{id}");
    let target = EmbedTarget::dashboard(id, panels.as_deref());
    view! { <Embed target live_path/> }
}

/// The parameters of an embed's URL its live stream repeats.
const KEPT: [&str; 5] = ["token", "panels", "range", "from", "to"];

#[component]
fn Embed(target: EmbedTarget, live_path: String) -> impl IntoView {
    let query = use_query_map().read_untracked().clone();
    let token = query.get("token").unwrap_or_default();
    let range = (query.get("range").is_some() || query.get("from").is_some()).then(|| {
        crate::model::TimeRange::from_query(
            query.get("range").as_deref(),
            query.get("from").as_deref(),
            query.get("to").as_deref(),
        )
    });
    let mut vars = Vec::new();
    let mut live_query = Vec::new();
    for (k, v) in query.into_iter() {
        if let Some(name) = k.strip_prefix("var-") {
            vars.push((name.to_string(), v.to_string()));
        }
        if k.starts_with("var-") || KEPT.contains(&k.as_ref()) {
            live_query.push(format!("{}={}", query_encode(&k), query_encode(&v)));
        }
    }
    let live_url = format!("{live_path}?{}", live_query.join("&"));
    let data = Resource::new(
        || (),
        move |_| load_embed(target.clone(), token.clone(), range.clone(), vars.clone()),
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Ok(page) => {
                    crate::shell::allow_framing_by(&page.frame_ancestors);
                    match page.content {
                        Ok(view) => view! { <EmbedBody view live_url=live_url.clone()/> }.into_any(),
                        Err(message) => {
                            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                                response.set_status(
                                    http::StatusCode::from_u16(page.status)
                                        .unwrap_or(http::StatusCode::FORBIDDEN),
                                );
                            }
                            view! {
                            <div class="embed-denied" role="alert" data-testid="embed-denied">
                                <strong>"This embed cannot be shown"</strong>
                                <p>{message}</p>
                                <p class="hint">"Ask the dashboard's owner for a new embed link."</p>
                            </div>
                        }.into_any()
                        }
                    }
                }
                Err(e) => view! { <p class="error" role="alert">"Cannot load the embed: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
        <EmbedBridge/>
    }
}

#[component]
fn EmbedBody(view: EmbedView, live_url: String) -> impl IntoView {
    let live = view.range.is_live_capable();
    let single = view.panels.len() == 1;
    view! {
        <div class="embed" data-testid="embed">
            <header class="embed-header">
                <span class="embed-title">{view.title.clone()}</span>
                <span class="embed-range" data-testid="embed-range">{view.range.label()}</span>
                <LiveToggle streams=vec![] enabled=live url=live_url/>
            </header>
            <div class=if single { "embed-grid single" } else { "embed-grid" }>
                {view.panels.into_iter().map(|(layout, data)| view! {
                    <div class="dashboard-cell" data-viz=layout.viz.clone()
                         style=format!("grid-column:span {};grid-row:span {}", layout.w, layout.h)>
                        <Panel data/>
                    </div>
                }).collect_view()}
            </div>
        </div>
    }
}
