//! The interactive parts of pages; everything else stays server-rendered HTML.

mod chart;
mod embed;
mod explore;
mod grid_editor;
mod keys;
mod lazy_panel;
mod live;
mod log_tail;
mod panel;
mod theme;

pub use crate::model::LiveStream;
pub use chart::Chart;
pub use embed::EmbedBridge;
pub use explore::{ExploreView, Explorer, PanelSurface};
pub use grid_editor::GridEditor;
pub use keys::{NewKeyForm, RotateKeyButton};
pub use lazy_panel::{LazyPanel, PanelRequest};
pub use live::LiveToggle;
pub use log_tail::{LogTable, LogTail};
pub use panel::{LiveTable, Panel};
pub use theme::ThemeToggle;

/// Window events the islands talk through: live data for a panel, and a theme change.
pub const LIVE_EVENT: &str = "osprey:live";
pub const THEME_EVENT: &str = "osprey:theme";

/// The update a [`LIVE_EVENT`] carries, if it is one for panel `panel`.
#[cfg(feature = "hydrate")]
pub fn live_update_for(event: &web_sys::Event, panel: &str) -> Option<crate::model::PanelUpdate> {
    use wasm_bindgen::JsCast;
    let detail = event
        .dyn_ref::<web_sys::CustomEvent>()?
        .detail()
        .as_string()?;
    let update: crate::model::PanelUpdate = serde_json::from_str(&detail).ok()?;
    (update.panel == panel).then_some(update)
}
