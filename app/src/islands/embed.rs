//! The postMessage side of an embed, talking to the page that frames it:
//!
//! - to the host, `{"type": "osprey:height", "height": <px>}` whenever the content's height
//!   changes (and once at start), so the iframe can be sized to fit;
//! - from the host, `{"type": "osprey:set", "range": "6h"}` or `{"type": "osprey:set",
//!   "from": <unix ms>, "to": <unix ms>}`, and/or `"vars": {"service": "web"}` (an empty value
//!   clears a variable): the embed reloads with them in its URL, as a link would. Variables the
//!   token locks keep the token's values. Messages from any window but the parent are ignored.

use leptos::prelude::*;

#[island]
pub fn EmbedBridge() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    browser::start();
}

#[cfg(feature = "hydrate")]
mod browser {
    use js_sys::{Object, Reflect};
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    pub fn start() {
        let Some(window) = web_sys::window() else {
            return;
        };
        let Some(parent) = window.parent().ok().flatten() else {
            return;
        };
        if Object::is(&parent, &window) {
            return; // not framed
        }
        report_height(&window, &parent);
        let host = parent.clone();
        let _ = window_event_listener_untyped("message", move |e| {
            let Some(e) = e.dyn_ref::<web_sys::MessageEvent>() else {
                return;
            };
            let from_host = e.source().is_some_and(|s| Object::is(&s, &host));
            if from_host {
                apply(&e.data());
            }
        });
    }

    /// Posts the content's height now and whenever it changes.
    fn report_height(window: &web_sys::Window, parent: &web_sys::Window) {
        let Some(root) = window.document().and_then(|d| d.document_element()) else {
            return;
        };
        let parent = parent.clone();
        let measured = root.clone();
        let last = std::cell::Cell::new(-1);
        let post = move || {
            let height = measured.scroll_height();
            if height == last.replace(height) {
                return;
            }
            let message = Object::new();
            let _ = Reflect::set(&message, &"type".into(), &"osprey:height".into());
            let _ = Reflect::set(&message, &"height".into(), &height.into());
            // Only a number goes out, so any host may read it.
            let _ = parent.post_message(&message, "*");
        };
        post();
        let observe = Closure::<dyn Fn()>::new(post);
        if let Ok(observer) = web_sys::ResizeObserver::new(observe.as_ref().unchecked_ref()) {
            if let Some(body) = window.document().and_then(|d| d.body()) {
                observer.observe(&body);
            }
            observer.observe(&root);
        }
        // Lives as long as the page.
        observe.forget();
    }

    /// An `osprey:set` message: the new range and variables, by reloading with them in the URL.
    fn apply(data: &JsValue) {
        let field = |name: &str| Reflect::get(data, &name.into()).unwrap_or(JsValue::UNDEFINED);
        if field("type").as_string().as_deref() != Some("osprey:set") {
            return;
        }
        let Some(location) = web_sys::window().map(|w| w.location()) else {
            return;
        };
        let Ok(href) = location.href() else {
            return;
        };
        let Ok(url) = web_sys::Url::new(&href) else {
            return;
        };
        let params = url.search_params();
        let instant = |v: JsValue| {
            v.as_f64()
                .map(|n| format!("{}", n as i64))
                .or_else(|| v.as_string())
        };
        if let Some(range) = field("range").as_string() {
            params.set("range", &range);
            params.delete("from");
            params.delete("to");
        } else if let (Some(from), Some(to)) = (instant(field("from")), instant(field("to"))) {
            params.set("from", &from);
            params.set("to", &to);
            params.delete("range");
        }
        let vars = field("vars");
        if vars.is_object() {
            for entry in Object::entries(vars.unchecked_ref::<Object>()).iter() {
                let pair: js_sys::Array = entry.unchecked_into();
                let (Some(name), value) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
                    continue;
                };
                let key = format!("var-{name}");
                match value.filter(|v| !v.is_empty()) {
                    Some(v) => params.set(&key, &v),
                    None => params.delete(&key),
                }
            }
        }
        let next = url.href();
        if next != href {
            let _ = location.replace(&next);
        }
    }
}
