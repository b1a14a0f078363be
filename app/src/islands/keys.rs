//! Creating and rotating API keys on the Settings page. A new key's secret is shown once, in the
//! answer to the request that made it, so these run in the browser and keep that answer on the
//! page instead of navigating away from it.

use crate::keys::{CreateKey, RotateKey};
use crate::model::NewKey;
use leptos::form::ActionForm;
use leptos::prelude::*;

#[island]
pub fn NewKeyForm() -> impl IntoView {
    let create = ServerAction::<CreateKey>::new();
    let value = create.value();
    view! {
        <ActionForm action=create>
            <div class="channel-form">
                <label>"Name " <input name="name" required maxlength="200" autocomplete="off" placeholder="checkout service"/></label>
                <label>"Scope "
                    <select name="scope">
                        <option value="ingest">"ingest: send data only"</option>
                        <option value="read">"read: query the API"</option>
                        <option value="admin">"admin: everything"</option>
                    </select>
                </label>
                <button type="submit" disabled=move || create.pending().get()>"Create key"</button>
            </div>
        </ActionForm>
        {move || value.get().map(shown_once)}
    }
}

/// Rotating key `id`: it stops working at once and a new key with its name and scope replaces it.
#[island]
pub fn RotateKeyButton(id: String, name: String) -> impl IntoView {
    let rotate = ServerAction::<RotateKey>::new();
    let value = rotate.value();
    let label = format!("Rotate key {name}");
    view! {
        <button
            type="button"
            class="link-button"
            aria-label=label
            disabled=move || rotate.pending().get() || value.with(|v| matches!(v, Some(Ok(_))))
            on:click=move |_| {
                rotate.dispatch(RotateKey { id: id.clone() });
            }
        >
            "Rotate"
        </button>
        {move || value.get().map(shown_once)}
    }
}

/// A new key's secret with the warning that goes with it, or why there is none.
fn shown_once(result: Result<NewKey, ServerFnError>) -> AnyView {
    match result {
        Ok(new) => view! {
            <div class="new-key" role="status">
                <p>
                    "New " {new.key.scope} " key " <strong>{new.key.name}</strong>
                    ": copy it now, it is not shown again. Reload to see it listed."
                </p>
                <code class="secret" data-secret="">{new.secret}</code>
            </div>
        }
        .into_any(),
        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
    }
}
