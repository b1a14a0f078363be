//! The live toggle: one server-sent-events stream for every panel on the page. Updates are
//! handed to the chart islands as window events; the stream reconnects with backoff.

use crate::model::LiveStream;
use leptos::prelude::*;

/// `url` is the stream to open; when empty, `/api/v1/live/panels` for `streams` (embeds pass
/// their own, which follows the panels their token allows).
#[island]
pub fn LiveToggle(streams: Vec<LiveStream>, enabled: bool, url: String) -> impl IntoView {
    let on = RwSignal::new(enabled);
    let status = RwSignal::new(if enabled { "connecting" } else { "off" });
    #[cfg(feature = "hydrate")]
    {
        let url = if url.is_empty() {
            browser::stream_url(&streams)
        } else {
            url
        };
        let connection = StoredValue::new_local(None::<browser::Connection>);
        Effect::new(move |_| {
            if on.get() {
                browser::connect(
                    url.clone(),
                    "update",
                    browser::to_charts(),
                    status,
                    connection,
                    0,
                );
            } else {
                connection.set_value(None);
                status.set("off");
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (streams, url);
    let label = move || match status.get() {
        "live" => "Live",
        "connecting" => "Connecting…",
        "reconnecting" => "Reconnecting…",
        _ => "Paused",
    };
    view! {
        <button
            type="button"
            class="live-toggle"
            data-status=move || status.get()
            aria-pressed=move || on.get().to_string()
            disabled=!enabled
            title=if enabled { "Stream new data into the charts" } else { "Live updates need a range that ends now" }
            on:click=move |_| on.update(|v| *v = !*v)
        >
            <span class="dot" aria-hidden="true"></span>
            {label}
        </button>
    }
}

/// Opening and re-opening event streams; the log tail uses them too.
#[cfg(feature = "hydrate")]
pub(super) mod browser {
    use crate::islands::LIVE_EVENT;
    use crate::model::LiveStream;
    use gloo_timers::callback::Timeout;
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    /// An open event source with its callbacks; dropping it closes the stream.
    pub struct Connection {
        source: web_sys::EventSource,
        _on_update: Closure<dyn FnMut(web_sys::MessageEvent)>,
        _on_open: Closure<dyn FnMut(web_sys::Event)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
        _retry: Option<Timeout>,
    }

    impl Drop for Connection {
        fn drop(&mut self) {
            self.source.close();
        }
    }

    pub fn stream_url(streams: &[LiveStream]) -> String {
        let q = serde_json::to_string(streams).unwrap_or_else(|_| "[]".into());
        format!(
            "/api/v1/live/panels?q={}",
            String::from(js_sys::encode_uri_component(&q))
        )
    }

    /// Backoff before reconnect attempt `n`: 0.5 s doubling to 30 s.
    fn backoff_ms(attempt: u32) -> u32 {
        (500u32 << attempt.min(6)).min(30_000)
    }

    /// What a stream's messages are handed to.
    pub type OnData = std::rc::Rc<dyn Fn(String)>;

    /// Hands chart updates to the chart islands as window events.
    pub fn to_charts() -> OnData {
        std::rc::Rc::new(|data: String| {
            let init = web_sys::CustomEventInit::new();
            init.set_detail(&JsValue::from_str(&data));
            if let (Some(w), Ok(event)) = (
                web_sys::window(),
                web_sys::CustomEvent::new_with_event_init_dict(LIVE_EVENT, &init),
            ) {
                let _ = w.dispatch_event(&event);
            }
        })
    }

    /// Opens `url` and hands the data of each `event` message to `on_data`; on an error it
    /// reconnects after a backoff. The connection lives in `slot`: emptying it closes it.
    pub fn connect(
        url: String,
        event: &'static str,
        on_data: OnData,
        status: RwSignal<&'static str>,
        slot: StoredValue<Option<Connection>, LocalStorage>,
        attempt: u32,
    ) {
        let Ok(source) = web_sys::EventSource::new(&url) else {
            status.set("reconnecting");
            return;
        };
        let handler = on_data.clone();
        let on_update =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(data) = e.data().as_string() {
                    handler(data);
                }
            });
        let _ = source.add_event_listener_with_callback(event, on_update.as_ref().unchecked_ref());
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| status.set("live"));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        let retry_url = url.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            // The browser's own retry has a fixed delay; ours backs off.
            status.set("reconnecting");
            let url = retry_url.clone();
            let on_data = on_data.clone();
            let timer = Timeout::new(backoff_ms(attempt), move || {
                connect(url, event, on_data, status, slot, attempt + 1)
            });
            slot.update_value(|c| {
                if let Some(c) = c {
                    c.source.close();
                    c._retry = Some(timer);
                }
            });
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        slot.set_value(Some(Connection {
            source,
            _on_update: on_update,
            _on_open: on_open,
            _on_error: on_error,
            _retry: None,
        }));
    }
}
