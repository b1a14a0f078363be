//! Who is asking, for pages and server functions. The server decides (its middleware puts a
//! [`Who`] on every request); pages only read it.

use crate::model::Who;
use leptos::prelude::*;

/// The person behind the current request; anonymous with no role when unknown.
pub fn who() -> Who {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Who>().cloned())
        .unwrap_or_default()
}

/// For server functions that change things: an editor or admin, else an error that says so.
pub fn require_editor() -> Result<Who, ServerFnError> {
    let who = who();
    if who.can_edit() {
        Ok(who)
    } else if who.signed_in {
        Err(ServerFnError::new(
            "forbidden: your role may not change this",
        ))
    } else {
        Err(ServerFnError::new("sign in to change this"))
    }
}
