//! Explore on the GPU: latency surface, service map, latency heatmap and span scatter, drawn by the
//! `Explorer` island, whose code arrives as its own wasm chunk only on this page.

use super::{use_time_range, RangePicker};
use crate::islands::{ExploreView, Explorer};
use crate::signals::{load_latency_surface, load_services, SurfaceQuery};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn Explore() -> impl IntoView {
    let range = use_time_range("1h");
    let query = use_query_map();
    let params = Memo::new(move |_| {
        let q = query.read();
        let number =
            |k: &str, default: usize| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(default);
        (
            SurfaceQuery {
                service: q.get("service").unwrap_or_default(),
                range: range.get(),
                cols: number("cols", 90),
                rows: number("rows", 40),
            },
            ExploreView::parse(&q.get("view").unwrap_or_default()),
        )
    });
    let data = Resource::new(
        move || params.get(),
        |(surface, view)| async move {
            let service = surface.service.clone();
            // Both read the same range; neither waits for the other.
            let (services, surface) = futures::join!(
                load_services(surface.range.clone()),
                load_latency_surface(surface)
            );
            Ok::<_, ServerFnError>((surface?, services?, service, view))
        },
    );
    let keep = move || {
        let q = query.read();
        ["service", "view", "cols", "rows"]
            .into_iter()
            .filter_map(|k| q.get(k).map(|v| (k.to_string(), v)))
            .collect::<Vec<_>>()
    };
    view! {
        <header class="page-header">
            <div>
                <h1>"Explore in 3-D"</h1>
                <p class="subtitle">{move || {
                    let (q, _) = params.get();
                    let who = if q.service.is_empty() { "every service".to_string() } else { q.service };
                    format!("Requests of {who} · {}", q.range.label())
                }}</p>
            </div>
            <div class="toolbar">
                {move || view! { <RangePicker range=range.get() action="/explore" keep=keep()/> }}
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Ok((surface, services, service, view)) => view! {
                    <section class="panel explore">
                        <Explorer surface services service initial=view/>
                    </section>
                }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load requests: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}
