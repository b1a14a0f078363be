//! Dark and light themes; the choice is kept in a cookie so the server renders it next time.

use leptos::prelude::*;

#[island]
pub fn ThemeToggle() -> impl IntoView {
    let toggle = move |_| {
        #[cfg(feature = "hydrate")]
        browser::toggle();
    };
    view! {
        <button class="icon-button theme-toggle" type="button" on:click=toggle title="Switch between dark and light theme" aria-label="Toggle theme">
            <span class="theme-icon" aria-hidden="true"></span>
        </button>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;

    pub fn toggle() {
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Some(root) = doc.document_element() else {
            return;
        };
        let next = if root.get_attribute("data-theme").as_deref() == Some("light") {
            "dark"
        } else {
            "light"
        };
        let _ = root.set_attribute("data-theme", next);
        if let Ok(html) = doc.dyn_into::<web_sys::HtmlDocument>() {
            let _ = html.set_cookie(&format!(
                "osprey_theme={next}; path=/; max-age=31536000; SameSite=Lax"
            ));
        }
        if let Some(w) = web_sys::window() {
            if let Ok(e) = web_sys::Event::new(super::super::THEME_EVENT) {
                let _ = w.dispatch_event(&e);
            }
        }
    }
}
