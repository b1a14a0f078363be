//! Server-rendered pages.

pub mod alerts;
pub mod anomalies;
pub mod dashboards;
pub mod embed;
pub mod errors;
pub mod explore;
pub mod forecast;
pub mod incidents;
pub mod login;
pub mod logs;
pub mod overview;
pub mod security;
pub mod settings;
pub mod traces;

use crate::model::{TimeRange, RANGES};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The page's time range from its URL (`range=6h` or `from=…&to=…`); `default` (a key of
/// [`RANGES`]) when the URL names none.
pub fn use_time_range(default: &'static str) -> Memo<TimeRange> {
    let query = use_query_map();
    Memo::new(move |_| {
        let q = query.read();
        if q.get("range").is_none() && q.get("from").is_none() {
            return TimeRange::Last(default.into());
        }
        TimeRange::from_query(
            q.get("range").as_deref(),
            q.get("from").as_deref(),
            q.get("to").as_deref(),
        )
    })
}

#[component]
pub fn NotFound() -> impl IntoView {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="empty-page">
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href="/">"Back to the overview"</a></p>
        </section>
    }
}

/// Preset ranges as links and a custom range as a form: both work without JavaScript. `keep`
/// are other query parameters of the page (a dashboard's variables) that a new range keeps.
#[component]
pub fn RangePicker(
    range: TimeRange,
    #[prop(into)] action: String,
    #[prop(optional)] keep: Vec<(String, String)>,
) -> impl IntoView {
    let kept: String = keep
        .iter()
        .map(|(k, v)| {
            format!(
                "&{}={}",
                crate::model::query_encode(k),
                crate::model::query_encode(v)
            )
        })
        .collect();
    let (custom_from, custom_to) = match &range {
        TimeRange::Fixed { from, to } => (datetime_local(*from), datetime_local(*to)),
        TimeRange::Last(_) => (String::new(), String::new()),
    };
    view! {
        <nav class="range-picker" aria-label="Time range">
            {RANGES.iter().map(|(key, label, _)| {
                let current = range == TimeRange::Last(key.to_string());
                view! {
                    <a href=format!("{action}?range={key}{kept}") class:active=current aria-current=current.then_some("true") title=*label data-range=*key>
                        {*key}
                    </a>
                }
            }).collect_view()}
            <details class="custom-range" open=matches!(range, TimeRange::Fixed { .. })>
                <summary>"Custom"</summary>
                <form method="get" action=action.clone()>
                    <label>"From (UTC) " <input type="datetime-local" name="from" value=custom_from required/></label>
                    <label>"To (UTC) " <input type="datetime-local" name="to" value=custom_to required/></label>
                    {keep.iter().map(|(k, v)| view! { <input type="hidden" name=k.clone() value=v.clone()/> }).collect_view()}
                    <button type="submit">"Apply"</button>
                </form>
            </details>
        </nav>
    }
}

fn datetime_local(ms: i64) -> String {
    crate::model::format_datetime(ms).replace(' ', "T")[..16].to_string()
}
