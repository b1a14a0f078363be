//! Alerts: every rule with its state, a form that previews a new rule against stored history
//! before creating it, notification channels, and notifications that could not be delivered.

use crate::alerting::{load_alerts_page, load_rule, preview_rule, AlertsPage, RuleForm};
use crate::model::{
    format_datetime, format_value, AlertView, Backtest, ChannelView, DeliveryView, SilenceView,
};
use crate::pages::overview::Panel;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::{use_params_map, use_query_map};

const AGGS: [&str; 10] = [
    "avg", "sum", "min", "max", "count", "p50", "p90", "p95", "p99", "rate",
];
const OPS: [&str; 4] = [">", ">=", "<", "<="];

fn labels_text(labels: &crate::model::Labels) -> String {
    labels
        .iter()
        .filter(|(k, _)| *k != "alertname" && *k != "severity")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[component]
pub fn Alerts() -> impl IntoView {
    let query = use_query_map();
    let form = Memo::new(move |_| {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        RuleForm {
            name: get("name"),
            metric: get("metric"),
            agg: q.get("agg").unwrap_or_else(|| "avg".into()),
            filter: get("filter"),
            op: q.get("op").unwrap_or_else(|| ">".into()),
            threshold: get("threshold"),
            recover: get("recover"),
            for_: get("for"),
            severity: q.get("severity").unwrap_or_else(|| "warning".into()),
            channel: get("channel"),
        }
    });
    let previewing = Memo::new(move |_| query.read().get("preview").is_some());
    let page = Resource::new(|| (), |_| load_alerts_page());
    let preview = Resource::new(
        move || (previewing.get(), form.get()),
        |(on, form)| async move {
            if on {
                preview_rule(form).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    view! {
        <header class="page-header">
            <div>
                <h1>"Alerts"</h1>
                <p class="subtitle">"Rules are evaluated every few seconds; a state change notifies the rule's channels and opens an incident."</p>
                {(!crate::auth::who().can_edit()).then(|| view! { <p class="hint"><a href="/login?next=/alerts">"Sign in"</a>" as an editor to create rules, channels and silences."</p> })}
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading alerts…"</p> }>
            {move || page.get().map(|result| match result {
                Ok(p) => view! { <AlertsBody page=p form=form.get() preview=preview/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load alerts: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

type PreviewResource =
    Resource<Result<Option<Vec<(String, Result<Backtest, String>)>>, ServerFnError>>;

#[component]
fn AlertsBody(page: AlertsPage, form: RuleForm, preview: PreviewResource) -> impl IntoView {
    let can_edit = crate::auth::who().can_edit();
    let AlertsPage {
        alerts,
        channels,
        dead,
        silences,
        metrics,
    } = page;
    view! {
        <section class="card" aria-labelledby="rules-h">
            <h2 id="rules-h">"Rules"</h2>
            {if alerts.is_empty() {
                view! { <p class="empty">"No alert rules yet. Create one below."</p> }.into_any()
            } else {
                view! { <RuleTable alerts/> }.into_any()
            }}
        </section>
        <section class="card" aria-labelledby="new-rule-h" hidden=!can_edit>
            <h2 id="new-rule-h">"New rule"</h2>
            <RuleEditor form=form.clone() metrics channels=channels.clone()/>
            <Suspense fallback=|| ()>
                {move || preview.get().map(|r| match r {
                    Ok(Some(results)) => view! { <Preview results form=form.clone()/> }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </section>
        <section class="card" aria-labelledby="channels-h">
            <h2 id="channels-h">"Channels"</h2>
            <ChannelTable channels/>
            {can_edit.then(|| view! { <ChannelForm/> })}
        </section>
        <section class="card" aria-labelledby="silences-h">
            <h2 id="silences-h">"Silences"</h2>
            <Silences silences can_edit/>
        </section>
        <section class="card" aria-labelledby="dead-h">
            <h2 id="dead-h">"Undelivered notifications"</h2>
            <DeadLetters dead/>
        </section>
    }
}

#[component]
fn RuleTable(alerts: Vec<AlertView>) -> impl IntoView {
    view! {
        <table class="alerts">
            <thead><tr>
                <th scope="col">"Rule"</th>
                <th scope="col">"Condition"</th>
                <th scope="col">"Severity"</th>
                <th scope="col">"State"</th>
                <th scope="col">"Instances"</th>
            </tr></thead>
            <tbody>
                {alerts.into_iter().map(|a| {
                    let firing: Vec<String> = a.instances.iter()
                        .filter(|i| i.state != "normal")
                        .map(|i| format!("{} {} {}", labels_text(&i.labels), i.state, i.value.map(format_value).unwrap_or_default()))
                        .collect();
                    view! {
                        <tr data-rule=a.name.clone() data-state=a.state.clone()>
                            <td><a href=format!("/alerts/{}", a.rule_id)>{a.name.clone()}</a></td>
                            <td class="mono">{a.condition.clone()}</td>
                            <td>{a.severity.clone()}</td>
                            <td><span class=format!("state state-{}", a.state)>{a.state.clone()}</span></td>
                            <td class="labels">{if firing.is_empty() {
                                format!("{} · all normal", a.instances.len())
                            } else {
                                format!("{} · {}", a.instances.len(), firing.join("; "))
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RuleEditor(form: RuleForm, metrics: Vec<String>, channels: Vec<ChannelView>) -> impl IntoView {
    let f = form;
    view! {
        <form method="get" action="/alerts" class="rule-form">
            <input type="hidden" name="preview" value="1"/>
            <label>"Name " <input name="name" required maxlength="200" value=f.name.clone()/></label>
            <label>"Metric "
                <input name="metric" required list="metric-names" value=f.metric.clone()/>
                <datalist id="metric-names">
                    {metrics.into_iter().map(|m| view! { <option value=m.clone()></option> }).collect_view()}
                </datalist>
            </label>
            <label>"Aggregation "
                <select name="agg">
                    {AGGS.iter().map(|a| view! { <option value=*a selected=f.agg == *a>{*a}</option> }).collect_view()}
                </select>
            </label>
            <label>"Filter " <input name="filter" placeholder="service:api" value=f.filter.clone()/></label>
            <label>"Fires when "
                <select name="op">
                    {OPS.iter().map(|o| view! { <option value=*o selected=f.op == *o>{*o}</option> }).collect_view()}
                </select>
            </label>
            <label>"Threshold " <input name="threshold" required inputmode="decimal" value=f.threshold.clone()/></label>
            <label>"Recovers at " <input name="recover" inputmode="decimal" placeholder="threshold" value=f.recover.clone()/></label>
            <label>"For " <input name="for" placeholder="0s" value=f.for_.clone()/></label>
            <label>"Severity "
                <select name="severity">
                    {["critical", "warning", "info"].iter().map(|s| view! { <option value=*s selected=f.severity == *s>{*s}</option> }).collect_view()}
                </select>
            </label>
            <label>"Notify "
                <select name="channel">
                    <option value="">"(no channel)"</option>
                    {channels.into_iter().map(|c| {
                        let selected = f.channel == c.id;
                        view! { <option value=c.id.clone() selected=selected>{format!("{} ({})", c.name, c.kind)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button type="submit">"Preview"</button>
        </form>
    }
}

#[component]
fn Preview(results: Vec<(String, Result<Backtest, String>)>, form: RuleForm) -> impl IntoView {
    let ok = results.iter().all(|(_, r)| r.is_ok());
    let hidden = [
        ("name", form.name.clone()),
        ("metric", form.metric.clone()),
        ("agg", form.agg.clone()),
        ("filter", form.filter.clone()),
        ("op", form.op.clone()),
        ("threshold", form.threshold.clone()),
        ("recover", form.recover.clone()),
        ("for_", form.for_.clone()),
        ("severity", form.severity.clone()),
        ("channel", form.channel.clone()),
    ];
    view! {
        <div class="preview" aria-live="polite">
            <h3>"Backtest"</h3>
            {results.into_iter().map(|(range, r)| match r {
                Ok(b) => {
                    // The most recent episodes are the ones people remember.
                    let more = b.firings.saturating_sub(10);
                    let episodes = b.episodes.iter().rev().take(10).map(|e| {
                        let end = e.end.map(format_datetime).unwrap_or_else(|| "still firing".into());
                        view! { <li>{format!("{} → {} {} (peak {})", format_datetime(e.start), end, labels_text(&e.labels), e.peak.map(format_value).unwrap_or_default())}</li> }
                    }).collect_view();
                    view! {
                        <p class="backtest" data-range=range.clone()>
                            <b>{format!("Would have fired {} times in the last {range}", b.firings)}</b>
                            {format!(" ({} evaluations at {} s steps)", b.evaluations, b.step_ms / 1000)}
                        </p>
                        <ul class="episodes">
                            {episodes}
                            {(more > 0).then(|| view! { <li>{format!("and {more} earlier")}</li> })}
                        </ul>
                    }.into_any()
                }
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            }).collect_view()}
            {ok.then(|| view! {
                <form method="post" action={<crate::alerting::CreateRule as ServerFn>::url()}>
                    {hidden.into_iter().map(|(k, v)| view! { <input type="hidden" name=format!("form[{k}]") value=v/> }).collect_view()}
                    <button type="submit" class="primary">"Create rule"</button>
                </form>
            })}
        </div>
    }
}

#[component]
fn ChannelTable(channels: Vec<ChannelView>) -> impl IntoView {
    if channels.is_empty() {
        return view! { <p class="empty">"No channels: rules can fire, but nobody is told."</p> }
            .into_any();
    }
    view! {
        <table class="channels">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"Kind"</th><th scope="col">"Where"</th></tr></thead>
            <tbody>
                {channels.into_iter().map(|c| {
                    let target = ["url", "webhook_url", "to", "routing_key"]
                        .iter()
                        .find_map(|k| c.config.get(*k).map(|v| v.to_string().trim_matches('"').to_string()))
                        .unwrap_or_default();
                    view! { <tr data-channel=c.name.clone()><td>{c.name.clone()}</td><td>{c.kind.clone()}</td><td class="mono">{target}</td></tr> }
                }).collect_view()}
            </tbody>
        </table>
    }.into_any()
}

#[component]
fn ChannelForm() -> impl IntoView {
    view! {
        <form method="post" action={<crate::alerting::CreateChannel as ServerFn>::url()} class="channel-form">
            <label>"Name " <input name="name" required maxlength="200"/></label>
            <label>"Kind "
                <select name="kind">
                    <option value="webhook">"webhook"</option>
                    <option value="slack">"slack"</option>
                </select>
            </label>
            <label>"URL " <input name="url" type="url" required placeholder="https://…"/></label>
            <label>"Signing secret " <input name="secret" type="password" autocomplete="off"/></label>
            <button type="submit">"Add channel"</button>
        </form>
        <p class="hint">"Email, SMS and PagerDuty channels are created through the API (POST /api/v1/channels)."</p>
    }
}

#[component]
fn DeadLetters(dead: Vec<DeliveryView>) -> impl IntoView {
    if dead.is_empty() {
        return view! { <p class="empty">"Every notification was delivered."</p> }.into_any();
    }
    let url = <crate::alerting::RetryDelivery as ServerFn>::url();
    view! {
        <table class="deliveries">
            <thead><tr>
                <th scope="col">"Queued (UTC)"</th><th scope="col">"Notification"</th><th scope="col">"Channel"</th>
                <th scope="col">"Attempts"</th><th scope="col">"Last error"</th><th scope="col"><span class="sr-only">"Retry"</span></th>
            </tr></thead>
            <tbody>
                {dead.into_iter().map(|d| view! {
                    <tr>
                        <td class="time">{format_datetime(d.created_at)}</td>
                        <td>{d.title.clone()}</td>
                        <td class="mono">{d.channel_id.clone()}</td>
                        <td class="num">{d.attempts}</td>
                        <td class="why">{d.last_error.clone().unwrap_or_default()}</td>
                        <td>
                            <form method="post" action=url>
                                <input type="hidden" name="id" value=d.id/>
                                <button type="submit" class="link-button">"Retry"</button>
                            </form>
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }.into_any()
}

#[component]
fn Silences(silences: Vec<SilenceView>, can_edit: bool) -> impl IntoView {
    let end_url = <crate::alerting::ExpireSilence as ServerFn>::url();
    view! {
        {if silences.is_empty() {
            view! { <p class="empty">"No active silences."</p> }.into_any()
        } else {
            view! {
                <table class="channels">
                    <thead><tr><th scope="col">"Matches"</th><th scope="col">"Until (UTC)"</th><th scope="col">"Comment"</th><th scope="col"><span class="sr-only">"End"</span></th></tr></thead>
                    <tbody>
                        {silences.into_iter().map(|s| view! {
                            <tr data-silence=s.id.clone()>
                                <td class="mono">{s.matchers.join(", ")}</td>
                                <td class="time">{format_datetime(s.ends_at)}</td>
                                <td>{s.comment.clone()}</td>
                                <td>
                                    <form method="post" action=end_url>
                                        <input type="hidden" name="id" value=s.id.clone()/>
                                        <button type="submit" class="link-button">"End now"</button>
                                    </form>
                                </td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <form method="post" action={<crate::alerting::CreateSilence as ServerFn>::url()} class="channel-form silence-form" hidden=!can_edit>
            <label>"Label " <input name="label" required value="service"/></label>
            <label>"Equals " <input name="value" required placeholder="api"/></label>
            <label>"For (hours) " <input name="hours" required inputmode="decimal" value="2"/></label>
            <label>"Comment " <input name="comment" placeholder="deploy"/></label>
            <button type="submit">"Silence"</button>
        </form>
    }
}

/// One rule: its state per instance and a chart of its query over the last hours.
#[component]
pub fn RuleDetail() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let rule = Resource::new(move || id.get(), load_rule);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading rule…"</p> }>
            {move || rule.get().map(|r| match r {
                Ok(Some(crate::alerting::RulePage { view, spec, data, history })) => {
                    let json = serde_json::to_string_pretty(&spec).unwrap_or_default();
                    view! {
                        <header class="page-header">
                            <div>
                                <h1>{view.name.clone()}</h1>
                                <p class="subtitle">
                                    <span class=format!("state state-{}", view.state)>{view.state.clone()}</span>
                                    " " {view.condition.clone()} " · " {view.severity.clone()}
                                </p>
                            </div>
                            <div class="toolbar"><a href="/alerts">"All rules"</a></div>
                        </header>
                        <div class="grid one"><Panel data/></div>
                        <section class="card">
                            <h2>"Instances"</h2>
                            <table class="alerts">
                                <thead><tr><th scope="col">"Labels"</th><th scope="col">"State"</th><th scope="col">"Since (UTC)"</th><th scope="col" class="num">"Value"</th></tr></thead>
                                <tbody>
                                    {view.instances.into_iter().map(|i| view! {
                                        <tr>
                                            <td class="labels">{labels_text(&i.labels)}</td>
                                            <td><span class=format!("state state-{}", i.state)>{i.state.clone()}</span>{i.flapping.then_some(" (flapping)")}</td>
                                            <td class="time">{i.since.map(format_datetime).unwrap_or_default()}</td>
                                            <td class="num">{i.value.map(format_value).unwrap_or_default()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </section>
                        <section class="card">
                            <h2>"Changes in the last 24 h"</h2>
                            {if history.is_empty() {
                                view! { <p class="empty">"No state changes."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="alerts history">
                                        <thead><tr><th scope="col">"Time (UTC)"</th><th scope="col">"Labels"</th><th scope="col">"Change"</th><th scope="col" class="num">"Value"</th></tr></thead>
                                        <tbody>
                                            {history.into_iter().map(|t| view! {
                                                <tr>
                                                    <td class="time">{format_datetime(t.ts)}</td>
                                                    <td class="labels">{labels_text(&t.labels)}</td>
                                                    <td>{t.from.clone()} " → " <span class=format!("state state-{}", t.to)>{t.to.clone()}</span></td>
                                                    <td class="num">{t.value.map(format_value).unwrap_or_default()}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                        </section>
                        <details class="card"><summary>"Rule as JSON"</summary><pre>{json}</pre></details>
                    }.into_any()
                }
                Ok(None) => view! { <super::NotFound/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load the rule: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}
