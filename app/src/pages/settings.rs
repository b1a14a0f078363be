//! Settings (admins): users and their roles, API keys, and the audit log.

use crate::islands::{NewKeyForm, RotateKeyButton};
use crate::model::{format_datetime, AuditView, KeyView, UserView};
use crate::settings::{load_settings, CreateUser, RevokeKey, SetDisabled, SetRole};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

#[component]
pub fn Settings() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_settings());
    view! {
        <header class="page-header">
            <div>
                <h1>"Settings"</h1>
                <p class="subtitle">"Who may sign in and with which role, the API keys, and everything that was changed."</p>
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading settings…"</p> }>
            {move || data.get().map(|r| match r {
                Ok((users, keys, audit)) => view! {
                    <section class="card" aria-labelledby="users-h"><h2 id="users-h">"Users"</h2><Users users/></section>
                    <section class="card" aria-labelledby="keys-h"><h2 id="keys-h">"API keys"</h2><Keys keys/></section>
                    <section class="card" aria-labelledby="audit-h"><h2 id="audit-h">"Audit log"</h2><Audit audit/></section>
                }.into_any(),
                Err(e) => view! { <p class="error" role="alert">"Cannot load settings: " {e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Users(users: Vec<UserView>) -> impl IntoView {
    let role_url = <SetRole as ServerFn>::url();
    let disable_url = <SetDisabled as ServerFn>::url();
    view! {
        <table class="channels users">
            <thead><tr><th scope="col">"User"</th><th scope="col">"Role"</th><th scope="col">"Since (UTC)"</th><th scope="col"><span class="sr-only">"Access"</span></th></tr></thead>
            <tbody>
                {users.into_iter().map(|u| view! {
                    <tr data-user=u.username.clone() class:dismissed=u.disabled>
                        <td>{u.username.clone()}{u.disabled.then_some(" (disabled)")}</td>
                        <td>
                            <form method="post" action=role_url class="inline-form">
                                <input type="hidden" name="id" value=u.id.clone()/>
                                <select name="role" aria-label=format!("Role of {}", u.username)>
                                    {["viewer", "editor", "admin"].iter().map(|r| view! { <option value=*r selected=u.role == *r>{*r}</option> }).collect_view()}
                                </select>
                                <button type="submit" class="link-button">"Set"</button>
                            </form>
                        </td>
                        <td class="time">{format_datetime(u.created_at)}</td>
                        <td>
                            <form method="post" action=disable_url>
                                <input type="hidden" name="id" value=u.id.clone()/>
                                <input type="hidden" name="disabled" value=(!u.disabled).to_string()/>
                                <button type="submit" class="link-button">{if u.disabled { "Enable" } else { "Disable" }}</button>
                            </form>
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <form method="post" action={<CreateUser as ServerFn>::url()} class="channel-form">
            <label>"Username " <input name="username" required maxlength="64" autocomplete="off"/></label>
            <label>"Password " <input name="password" type="password" required minlength="10" autocomplete="new-password"/></label>
            <label>"Role "
                <select name="role"><option value="viewer">"viewer"</option><option value="editor">"editor"</option><option value="admin">"admin"</option></select>
            </label>
            <button type="submit">"Add user"</button>
        </form>
    }
}

#[component]
fn Keys(keys: Vec<KeyView>) -> impl IntoView {
    let revoke_url = <RevokeKey as ServerFn>::url();
    view! {
        <table class="channels keys">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"Key"</th><th scope="col">"Scope"</th><th scope="col">"Last used (UTC)"</th><th scope="col"><span class="sr-only">"Rotate or revoke"</span></th></tr></thead>
            <tbody>
                {keys.into_iter().map(|k| view! {
                    <tr data-key=k.id.clone() class:dismissed=k.revoked_at.is_some()>
                        <td>{if k.name.is_empty() { "(first start)".to_string() } else { k.name.clone() }}</td>
                        <td class="mono">{format!("{}…", k.prefix)}</td>
                        <td>{k.scope.clone()}</td>
                        <td class="time">{k.last_used_at.map(format_datetime).unwrap_or_else(|| "never".into())}</td>
                        <td>
                            {match k.revoked_at {
                                Some(t) => view! { <span class="badge">{format!("revoked {}", format_datetime(t))}</span> }.into_any(),
                                None => view! {
                                    <div class="key-actions">
                                        <RotateKeyButton id=k.id.clone() name=k.name.clone()/>
                                        <form method="post" action=revoke_url>
                                            <input type="hidden" name="id" value=k.id.clone()/>
                                            <button type="submit" class="link-button" aria-label=format!("Revoke key {}", k.name)>"Revoke"</button>
                                        </form>
                                    </div>
                                }.into_any(),
                            }}
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <NewKeyForm/>
        <p class="hint">"The API does the same: POST /api/v1/keys {\"name\", \"scope\": \"ingest|read|admin\"}, POST /api/v1/keys/{id}/rotate, DELETE /api/v1/keys/{id}."</p>
    }
}

#[component]
fn Audit(audit: Vec<AuditView>) -> impl IntoView {
    view! {
        <table class="channels audit">
            <thead><tr><th scope="col">"Time (UTC)"</th><th scope="col">"Who"</th><th scope="col">"Did"</th><th scope="col">"What"</th><th scope="col">"From"</th></tr></thead>
            <tbody>
                {audit.into_iter().map(|e| view! {
                    <tr data-action=e.action.clone()>
                        <td class="time">{format_datetime(e.time)}</td>
                        <td>{e.actor.clone()}</td>
                        <td class="mono">{e.action.clone()}</td>
                        <td>{e.target.clone()} " " <span class="labels">{e.detail.clone()}</span></td>
                        <td class="mono">{e.ip.clone().unwrap_or_default()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
