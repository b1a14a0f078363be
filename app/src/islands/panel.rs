//! One panel as every page shows it: a title, the latest values, and the chart (the server's
//! SVG with the canvas island over it), or a stat or a table. Plain components, not islands: the
//! server renders them in pages, and [`super::LazyPanel`] renders them in the browser.

use super::Chart;
use crate::model::{format_value, PanelData, Viz};
use leptos::prelude::*;

/// Chart size in the server's SVG; the island redraws at the size the browser gives it.
#[cfg(feature = "ssr")]
const SVG_SIZE: (u32, u32) = (640, 220);
/// The grid of a 3-D panel: at most this many time steps by this many series.
#[cfg(feature = "ssr")]
const SURFACE_COLS: usize = 240;
#[cfg(feature = "ssr")]
const SURFACE_ROWS: usize = 64;

/// One panel: a title, the latest values, the server's SVG, and the canvas island over it (a
/// stat shows its latest values large over a sparkline; a table lists each series' latest,
/// minimum, mean and maximum).
#[component]
pub fn Panel(data: PanelData) -> impl IntoView {
    let id = data.spec.id.clone();
    let heading = format!("panel-{id}");
    let labelled_by = heading.clone();
    let viz = data.spec.viz;
    let header = view! {
        <header class="panel-header">
            <h2 id=heading>{data.spec.title.clone()}</h2>
            <span class="unit">{data.spec.unit.clone()}</span>
        </header>
    };
    if viz == Viz::Table {
        return view! {
            <section class="panel" data-panel=id data-viz="table" aria-labelledby=labelled_by>
                {header}
                <LiveTable data/>
            </section>
        }
        .into_any();
    }
    // The server draws an SVG the page shows until the island's canvas takes over; a panel
    // rendered in the browser (loaded as it scrolled into view) has only the canvas.
    #[cfg(feature = "ssr")]
    let svg = crate::chart::svg(&data, SVG_SIZE);
    #[cfg(not(feature = "ssr"))]
    let svg = String::new();
    // A 3-D panel is rendered with its page only (dashboards never defer one), so the GPU
    // code stays in its own chunk; a browser-rendered panel draws the grid from above.
    #[cfg(feature = "ssr")]
    if viz == Viz::Surface {
        let grid = data.grid(SURFACE_COLS, SURFACE_ROWS);
        return view! {
            <section class="panel" data-panel=id data-viz="surface" aria-labelledby=labelled_by>
                {header}
                <div class="chart-box gpu-box">
                    <div class="chart-ssr" inner_html=svg></div>
                    <super::PanelSurface grid/>
                </div>
            </section>
        }
        .into_any();
    }
    let latest = if viz == Viz::Stat {
        Vec::new()
    } else {
        data.latest(4)
    };
    let empty = data.series.iter().all(|s| s.points.is_empty());
    let class = if viz == Viz::Stat {
        "chart-box stat-box"
    } else {
        "chart-box"
    };
    view! {
        <section class="panel" data-panel=id data-viz=viz.as_str() aria-labelledby=labelled_by>
            {header}
            <ul class="legend">
                {latest.into_iter().map(|(i, name, value)| view! {
                    <li><span class=format!("swatch c{i}")></span>{name}<b>{value}</b></li>
                }).collect_view()}
            </ul>
            <div class=class>
                <div class="chart-ssr" inner_html=svg></div>
                {empty.then(|| view! { <p class="no-data">"No data in this range"</p> })}
                <Chart data/>
            </div>
        </section>
    }
    .into_any()
}

/// Each series of a panel as a row: its latest value, minimum, mean and maximum over the range,
/// kept current by the page's live stream.
#[island]
pub fn LiveTable(data: PanelData) -> impl IntoView {
    let unit = data.spec.unit.clone();
    let data = RwSignal::new(data);
    #[cfg(feature = "hydrate")]
    follow_live(data);
    let rows = Memo::new(move |_| data.with(table_rows));
    view! {
        {move || rows.with(Vec::is_empty).then(|| view! { <p class="no-data">"No data in this range"</p> })}
        <div class="table-scroll">
            <table class="series-table">
                <thead><tr>
                    <th scope="col">"Series"</th>
                    <th scope="col" class="num">{format!("Latest {unit}").trim_end().to_string()}</th>
                    <th scope="col" class="num">"Min"</th><th scope="col" class="num">"Mean"</th><th scope="col" class="num">"Max"</th>
                </tr></thead>
                <tbody>
                    {move || rows.get().into_iter().map(|(name, cells)| view! {
                        <tr>
                            <th scope="row">{name}</th>
                            {cells.into_iter().map(|c| view! { <td class="num">{c}</td> }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    // Erased, so the panel around it stays within the compiler's type depth.
    .into_any()
}

/// Per series: its name, then latest, minimum, mean and maximum as text ("–" without values).
fn table_rows(data: &PanelData) -> Vec<(String, [String; 4])> {
    data.series
        .iter()
        .map(|s| {
            let values = || s.points.iter().map(|p| p.1).filter(|v| v.is_finite());
            let n = values().count();
            let cell = |v: Option<f64>| v.map(format_value).unwrap_or_else(|| "–".into());
            let min = values().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
            let max = values().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let mean = (n > 0).then(|| values().sum::<f64>() / n as f64);
            let last = s.points.last().map(|p| p.1);
            (
                data.series_name(s),
                [cell(last), cell(min), cell(mean), cell(max)],
            )
        })
        .collect()
}

/// Merges the live stream's updates for this panel into `data`.
#[cfg(feature = "hydrate")]
fn follow_live(data: RwSignal<PanelData>) {
    let panel = data.with_untracked(|d| d.spec.id.clone());
    let listener = window_event_listener_untyped(super::LIVE_EVENT, move |e| {
        if let Some(update) = super::live_update_for(&e, &panel) {
            data.update(|d| d.merge_live(&update.series, js_sys::Date::now() as i64));
        }
    });
    on_cleanup(move || listener.remove());
}
