//! Anomalies: what the live detector found, newest first, each with its explanation and a
//! "not an anomaly" button that teaches the detector.

use super::{use_time_range, RangePicker};
use crate::model::{format_datetime, format_value, Anomaly};
use crate::panels::{load_anomalies, DismissAnomaly};
use leptos::prelude::*;

#[component]
pub fn Anomalies() -> impl IntoView {
    // A day by default: anomalies are rare, an hour is usually empty.
    let range = use_time_range("24h");
    let rows = Resource::new(move || range.get(), load_anomalies);
    view! {
        <header class="page-header">
            <div>
                <h1>"Anomalies"</h1>
                <p class="subtitle">{move || range.get().label()}</p>
            </div>
            <div class="toolbar">
                {move || view! { <RangePicker range=range.get() action="/anomalies"/> }}
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading anomalies…"</p> }>
            {move || rows.get().map(|result| match result {
                Ok(rows) if rows.is_empty() => view! {
                    <p class="empty">"No anomalies in this range: every series stayed within what its detector expected."</p>
                }.into_any(),
                Ok(rows) => view! { <AnomalyTable rows/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load anomalies: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn AnomalyTable(rows: Vec<Anomaly>) -> impl IntoView {
    view! {
        <table class="anomalies">
            <thead>
                <tr>
                    <th scope="col">"Time (UTC)"</th>
                    <th scope="col">"Series"</th>
                    <th scope="col" class="num">"Value"</th>
                    <th scope="col" class="num">"Expected"</th>
                    <th scope="col">"Score"</th>
                    <th scope="col">"Why"</th>
                    <th scope="col"><span class="sr-only">"Feedback"</span></th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|a| view! { <AnomalyRow a/> }).collect_view()}
            </tbody>
        </table>
    }
}

/// Where the "not an anomaly" form posts: the server function, which sends a browser without
/// JavaScript back to this page.
fn dismiss_url() -> &'static str {
    <DismissAnomaly as leptos::server_fn::ServerFn>::url()
}

#[component]
fn AnomalyRow(a: Anomaly) -> impl IntoView {
    let labels = a
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let score = format!("{:.2}", a.score);
    let width = format!("width: {:.0}%", (a.score * 100.0).clamp(0.0, 100.0));
    let expected = format!(
        "{} ({}–{})",
        format_value(a.expected),
        format_value(a.lower),
        format_value(a.upper)
    );
    view! {
        <tr class:dismissed=a.dismissed data-metric=a.metric.clone()>
            <td class="time">{format_datetime(a.timestamp)}</td>
            <td><b>{a.metric.clone()}</b> " " <span class="labels">{labels}</span></td>
            <td class="num">{format_value(a.value)}</td>
            <td class="num">{expected}</td>
            <td><span class="score" title=score.clone()><span class="score-bar" style=width></span></span>{score}</td>
            <td class="why">{a.explanation.clone()}</td>
            <td>
                {if a.dismissed {
                    view! { <span class="badge">"Marked normal"</span> }.into_any()
                } else {
                    view! {
                        <form method="post" action=dismiss_url()>
                            <input type="hidden" name="series_id" value=a.series_id/>
                            <input type="hidden" name="ts" value=a.timestamp/>
                            <button type="submit" class="link-button">"Not an anomaly"</button>
                        </form>
                    }.into_any()
                }}
            </td>
        </tr>
    }
}
