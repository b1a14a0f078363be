//! Moving and resizing panels on a dashboard's grid of 24 columns and 32-pixel rows: where a
//! panel may go, and where the panels it lands on go (down, out of its way). The grid has
//! gravity, as Grafana's does: after a move, a resize or a removal every panel rises until it
//! meets one above it, so no gap is left open. The editor island previews with it while
//! dragging; the server applies it again when it stores the change.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const COLUMNS: u32 = 24;
/// Rows a panel may span at most.
pub const MAX_HEIGHT: u32 = 40;
/// Rows a dashboard may reach down to.
pub const MAX_ROWS: u32 = 1_000;

/// Where a panel sits: column and row of its top-left corner, its width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Cell {
    /// Kept on the grid: at least 2 columns and 2 rows, within 24 columns.
    pub fn clamped(self) -> Cell {
        let w = self.w.clamp(2, COLUMNS);
        Cell {
            x: self.x.min(COLUMNS - w),
            y: self.y.min(MAX_ROWS),
            w,
            h: self.h.clamp(2, MAX_HEIGHT),
        }
    }

    fn overlaps(&self, o: &Cell) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// Puts panel `moved` at `to`, then moves every panel it now covers (and any those cover in
/// turn) down just far enough, keeping their top-to-bottom order, and lets every panel rise
/// ([`compact`]). False when there is no such panel.
pub fn place(cells: &mut [(String, Cell)], moved: &str, to: Cell) -> bool {
    let Some(i) = cells.iter().position(|(id, _)| id == moved) else {
        return false;
    };
    cells[i].1 = to.clamped();
    let mut order: Vec<usize> = (0..cells.len()).filter(|&j| j != i).collect();
    order.sort_by_key(|&j| (cells[j].1.y, cells[j].1.x));
    let mut placed = vec![cells[i].1];
    for j in order {
        let mut cell = cells[j].1;
        while let Some(bottom) = placed
            .iter()
            .filter(|p| p.overlaps(&cell))
            .map(|p| p.y + p.h)
            .max()
        {
            cell.y = bottom;
        }
        cells[j].1 = cell;
        placed.push(cell);
    }
    compact(cells);
    true
}

/// Gravity: from the top down, each panel rises row by row until the next row up would overlap
/// a panel above it (or it reaches the top). Panels keep their columns and their order.
pub fn compact(cells: &mut [(String, Cell)]) {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by_key(|&j| (cells[j].1.y, cells[j].1.x));
    let mut placed: Vec<Cell> = Vec::with_capacity(cells.len());
    for j in order {
        let mut cell = cells[j].1;
        while cell.y > 0 {
            let up = Cell {
                y: cell.y - 1,
                ..cell
            };
            if placed.iter().any(|p| p.overlaps(&up)) {
                break;
            }
            cell = up;
        }
        cells[j].1 = cell;
        placed.push(cell);
    }
}

