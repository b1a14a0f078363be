//! The browser half of Osprey: loads once, then wakes up only the interactive islands of a
//! server-rendered page.

// Linking `app` brings in the `#[island]` exports the loader looks up by name.
#[allow(unused_imports)]
use app::*;
use wasm_bindgen::prelude::wasm_bindgen;

/// Called by Leptos's island loader after the module is instantiated.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
