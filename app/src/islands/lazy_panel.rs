//! A dashboard panel below the first screen: a placeholder with its title until it comes near
//! the viewport, then the panel with its data. Panels that come into view together (a fast
//! scroll, a tall screen) share one request ([`crate::lazy::load_panels`]).

use super::Panel;
use crate::model::{PanelData, TimeRange};
use leptos::prelude::*;

/// What a lazy panel needs to ask for its data: the same dashboard, range and variables as the
/// page around it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PanelRequest {
    pub dashboard: String,
    pub panel: String,
    pub range: TimeRange,
    pub vars: Vec<(String, String)>,
}

#[island]
pub fn LazyPanel(request: PanelRequest, title: String) -> impl IntoView {
    let data = RwSignal::new(None::<Result<PanelData, String>>);
    let root = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    browser::when_near(root, request, data);
    #[cfg(not(feature = "hydrate"))]
    let _ = request;
    view! {
        <div class="lazy-panel" node_ref=root>
            {move || match data.get() {
                Some(Ok(data)) => view! { <Panel data/> }.into_any(),
                Some(Err(e)) => view! {
                    <section class="panel">
                        <header class="panel-header"><h2>{title.clone()}</h2></header>
                        <p class="error" role="alert">"Cannot load this panel: " {e}</p>
                    </section>
                }.into_any(),
                None => view! {
                    <section class="panel pending" aria-busy="true">
                        <header class="panel-header"><h2>{title.clone()}</h2></header>
                        <p class="loading">"Loading when scrolled into view…"</p>
                    </section>
                }.into_any(),
            }}
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::PanelRequest;
    use crate::model::{PanelData, TimeRange};
    use gloo_timers::callback::Timeout;
    use leptos::prelude::*;
    use std::cell::RefCell;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    type Slot = RwSignal<Option<Result<PanelData, String>>>;
    /// What panels of one request share: dashboard, range and variables.
    type Shared = (String, TimeRange, Vec<(String, String)>);

    /// Panels waiting for the next request, grouped by what they share.
    #[derive(Default)]
    struct Queue {
        waiting: Vec<(PanelRequest, Slot)>,
        flush: Option<Timeout>,
    }

    thread_local! {
        static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
    }

    /// Panels coming into view within this long of each other share a request.
    const GATHER_MS: u32 = 30;

    pub fn when_near(root: NodeRef<leptos::html::Div>, request: PanelRequest, slot: Slot) {
        Effect::new(move |_| {
            let Some(el) = root.get() else {
                return;
            };
            let queued = request.clone();
            let fired = std::rc::Rc::new(std::cell::Cell::new(false));
            let once = fired.clone();
            let callback = Closure::<dyn FnMut(js_sys::Array, web_sys::IntersectionObserver)>::new(
                move |entries: js_sys::Array, observer: web_sys::IntersectionObserver| {
                    let near = entries.iter().any(|e| {
                        e.unchecked_into::<web_sys::IntersectionObserverEntry>()
                            .is_intersecting()
                    });
                    if near && !once.replace(true) {
                        observer.disconnect();
                        enqueue(queued.clone(), slot);
                    }
                },
            );
            let init = web_sys::IntersectionObserverInit::new();
            init.set_root_margin("300px");
            match web_sys::IntersectionObserver::new_with_options(
                callback.as_ref().unchecked_ref(),
                &init,
            ) {
                Ok(observer) => observer.observe(&el),
                Err(_) => enqueue(request.clone(), slot),
            }
            // Called at most once, then disconnected; it lives as long as the page.
            callback.forget();
        });
    }

    fn enqueue(request: PanelRequest, slot: Slot) {
        QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            q.waiting.push((request, slot));
            if q.flush.is_none() {
                q.flush = Some(Timeout::new(GATHER_MS, flush));
            }
        });
    }

    /// Sends what is waiting: one request per dashboard, range and variables (on one page,
    /// one request).
    fn flush() {
        let waiting = QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            q.flush = None;
            std::mem::take(&mut q.waiting)
        });
        let mut groups: Vec<(Shared, Vec<(String, Slot)>)> = Vec::new();
        for (r, slot) in waiting {
            let key = (r.dashboard, r.range, r.vars);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push((r.panel, slot)),
                None => groups.push((key, vec![(r.panel, slot)])),
            }
        }
        for ((dashboard, range, vars), list) in groups {
            for chunk in list.chunks(crate::lazy::MAX_PANELS) {
                let chunk = chunk.to_vec();
                let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
                let (dashboard, range, vars) = (dashboard.clone(), range.clone(), vars.clone());
                leptos::task::spawn_local(async move {
                    let answer = crate::lazy::load_panels(dashboard, ids, range, vars).await;
                    for (id, slot) in chunk {
                        let result = match &answer {
                            Ok(panels) => panels
                                .iter()
                                .find(|p| p.spec.id == id)
                                .cloned()
                                .ok_or_else(|| "this panel is no longer on the dashboard".into()),
                            Err(e) => Err(e.to_string()),
                        };
                        slot.set(Some(result));
                    }
                });
            }
        }
    }
}
