//! Incidents: the list, and one incident with its timeline, acknowledge and resolve buttons,
//! and notes.

use crate::alerting::{
    load_incident, load_incidents, AcknowledgeIncident, NoteIncident, PostmortemIncident,
    ResolveIncident,
};
use crate::model::{format_datetime, IncidentView};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_params_map;

#[component]
pub fn Incidents() -> impl IntoView {
    let list = Resource::new(|| (), |_| load_incidents());
    view! {
        <header class="page-header">
            <div>
                <h1>"Incidents"</h1>
                <p class="subtitle">"Opened by firing alert groups; a re-firing alert joins its open incident."</p>
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading incidents…"</p> }>
            {move || list.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No incidents. Nothing has fired."</p> }.into_any(),
                Ok(list) => view! { <IncidentTable list/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load incidents: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn IncidentTable(list: Vec<IncidentView>) -> impl IntoView {
    view! {
        <table class="incidents">
            <thead><tr>
                <th scope="col">"Opened (UTC)"</th>
                <th scope="col">"Severity"</th>
                <th scope="col">"Incident"</th>
                <th scope="col">"Status"</th>
                <th scope="col">"Assignee"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|i| view! {
                    <tr data-status=i.status.clone()>
                        <td class="time">{format_datetime(i.opened_at)}</td>
                        <td><span class=format!("sev sev-{}", i.severity.to_lowercase())>{i.severity.clone()}</span></td>
                        <td><a href=format!("/incidents/{}", i.id)>{i.title.clone()}</a></td>
                        <td><span class=format!("status status-{}", i.status)>{i.status.clone()}</span></td>
                        <td>{i.assignee.clone().unwrap_or_else(|| "—".into())}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn IncidentDetail() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let incident = Resource::new(move || id.get(), load_incident);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading incident…"</p> }>
            {move || incident.get().map(|r| match r {
                Ok(Some(i)) => view! { <IncidentBody i/> }.into_any(),
                Ok(None) => view! { <super::NotFound/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load the incident: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn IncidentBody(i: IncidentView) -> impl IntoView {
    let can_edit = crate::auth::who().can_edit();
    let open = i.status != "resolved" && can_edit;
    let triggered = i.status == "triggered" && can_edit;
    let id = i.id.clone();
    let rule_link = i
        .rule_id
        .clone()
        .map(|r| view! { " · " <a href=format!("/alerts/{r}")>"rule"</a> });
    view! {
        <header class="page-header">
            <div>
                <h1>{i.title.clone()}</h1>
                <p class="subtitle">
                    <span class=format!("sev sev-{}", i.severity.to_lowercase())>{i.severity.clone()}</span> " "
                    <span class=format!("status status-{}", i.status) data-testid="incident-status">{i.status.clone()}</span>
                    {format!(" · opened {} UTC", format_datetime(i.opened_at))}
                    {i.assignee.clone().map(|a| format!(" · assigned to {a}"))}
                    {rule_link}
                </p>
            </div>
            <div class="toolbar">
                {triggered.then(|| view! {
                    <form method="post" action={<AcknowledgeIncident as ServerFn>::url()}>
                        <input type="hidden" name="id" value=id.clone()/>
                        <button type="submit" class="primary">"Acknowledge"</button>
                    </form>
                })}
                {open.then(|| view! {
                    <form method="post" action={<ResolveIncident as ServerFn>::url()}>
                        <input type="hidden" name="id" value=id.clone()/>
                        <button type="submit">"Resolve"</button>
                    </form>
                })}
                <a href="/incidents">"All incidents"</a>
            </div>
        </header>
        <section class="card" aria-labelledby="timeline-h">
            <h2 id="timeline-h">"Timeline"</h2>
            <ol class="timeline">
                {i.timeline.into_iter().map(|e| view! {
                    <li data-kind=e.kind.clone()>
                        <span class="time">{format_datetime(e.ts)}</span>
                        <span class=format!("kind kind-{}", e.kind)>{e.kind.clone()}</span>
                        <span class="message">{e.message.clone()}</span>
                        {e.actor.map(|a| view! { <span class="actor">{a}</span> })}
                    </li>
                }).collect_view()}
            </ol>
            <form method="post" action={<NoteIncident as ServerFn>::url()} class="note-form" hidden=!can_edit>
                <input type="hidden" name="id" value=id.clone()/>
                <label>"Note " <textarea name="text" required maxlength="20000" rows="2"></textarea></label>
                <button type="submit">"Add note"</button>
            </form>
        </section>
        <section class="card" aria-labelledby="postmortem-h">
            <h2 id="postmortem-h">"Postmortem"</h2>
            {i.postmortem.clone().map(|p| view! { <p class="postmortem">{p}</p> })}
            <form method="post" action={<PostmortemIncident as ServerFn>::url()} class="note-form" hidden=!can_edit>
                <input type="hidden" name="id" value=id.clone()/>
                <label>"What happened, why, and what changes "
                    <textarea name="text" required maxlength="20000" rows="4">{i.postmortem.unwrap_or_default()}</textarea>
                </label>
                <button type="submit">"Save postmortem"</button>
            </form>
        </section>
    }
}
