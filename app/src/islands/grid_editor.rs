//! Moving and resizing a dashboard's panels with the pointer (editors only): drag a panel by
//! its header to move it, by its corner handle to resize it. The grid previews where every panel
//! goes while dragging (panels in the way move down, [`crate::layout::place`]) and the move is
//! stored when the pointer is let go.

use crate::layout::Cell;
use leptos::prelude::*;

/// `cells` are the panels' ids and places as the page was rendered.
#[island]
pub fn GridEditor(dashboard: String, cells: Vec<(String, Cell)>) -> impl IntoView {
    // "", "saving", "saved" or the error.
    let status = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    browser::attach(dashboard, cells, status);
    #[cfg(not(feature = "hydrate"))]
    let _ = (dashboard, cells);
    view! {
        <p class="layout-status" role="status" data-state=move || {
            let s = status.get();
            if s.is_empty() || s == "saving" || s == "saved" { s } else { "error".to_string() }
        }>
            {move || match status.get().as_str() {
                "" => "Drag a panel by its title to move it, by its corner to resize it.".to_string(),
                "saving" => "Saving the layout…".to_string(),
                "saved" => "Layout saved.".to_string(),
                error => format!("Could not save the layout: {error}"),
            }}
        </p>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use crate::layout::{place, Cell, COLUMNS};
    use leptos::prelude::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    /// Row height and gap of `.dashboard-grid`, in CSS pixels.
    const ROW: f64 = 32.0;
    const GAP: f64 = 12.0;

    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Move,
        Resize,
    }

    struct Drag {
        panel: String,
        mode: Mode,
        start_x: f64,
        start_y: f64,
        start: Cell,
        /// The places as they were when the drag began.
        before: Vec<(String, Cell)>,
    }

    struct Editor {
        grid: web_sys::HtmlElement,
        cells: Vec<(String, Cell)>,
        drag: Option<Drag>,
    }

    pub fn attach(dashboard: String, cells: Vec<(String, Cell)>, status: RwSignal<String>) {
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Some(grid) = doc
            .query_selector(".dashboard-grid")
            .ok()
            .flatten()
            .and_then(|g| g.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            return;
        };
        let _ = grid.class_list().add_1("editable");
        let editor = Rc::new(RefCell::new(Editor {
            grid: grid.clone(),
            cells,
            drag: None,
        }));
        // A handle in each cell's corner.
        if let Ok(list) = grid.query_selector_all(".dashboard-cell") {
            for i in 0..list.length() {
                let Some(cell) = list
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                else {
                    continue;
                };
                if let Ok(handle) = doc.create_element("span") {
                    let _ = handle.set_attribute("class", "resize-handle");
                    let _ = handle.set_attribute("aria-hidden", "true");
                    let _ = cell.append_child(&handle);
                }
            }
        }
        let e = editor.clone();
        let down =
            Closure::<dyn FnMut(web_sys::PointerEvent)>::new(move |ev: web_sys::PointerEvent| {
                start(&e, &ev);
            });
        let e = editor.clone();
        let moved =
            Closure::<dyn FnMut(web_sys::PointerEvent)>::new(move |ev: web_sys::PointerEvent| {
                follow(&e, &ev);
            });
        let e = editor.clone();
        let up =
            Closure::<dyn FnMut(web_sys::PointerEvent)>::new(move |_: web_sys::PointerEvent| {
                finish(&e, &dashboard, status);
            });
        let _ = grid.add_event_listener_with_callback("pointerdown", down.as_ref().unchecked_ref());
        let _ =
            grid.add_event_listener_with_callback("pointermove", moved.as_ref().unchecked_ref());
        let _ = grid.add_event_listener_with_callback("pointerup", up.as_ref().unchecked_ref());
        let _ = grid.add_event_listener_with_callback("pointercancel", up.as_ref().unchecked_ref());
        // The grid lives as long as the page.
        down.forget();
        moved.forget();
        up.forget();
    }

    /// A press on a panel's header (not on its buttons) or on its corner handle begins a drag.
    fn start(editor: &Rc<RefCell<Editor>>, ev: &web_sys::PointerEvent) {
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        if target
            .closest("button, a, input, select, form")
            .ok()
            .flatten()
            .is_some()
        {
            return;
        }
        let mode = if target.class_list().contains("resize-handle") {
            Mode::Resize
        } else if target.closest(".panel-header").ok().flatten().is_some() {
            Mode::Move
        } else {
            return;
        };
        let Some(cell) = target.closest(".dashboard-cell").ok().flatten() else {
            return;
        };
        let Some(panel) = cell.get_attribute("data-cell") else {
            return;
        };
        let mut ed = editor.borrow_mut();
        let Some(&(_, start)) = ed.cells.iter().find(|(id, _)| *id == panel) else {
            return;
        };
        ev.prevent_default();
        let _ = ed.grid.set_pointer_capture(ev.pointer_id());
        let _ = cell.class_list().add_1("dragging");
        ed.drag = Some(Drag {
            before: ed.cells.clone(),
            panel,
            mode,
            start_x: ev.client_x() as f64,
            start_y: ev.client_y() as f64,
            start,
        });
    }

    /// While dragging: the panel's new place in whole columns and rows, and everyone's preview.
    fn follow(editor: &Rc<RefCell<Editor>>, ev: &web_sys::PointerEvent) {
        let mut ed = editor.borrow_mut();
        let Some(drag) = ed.drag.as_ref() else {
            return;
        };
        let width = ed.grid.get_bounding_client_rect().width();
        let column = (width + GAP) / COLUMNS as f64;
        let dx = ((ev.client_x() as f64 - drag.start_x) / column).round() as i64;
        let dy = ((ev.client_y() as f64 - drag.start_y) / (ROW + GAP)).round() as i64;
        let add = |v: u32, d: i64| (v as i64 + d).max(0) as u32;
        let s = drag.start;
        let to = match drag.mode {
            Mode::Move => Cell {
                x: add(s.x, dx),
                y: add(s.y, dy),
                ..s
            },
            Mode::Resize => Cell {
                w: add(s.w, dx),
                h: add(s.h, dy),
                ..s
            },
        };
        let mut cells = drag.before.clone();
        let panel = drag.panel.clone();
        place(&mut cells, &panel, to);
        if cells != ed.cells {
            ed.cells = cells;
            show(&ed);
        }
    }

    /// Puts every cell where the editor says.
    fn show(ed: &Editor) {
        for (id, c) in &ed.cells {
            let selector = format!(".dashboard-cell[data-cell=\"{id}\"]");
            if let Some(el) = ed
                .grid
                .query_selector(&selector)
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let style = el.style();
                let _ = style.set_property("grid-column", &format!("{} / span {}", c.x + 1, c.w));
                let _ = style.set_property("grid-row", &format!("{} / span {}", c.y + 1, c.h));
            }
        }
    }

    /// Letting go stores the move, and the charts redraw at their new sizes.
    fn finish(editor: &Rc<RefCell<Editor>>, dashboard: &str, status: RwSignal<String>) {
        let mut ed = editor.borrow_mut();
        let Some(drag) = ed.drag.take() else {
            return;
        };
        if let Ok(Some(el)) = ed
            .grid
            .query_selector(&format!(".dashboard-cell[data-cell=\"{}\"]", drag.panel))
        {
            let _ = el.class_list().remove_1("dragging");
        }
        let Some(&(_, cell)) = ed.cells.iter().find(|(id, _)| *id == drag.panel) else {
            return;
        };
        if let Some(w) = web_sys::window() {
            if let Ok(resize) = web_sys::Event::new("resize") {
                let _ = w.dispatch_event(&resize);
            }
        }
        if cell == drag.start {
            return;
        }
        status.set("saving".into());
        let dashboard = dashboard.to_string();
        let panel = drag.panel;
        let before = drag.before;
        let editor = editor.clone();
        leptos::task::spawn_local(async move {
            let saved =
                crate::layout::move_panel(dashboard, panel, cell.x, cell.y, cell.w, cell.h).await;
            match saved {
                Ok(()) => status.set("saved".into()),
                Err(e) => {
                    // Back to where everything was: the page shows what is stored.
                    let mut ed = editor.borrow_mut();
                    ed.cells = before;
                    show(&ed);
                    status.set(e.to_string());
                }
            }
        });
    }
}
