//! Sign-in: a plain form posted to `/login`, which sets the session cookie and sends the person
//! back where they were going.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let (error, next) = query.with_untracked(|q| (q.get("error"), q.get("next")));
    // Only paths on this site: never an absolute URL to somewhere else.
    let next = crate::auth::local_path(next.as_deref().unwrap_or("/")).to_string();
    let message = error.map(|e| match e.as_str() {
        "limited" => "Too many failed sign-ins. Wait a few minutes and try again.",
        _ => "Wrong username or password.",
    });
    view! {
        <section class="login card">
            <h1>"Sign in to Osprey"</h1>
            {message.map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <form method="post" action="/login" class="login-form">
                <input type="hidden" name="next" value=next/>
                <label>"Username " <input name="username" required autocomplete="username" autofocus/></label>
                <label>"Password " <input name="password" type="password" required autocomplete="current-password"/></label>
                <button type="submit" class="primary">"Sign in"</button>
            </form>
        </section>
    }
}
