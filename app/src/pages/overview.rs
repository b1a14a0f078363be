//! The Overview: the health of the whole shop at a glance.

use super::{use_time_range, RangePicker};
use crate::islands::{Chart, LiveStream, LiveToggle, ThemeToggle};
use crate::model::{format_value, PanelData};
use crate::panels::load_overview;
use leptos::prelude::*;

/// Chart size in the server's SVG; the island redraws at the size the browser gives it.
const SVG_SIZE: (u32, u32) = (640, 220);

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

/// One panel: a title, the latest values, the server's SVG, and the canvas island over it.
#[component]
pub fn Panel(data: PanelData) -> impl IntoView {
    let svg = crate::chart::svg(&data, SVG_SIZE);
    let latest: Vec<(usize, String, String)> = data
        .series
        .iter()
        .take(4)
        .enumerate()
        .filter_map(|(i, s)| {
            s.points.last().map(|(_, v)| {
                (
                    i,
                    data.series_name(s),
                    format!("{} {}", format_value(*v), data.spec.unit),
                )
            })
        })
        .collect();
    let empty = data.series.iter().all(|s| s.points.is_empty());
    let id = data.spec.id.clone();
    let heading = format!("panel-{id}");
    let labelled_by = heading.clone();
    view! {
        <section class="panel" data-panel=id aria-labelledby=labelled_by>
            <header class="panel-header">
                <h2 id=heading>{data.spec.title.clone()}</h2>
                <span class="unit">{data.spec.unit.clone()}</span>
            </header>
            <ul class="legend">
                {latest.into_iter().map(|(i, name, value)| view! {
                    <li><span class=format!("swatch c{i}")></span>{name}<b>{value}</b></li>
                }).collect_view()}
            </ul>
            <div class="chart-box">
                <div class="chart-ssr" inner_html=svg></div>
                {empty.then(|| view! { <p class="no-data">"No data in this range"</p> })}
                <Chart data/>
            </div>
        </section>
    }
}
