//! The Logs page's live tail: new records matching the page's filters stream in over the same
//! server-sent events mechanism as live charts, newest first.

use crate::model::{format_datetime, LogView};
use leptos::prelude::*;

/// Lines kept on the page at most; older ones scroll away.
#[cfg(feature = "hydrate")]
const KEEP: usize = 500;

/// `filters` is the page's query string (service, q, severity, trace_id).
#[island]
pub fn LogTail(filters: String) -> impl IntoView {
    let on = RwSignal::new(false);
    let status = RwSignal::new("off");
    let lines = RwSignal::new(Vec::<LogView>::new());
    let skipped = RwSignal::new(0usize);
    #[cfg(feature = "hydrate")]
    {
        use super::live::browser;
        let url = format!("/api/v1/logs/live?{filters}");
        let connection = StoredValue::new_local(None::<browser::Connection>);
        let on_data: browser::OnData = std::rc::Rc::new(move |data: String| {
            let Ok(update) = serde_json::from_str::<crate::model::LogTailUpdate>(&data) else {
                return;
            };
            lines.update(|l| {
                let mut next = update.logs;
                next.append(l);
                next.truncate(KEEP);
                *l = next;
            });
            if update.skipped > 0 {
                skipped.update(|s| *s += update.skipped);
            }
        });
        Effect::new(move |_| {
            if on.get() {
                browser::connect(url.clone(), "logs", on_data.clone(), status, connection, 0);
            } else {
                connection.set_value(None);
                status.set("off");
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = filters;
    let label = move || match status.get() {
        "live" => "Following new logs",
        "connecting" => "Connecting…",
        "reconnecting" => "Reconnecting…",
        _ => "Live tail",
    };
    view! {
        <section class="log-tail" aria-label="Live tail">
            <button
                type="button"
                class="live-toggle"
                data-status=move || status.get()
                aria-pressed=move || on.get().to_string()
                title="Stream new log records matching these filters as they arrive"
                on:click=move |_| on.update(|v| *v = !*v)
            >
                <span class="dot" aria-hidden="true"></span>
                {label}
            </button>
            {move || {
                let n = skipped.get();
                (n > 0).then(|| view! { <span class="hint">{format!("{n} more arrived too fast to show")}</span> })
            }}
            {move || {
                let l = lines.get();
                (!l.is_empty()).then(|| view! { <div class="log-tail-lines"><LogTable logs=l/></div> })
            }}
        </section>
    }
}

/// Log records as a table, newest first; the Logs page's search results use it too.
#[component]
pub fn LogTable(logs: Vec<LogView>) -> impl IntoView {
    view! {
        <table class="logs">
            <thead><tr>
                <th scope="col">"Time (UTC)"</th>
                <th scope="col">"Level"</th>
                <th scope="col">"Service"</th>
                <th scope="col">"Message"</th>
                <th scope="col">"Trace"</th>
            </tr></thead>
            <tbody>
                {logs.into_iter().map(|l| view! {
                    <tr data-severity=l.severity.clone() data-testid="log-row">
                        <td class="time">{format_datetime(l.timestamp)}</td>
                        <td><span class=format!("level level-{}", l.severity)>{l.severity.clone()}</span></td>
                        <td>{l.service.clone()}</td>
                        <td class="log-body">{l.body.clone()}</td>
                        <td>{l.trace_id.clone().map(|t| view! { <a href=format!("/traces/{t}")>{t[..8.min(t.len())].to_string()}</a> })}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
