//! Osprey's dashboard: server-rendered pages with small hydrated islands.
//!
//! Pages and layout render on the server only; the interactive parts (charts, theme toggle,
//! live toggle) are `#[island]`s that the wasm bundle wakes up.

#[cfg(feature = "ssr")]
pub mod alerting;
#[cfg(feature = "ssr")]
pub mod auth;
pub mod chart;
#[cfg(feature = "ssr")]
pub mod dashboards;
pub mod downsample;
#[cfg(feature = "ssr")]
pub mod embeds;
pub mod islands;
pub mod keys;
pub mod layout;
pub mod lazy;
pub mod model;
#[cfg(feature = "ssr")]
pub mod security;
#[cfg(feature = "ssr")]
pub mod settings;
pub mod waterfall;
// Pages render only on the server; the browser bundle carries just the islands.
#[cfg(feature = "ssr")]
pub mod pages;
#[cfg(feature = "ssr")]
pub mod panels;
#[cfg(feature = "ssr")]
mod shell;
#[cfg(feature = "ssr")]
pub mod signals;
#[cfg(feature = "ssr")]
pub use shell::{shell, App};

/// Escapes text for HTML; for the few places that build markup as strings.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
