//! A chart island: takes over from the server's SVG with a canvas drawn by plotters, shows a
//! tooltip on hover, and redraws (debounced) as live updates arrive.

use crate::model::PanelData;
use leptos::prelude::*;

/// What the tooltip shows, and where.
#[derive(Debug, Clone, PartialEq)]
struct Tip {
    left: f64,
    top: f64,
    time: String,
    rows: Vec<(usize, String, String)>,
    /// Explanations of anomalies at this time.
    notes: Vec<String>,
}

#[island]
pub fn Chart(data: PanelData) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let tip = RwSignal::new(None::<Tip>);
    // A stat panel's big numbers, kept current by live updates.
    let stat = data.spec.viz == crate::model::Viz::Stat;
    let latest = RwSignal::new(if stat { data.latest(4) } else { Vec::new() });
    #[cfg(feature = "hydrate")]
    let state = browser::mount(canvas, data, stat.then_some(latest));
    #[cfg(not(feature = "hydrate"))]
    let _ = data;
    let on_move = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        tip.set(browser::tip_at(
            &state,
            ev.offset_x() as f64,
            ev.offset_y() as f64,
        ));
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        {stat.then(|| view! {
            <div class="stat-values" data-testid="stat">
                {move || latest.get().into_iter().map(|(i, name, value)| view! {
                    <div class="stat-item">
                        <span class=format!("stat-value c{i}")>{value}</span>
                        <span class="stat-name">{name}</span>
                    </div>
                }).collect_view()}
            </div>
        })}
        <canvas node_ref=canvas class="chart-canvas" on:mousemove=on_move on:mouseleave=move |_| tip.set(None)></canvas>
        <div class="tooltip" role="tooltip" style:display=move || if tip.with(Option::is_some) { "block" } else { "none" }
            style:left=move || tip.with(|t| t.as_ref().map(|t| format!("{}px", t.left)).unwrap_or_default())
            style:top=move || tip.with(|t| t.as_ref().map(|t| format!("{}px", t.top)).unwrap_or_default())>
            {move || tip.get().map(|t| view! {
                <div class="tooltip-time">{t.time}</div>
                {t.rows.into_iter().map(|(i, name, value)| view! {
                    <div class="tooltip-row"><span class=format!("swatch c{i}")></span>{name}<b>{value}</b></div>
                }).collect_view()}
                {t.notes.into_iter().map(|note| view! { <div class="tooltip-anomaly">{note}</div> }).collect_view()}
            })}
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Tip;
    use crate::chart::{draw, ChartColors, Geometry};
    use crate::islands::{live_update_for, LIVE_EVENT, THEME_EVENT};
    use crate::model::{format_datetime, format_value, PanelData};
    use gloo_timers::callback::Timeout;
    use leptos::prelude::*;
    use plotters::prelude::*;
    use plotters_canvas::CanvasBackend;
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen::JsCast;

    /// Redraws wait this long so a burst of updates costs one frame.
    const DEBOUNCE_MS: u32 = 100;

    pub struct ChartState {
        canvas: Option<web_sys::HtmlCanvasElement>,
        data: PanelData,
        geometry: Geometry,
        pending: Option<Timeout>,
        /// Drawn only once near the viewport: a dashboard of 40 panels draws the few in view
        /// first and the others as they are scrolled to (the server's SVG shows until then).
        visible: bool,
        watcher: Option<Watcher>,
    }

    /// The observer waiting for the chart to come into view, and its callback.
    struct Watcher {
        observer: web_sys::IntersectionObserver,
        _callback: Closure<dyn FnMut(js_sys::Array)>,
    }

    impl Drop for Watcher {
        fn drop(&mut self) {
            self.observer.disconnect();
        }
    }

    /// How far outside the viewport a chart already counts as in view.
    const NEAR_VIEW: &str = "200px";

    pub type Shared = Rc<RefCell<ChartState>>;

    pub fn mount(
        canvas: NodeRef<leptos::html::Canvas>,
        data: PanelData,
        latest: Option<RwSignal<Vec<(usize, String, String)>>>,
    ) -> Shared {
        let panel = data.spec.id.clone();
        let state: Shared = Rc::new(RefCell::new(ChartState {
            canvas: None,
            data,
            geometry: Geometry::default(),
            pending: None,
            visible: false,
            watcher: None,
        }));
        let s = state.clone();
        Effect::new(move |_| {
            if let Some(el) = canvas.get() {
                s.borrow_mut().canvas = Some(el.clone());
                draw_when_in_view(&s, &el);
            }
        });
        let s = state.clone();
        let live = window_event_listener_untyped(LIVE_EVENT, move |e| {
            let Some(update) = live_update_for(&e, &panel) else {
                return;
            };
            s.borrow_mut()
                .data
                .merge_live(&update.series, js_sys::Date::now() as i64);
            if let Some(latest) = latest {
                latest.set(s.borrow().data.latest(4));
            }
            schedule(&s);
        });
        let s = state.clone();
        let theme = window_event_listener_untyped(THEME_EVENT, move |_| schedule(&s));
        let s = state.clone();
        let resize = window_event_listener_untyped("resize", move |_| schedule(&s));
        on_cleanup(move || {
            live.remove();
            theme.remove();
            resize.remove();
        });
        state
    }

    /// Draws the chart the first time it comes near the viewport (at once where there is no
    /// IntersectionObserver), and marks its box drawn.
    fn draw_when_in_view(state: &Shared, el: &web_sys::HtmlCanvasElement) {
        let show = |state: &Shared, el: &web_sys::HtmlCanvasElement| {
            state.borrow_mut().visible = true;
            redraw(state);
            // The box around the canvas (an island wrapper may sit between them).
            if let Ok(Some(chart_box)) = el.closest(".chart-box") {
                let _ = chart_box.class_list().add_1("hydrated");
            }
        };
        // Weak: the state owns the observer, so the observer's callback must not own the state.
        let weak = Rc::downgrade(state);
        let target = el.clone();
        let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |entries: js_sys::Array| {
            let Some(s) = weak.upgrade() else {
                return;
            };
            let near = entries.iter().any(|e| {
                e.unchecked_into::<web_sys::IntersectionObserverEntry>()
                    .is_intersecting()
            });
            if near && !s.borrow().visible {
                show(&s, &target);
                // Seen once is enough: from now on it redraws whenever its data changes. (The
                // callback running now stays alive until the chart goes.)
                if let Some(w) = &s.borrow().watcher {
                    w.observer.disconnect();
                }
            }
        });
        let init = web_sys::IntersectionObserverInit::new();
        init.set_root_margin(NEAR_VIEW);
        match web_sys::IntersectionObserver::new_with_options(
            callback.as_ref().unchecked_ref(),
            &init,
        ) {
            Ok(observer) => {
                observer.observe(el);
                state.borrow_mut().watcher = Some(Watcher {
                    observer,
                    _callback: callback,
                });
            }
            Err(_) => show(state, el),
        }
    }

    fn schedule(state: &Shared) {
        if state.borrow().pending.is_some() {
            return;
        }
        let s = state.clone();
        let timer = Timeout::new(DEBOUNCE_MS, move || {
            s.borrow_mut().pending = None;
            redraw(&s);
        });
        state.borrow_mut().pending = Some(timer);
    }

    fn redraw(state: &Shared) {
        let mut st = state.borrow_mut();
        if !st.visible {
            return;
        }
        let Some(canvas) = st.canvas.clone() else {
            return;
        };
        let rect = canvas.get_bounding_client_rect();
        let (w, h) = (rect.width().round() as u32, rect.height().round() as u32);
        if w == 0 || h == 0 {
            return;
        }
        if canvas.width() != w || canvas.height() != h {
            canvas.set_width(w);
            canvas.set_height(h);
        }
        let Some(backend) = CanvasBackend::with_canvas_object(canvas.clone()) else {
            return;
        };
        let root = backend.into_drawing_area();
        if let Ok(g) = draw(&root, &st.data, &theme_colors()) {
            st.geometry = g;
            // What was drawn, for tests and for anyone inspecting the page.
            let points: usize = st.data.series.iter().map(|s| s.points.len()).sum();
            let max = st
                .data
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .fold(f64::NEG_INFINITY, f64::max);
            let _ = canvas.set_attribute("data-points", &points.to_string());
            let _ = canvas.set_attribute(
                "data-max",
                &if max.is_finite() {
                    max.to_string()
                } else {
                    String::new()
                },
            );
            let _ = canvas.set_attribute("data-span", &(st.data.to - st.data.from).to_string());
            let markers = crate::chart::marker_positions(&st.data).len();
            let _ = canvas.set_attribute("data-anomalies", &markers.to_string());
        }
    }

    fn theme_colors() -> ChartColors {
        let [background, grid, axis, text] = crate::islands::theme::css_colors([
            "--chart-bg",
            "--chart-grid",
            "--chart-axis",
            "--chart-text",
        ]);
        let or = |c: Option<[u8; 3]>, fallback: RGBColor| {
            c.map(|[r, g, b]| RGBColor(r, g, b)).unwrap_or(fallback)
        };
        ChartColors {
            background: or(background, RGBColor(0x16, 0x1b, 0x22)),
            grid: or(grid, RGBColor(0x2a, 0x31, 0x3c)),
            axis: or(axis, RGBColor(0x4a, 0x53, 0x60)),
            text: or(text, RGBColor(0x9a, 0xa4, 0xb2)),
        }
    }

    pub fn tip_at(state: &Shared, x: f64, y: f64) -> Option<Tip> {
        let st = state.borrow();
        let t = st.geometry.time_at(x)?;
        let rows: Vec<(usize, String, String)> = st
            .data
            .series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let near = crate::chart::nearest(&s.points, t, st.data.step)?;
                Some((
                    i,
                    st.data.series_name(s),
                    format!("{} {}", format_value(near.1), st.data.spec.unit),
                ))
            })
            .collect();
        let notes = st
            .data
            .anomalies
            .iter()
            .filter(|m| (m.ts - t).abs() <= st.data.step * 2)
            .map(|m| m.explanation.clone())
            .collect();
        if rows.is_empty() {
            return None;
        }
        let flip = x > (st.geometry.right as f64) * 0.6;
        Some(Tip {
            left: if flip { x - 180.0 } else { x + 12.0 },
            top: (y - 10.0).max(0.0),
            time: format!("{} UTC", format_datetime(t)),
            rows,
            notes,
        })
    }
}
