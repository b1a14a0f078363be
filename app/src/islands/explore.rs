//! The GPU views (wgpu: WebGPU, else WebGL2): a latency surface — requests by time and latency
//! as a lit surface to orbit and zoom —, a service map — services by traffic, latency and error
//! rate, the one under the pointer named —, and two dense 2-D views that pan and zoom: the
//! latency heatmap (the surface seen from above) and a scatter of every span (up to a million:
//! beyond a hundred thousand in view it draws their density, with failed spans on top), where
//! shift-dragging a region lists its slowest spans. A dashboard panel drawn in 3-D
//! ([`PanelSurface`]) is the same kind of view: its series over time as a lit surface.
//!
//! Switching views unmounts one GPU view and mounts the next; each tears its device, buffers
//! and (on WebGL2) its context down explicitly as it goes, so switching a hundred times leaves
//! nothing behind.

use crate::model::{format_time, LatencySurface, SeriesGrid, ServiceStats, SpanHit};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExploreView {
    Surface,
    Map,
    Heatmap,
    Scatter,
}

impl ExploreView {
    pub fn parse(text: &str) -> ExploreView {
        match text {
            "map" => ExploreView::Map,
            "heatmap" => ExploreView::Heatmap,
            "scatter" => ExploreView::Scatter,
            _ => ExploreView::Surface,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExploreView::Surface => "surface",
            ExploreView::Map => "map",
            ExploreView::Heatmap => "heatmap",
            ExploreView::Scatter => "scatter",
        }
    }
}

/// What one GPU view shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Scene {
    Surface(LatencySurface),
    Map(Vec<ServiceStats>),
    Heatmap(LatencySurface),
    /// Every span of `[from, to)` (of one service when not empty), fetched by the view.
    Scatter {
        from: i64,
        to: i64,
        service: String,
    },
    /// A dashboard panel's series: time × series × value.
    Series(SeriesGrid),
}

impl Scene {
    /// What the view is called in `data-kind`.
    fn kind(&self) -> &'static str {
        match self {
            Scene::Surface(_) => ExploreView::Surface.as_str(),
            Scene::Map(_) => ExploreView::Map.as_str(),
            Scene::Heatmap(_) => ExploreView::Heatmap.as_str(),
            Scene::Scatter { .. } => ExploreView::Scatter.as_str(),
            Scene::Series(_) => "series",
        }
    }

    /// Drawn flat, panned and zoomed (rather than orbited).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn is_flat(&self) -> bool {
        matches!(self, Scene::Heatmap(_) | Scene::Scatter { .. })
    }
}

#[island(lazy)]
pub fn Explorer(
    surface: LatencySurface,
    services: Vec<ServiceStats>,
    service: String,
    initial: ExploreView,
) -> impl IntoView {
    let current = RwSignal::new(initial);
    let tab = move |which: ExploreView, label: &'static str| {
        view! {
            <button type="button" role="tab" class="tab" data-view=which.as_str()
                aria-selected=move || (current.get() == which).to_string()
                on:click=move |_| {
                    current.set(which);
                    #[cfg(feature = "hydrate")]
                    browser::remember_view(which);
                }>
                {label}
            </button>
        }
    };
    view! {
        <div class="explore-tabs" role="tablist" aria-label="3-D views">
            {tab(ExploreView::Surface, "Latency surface")}
            {tab(ExploreView::Map, "Service map")}
            {tab(ExploreView::Heatmap, "Latency heatmap")}
            {tab(ExploreView::Scatter, "Span scatter")}
        </div>
        {move || {
            let scene = match current.get() {
                ExploreView::Surface => Scene::Surface(surface.clone()),
                ExploreView::Map => Scene::Map(services.clone()),
                ExploreView::Heatmap => Scene::Heatmap(surface.clone()),
                ExploreView::Scatter => Scene::Scatter { from: surface.from, to: surface.to, service: service.clone() },
            };
            view! { <GpuView scene/> }
        }}
    }
}

/// A dashboard panel's series as a lit 3-D surface (time along, series across, value up) to
/// orbit and zoom. Its code is a lazily loaded chunk, fetched only where such a panel is shown.
#[island(lazy)]
pub fn PanelSurface(grid: SeriesGrid) -> impl IntoView {
    view! { <GpuView scene=Scene::Series(grid)/> }
}

/// A text placed over the canvas where a point of the scene lands.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub text: String,
    pub x: f32,
    pub y: f32,
    pub class: &'static str,
}

/// The item under the pointer (service map).
#[derive(Debug, Clone, PartialEq)]
pub struct Hover {
    pub x: f32,
    pub y: f32,
    pub rows: Vec<(String, String)>,
    pub title: String,
}

