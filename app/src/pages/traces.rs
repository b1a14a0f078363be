//! Traces: search by service, operation, duration, status and attribute; and one trace as a
//! waterfall (span bars on a time axis, nested by parent, the critical path marked, details
//! of a span on click), with the errors and logs recorded in it.
//!
//! The waterfall is plain HTML: one row per span with `content-visibility: auto`, so the
//! browser lays out and paints only the rows on screen and a 10 000-span trace scrolls
//! smoothly; a span's details are a `<details>` element, so clicking needs no script.

use super::{use_time_range, RangePicker};
use crate::model::{format_datetime, ServiceStats, SpanView, TraceSummary};
use crate::signals::{load_services, load_trace, load_traces, TraceDetail, TraceFilter};
use crate::waterfall::layout;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn Traces() -> impl IntoView {
    let range = use_time_range("1h");
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        TraceFilter {
            service: get("service"),
            operation: get("operation"),
            min_duration_ms: get("min_duration_ms"),
            status: get("status"),
            attr: get("attr"),
            range: range.get(),
        }
    });
    let list = Resource::new(move || filter.get(), load_traces);
    let services = Resource::new(move || range.get(), load_services);
    view! {
        <header class="page-header">
            <div>
                <h1>"Traces"</h1>
                <p class="subtitle">{move || range.get().label()}</p>
            </div>
            <div class="toolbar">
                {move || view! { <RangePicker range=range.get() action="/traces"/> }}
            </div>
        </header>
        <Suspense fallback=|| ()>
            {move || services.get().map(|r| match r {
                Ok(list) if list.is_empty() => ().into_any(),
                Ok(list) => view! { <ServiceTable list/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load services: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
        {move || {
            let f = filter.get();
            view! {
                <form method="get" action="/traces" class="filters" role="search">
                    <label>"Service " <input name="service" value=f.service.clone() maxlength="256"/></label>
                    <label>"Operation " <input name="operation" value=f.operation.clone() maxlength="256"/></label>
                    <label>"Min duration (ms) " <input name="min_duration_ms" type="number" min="0" step="any" value=f.min_duration_ms.clone()/></label>
                    <label>"Status "
                        <select name="status">
                            {["", "ok", "error", "unset"].into_iter().map(|s| view! {
                                <option value=s selected=f.status == s>{if s.is_empty() { "any" } else { s }}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Attribute " <input name="attr" value=f.attr.clone() maxlength="256" placeholder="http.route:/cart"/></label>
                    <button type="submit">"Search"</button>
                </form>
            }
        }}
        <Suspense fallback=|| view! { <p class="loading">"Searching traces…"</p> }>
            {move || list.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No traces match in this range."</p> }.into_any(),
                Ok(list) => view! { <TraceTable list/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot search traces: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn TraceTable(list: Vec<TraceSummary>) -> impl IntoView {
    let longest = list
        .iter()
        .map(|t| t.duration_ms)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    view! {
        <table class="traces">
            <thead><tr>
                <th scope="col">"Started (UTC)"</th>
                <th scope="col">"Root"</th>
                <th scope="col" class="num">"Duration"</th>
                <th scope="col"><span class="sr-only">"Duration bar"</span></th>
                <th scope="col" class="num">"Spans"</th>
                <th scope="col" class="num">"Errors"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|t| view! {
                    <tr data-testid="trace-row" class:has-errors={t.errors > 0}>
                        <td class="time">{format_datetime(t.start)}</td>
                        <td><a href=format!("/traces/{}", t.trace_id)><span class="tag">{t.service.clone()}</span> " " {t.name.clone()}</a></td>
                        <td class="num">{format_ms(t.duration_ms)}</td>
                        <td class="bar-cell"><span class="duration-bar" style=format!("width:{:.1}%", t.duration_ms / longest * 100.0)></span></td>
                        <td class="num">{t.spans}</td>
                        <td class="num">{t.errors}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Per service: requests, error rate and latency, from its entry spans; a name filters the
/// traces below.
#[component]
fn ServiceTable(list: Vec<ServiceStats>) -> impl IntoView {
    view! {
        <table class="traces services" aria-label="Services">
            <thead><tr>
                <th scope="col">"Service"</th>
                <th scope="col" class="num">"Requests"</th>
                <th scope="col" class="num">"Error rate"</th>
                <th scope="col" class="num">"p50"</th>
                <th scope="col" class="num">"p95"</th>
                <th scope="col" class="num">"p99"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|s| view! {
                    <tr data-testid="service-row" class:has-errors={s.errors > 0}>
                        <td><a href=format!("/traces?service={}", query_value(&s.service))>{s.service.clone()}</a></td>
                        <td class="num">{s.requests}</td>
                        <td class="num">{format!("{:.2} %", s.error_rate * 100.0)}</td>
                        <td class="num">{format_ms(s.p50_ms)}</td>
                        <td class="num">{format_ms(s.p95_ms)}</td>
                        <td class="num">{format_ms(s.p99_ms)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Text as a URL query value.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `12.5 ms`, `1.25 s`.
pub fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

#[component]
pub fn TraceDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let trace = Resource::new(move || id.get(), load_trace);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the trace…"</p> }>
            {move || trace.get().map(|r| match r {
                Ok(Some(t)) => view! { <TraceBody t/> }.into_any(),
                Ok(None) => view! { <super::NotFound/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load the trace: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn TraceBody(t: TraceDetail) -> impl IntoView {
    let rows = layout(&t.spans);
    let start = t.spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = t
        .spans
        .iter()
        .map(|s| s.start as f64 + s.duration_ms)
        .fold(start as f64, f64::max);
    let total = (end - start as f64).max(1e-3);
    let services: std::collections::BTreeSet<&str> =
        t.spans.iter().map(|s| s.service.as_str()).collect();
    let root = rows.first().map(|r| &t.spans[r.span]);
    let title = root.map(|s| s.name.clone()).unwrap_or_default();
    let failed = t.spans.iter().filter(|s| s.status == "error").count();
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| (i as f64 * 25.0, format_ms(total * i as f64 / 4.0)))
        .collect();
    let service_index: std::collections::HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i % 8))
        .collect();
    view! {
        <header class="page-header">
            <div>
                <h1>{title}</h1>
                <p class="subtitle">
                    {format!("{} · {} · {} spans · {} services · {} failed",
                        format_datetime(start), format_ms(total), t.spans.len(), services.len(), failed)}
                    {t.truncated.then_some(" · only the first spans are shown")}
                </p>
                <p class="trace-id"><code>{t.trace_id.clone()}</code> " · "
                    <a href=format!("/logs?trace_id={}&range=7d", t.trace_id)>"logs of this trace"</a>
                </p>
            </div>
            <div class="toolbar"><a href="/traces">"All traces"</a></div>
        </header>
        <section class="card waterfall" aria-label="Waterfall">
            <div class="wf-axis" aria-hidden="true">
                <span class="wf-name"></span>
                <span class="wf-track">
                    {ticks.into_iter().map(|(left, label)| view! { <span class="wf-tick" style=format!("left:{left}%")>{label}</span> }).collect_view()}
                </span>
            </div>
            <p class="legend"><span class="wf-bar critical"></span> " critical path"</p>
            {rows.into_iter().map(|r| {
                let s = &t.spans[r.span];
                let left = (s.start - start) as f64 / total * 100.0;
                let width = (s.duration_ms / total * 100.0).max(0.15);
                let colour = service_index.get(s.service.as_str()).copied().unwrap_or(0);
                view! {
                    <details class="wf-row" class:failed=s.status == "error" data-testid="span-row">
                        <summary>
                            <span class="wf-name" style=format!("padding-left:{}px", (r.depth.min(40)) * 12)>
                                <span class=format!("tag svc-{colour}")>{s.service.clone()}</span> " " {s.name.clone()}
                            </span>
                            <span class="wf-track">
                                <span class=format!("wf-bar svc-{colour}") class:critical=r.critical
                                      style=format!("left:{left:.3}%;width:{width:.3}%")></span>
                                {if left + width > 88.0 {
                                    // No room after the bar: the duration goes inside its end.
                                    view! { <span class="wf-label inside" style=format!("right:{:.3}%", (100.0 - left - width).max(0.0))>{format_ms(s.duration_ms)}</span> }.into_any()
                                } else {
                                    view! { <span class="wf-label" style=format!("left:{:.3}%", left + width)>{format_ms(s.duration_ms)}</span> }.into_any()
                                }}
                            </span>
                        </summary>
                        <SpanDetails s=s.clone()/>
                    </details>
                }
            }).collect_view()}
        </section>
        {(!t.errors.is_empty()).then(|| view! {
            <section class="card" aria-labelledby="trace-errors-h">
                <h2 id="trace-errors-h">"Errors in this trace"</h2>
                <ul class="plain">
                    {t.errors.iter().map(|e| view! {
                        <li><span class="time">{format_datetime(e.timestamp)}</span> " " <strong>{e.kind.clone()}</strong> ": " {e.message.clone()}</li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        {(!t.logs.is_empty()).then(|| view! {
            <section class="card" aria-labelledby="trace-logs-h">
                <h2 id="trace-logs-h">"Logs of this trace"</h2>
                <crate::islands::LogTable logs=t.logs.clone()/>
            </section>
        })}
    }
}

#[component]
fn SpanDetails(s: SpanView) -> impl IntoView {
    let attributes: Vec<(String, String)> = s
        .attributes
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    view! {
        <dl class="span-details">
            <dt>"Span"</dt><dd><code>{s.span_id.clone()}</code></dd>
            <dt>"Parent"</dt><dd><code>{s.parent_span_id.clone().unwrap_or_else(|| "—".into())}</code></dd>
            <dt>"Service"</dt><dd>{s.service.clone()}</dd>
            <dt>"Start (UTC)"</dt><dd>{format_datetime(s.start)}</dd>
            <dt>"Duration"</dt><dd>{format_ms(s.duration_ms)}</dd>
            <dt>"Status"</dt><dd>{s.status.clone()}</dd>
            {attributes.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view()}
        </dl>
    }
}
