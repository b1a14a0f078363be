//! Logs: search by service, severity, text and trace id, newest first.

use super::{use_time_range, RangePicker};
use crate::islands::{LogTable, LogTail};
use crate::model::query_encode;
use crate::signals::{load_logs, LogFilter};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

#[component]
pub fn Logs() -> impl IntoView {
    let range = use_time_range("1h");
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        LogFilter {
            service: get("service"),
            q: get("q"),
            trace_id: get("trace_id"),
            severity: get("severity"),
            range: range.get(),
        }
    });
    let logs = Resource::new(move || filter.get(), load_logs);
    view! {
        <header class="page-header">
            <div>
                <h1>"Logs"</h1>
                <p class="subtitle">"Newest first · " {move || range.get().label()}</p>
            </div>
            <div class="toolbar">
                {move || view! { <RangePicker range=range.get() action="/logs"/> }}
            </div>
        </header>
        {move || {
            let f = filter.get();
            view! {
                <form method="get" action="/logs" class="filters" role="search">
                    <label>"Search " <input type="search" name="q" value=f.q.clone() maxlength="256" placeholder="text in the message"/></label>
                    <label>"Service " <input name="service" value=f.service.clone() maxlength="256"/></label>
                    <label>"At least "
                        <select name="severity">
                            <option value="" selected=f.severity.is_empty()>"any level"</option>
                            {LEVELS.into_iter().map(|l| view! { <option value=l selected=f.severity == l>{l}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>"Trace " <input name="trace_id" value=f.trace_id.clone() maxlength="32" pattern="[0-9a-fA-F]{32}" placeholder="32 hex digits"/></label>
                    <button type="submit">"Search"</button>
                </form>
            }
        }}
        {move || {
            let f = filter.get();
            let query: Vec<String> = [("service", &f.service), ("q", &f.q), ("severity", &f.severity), ("trace_id", &f.trace_id)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={}", query_encode(v)))
                .collect();
            view! { <LogTail filters=query.join("&")/> }
        }}
        <Suspense fallback=|| view! { <p class="loading">"Loading logs…"</p> }>
            {move || logs.get().map(|r| match r {
                Ok(logs) if logs.is_empty() => view! { <p class="empty">"No log records match in this range."</p> }.into_any(),
                Ok(logs) => view! { <LogTable logs/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load logs: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}