#[component]
fn GpuView(scene: Scene) -> impl IntoView {
    let stage = NodeRef::<leptos::html::Div>::new();
    let status = RwSignal::new(String::from("starting"));
    let labels = RwSignal::new(Vec::<Label>::new());
    let hover = RwSignal::new(None::<Hover>);
    // A region being brushed (CSS pixels: left, top, width, height) and the spans found in it.
    let brush = RwSignal::new(None::<(f32, f32, f32, f32)>);
    let hits = RwSignal::new(None::<Result<Vec<SpanHit>, String>>);
    let kind = scene.kind();
    let empty = match &scene {
        Scene::Surface(s) | Scene::Heatmap(s) => s.requests == 0,
        Scene::Map(list) => list.is_empty(),
        Scene::Scatter { .. } => false,
        Scene::Series(g) => g.extent().is_none(),
    };
    let empty_text = if let Scene::Series(_) = scene {
        "No data in this range"
    } else {
        "No requests in this range yet: send spans (OTLP or the JSON API) and they appear here."
    };
    let caption = match &scene {
        Scene::Surface(s) => format!(
            "{} requests · {} to {} · drag to orbit, scroll to zoom",
            s.requests,
            format_time(s.from),
            format_time(s.to)
        ),
        Scene::Map(list) => format!(
            "{} services · x: requests (log) · y: p95 latency (log) · z: error rate · hover a service",
            list.len()
        ),
        Scene::Heatmap(s) => format!(
            "{} requests by time and latency · drag to pan, scroll to zoom",
            s.requests
        ),
        Scene::Scatter { .. } => {
            "every span by start and duration (log) · drag to pan, scroll to zoom, shift-drag to list a region's spans".to_string()
        }
        Scene::Series(g) => format!(
            "{} series × {} steps · drag to orbit, scroll to zoom",
            g.rows(),
            g.cols
        ),
    };
    #[cfg(feature = "hydrate")]
    let handlers = browser::mount(
        stage,
        scene,
        browser::Outputs {
            status,
            labels,
            hover,
            brush,
            hits,
        },
        caption.clone(),
    );
    #[cfg(not(feature = "hydrate"))]
    let _ = (scene, &stage);
    let on_down = move |ev: leptos::ev::PointerEvent| {
        #[cfg(feature = "hydrate")]
        handlers.pointer_down(ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        #[cfg(feature = "hydrate")]
        handlers.pointer_move(ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_up = move |ev: leptos::ev::PointerEvent| {
        #[cfg(feature = "hydrate")]
        handlers.pointer_up(ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_wheel = move |ev: leptos::ev::WheelEvent| {
        #[cfg(feature = "hydrate")]
        handlers.wheel(ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <figure class="gpu-view" data-testid="gpu-view" data-kind=kind data-status=move || status.get()>
            // The canvas is made (and removed) by the view itself: each mount gets a fresh one,
            // never a canvas whose context an earlier view has just released.
            <div class="gpu-stage" node_ref=stage
                on:pointerdown=on_down on:pointermove=on_move on:pointerup=on_up
                on:pointerleave=move |_| hover.set(None) on:wheel=on_wheel>
                <div class="gpu-labels" aria-hidden="true">
                    {move || labels.get().into_iter().map(|l| view! {
                        <span class=format!("gpu-label {}", l.class) style:left=format!("{}px", l.x) style:top=format!("{}px", l.y)>{l.text}</span>
                    }).collect_view()}
                </div>
                {move || hover.get().map(|h| view! {
                    <div class="tooltip gpu-tip" role="tooltip" data-testid="gpu-tip" style:display="block"
                        style:left=format!("{}px", h.x + 14.0) style:top=format!("{}px", h.y + 14.0)>
                        <div class="tooltip-time">{h.title}</div>
                        {h.rows.into_iter().map(|(k, v)| view! { <div class="tooltip-row">{k}<b>{v}</b></div> }).collect_view()}
                    </div>
                })}
                {move || brush.get().map(|(x, y, w, h)| view! {
                    <div class="gpu-brush" style:left=format!("{x}px") style:top=format!("{y}px")
                        style:width=format!("{w}px") style:height=format!("{h}px")></div>
                })}
                {empty.then(|| view! { <p class="gpu-message">{empty_text}</p> })}
                {move || status.get().strip_prefix("error: ").map(|m| view! { <p class="gpu-message" role="alert">{m.to_string()}</p> })}
            </div>
            <figcaption>
                <span>
                    {caption}
                    {matches!(kind, "surface" | "heatmap").then(|| view! { " · fewer" <span class="gpu-legend"></span> "more requests" })}
                </span>
                <span class="gpu-backend" data-testid="gpu-backend">{move || {
                    let s = status.get();
                    if s.starts_with("error") || s == "starting" { String::new() } else { s }
                }}</span>
            </figcaption>
            {move || hits.get().map(|found| match found {
                Err(e) => view! { <p class="error" role="alert">"Cannot list the spans: " {e}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="span-hits">"No spans in that region."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table span-hits" data-testid="span-hits">
                        <thead><tr><th>"Span"</th><th>"Service"</th><th>"Started"</th><th class="num">"Duration"</th><th>"Status"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|s| view! {
                                <tr>
                                    <td><a href=format!("/traces/{}", s.trace_id)>{s.name}</a></td>
                                    <td>{s.service}</td>
                                    <td>{crate::model::format_datetime(s.start)}</td>
                                    <td class="num">{format!("{} ms", crate::model::format_value(s.duration_ms))}</td>
                                    <td class=format!("status-{}", s.status)>{s.status.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </figure>
    }
    // Erased, so pages that nest the view deeply stay within the compiler's type depth.
    .into_any()
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{ExploreView, Hover, Label, Scene};
    use crate::model::SeriesGrid;
    use crate::model::{format_time, format_value, ServiceStats, SpanHit, SpanPoints};
    use glam::Vec3;
    use gpu::camera::{project, top_down, Orbit, Window2d};
    use gpu::render::{Frame, Renderer};
    use gpu::scene::{frame, height_surface, pick, surface, Density, Grid, LineVertex, Point};
    use leptos::prelude::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen::JsCast;

    type FrameCallback = Closure<dyn FnMut(f64)>;
    type ResizeCallback = Closure<dyn FnMut(js_sys::Array)>;

    /// One mounted GPU view: its renderer (once started), camera, and what is on screen.
    struct View {
        scene: Scene,
        canvas: Option<web_sys::HtmlCanvasElement>,
        renderer: Option<Renderer>,
        orbit: Orbit,
        /// What the flat views show, in their data units.
        window: Window2d,
        /// Service map points, for picking.
        points: Vec<Point>,
        /// The span scatter's spans, kept to redraw what the view shows after it moves.
        spans: Option<ScatterSpans>,
        /// The scatter's redraw once the view stops moving.
        settle: Option<gloo_timers::callback::Timeout>,
        drag: Option<(f32, f32)>,
        /// Where a brush started (CSS pixels within the canvas).
        brushing: Option<(f32, f32)>,
        frame_request: Option<(i32, FrameCallback)>,
        resize: Option<(web_sys::ResizeObserver, ResizeCallback)>,
        /// Set when the view unmounts: a renderer still starting is destroyed as it arrives.
        gone: bool,
        out: Outputs,
        /// Frames drawn, for tests and benchmarks.
        frames: u32,
    }

    /// What a view shows besides its canvas.
    #[derive(Clone, Copy)]
    pub struct Outputs {
        pub status: RwSignal<String>,
        pub labels: RwSignal<Vec<Label>>,
        pub hover: RwSignal<Option<Hover>>,
        pub brush: RwSignal<Option<(f32, f32, f32, f32)>>,
        pub hits: RwSignal<Option<Result<Vec<SpanHit>, String>>>,
    }

    type Shared = Rc<RefCell<View>>;

    /// The event handlers of one view (a Copy handle the view's closures share).
    #[derive(Clone, Copy)]
    pub struct Handlers(StoredValue<Shared, LocalStorage>);

    pub fn remember_view(which: ExploreView) {
        // The URL follows the tab, so a link or a reload shows the same view.
        if let Some(w) = web_sys::window() {
            if let Ok(history) = w.history() {
                let url = format!("?view={}", which.as_str());
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        }
    }

    pub fn mount(
        stage: NodeRef<leptos::html::Div>,
        scene: Scene,
        out: Outputs,
        caption: String,
    ) -> Handlers {
        let status = out.status;
        // The surface stands on the floor of the cube: look a little below its middle.
        let orbit = match scene {
            Scene::Surface(_) | Scene::Series(_) => Orbit {
                target: Vec3::new(0.0, -0.45, 0.0),
                ..Orbit::default()
            },
            Scene::Map(_) => Orbit {
                target: Vec3::new(0.0, -0.15, 0.0),
                distance: 5.2,
                ..Orbit::default()
            },
            Scene::Heatmap(_) | Scene::Scatter { .. } => Orbit::default(),
        };
        let state: Shared = Rc::new(RefCell::new(View {
            orbit,
            scene,
            canvas: None,
            renderer: None,
            window: Window2d {
                x0: -1.0,
                x1: 1.0,
                y0: -1.0,
                y1: 1.0,
            },
            brushing: None,
            points: Vec::new(),
            spans: None,
            settle: None,
            drag: None,
            frame_request: None,
            resize: None,
            gone: false,
            out,
            frames: 0,
        }));
        let s = state.clone();
        Effect::new(move |started: Option<()>| {
            if started.is_some() {
                return;
            }
            let Some(stage) = stage.get() else {
                return;
            };
            let Some(el) = new_canvas(&stage, &caption) else {
                status.set("error: Cannot make a canvas here.".into());
                return;
            };
            s.borrow_mut().canvas = Some(el.clone());
            let s = s.clone();
            leptos::task::spawn_local(async move {
                let (w, h, scale) = device_size(&el);
                match Renderer::new(el.clone(), w, h, scale).await {
                    Ok(renderer) => {
                        if s.borrow().gone {
                            renderer.destroy();
                            return;
                        }
                        let backend = renderer.backend_name().to_string();
                        s.borrow_mut().renderer = Some(renderer);
                        watch_size(&s, &el);
                        let scatter = match &s.borrow().scene {
                            Scene::Scatter { from, to, service } => {
                                Some((*from, *to, service.clone()))
                            }
                            _ => None,
                        };
                        if let Some((from, to, service)) = scatter {
                            if let Err(e) = load_scatter(&s, from, to, &service).await {
                                status.set(format!("error: Cannot load the spans: {e}"));
                                return;
                            }
                        } else {
                            upload(&s);
                        }
                        status.set(backend);
                        request_frame(&s);
                    }
                    Err(message) => status.set(format!("error: {message}")),
                }
            });
        });
        let teardown = leptos::__reexports::send_wrapper::SendWrapper::new(state.clone());
        on_cleanup(move || destroy(&teardown));
        Handlers(StoredValue::new_local(state))
    }

    /// Tears the view down: the pending frame, the size observer, then every GPU object.
    fn destroy(state: &Shared) {
        let mut v = state.borrow_mut();
        v.gone = true;
        if let Some((id, _)) = v.frame_request.take() {
            if let Some(w) = web_sys::window() {
                let _ = w.cancel_animation_frame(id);
            }
        }
        if let Some((observer, _)) = v.resize.take() {
            observer.disconnect();
        }
        if let Some(renderer) = v.renderer.take() {
            renderer.destroy();
        }
        if let Some(canvas) = v.canvas.take() {
            canvas.remove();
        }
        v.points.clear();
        v.spans = None;
        v.settle = None;
    }

    fn new_canvas(
        stage: &web_sys::HtmlDivElement,
        label: &str,
    ) -> Option<web_sys::HtmlCanvasElement> {
        let canvas: web_sys::HtmlCanvasElement = web_sys::window()?
            .document()?
            .create_element("canvas")
            .ok()?
            .dyn_into()
            .ok()?;
        canvas.set_class_name("gpu-canvas");
        let _ = canvas.set_attribute("aria-label", label);
        let _ = canvas.set_attribute("role", "img");
        stage.prepend_with_node_1(&canvas).ok()?;
        Some(canvas)
    }

    fn device_size(el: &web_sys::HtmlCanvasElement) -> (u32, u32, f32) {
        let scale = web_sys::window()
            .map(|w| w.device_pixel_ratio())
            .unwrap_or(1.0)
            .clamp(1.0, 3.0);
        let rect = el.get_bounding_client_rect();
        (
            ((rect.width() * scale).round() as u32).max(1),
            ((rect.height() * scale).round() as u32).max(1),
            scale as f32,
        )
    }

    fn watch_size(state: &Shared, el: &web_sys::HtmlCanvasElement) {
        let weak = Rc::downgrade(state);
        let target = el.clone();
        let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |_| {
            let Some(s) = weak.upgrade() else {
                return;
            };
            let (w, h, _) = device_size(&target);
            if let Some(r) = s.borrow_mut().renderer.as_mut() {
                r.resize(w, h);
            }
            request_frame(&s);
        });
        if let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) {
            observer.observe(el);
            state.borrow_mut().resize = Some((observer, callback));
        }
    }

    /// Builds the scene's geometry on the CPU and hands it to the GPU.
    fn upload(state: &Shared) {
        let mut v = state.borrow_mut();
        let v = &mut *v;
        let Some(renderer) = v.renderer.as_mut() else {
            return;
        };
        let (grid, axis) = line_colors();
        match &v.scene {
            Scene::Surface(s) | Scene::Heatmap(s) => {
                let grid_data = Grid {
                    cols: s.cols,
                    rows: s.rows(),
                    values: s.counts.iter().map(|&c| c as f32).collect(),
                };
                renderer.set_mesh(&surface(&grid_data));
                renderer.set_lines(&frame(10, grid, axis));
            }
            Scene::Map(services) => {
                let points = service_points(services);
                let mut lines = frame(10, grid, axis);
                // A drop line from each service to the floor shows where it stands in depth.
                for p in &points {
                    let [x, y, z] = p.position;
                    let c = [p.color[0], p.color[1], p.color[2], 0.5];
                    lines.push(LineVertex {
                        position: [x, y, z],
                        color: c,
                    });
                    lines.push(LineVertex {
                        position: [x, -1.0, z],
                        color: c,
                    });
                }
                renderer.set_lines(&lines);
                renderer.set_points(&points);
                v.points = points;
            }
            Scene::Series(g) => {
                renderer.set_mesh(&series_mesh(g));
                renderer.set_lines(&frame(10, grid, axis));
            }
            Scene::Scatter { .. } => {}
        }
    }

    /// The series as heights in 0..1 between their smallest and largest value, the first series
    /// in front; a single series is drawn as a ribbon.
    fn series_mesh(g: &SeriesGrid) -> gpu::scene::Mesh {
        let (lo, hi) = g.extent().unwrap_or((0.0, 1.0));
        let range = (hi - lo).max(f64::EPSILON);
        let mut rows: Vec<&[f64]> = g.values.chunks(g.cols.max(1)).rev().collect();
        if rows.len() == 1 {
            rows.push(rows[0]);
        }
        let heights: Vec<f32> = rows
            .iter()
            .flat_map(|row| row.iter().map(|v| ((v - lo) / range) as f32))
            .collect();
        height_surface(g.cols, rows.len(), &heights)
    }

    /// Fetches every span of the range (packed binary) and hands them to the GPU as points:
    /// x the start (ms after the range's start), y log10 of the duration.
    async fn load_scatter(state: &Shared, from: i64, to: i64, service: &str) -> Result<(), String> {
        let mut url = format!("/api/v1/spans/points?from={from}&to={to}");
        if !service.is_empty() {
            url.push_str(&format!("&service={}", crate::model::query_encode(service)));
        }
        let bytes = fetch(&url).await?;
        let spans = SpanPoints::decode(&bytes).ok_or("the answer is not in the expected format")?;
        let shift = (spans.origin - from) as f32;
        let data = ScatterSpans {
            xs: spans.starts.iter().map(|s| s + shift).collect(),
            ys: spans
                .durations_ms
                .iter()
                .map(|d| d.max(1e-3).log10())
                .collect(),
            failed: spans.failed,
        };
        let (lo, hi) = data
            .ys
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), y| {
                (lo.min(*y), hi.max(*y))
            });
        let (lo, hi) = if lo.is_finite() {
            (lo as f64 - 0.2, hi as f64 + 0.2)
        } else {
            (-1.0, 4.0)
        };
        let mut v = state.borrow_mut();
        if v.renderer.is_none() {
            return Ok(()); // gone while loading
        }
        v.window = Window2d {
            x0: 0.0,
            x1: (to - from) as f64,
            y0: lo,
            y1: hi,
        };
        if let Some(canvas) = &v.canvas {
            let _ = canvas.set_attribute("data-points", &data.xs.len().to_string());
        }
        v.spans = Some(data);
        show_spans(&mut v);
        Ok(())
    }

    /// Every span of the scatter: start (ms after the range's start) and log10 of the duration.
    struct ScatterSpans {
        xs: Vec<f32>,
        ys: Vec<f32>,
        failed: Vec<bool>,
    }

    /// Spans drawn one by one at most. Beyond it the scatter shows their density (counts on a
    /// grid of [`DENSITY_CELL_PX`] cells, log-coloured) with the failed ones as points on top,
    /// until zooming in brings the spans in view under it: a million blended quads cost seconds
    /// a frame on a software rasteriser, a density mesh costs what a heatmap does.
    const POINTS_AT_MOST: usize = 100_000;
    /// A density cell's size in CSS pixels.
    const DENSITY_CELL_PX: f64 = 5.0;
    /// How long the scatter waits after the last pan or zoom before drawing again for the view.
    const SETTLE_MS: u32 = 150;

    /// Uploads what the scatter shows for its current window: the window and half of it on
    /// each side (so panning shows spans until the next redraw), as points or as density.
    fn show_spans(v: &mut View) {
        let (Some(spans), Some(renderer), Some(canvas)) =
            (&v.spans, v.renderer.as_mut(), &v.canvas)
        else {
            return;
        };
        let w = &v.window;
        let (mx, my) = ((w.x1 - w.x0) * 0.5, (w.y1 - w.y0) * 0.5);
        let (x0, x1) = ((w.x0 - mx) as f32, (w.x1 + mx) as f32);
        let (y0, y1) = ((w.y0 - my) as f32, (w.y1 + my) as f32);
        let inside =
            |i: &usize| (x0..=x1).contains(&spans.xs[*i]) && (y0..=y1).contains(&spans.ys[*i]);
        let all = 0..spans.xs.len();
        let near = all.clone().filter(inside).count();
        let point = |i: usize| Point {
            position: [spans.xs[i], spans.ys[i], 0.0],
            size: if near > POINTS_AT_MOST { 2.0 } else { 3.0 },
            color: if spans.failed[i] {
                [0.94, 0.27, 0.27, 0.9]
            } else {
                [0.30, 0.60, 1.0, 0.45]
            },
        };
        let (mode, drawn) = if near <= POINTS_AT_MOST {
            let points: Vec<Point> = all.filter(inside).map(point).collect();
            renderer.set_mesh(&gpu::scene::Mesh::default());
            renderer.set_points(&points);
            ("points", points.len())
        } else {
            let rect = canvas.get_bounding_client_rect();
            let cols = (2.0 * rect.width() / DENSITY_CELL_PX) as usize;
            let rows = (2.0 * rect.height() / DENSITY_CELL_PX) as usize;
            let mut density = Density::new(cols, rows, (x0, x1), (y0, y1));
            let mut failed = Vec::new();
            for i in all {
                if density.add(spans.xs[i], spans.ys[i])
                    && spans.failed[i]
                    && failed.len() < POINTS_AT_MOST
                {
                    failed.push(point(i));
                }
            }
            renderer.set_mesh(&density.mesh());
            renderer.set_points(&failed);
            ("density", near)
        };
        let _ = canvas.set_attribute("data-mode", mode);
        let _ = canvas.set_attribute("data-drawn", &drawn.to_string());
    }

    /// Redraws the scatter for its window once it has stopped moving for [`SETTLE_MS`].
    fn show_spans_later(state: &Shared) {
        let s = state.clone();
        let timeout = gloo_timers::callback::Timeout::new(SETTLE_MS, move || {
            {
                let mut v = s.borrow_mut();
                if v.gone {
                    return;
                }
                v.settle = None;
                show_spans(&mut v);
            }
            request_frame(&s);
        });
        // Replacing a pending one cancels it.
        state.borrow_mut().settle = Some(timeout);
    }

    async fn fetch(url: &str) -> Result<Vec<u8>, String> {
        use wasm_bindgen_futures::JsFuture;
        let window = web_sys::window().ok_or("no window")?;
        let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
            .await
            .map_err(|_| "the request failed".to_string())?
            .unchecked_into();
        let body = JsFuture::from(response.array_buffer().map_err(|_| "no body")?)
            .await
            .map_err(|_| "the body could not be read".to_string())?;
        let bytes = js_sys::Uint8Array::new(&body).to_vec();
        if !response.ok() {
            return Err(format!(
                "{} {}",
                response.status(),
                String::from_utf8_lossy(&bytes)
            ));
        }
        Ok(bytes)
    }

    /// Lists the slowest spans inside a brushed region of the scatter.
    async fn load_hits(
        out: Outputs,
        from: i64,
        to: i64,
        min_ms: f64,
        max_ms: f64,
        service: String,
    ) {
        let mut url =
            format!("/api/v1/spans?from={from}&to={to}&min_ms={min_ms}&max_ms={max_ms}&limit=50");
        if !service.is_empty() {
            url.push_str(&format!(
                "&service={}",
                crate::model::query_encode(&service)
            ));
        }
        let found = fetch(&url).await.and_then(|bytes| {
            #[derive(serde::Deserialize)]
            struct Answer {
                spans: Vec<SpanHit>,
            }
            serde_json::from_slice::<Answer>(&bytes)
                .map(|a| a.spans)
                .map_err(|e| e.to_string())
        });
        out.hits.set(Some(found));
    }

    /// Services in the unit cube: x by requests (log), y by p95 latency (log), z by error rate;
    /// size by requests, colour from green (no errors) to red.
    pub(super) fn service_points(services: &[ServiceStats]) -> Vec<Point> {
        let log = |v: f64| v.max(1e-3).log10();
        let span = |values: Vec<f64>| {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if hi - lo < 1e-9 {
                (lo - 0.5, hi + 0.5)
            } else {
                (lo, hi)
            }
        };
        let (rx0, rx1) = span(services.iter().map(|s| log(s.requests as f64)).collect());
        let (ly0, ly1) = span(services.iter().map(|s| log(s.p95_ms)).collect());
        let max_error = services.iter().map(|s| s.error_rate).fold(0.05, f64::max);
        let max_requests = services
            .iter()
            .map(|s| s.requests)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let at = |v: f64, lo: f64, hi: f64| (-0.85 + 1.7 * (v - lo) / (hi - lo)) as f32;
        services
            .iter()
            .map(|s| {
                let e = (s.error_rate / max_error).clamp(0.0, 1.0) as f32;
                Point {
                    position: [
                        at(log(s.requests as f64), rx0, rx1),
                        at(log(s.p95_ms), ly0, ly1),
                        (-0.85 + 1.7 * e),
                    ],
                    size: 10.0 + 22.0 * (s.requests as f64 / max_requests).sqrt() as f32,
                    color: [0.25 + 0.7 * e, 0.75 - 0.5 * e, 0.45 - 0.2 * e, 0.92],
                }
            })
            .collect()
    }

    fn request_frame(state: &Shared) {
        if state.borrow().frame_request.is_some() || state.borrow().gone {
            return;
        }
        let weak = Rc::downgrade(state);
        let callback = Closure::<dyn FnMut(f64)>::new(move |_| {
            if let Some(s) = weak.upgrade() {
                // Keep the closure alive until it has returned: it is running now.
                let _running = s.borrow_mut().frame_request.take();
                draw(&s);
            }
        });
        let Some(w) = web_sys::window() else {
            return;
        };
        if let Ok(id) = w.request_animation_frame(callback.as_ref().unchecked_ref()) {
            state.borrow_mut().frame_request = Some((id, callback));
        }
    }

    impl View {
        /// World to clip space for what this view shows now (None until the renderer is up).
        fn view_proj(&self) -> Option<glam::Mat4> {
            let (w, h) = self.renderer.as_ref()?.size();
            Some(match &self.scene {
                Scene::Heatmap(_) => top_down(&self.window),
                Scene::Scatter { .. } => self.window.matrix((0.0, 0.0)),
                _ => self.orbit.view_proj(w as f32 / h.max(1) as f32),
            })
        }
    }

    fn draw(state: &Shared) {
        let mut guard = state.borrow_mut();
        let v = &mut *guard;
        let Some(view_proj) = v.view_proj() else {
            return;
        };
        let Some(renderer) = v.renderer.as_mut() else {
            return;
        };
        if !renderer.draw(&Frame {
            view_proj,
            lit: !v.scene.is_flat(),
            clear: background(),
        }) {
            drop(guard);
            request_frame(state);
            return;
        }
        v.frames += 1;
        if let Some(canvas) = &v.canvas {
            let _ = canvas.set_attribute("data-frames", &v.frames.to_string());
            // Labels in CSS pixels, where the canvas's box is.
            let rect = canvas.get_bounding_client_rect();
            let (cw, ch) = (rect.width() as f32, rect.height() as f32);
            let place = |p: [f32; 3], text: String, class: &'static str| {
                project(view_proj, Vec3::from(p), cw, ch).map(|(x, y)| Label { text, x, y, class })
            };
            let labels: Vec<Label> = match &v.scene {
                Scene::Surface(s) => {
                    let mut l = vec![
                        place([-1.0, -1.0, 1.15], format_time(s.from), "x"),
                        place([1.0, -1.0, 1.15], format_time(s.to), "x"),
                        place([0.0, -1.0, 1.3], "time →".into(), "axis"),
                        place([-1.15, -1.0, 1.3], "latency ↑".into(), "axis"),
                        place(
                            [-1.0, -1.0 + gpu::scene::SURFACE_HEIGHT + 0.08, -1.0],
                            format!(
                                "{} req",
                                format_value(s.counts.iter().copied().max().unwrap_or(0) as f64)
                            ),
                            "axis",
                        ),
                    ];
                    let rows = s.rows();
                    for i in [0, rows / 2, rows] {
                        if let Some(ms) = s.bounds_ms.get(i) {
                            let z = -1.0 + 2.0 * i as f32 / rows.max(1) as f32;
                            l.push(place(
                                [-1.12, -1.0, z],
                                format!("{} ms", format_value(*ms)),
                                "z",
                            ));
                        }
                    }
                    l.into_iter().flatten().collect()
                }
                Scene::Map(services) => {
                    // Where each service was drawn (CSS pixels), for tests and anyone inspecting.
                    let marks: Vec<serde_json::Value> = services
                        .iter()
                        .zip(&v.points)
                        .filter_map(|(s, p)| {
                            let (x, y) = project(view_proj, Vec3::from(p.position), cw, ch)?;
                            Some(serde_json::json!([s.service, x, y]))
                        })
                        .collect();
                    let _ = canvas
                        .set_attribute("data-marks", &serde_json::Value::from(marks).to_string());
                    let mut l: Vec<Option<Label>> = services
                        .iter()
                        .zip(&v.points)
                        .take(12)
                        .map(|(s, p)| {
                            let [x, y, z] = p.position;
                            place([x, y + 0.09, z], s.service.clone(), "name")
                        })
                        .collect();
                    l.push(place([0.0, -1.0, 1.2], "requests →".into(), "axis"));
                    l.push(place([-1.1, 0.0, -1.0], "p95 ↑".into(), "axis"));
                    l.push(place([-1.15, -1.0, 0.0], "errors →".into(), "axis"));
                    l.into_iter().flatten().collect()
                }
                Scene::Heatmap(s) => {
                    let rows = s.rows().max(1) as f64;
                    let time = |x: f64| s.from + ((x + 1.0) / 2.0 * (s.to - s.from) as f64) as i64;
                    let latency = |z: f64| {
                        let r = ((z + 1.0) / 2.0 * rows).clamp(0.0, rows);
                        let (lo, hi) = (s.bounds_ms[0], s.bounds_ms[s.rows()]);
                        lo * (hi / lo).powf(r / rows)
                    };
                    ticks(
                        &v.window,
                        cw,
                        ch,
                        |x| format_time(time(x)),
                        |z| format!("{} ms", format_value(latency(z))),
                    )
                }
                Scene::Series(g) => {
                    let (lo, hi) = g.extent().unwrap_or((0.0, 0.0));
                    let unit = if g.unit.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", g.unit)
                    };
                    let mut l = vec![
                        place([-1.0, -1.0, 1.15], format_time(g.from), "x"),
                        place([1.0, -1.0, 1.15], format_time(g.to), "x"),
                        place([0.0, -1.0, 1.3], "time →".into(), "axis"),
                        place(
                            [-1.12, -1.0, -1.0],
                            format!("{}{unit}", format_value(lo)),
                            "axis",
                        ),
                        place(
                            [-1.0, -1.0 + gpu::scene::SURFACE_HEIGHT + 0.08, -1.0],
                            format!("{}{unit}", format_value(hi)),
                            "axis",
                        ),
                    ];
                    // Series names along the right edge, the first in front; at most eight.
                    let rows = g.rows();
                    let every = rows.div_ceil(8).max(1);
                    for (i, name) in g.names.iter().enumerate().step_by(every) {
                        let z = if rows > 1 {
                            1.0 - 2.0 * i as f32 / (rows - 1) as f32
                        } else {
                            0.0
                        };
                        l.push(place([1.1, -1.0, z], name.clone(), "z"));
                    }
                    l.into_iter().flatten().collect()
                }
                Scene::Scatter { from, .. } => {
                    let from = *from;
                    ticks(
                        &v.window,
                        cw,
                        ch,
                        |x| format_time(from + x as i64),
                        |y| format!("{} ms", format_value(10f64.powf(y))),
                    )
                }
            };
            v.out.labels.set(labels);
        }
    }

    /// Five ticks along the bottom and five up the left of a flat view.
    fn ticks(
        window: &Window2d,
        cw: f32,
        ch: f32,
        x_text: impl Fn(f64) -> String,
        y_text: impl Fn(f64) -> String,
    ) -> Vec<Label> {
        (0..5)
            .flat_map(|i| {
                let f = 0.1 + 0.2 * i as f64;
                let (x, y) = window.at(f, f);
                [
                    Label {
                        text: x_text(x),
                        x: f as f32 * cw,
                        y: ch - 12.0,
                        class: "x",
                    },
                    Label {
                        text: y_text(y),
                        x: 36.0,
                        y: (1.0 - f as f32) * ch,
                        class: "z",
                    },
                ]
            })
            .collect()
    }

    impl Handlers {
        pub fn pointer_down(self, ev: web_sys::PointerEvent) {
            let s = self.0.get_value();
            {
                let mut v = s.borrow_mut();
                if ev.shift_key() && matches!(v.scene, Scene::Scatter { .. }) {
                    let at = (ev.offset_x() as f32, ev.offset_y() as f32);
                    v.brushing = Some(at);
                    v.out.brush.set(Some((at.0, at.1, 0.0, 0.0)));
                } else {
                    v.drag = Some((ev.client_x() as f32, ev.client_y() as f32));
                }
            }
            if let Some(target) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            {
                let _ = target.set_pointer_capture(ev.pointer_id());
            }
        }

        pub fn pointer_move(self, ev: web_sys::PointerEvent) {
            let s = self.0.get_value();
            let (x, y) = (ev.client_x() as f32, ev.client_y() as f32);
            let moved = {
                let mut guard = s.borrow_mut();
                let v = &mut *guard;
                if let Some((bx, by)) = v.brushing {
                    let (mx, my) = (ev.offset_x() as f32, ev.offset_y() as f32);
                    v.out.brush.set(Some((
                        bx.min(mx),
                        by.min(my),
                        (mx - bx).abs(),
                        (my - by).abs(),
                    )));
                    return;
                }
                match (v.drag, &v.canvas) {
                    (Some((px, py)), Some(canvas)) => {
                        if v.scene.is_flat() {
                            let rect = canvas.get_bounding_client_rect();
                            v.window.pan(
                                (x - px) as f64,
                                (y - py) as f64,
                                rect.width(),
                                rect.height(),
                            );
                        } else {
                            v.orbit.drag(x - px, y - py);
                        }
                        v.drag = Some((x, y));
                        true
                    }
                    _ => false,
                }
            };
            if moved {
                s.borrow().out.hover.set(None);
                request_frame(&s);
                return;
            }
            let v = s.borrow();
            let (Scene::Map(services), Some(canvas), Some(view_proj)) =
                (&v.scene, &v.canvas, v.view_proj())
            else {
                return;
            };
            let rect = canvas.get_bounding_client_rect();
            let (cw, ch) = (rect.width() as f32, rect.height() as f32);
            let (mx, my) = (ev.offset_x() as f32, ev.offset_y() as f32);
            let found =
                pick(&v.points, view_proj, cw, ch, mx, my, 6.0).and_then(|i| services.get(i));
            v.out.hover.set(found.map(|s| Hover {
                x: mx,
                y: my,
                title: s.service.clone(),
                rows: vec![
                    ("requests".into(), format_value(s.requests as f64)),
                    ("errors".into(), format!("{:.1} %", s.error_rate * 100.0)),
                    ("p50".into(), format!("{} ms", format_value(s.p50_ms))),
                    ("p95".into(), format!("{} ms", format_value(s.p95_ms))),
                    ("p99".into(), format!("{} ms", format_value(s.p99_ms))),
                ],
            }));
        }

        pub fn pointer_up(self, _ev: web_sys::PointerEvent) {
            let s = self.0.get_value();
            let panned = s.borrow_mut().drag.take().is_some();
            if panned && s.borrow().spans.is_some() {
                show_spans_later(&s);
            }
            let mut v = s.borrow_mut();
            if v.brushing.take().is_none() {
                return;
            }
            let (Some((bx, by, bw, bh)), Some(canvas), Scene::Scatter { from, service, .. }) =
                (v.out.brush.get_untracked(), &v.canvas, &v.scene)
            else {
                return;
            };
            if bw < 3.0 || bh < 3.0 {
                v.out.brush.set(None);
                return;
            }
            // The box in data units: start (ms after `from`) across, log10 duration up.
            let rect = canvas.get_bounding_client_rect();
            let (cw, ch) = (rect.width().max(1.0), rect.height().max(1.0));
            let (x0, y_top) = v.window.at(bx as f64 / cw, 1.0 - by as f64 / ch);
            let (x1, y_bottom) = v
                .window
                .at((bx + bw) as f64 / cw, 1.0 - (by + bh) as f64 / ch);
            let (from, service, out) = (*from, service.clone(), v.out);
            out.hits.set(None);
            leptos::task::spawn_local(load_hits(
                out,
                from + x0.floor() as i64,
                from + x1.ceil() as i64 + 1,
                10f64.powf(y_bottom),
                10f64.powf(y_top),
                service,
            ));
        }

        pub fn wheel(self, ev: web_sys::WheelEvent) {
            ev.prevent_default();
            let s = self.0.get_value();
            {
                let mut guard = s.borrow_mut();
                let v = &mut *guard;
                if v.scene.is_flat() {
                    let Some(canvas) = &v.canvas else {
                        return;
                    };
                    let rect = canvas.get_bounding_client_rect();
                    let fx = ev.offset_x() as f64 / rect.width().max(1.0);
                    let fy = 1.0 - ev.offset_y() as f64 / rect.height().max(1.0);
                    v.window.zoom((ev.delta_y() * 0.001).exp(), fx, fy);
                } else {
                    v.orbit.zoom(ev.delta_y() as f32);
                }
            }
            if s.borrow().spans.is_some() {
                show_spans_later(&s);
            }
            request_frame(&s);
        }
    }

    /// A theme colour as 0..1 channels, or `fallback`.
    fn unit(c: Option<[u8; 3]>, fallback: [f64; 3]) -> [f64; 3] {
        c.map(|c| c.map(|v| v as f64 / 255.0)).unwrap_or(fallback)
    }

    fn background() -> [f64; 4] {
        let [bg] = crate::islands::theme::css_colors(["--chart-bg"]);
        let [r, g, b] = unit(bg, [0.086, 0.106, 0.133]);
        [r, g, b, 1.0]
    }

    fn line_colors() -> ([f32; 4], [f32; 4]) {
        let [grid, axis] = crate::islands::theme::css_colors(["--chart-grid", "--chart-axis"]);
        let f = |c: [f64; 3]| [c[0] as f32, c[1] as f32, c[2] as f32, 1.0];
        (
            f(unit(grid, [0.16, 0.19, 0.24])),
            f(unit(axis, [0.29, 0.33, 0.38])),
        )
    }
}
