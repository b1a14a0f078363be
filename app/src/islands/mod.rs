//! The interactive parts of pages; everything else stays server-rendered HTML.

mod chart;
mod live;
mod theme;

pub use crate::model::LiveStream;
pub use chart::Chart;
pub use live::LiveToggle;
pub use theme::ThemeToggle;

/// Window events the islands talk through: live data for a panel, and a theme change.
pub const LIVE_EVENT: &str = "osprey:live";
pub const THEME_EVENT: &str = "osprey:theme";
