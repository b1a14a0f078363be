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

/// Where to send someone after signing in: `next` when it is a path on this site, else `/`.
/// A path starts with exactly one `/`; browsers read `\` as `/` and drop tabs and newlines,
/// so `//host`, `/\host` and their look-alikes (which leave the site) are refused.
pub fn local_path(next: &str) -> &str {
    let on_site = next.starts_with('/')
        && !next[1..].starts_with('/')
        && !next.chars().any(|c| c == '\\' || c.is_control());
    if on_site {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for ok in ["/", "/errors", "/dashboards/abc?range=6h", "/a//b"] {
            assert_eq!(local_path(ok), ok);
        }
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x\\..\\..\\evil",
            "evil.example",
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }
}
