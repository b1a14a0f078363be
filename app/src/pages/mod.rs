//! Server-rendered pages.

pub mod overview;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="empty-page">
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href="/">"Back to the overview"</a></p>
        </section>
    }
}
