//! Dashboards: the list, and one dashboard's panels on its grid with its variables and the time
//! range in the URL (`/dashboards/{id}?range=6h&var-service=web`), so a link reproduces the view.
//! All panels are queried in one request and follow one live stream.

use super::overview::Panel;
use super::{use_time_range, RangePicker};
use crate::dashboards::{
    load_dashboard, load_dashboards, AddPanel, CreateDashboard, DeleteDashboard,
    DuplicateDashboard, RemovePanel,
};
use crate::embeds::{load_embed_links, CreateEmbed, RevokeEmbed};
use crate::islands::{GridEditor, LazyPanel, LiveStream, LiveToggle, PanelRequest};
use crate::layout::Cell;
use crate::model::{format_datetime, DashboardLayout, EmbedLink, PanelData, VariableChoice, Viz};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::{use_params_map, use_query_map};

const AGGS: [&str; 10] = [
    "avg", "sum", "min", "max", "count", "rate", "p50", "p90", "p95", "p99",
];

#[component]
pub fn Dashboards() -> impl IntoView {
    let list = Resource::new(|| (), |_| load_dashboards());
    let can_edit = crate::auth::who().can_edit();
    view! {
        <header class="page-header">
            <div>
                <h1>"Dashboards"</h1>
                <p class="subtitle">"Panels of your own, with variables and a time range in the link."</p>
            </div>
        </header>
        {can_edit.then(|| view! {
            <section class="card" aria-labelledby="new-dashboard-h">
                <h2 id="new-dashboard-h">"New dashboard"</h2>
                <form method="post" action={<CreateDashboard as ServerFn>::url()} class="channel-form">
                    <label>"Title " <input name="title" required maxlength="200" autocomplete="off"/></label>
                    <button type="submit">"Create"</button>
                </form>
                <details class="import">
                    <summary>"Import JSON"</summary>
                    <form method="post" action={<CreateDashboard as ServerFn>::url()} class="channel-form">
                        <input type="hidden" name="title" value=""/>
                        <label class="wide">"Dashboard JSON (as GET /api/v1/dashboards/{id} exports it) "
                            <textarea name="json" rows="6" required maxlength="262144"></textarea>
                        </label>
                        <button type="submit">"Import"</button>
                    </form>
                </details>
            </section>
        })}
        <Suspense fallback=|| view! { <p class="loading">"Loading dashboards…"</p> }>
            {move || list.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! {
                    <p class="empty">"No dashboards yet. Create one here or with POST /api/v1/dashboards (its JSON is also the export format)."</p>
                }.into_any(),
                Ok(list) => view! {
                    <table class="channels dashboards">
                        <thead><tr><th scope="col">"Dashboard"</th><th scope="col">"Panels"</th><th scope="col">"Changed (UTC)"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|d| view! {
                                <tr data-testid="dashboard-row">
                                    <td><a href=format!("/dashboards/{}", d.id)>{d.title}</a></td>
                                    <td>{d.panels}</td>
                                    <td class="time">{format_datetime(d.updated_at)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load dashboards: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let chosen_range = use_time_range("1h");
    // The URL's range, or none: then the dashboard's own default applies.
    let range = Memo::new(move |_| {
        let q = query.read();
        (q.get("range").is_some() || q.get("from").is_some()).then(|| chosen_range.get())
    });
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    // `var-<name>=<value>` for each variable chosen in the URL.
    let vars = Memo::new(move |_| {
        let q = query.read();
        (&*q)
            .into_iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("var-")
                    .map(|name| (name.to_string(), v.to_string()))
            })
            .collect::<Vec<_>>()
    });
    let data = Resource::new(
        move || (id.get(), range.get(), vars.get()),
        |(id, range, vars)| load_dashboard(id, range, vars),
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the dashboard…"</p> }>
            {move || data.get().map(|r| match r {
                Ok(Some((layout, range, panels))) => {
                    let live = range.is_live_capable();
                    view! { <DashboardBody layout panels range live vars=vars.get()/> }.into_any()
                }
                Ok(None) => view! { <super::NotFound/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load the dashboard: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn DashboardBody(
    layout: DashboardLayout,
    panels: Vec<PanelData>,
    range: crate::model::TimeRange,
    live: bool,
    vars: Vec<(String, String)>,
) -> impl IntoView {
    // One stream for every panel, those still to load included (all share the range's step).
    let step = panels.first().map_or(60_000, |p| p.step);
    let streams: Vec<LiveStream> = layout
        .panels
        .iter()
        .map(|p| match panels.iter().find(|d| d.spec.id == p.spec.id) {
            Some(data) => LiveStream::of(data),
            None => LiveStream::for_spec(&p.spec, step),
        })
        .collect();
    let action = format!("/dashboards/{}", layout.id);
    let variables = layout.variables.clone();
    let can_edit = crate::auth::who().can_edit();
    let id = layout.id.clone();
    let cells: Vec<(String, Cell)> = layout
        .panels
        .iter()
        .map(|p| {
            let cell = Cell {
                x: p.x,
                y: p.y,
                w: p.w,
                h: p.h,
            };
            (p.spec.id.clone(), cell)
        })
        .collect();
    let embeddable: Vec<(String, String)> = layout
        .panels
        .iter()
        .map(|p| (p.spec.id.clone(), p.spec.title.clone()))
        .collect();
    let locked: Vec<(String, String)> = layout
        .variables
        .iter()
        .filter(|v| !v.current.is_empty())
        .map(|v| (v.name.clone(), v.current.clone()))
        .collect();
    // The variables chosen, kept when the range changes.
    let keep: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (format!("var-{k}"), v.clone()))
        .collect();
    view! {
        <header class="page-header">
            <div>
                <h1>{layout.title.clone()}</h1>
                <p class="subtitle">{range.label()} {(!layout.description.is_empty()).then(|| format!(" · {}", layout.description))}</p>
            </div>
            <div class="toolbar">
                <RangePicker range=range.clone() action=action.clone() keep/>
                <LiveToggle streams enabled=live url=String::new()/>
            </div>
        </header>
        <div class="dashboard-actions">
            <a href=format!("/api/v1/dashboards/{id}") download=format!("{id}.json")>"Export JSON"</a>
            {can_edit.then(|| view! {
                <form method="post" action={<DuplicateDashboard as ServerFn>::url()}>
                    <input type="hidden" name="id" value=id.clone()/>
                    <button type="submit" class="link-button">"Duplicate"</button>
                </form>
                <form method="post" action={<DeleteDashboard as ServerFn>::url()}>
                    <input type="hidden" name="id" value=id.clone()/>
                    <button type="submit" class="link-button danger">"Delete dashboard"</button>
                </form>
            })}
        </div>
        {(!variables.is_empty()).then(|| view! { <Variables variables action range=range.clone()/> })}
        <div class="dashboard-grid">
            {layout.panels.into_iter().map(|p| {
                let data = panels.iter().find(|d| d.spec.id == p.spec.id).cloned();
                let request = PanelRequest {
                    dashboard: id.clone(),
                    panel: p.spec.id.clone(),
                    range: range.clone(),
                    vars: vars.clone(),
                };
                let panel_id = p.spec.id.clone();
                let cell_id = panel_id.clone();
                let title = p.spec.title.clone();
                view! {
                    <div class="dashboard-cell" data-viz=p.viz.clone() data-cell=cell_id
                         style=format!("grid-column:{} / span {};grid-row:{} / span {}", p.x + 1, p.w, p.y + 1, p.h)>
                        {match data {
                            Some(data) => view! { <Panel data/> }.into_any(),
                            None => view! { <LazyPanel request title=title.clone()/> }.into_any(),
                        }}
                        {can_edit.then(|| view! {
                            <form method="post" action={<RemovePanel as ServerFn>::url()} class="panel-remove">
                                <input type="hidden" name="id" value=id.clone()/>
                                <input type="hidden" name="panel" value=panel_id/>
                                <button type="submit" class="icon-button" aria-label=format!("Remove panel {title}") title="Remove panel">"×"</button>
                            </form>
                        })}
                    </div>
                }
            }).collect_view()}
        </div>
        {can_edit.then(|| view! { <GridEditor dashboard=id.clone() cells=cells.clone()/> })}
        {can_edit.then(|| view! { <AddPanelForm id=id.clone()/> })}
        {can_edit.then(|| view! { <ShareEmbed dashboard=id.clone() panels=embeddable vars=locked/> })}
    }
}

/// Share → Embed: make an embed of some panels for other sites, and the dashboard's embeds with
/// their iframe snippets and a revoke button each.
#[component]
fn ShareEmbed(
    dashboard: String,
    /// Panel ids and titles.
    panels: Vec<(String, String)>,
    /// Variables with a value chosen now, which an embed may lock.
    vars: Vec<(String, String)>,
) -> impl IntoView {
    let id = dashboard.clone();
    let links = Resource::new(move || id.clone(), load_embed_links);
    let base = site_origin();
    view! {
        <section class="card embeds" id="embeds" aria-labelledby="embeds-h">
            <h2 id="embeds-h">"Share → Embed"</h2>
            <p class="subtitle">"Show panels in another site's page: a signed link that expires, can be revoked, and only the sites you name may frame."</p>
            <form method="post" action={<CreateEmbed as ServerFn>::url()} class="rule-form embed-form">
                <input type="hidden" name="dashboard" value=dashboard.clone()/>
                <fieldset>
                    <legend>"Panels"</legend>
                    {panels.into_iter().map(|(pid, title)| view! {
                        <label><input type="checkbox" name="panel[]" value=pid checked=true/>{title}</label>
                    }).collect_view()}
                </fieldset>
                {(!vars.is_empty()).then(|| view! {
                    <fieldset>
                        <legend>"Lock variables"</legend>
                        {vars.into_iter().map(|(name, value)| view! {
                            <label><input type="checkbox" name="lock[]" value=format!("{name}={value}") checked=true/>{format!("${name} = {value}")}</label>
                        }).collect_view()}
                    </fieldset>
                })}
                <label>"Expires in "
                    <select name="expires_in">
                        <option value="1h">"1 hour"</option>
                        <option value="1d">"1 day"</option>
                        <option value="7d">"7 days"</option>
                        <option value="30d" selected=true>"30 days"</option>
                        <option value="365d">"1 year"</option>
                    </select>
                </label>
                <label>"Sites allowed to embed " <input name="origins" maxlength="2000" placeholder="https://intranet.example.com" autocomplete="off" size="40"/></label>
                <button type="submit">"Create embed"</button>
            </form>
            <Suspense fallback=|| view! { <p class="loading">"Loading embeds…"</p> }>
                {move || links.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No embeds of this dashboard yet."</p> }.into_any(),
                    Ok(list) => view! { <EmbedTable list base=base.clone() dashboard=dashboard.clone()/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">"Cannot load embeds: " {e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn EmbedTable(list: Vec<EmbedLink>, base: String, dashboard: String) -> impl IntoView {
    let now = chrono_now();
    view! {
        <table class="channels">
            <thead><tr>
                <th scope="col">"Panels"</th><th scope="col">"Locked"</th><th scope="col">"Sites"</th>
                <th scope="col">"Status"</th><th scope="col">"Snippet"</th><th scope="col"></th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|e| {
                    let status = match e.revoked_at {
                        Some(at) => format!("revoked {}", format_datetime(at)),
                        None if e.expires_at <= now => format!("expired {}", format_datetime(e.expires_at)),
                        None => format!("until {}", format_datetime(e.expires_at)),
                    };
                    let active = e.revoked_at.is_none() && e.expires_at > now;
                    let snippet = embed_snippet(&base, &e.url, &e.panels.join(", "));
                    let sites = if e.origins.is_empty() { "this site only".to_string() } else { e.origins.join(" ") };
                    let locked = e.vars.iter().map(|(k, v)| format!("${k}={v}")).collect::<Vec<_>>().join(" ");
                    view! {
                        <tr data-testid="embed-row" data-embed=e.id.clone() data-active=active.to_string()>
                            <td>{e.panels.join(", ")}</td>
                            <td>{locked}</td>
                            <td>{sites}</td>
                            <td class="time">{status}</td>
                            <td><textarea class="snippet" readonly rows="3" aria-label="Embed snippet">{snippet}</textarea>
                                <a href=e.url.clone() target="_blank" rel="noopener">"Open"</a></td>
                            <td>{active.then(|| view! {
                                <form method="post" action={<RevokeEmbed as ServerFn>::url()}>
                                    <input type="hidden" name="dashboard" value=dashboard.clone()/>
                                    <input type="hidden" name="id" value=e.id.clone()/>
                                    <button type="submit" class="link-button danger">"Revoke"</button>
                                </form>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The HTML a host page pastes: the iframe, and a line that sizes it to the height the embed
/// reports.
fn embed_snippet(base: &str, url: &str, title: &str) -> String {
    let src = crate::escape(&format!("{base}{url}"));
    let title = crate::escape(title);
    format!(
        "<iframe src=\"{src}\" title=\"{title}\" width=\"100%\" height=\"360\" style=\"border:0\" loading=\"lazy\"></iframe>\n\
         <script>addEventListener(\"message\",e=>{{if(e.origin===\"{base}\"&&e.data&&e.data.type===\"osprey:height\")\
         for(const f of document.querySelectorAll(\"iframe\"))if(f.contentWindow===e.source)f.style.height=e.data.height+\"px\"}})</script>"
    )
}

/// This site's origin as the browser reached it (`X-Forwarded-Proto` says the scheme behind a
/// proxy).
fn site_origin() -> String {
    let Some(parts) = use_context::<http::request::Parts>() else {
        return String::new();
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let clean = |v: String| -> String {
        v.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
            .collect()
    };
    let scheme = match header("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let host = header("host")
        .map(clean)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    format!("{scheme}://{host}")
}

fn chrono_now() -> i64 {
    use_context::<crate::panels::source::PanelSourceHandle>()
        .map(|s| s.0.now())
        .unwrap_or_default()
}

/// The variables as a form of pickers: it reloads the page with `var-<name>` in the URL, so it
/// works without JavaScript and the link keeps the choice.
#[component]
fn Variables(
    variables: Vec<VariableChoice>,
    action: String,
    range: crate::model::TimeRange,
) -> impl IntoView {
    let range_key = match &range {
        crate::model::TimeRange::Last(key) => Some(key.clone()),
        crate::model::TimeRange::Fixed { .. } => None,
    };
    view! {
        <form method="get" action=action class="filters variables" aria-label="Variables">
            {variables.into_iter().map(|v| {
                let current = v.current.clone();
                view! {
                    <label>{format!("${} ", v.name)}
                        <select name=format!("var-{}", v.name) aria-label=format!("Variable {}", v.name)>
                            <option value="" selected=current.is_empty()>{format!("any {}", v.label)}</option>
                            {v.values.into_iter().map(|value| {
                                let selected = value == current;
                                view! { <option value=value.clone() selected=selected>{value.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                }
            }).collect_view()}
            {range_key.map(|key| view! { <input type="hidden" name="range" value=key/> })}
            <button type="submit">"Apply"</button>
        </form>
    }
}

/// Adds a panel below the others: a query and how to draw it.
#[component]
fn AddPanelForm(id: String) -> impl IntoView {
    view! {
        <section class="card add-panel" aria-labelledby="add-panel-h">
            <h2 id="add-panel-h">"Add a panel"</h2>
            <form method="post" action={<AddPanel as ServerFn>::url()} class="rule-form">
                <input type="hidden" name="id" value=id/>
                <label>"Title " <input name="title" maxlength="200" autocomplete="off"/></label>
                <label>"Metric " <input name="metric" required maxlength="256" placeholder="http.latency_ms"/></label>
                <label>"Aggregation "
                    <select name="agg">{AGGS.iter().map(|a| view! { <option value=*a>{*a}</option> }).collect_view()}</select>
                </label>
                <label>"Group by " <input name="group_by" maxlength="256" placeholder="service, route"/></label>
                <label>"Visualisation "
                    <select name="viz">{Viz::ALL.iter().map(|v| view! { <option value=v.as_str()>{v.as_str()}</option> }).collect_view()}</select>
                </label>
                <label>"Width "
                    <select name="width">
                        <option value="6">"quarter"</option>
                        <option value="8">"third"</option>
                        <option value="12" selected=true>"half"</option>
                        <option value="16">"two thirds"</option>
                        <option value="24">"full"</option>
                    </select>
                </label>
                <button type="submit">"Add panel"</button>
            </form>
        </section>
    }
}
