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

/// The theme's colours named by CSS custom properties (`--chart-bg`…), read from the root
/// element's computed style (once for all of them) as `#rrggbb`; None for any that is missing or
/// written otherwise. The canvas and GPU islands draw with these, so they follow the theme.
#[cfg(feature = "hydrate")]
pub(crate) fn css_colors<const N: usize>(names: [&str; N]) -> [Option<[u8; 3]>; N] {
    let style = web_sys::window().and_then(|w| {
        w.document()
            .and_then(|d| d.document_element())
            .and_then(|e| w.get_computed_style(&e).ok().flatten())
    });
    names.map(|name| {
        let value = style.as_ref()?.get_property_value(name).ok()?;
        let hex = value.trim().strip_prefix('#')?;
        if hex.len() != 6 {
            return None;
        }
        let n = u32::from_str_radix(hex, 16).ok()?;
        Some([(n >> 16) as u8, (n >> 8) as u8, n as u8])
    })
}