/// Stores a panel's new place on the grid (the panels in its way move down).
#[server(prefix = "/_osprey")]
pub async fn move_panel(
    dashboard: String,
    panel: String,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
) -> Result<(), ServerFnError> {
    let who = crate::auth::require_editor()?;
    let source = use_context::<crate::dashboards::source::DashboardSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no dashboards in context"))?;
    source
        .0
        .move_panel(dashboard, panel, Cell { x, y, w, h }, who.name)
        .await
        .map_err(ServerFnError::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(list: &[(&str, u32, u32, u32, u32)]) -> Vec<(String, Cell)> {
        list.iter()
            .map(|&(id, x, y, w, h)| (id.to_string(), Cell { x, y, w, h }))
            .collect()
    }

    fn at(cells: &[(String, Cell)], id: &str) -> (u32, u32, u32, u32) {
        let c = cells.iter().find(|(i, _)| i == id).unwrap().1;
        (c.x, c.y, c.w, c.h)
    }

    #[test]
    fn a_panel_dropped_on_others_pushes_them_down_in_order() {
        let mut grid = cells(&[("a", 0, 0, 12, 8), ("b", 12, 0, 12, 8), ("c", 0, 8, 24, 4)]);
        // b onto a's place: a goes below b, c below a.
        assert!(place(
            &mut grid,
            "b",
            Cell {
                x: 0,
                y: 0,
                w: 12,
                h: 8
            }
        ));
        assert_eq!(at(&grid, "b"), (0, 0, 12, 8));
        assert_eq!(at(&grid, "a"), (0, 8, 12, 8));
        assert_eq!(at(&grid, "c"), (0, 16, 24, 4));
    }

    #[test]
    fn panels_out_of_the_way_stay_where_they_are() {
        let mut grid = cells(&[("a", 0, 0, 12, 8), ("b", 12, 0, 12, 8)]);
        place(
            &mut grid,
            "a",
            Cell {
                x: 0,
                y: 0,
                w: 8,
                h: 6,
            },
        );
        assert_eq!(at(&grid, "b"), (12, 0, 12, 8));
        // Widening a over b pushes b down.
        place(
            &mut grid,
            "a",
            Cell {
                x: 0,
                y: 0,
                w: 24,
                h: 6,
            },
        );
        assert_eq!(at(&grid, "b"), (12, 6, 12, 8));
    }

    #[test]
    fn cells_stay_on_the_grid() {
        let mut grid = cells(&[("a", 0, 0, 12, 8)]);
        place(
            &mut grid,
            "a",
            Cell {
                x: 20,
                y: 5,
                w: 12,
                h: 99,
            },
        );
        // Narrowed into the grid, and risen to the top (nothing is above it).
        assert_eq!(at(&grid, "a"), (12, 0, 12, MAX_HEIGHT));
        place(
            &mut grid,
            "a",
            Cell {
                x: 0,
                y: 0,
                w: 0,
                h: 0,
            },
        );
        assert_eq!(at(&grid, "a"), (0, 0, 2, 2));
        assert!(!place(
            &mut grid,
            "zz",
            Cell {
                x: 0,
                y: 0,
                w: 2,
                h: 2
            }
        ));
    }

    #[test]
    fn panels_rise_into_the_gap_a_move_leaves() {
        // c sits under a; moving a to the right of b leaves c's column empty above it.
        let mut grid = cells(&[("a", 0, 0, 12, 8), ("b", 12, 0, 12, 4), ("c", 0, 8, 12, 4)]);
        place(
            &mut grid,
            "a",
            Cell {
                x: 12,
                y: 4,
                w: 12,
                h: 8,
            },
        );
        assert_eq!(at(&grid, "c"), (0, 0, 12, 4));
        assert_eq!(at(&grid, "a"), (12, 4, 12, 8), "a rests on b");
        // A panel dropped far below everything rises to the first free row.
        place(
            &mut grid,
            "c",
            Cell {
                x: 0,
                y: 30,
                w: 12,
                h: 4,
            },
        );
        assert_eq!(at(&grid, "c"), (0, 0, 12, 4));
    }

    #[test]
    fn compacting_closes_the_gap_a_removed_panel_leaves_and_keeps_order() {
        let mut grid = cells(&[("b", 0, 8, 24, 4), ("c", 0, 12, 8, 4), ("d", 8, 14, 8, 2)]);
        compact(&mut grid);
        assert_eq!(at(&grid, "b"), (0, 0, 24, 4));
        assert_eq!(at(&grid, "c"), (0, 4, 8, 4));
        assert_eq!(at(&grid, "d"), (8, 4, 8, 2));
    }

    #[test]
    fn no_two_panels_overlap_after_any_move() {
        let start = cells(&[
            ("a", 0, 0, 8, 7),
            ("b", 8, 0, 8, 7),
            ("c", 16, 0, 8, 7),
            ("d", 0, 7, 12, 5),
            ("e", 12, 7, 12, 9),
        ]);
        for id in ["a", "b", "c", "d", "e"] {
            for x in 0..24 {
                for y in 0..14 {
                    let mut grid = start.clone();
                    place(&mut grid, id, Cell { x, y, w: 9, h: 6 });
                    for (i, p) in grid.iter().enumerate() {
                        for q in &grid[i + 1..] {
                            assert!(!p.1.overlaps(&q.1), "{id} at {x},{y}: {p:?} {q:?}");
                        }
                        // Gravity: nothing could rise a row.
                        let up = Cell {
                            y: p.1.y.wrapping_sub(1),
                            ..p.1
                        };
                        assert!(
                            p.1.y == 0 || grid.iter().any(|q| q.0 != p.0 && q.1.overlaps(&up)),
                            "{id} at {x},{y}: {p:?} floats"
                        );
                    }
                }
            }
        }
    }
}
