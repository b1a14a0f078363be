//! Security: failed sign-ins over time, what attack detection found, the addresses and
//! accounts failing most, and CSP violations reported by monitored sites.

use super::{use_time_range, RangePicker};
use crate::model::{format_datetime, format_time};
use crate::security::{load_security, FindingView, SecurityEventView, SecurityOverview};
use leptos::prelude::*;

#[component]
pub fn Security() -> impl IntoView {
    let range = use_time_range("24h");
    let overview = Resource::new(move || range.get(), load_security);
    view! {
        <header class="page-header">
            <div>
                <h1>"Security"</h1>
                <p class="subtitle">"Sign-ins, attacks detected and CSP violations · " {move || range.get().label()}</p>
            </div>
            <div class="toolbar">
                {move || view! { <RangePicker range=range.get() action="/security"/> }}
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading security events…"</p> }>
            {move || overview.get().map(|r| match r {
                Ok(o) => view! { <SecurityBody o/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load security events: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn SecurityBody(o: SecurityOverview) -> impl IntoView {
    let total: i64 = o.failures.iter().sum();
    view! {
        <section class="card" aria-labelledby="failures-h">
            <h2 id="failures-h">"Failed sign-ins " <span class="subtitle" data-testid="failure-total">{total}</span></h2>
            <FailureChart counts=o.failures.clone() from=o.from to=o.to step=o.step/>
        </section>
        <section class="card" aria-labelledby="findings-h">
            <h2 id="findings-h">"Attacks detected"</h2>
            <Findings list=o.findings/>
        </section>
        <div class="security-tops">
            <section class="card" aria-labelledby="top-ip-h">
                <h2 id="top-ip-h">"Top addresses by failures"</h2>
                <TopList rows=o.top_addresses label="Address" testid="top-addresses"/>
            </section>
            <section class="card" aria-labelledby="top-user-h">
                <h2 id="top-user-h">"Top accounts by failures"</h2>
                <TopList rows=o.top_accounts label="Account" testid="top-accounts"/>
            </section>
        </div>
        <section class="card" aria-labelledby="csp-h">
            <h2 id="csp-h">"CSP violations"</h2>
            <CspViolations list=o.csp_violations/>
        </section>
    }
}

/// Failed sign-ins per bucket as inline SVG bars: no script, no canvas.
#[component]
fn FailureChart(counts: Vec<i64>, from: i64, to: i64, step: i64) -> impl IntoView {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let n = counts.len().max(1) as f64;
    let (w, h, left, bottom) = (720.0, 140.0, 36.0, 18.0);
    let plot_w = w - left;
    let plot_h = h - bottom - 4.0;
    let bar = plot_w / n;
    let total: i64 = counts.iter().sum();
    let label = if step >= 3_600_000 {
        format!("{} h", step / 3_600_000)
    } else if step >= 60_000 {
        format!("{} min", step / 60_000)
    } else {
        format!("{} s", (step / 1000).max(1))
    };
    view! {
        <svg class="bar-chart" viewBox=format!("0 0 {w} {h}") role="img"
             aria-label=format!("{total} failed sign-ins, in bars of {label}")>
            <line class="axis" x1=left y1=plot_h + 4.0 x2=w y2=plot_h + 4.0/>
            <text class="tick" x=left - 4.0 y=10.0 text-anchor="end">{max}</text>
            <text class="tick" x=left - 4.0 y=plot_h + 4.0 text-anchor="end">"0"</text>
            <text class="tick" x=left y=h - 3.0>{axis_time(from, to - from)}</text>
            <text class="tick" x=left + plot_w / 2.0 y=h - 3.0 text-anchor="middle">{axis_time(from + (to - from) / 2, to - from)}</text>
            <text class="tick" x=w y=h - 3.0 text-anchor="end">{axis_time(to, to - from)}</text>
            {counts.into_iter().enumerate().filter(|(_, c)| *c > 0).map(|(i, c)| {
                let bh = (c as f64 / max as f64 * plot_h).max(1.5);
                let start = from + i as i64 * step;
                view! {
                    <rect x=left + i as f64 * bar y=plot_h + 4.0 - bh width=(bar - 1.0).max(1.0) height=bh>
                        <title>{format!("{c} failed at {} UTC", format_datetime(start))}</title>
                    </rect>
                }
            }).collect_view()}
        </svg>
    }
}

/// `HH:MM` for ranges within a day, `MM-DD HH:MM` beyond (UTC).
fn axis_time(ms: i64, span: i64) -> String {
    if span > 20 * 3_600_000 {
        format_datetime(ms)[5..16].to_string()
    } else {
        format_time(ms)
    }
}

#[component]
fn Findings(list: Vec<FindingView>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"Nothing detected in this range."</p> }.into_any();
    }
    view! {
        <table class="security">
            <thead><tr>
                <th scope="col">"Time (UTC)"</th>
                <th scope="col">"Kind"</th>
                <th scope="col">"Subject"</th>
                <th scope="col">"What happened"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|f| view! {
                    <tr data-testid="finding" data-kind=f.kind.clone()>
                        <td class="time">{format_datetime(f.timestamp)}</td>
                        <td><span class="tag finding">{f.kind.replace('_', " ")}</span></td>
                        <td><code>{f.subject.clone()}</code></td>
                        <td>
                            {f.explanation.clone()}
                            {f.service.clone().map(|s| view! { " " <span class="tag">{s}</span> })}
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn TopList(rows: Vec<(String, i64)>, label: &'static str, testid: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No failed sign-ins in this range."</p> }.into_any();
    }
    view! {
        <table class="security" data-testid=testid>
            <thead><tr><th scope="col">{label}</th><th scope="col" class="num">"Failures"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|(subject, n)| view! {
                    <tr><td><code>{subject}</code></td><td class="num">{n}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn CspViolations(list: Vec<SecurityEventView>) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <p class="empty">"No CSP violations reported in this range. Sites report them to "
                <code>"/api/v1/csp-report?key=<ingest key>"</code> "."</p>
        }
        .into_any();
    }
    view! {
        <table class="security">
            <thead><tr>
                <th scope="col">"Time (UTC)"</th>
                <th scope="col">"Page"</th>
                <th scope="col">"Directive"</th>
                <th scope="col">"Blocked"</th>
                <th scope="col">"Source"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|e| {
                    let source = e.detail("source-file").map(|f| match e.detail("line-number") {
                        Some(line) => format!("{f}:{line}"),
                        None => f,
                    });
                    view! {
                        <tr data-testid="csp-violation">
                            <td class="time">{format_datetime(e.timestamp)}</td>
                            <td class="uri">{e.detail("document-uri").unwrap_or_default()}</td>
                            <td><code>{e.detail("violated-directive").unwrap_or_default()}</code></td>
                            <td class="uri">{e.detail("blocked-uri").unwrap_or_default()}</td>
                            <td class="uri">{source.unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
