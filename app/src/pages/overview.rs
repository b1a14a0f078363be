//! The Overview: the health of the whole shop at a glance.

use super::{use_time_range, RangePicker};
pub use crate::islands::Panel;
use crate::islands::{LiveStream, LiveToggle, ThemeToggle};
use crate::model::PanelData;
use crate::panels::load_overview;
use leptos::prelude::*;

#[component]
pub fn Overview() -> impl IntoView {
    let range = use_time_range("1h");
    let panels = Resource::new(move || range.get(), load_overview);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading panels…"</p> }>
            {move || panels.get().map(|result| {
                let range = range.get();
                let (streams, live) = match &result {
                    Ok(panels) => (panels.iter().map(LiveStream::of).collect(), range.is_live_capable()),
                    Err(_) => (Vec::new(), false),
                };
                view! {
                    <header class="page-header">
                        <div>
                            <h1>"Overview"</h1>
                            <p class="subtitle">{range.label()}</p>
                        </div>
                        <div class="toolbar">
                            <RangePicker range=range.clone() action="/"/>
                            <LiveToggle streams enabled=live url=String::new()/>
                            <ThemeToggle/>
                        </div>
                    </header>
                    {match result {
                        Ok(panels) => view! { <PanelGrid panels/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">"Cannot load panels: " {e.to_string()}</p> }.into_any(),
                    }}
                }
            })}
        </Suspense>
    }
}

#[component]
fn PanelGrid(panels: Vec<PanelData>) -> impl IntoView {
    view! {
        <div class="panel-grid">
            {panels.into_iter().map(|data| view! { <Panel data/> }).collect_view()}
        </div>
    }
}
