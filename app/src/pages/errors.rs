//! Errors: occurrences grouped into issues (list with counts and sparklines), and one issue
//! with its stack trace, tags, recent occurrences, links to their traces and logs, and the
//! Resolve / Ignore / Reopen buttons.

use super::{use_time_range, RangePicker};
use crate::model::{format_datetime, ErrorGroupDetail, ErrorGroupView, ErrorOccurrence, FrameView};
use crate::signals::{load_error_group, load_error_groups, ErrorFilter, SetErrorStatus};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::{use_params_map, use_query_map};

const STATUSES: [(&str, &str); 4] = [
    ("unresolved", "Unresolved"),
    ("resolved", "Resolved"),
    ("ignored", "Ignored"),
    ("all", "All"),
];

#[component]
pub fn Errors() -> impl IntoView {
    let range = use_time_range("24h");
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        ErrorFilter {
            status: q
                .get("status")
                .filter(|s| STATUSES.iter().any(|(k, _)| k == s))
                .unwrap_or_else(|| "unresolved".into()),
            q: q.get("q").unwrap_or_default(),
            range: range.get(),
        }
    });
    let list = Resource::new(move || filter.get(), load_error_groups);
    view! {
        <header class="page-header">
            <div>
                <h1>"Errors"</h1>
                <p class="subtitle">"Occurrences grouped into issues by type and top in-app frames · " {move || range.get().label()}</p>
            </div>
            <div class="toolbar">
                {move || view! { <RangePicker range=range.get() action="/errors"/> }}
            </div>
        </header>
        {move || {
            let f = filter.get();
            view! {
                <form method="get" action="/errors" class="filters" role="search">
                    <label>"Status "
                        <select name="status">
                            {STATUSES.iter().map(|(key, label)| view! {
                                <option value=*key selected=f.status == *key>{*label}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Search " <input type="search" name="q" value=f.q.clone() maxlength="256" placeholder="type, message or function"/></label>
                    <button type="submit">"Filter"</button>
                </form>
            }
        }}
        <Suspense fallback=|| view! { <p class="loading">"Loading errors…"</p> }>
            {move || list.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No errors match in this range."</p> }.into_any(),
                Ok(list) => view! { <IssueTable list/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load errors: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn IssueTable(list: Vec<ErrorGroupView>) -> impl IntoView {
    view! {
        <table class="issues">
            <thead><tr>
                <th scope="col">"Issue"</th>
                <th scope="col">"Trend"</th>
                <th scope="col" class="num">"Events"</th>
                <th scope="col" class="num">"Users"</th>
                <th scope="col">"Last seen (UTC)"</th>
                <th scope="col">"First seen (UTC)"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|g| view! {
                    <tr data-status=g.status.clone() data-testid="issue-row">
                        <td class="issue">
                            <a href=format!("/errors/{}", g.group_id)><strong>{g.kind.clone()}</strong> ": " {g.message.clone()}</a>
                            <span class="culprit">{g.culprit.clone()}</span>
                            {(!g.service.is_empty()).then(|| view! { <span class="tag">{g.service.clone()}</span> })}
                            {g.regressed_at.is_some().then(|| view! { <span class="tag regressed">"regressed"</span> })}
                            {(g.status != "unresolved").then(|| view! { <span class=format!("status status-{}", g.status)>{g.status.clone()}</span> })}
                        </td>
                        <td><Sparkline counts=g.sparkline.clone()/></td>
                        <td class="num">{g.count}</td>
                        <td class="num">{g.users}</td>
                        <td class="time">{format_datetime(g.last_seen)}</td>
                        <td class="time">{format_datetime(g.first_seen)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Bars of occurrence counts as inline SVG: no script, no canvas.
#[component]
fn Sparkline(counts: Vec<i64>) -> impl IntoView {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = counts.len().max(1) as f64;
    let (w, h) = (96.0, 24.0);
    let bar = w / n;
    let total: i64 = counts.iter().sum();
    view! {
        <svg class="sparkline" width=w height=h viewBox=format!("0 0 {w} {h}") role="img"
             aria-label=format!("{total} events over the range")>
            {counts.into_iter().enumerate().filter(|(_, c)| *c > 0).map(|(i, c)| {
                let bh = (c as f64 / max * (h - 2.0)).max(1.5);
                view! { <rect x=i as f64 * bar y=h - bh width=(bar - 1.0).max(1.0) height=bh/> }
            }).collect_view()}
        </svg>
    }
}

#[component]
pub fn ErrorDetail() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let issue = Resource::new(move || id.get(), load_error_group);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the issue…"</p> }>
            {move || issue.get().map(|r| match r {
                Ok(Some(d)) => view! { <IssueBody d/> }.into_any(),
                Ok(None) => view! { <super::NotFound/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load the issue: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn IssueBody(d: ErrorGroupDetail) -> impl IntoView {
    let g = d.group;
    let can_edit = crate::auth::who().can_edit();
    let action = <SetErrorStatus as ServerFn>::url();
    let button = |status: &'static str, label: &'static str, primary: bool| {
        let id = g.group_id.clone();
        view! {
            <form method="post" action=action>
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="status" value=status/>
                <button type="submit" class:primary=primary>{label}</button>
            </form>
        }
    };
    let buttons = can_edit.then(|| match g.status.as_str() {
        "unresolved" => {
            view! { {button("resolved", "Resolve", true)} {button("ignored", "Ignore", false)} }
                .into_any()
        }
        _ => button("unresolved", "Reopen", false).into_any(),
    });
    let latest = d.occurrences.first().cloned();
    view! {
        <header class="page-header">
            <div>
                <h1><span class="error-type">{g.kind.clone()}</span> ": " {g.message.clone()}</h1>
                <p class="subtitle">
                    <span class=format!("status status-{}", g.status) data-testid="issue-status">{g.status.clone()}</span>
                    {format!(" · {} events · {} users · first seen {} · last seen {} UTC",
                        g.count, g.users, format_datetime(g.first_seen), format_datetime(g.last_seen))}
                    {g.first_release.clone().map(|r| format!(" · first in {r}"))}
                    {g.last_release.clone().map(|r| format!(" · latest in {r}"))}
                    {g.regressed_at.map(|t| format!(" · regressed {} UTC", format_datetime(t)))}
                </p>
                <p class="culprit">{g.culprit.clone()}</p>
            </div>
            <div class="toolbar">
                {buttons}
                <a href="/errors">"All errors"</a>
            </div>
        </header>
        <section class="card" aria-labelledby="trend-h">
            <h2 id="trend-h">"Last 24 hours"</h2>
            <Sparkline counts=g.sparkline.clone()/>
        </section>
        {latest.map(|o| view! {
            <section class="card" aria-labelledby="stack-h">
                <h2 id="stack-h">"Stack trace " <span class="subtitle">"(latest event, innermost frame first)"</span></h2>
                <StackTrace frames=o.stacktrace.clone()/>
            </section>
        })}
        <section class="card" aria-labelledby="tags-h">
            <h2 id="tags-h">"Tags"</h2>
            <dl class="tag-breakdown">
                {d.tags.into_iter().map(|(k, values)| view! {
                    <dt>{k}</dt>
                    <dd>{values.into_iter().map(|(v, n)| view! { <span class="tag">{v} " " <small>{n}</small></span> }).collect_view()}</dd>
                }).collect_view()}
            </dl>
        </section>
        <section class="card" aria-labelledby="recent-h">
            <h2 id="recent-h">"Recent events"</h2>
            <Occurrences list=d.occurrences/>
        </section>
    }
}

#[component]
fn StackTrace(frames: Vec<FrameView>) -> impl IntoView {
    if frames.is_empty() {
        return view! { <p class="empty">"No stack trace was sent."</p> }.into_any();
    }
    view! {
        <ol class="stacktrace">
            {frames.into_iter().map(|f| {
                let in_app = f.in_app.unwrap_or_else(|| !f.file.as_deref().unwrap_or("").contains("node_modules"));
                let place = match (f.line, f.column) {
                    (Some(l), Some(c)) => format!(":{l}:{c}"),
                    (Some(l), None) => format!(":{l}"),
                    _ => String::new(),
                };
                view! {
                    <li class:in-app=in_app>
                        <code class="function">{f.function.unwrap_or_else(|| "?".into())}</code>
                        " "
                        <span class="file">{f.file.unwrap_or_default()}{place}</span>
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

#[component]
fn Occurrences(list: Vec<ErrorOccurrence>) -> impl IntoView {
    view! {
        <table class="occurrences">
            <thead><tr>
                <th scope="col">"Time (UTC)"</th>
                <th scope="col">"Message"</th>
                <th scope="col">"Release"</th>
                <th scope="col">"User"</th>
                <th scope="col">"Trace"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|o| {
                    let trace = o.trace_id.clone().map(|t| view! {
                        <a href=format!("/traces/{t}")>"trace"</a> " · "
                        <a href=format!("/logs?trace_id={t}&range=7d")>"logs"</a>
                    });
                    view! {
                        <tr>
                            <td class="time">{format_datetime(o.timestamp)}</td>
                            <td>{o.message.clone()}</td>
                            <td>{o.labels.get("release").cloned().unwrap_or_default()}</td>
                            <td>{o.labels.get("user_id").cloned().unwrap_or_default()}</td>
                            <td>{trace}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
