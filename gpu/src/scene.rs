//! What the renderer draws, built on the CPU: lit meshes, lines and instanced points, in the
//! layouts the shaders read. Everything here is plain data, tested natively.

use bytemuck::{Pod, Zeroable};
use glam::{Mat4, Vec3};

/// A vertex of a lit surface; `value` (0 to 1) picks its colour from the palette.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct MeshVertex {
    pub position: [f32; 3],
    pub normal: [f32; 3],
    pub value: f32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    pub vertices: Vec<MeshVertex>,
    pub indices: Vec<u32>,
}

/// One end of a line segment (lines are drawn as a line list).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct LineVertex {
    pub position: [f32; 3],
    pub color: [f32; 4],
}

/// One instanced point, drawn as a round billboard `size` pixels across.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Point {
    pub position: [f32; 3],
    pub size: f32,
    pub color: [f32; 4],
}

/// Counts on a regular grid: `cols` columns (time) by `rows` rows (e.g. latency buckets),
/// row-major from the first row.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub cols: usize,
    pub rows: usize,
    pub values: Vec<f32>,
}

impl Grid {
    pub fn at(&self, col: usize, row: usize) -> f32 {
        self.values[row * self.cols + col]
    }

    /// Each value scaled into 0..1 by `ln(1 + v) / ln(1 + max)`: counts span orders of magnitude,
    /// and the tail (the slow requests) is what a latency surface is for.
    pub fn normalised(&self) -> Vec<f32> {
        let max = self.values.iter().copied().fold(0.0f32, f32::max);
        if max <= 0.0 {
            return vec![0.0; self.values.len()];
        }
        let scale = 1.0 / max.ln_1p();
        self.values
            .iter()
            .map(|v| v.max(0.0).ln_1p() * scale)
            .collect()
    }
}

/// How tall the surface stands within the unit cube.
pub const SURFACE_HEIGHT: f32 = 1.2;

/// The grid as a lit surface over the floor of the unit cube: columns along x, rows along z,
/// height (and colour) by the normalised count. Normals by central differences.
pub fn surface(grid: &Grid) -> Mesh {
    if grid.values.len() != grid.cols * grid.rows {
        return Mesh::default();
    }
    height_surface(grid.cols, grid.rows, &grid.normalised())
}

/// A lit surface of heights already in 0..1, `cols` by `rows`, row-major (see [`surface`]).
pub fn height_surface(cols: usize, rows: usize, heights: &[f32]) -> Mesh {
    if cols < 2 || rows < 2 || heights.len() != cols * rows {
        return Mesh::default();
    }
    let x = |c: usize| -1.0 + 2.0 * c as f32 / (cols - 1) as f32;
    let z = |r: usize| -1.0 + 2.0 * r as f32 / (rows - 1) as f32;
    let y = |c: usize, r: usize| -1.0 + heights[r * cols + c] * SURFACE_HEIGHT;
    let mut vertices = Vec::with_capacity(cols * rows);
    for r in 0..rows {
        for c in 0..cols {
            let (cl, cr) = (c.saturating_sub(1), (c + 1).min(cols - 1));
            let (rd, ru) = (r.saturating_sub(1), (r + 1).min(rows - 1));
            let dx = Vec3::new(x(cr) - x(cl), y(cr, r) - y(cl, r), 0.0);
            let dz = Vec3::new(0.0, y(c, ru) - y(c, rd), z(ru) - z(rd));
            let normal = dz.cross(dx).normalize_or(Vec3::Y);
            vertices.push(MeshVertex {
                position: [x(c), y(c, r), z(r)],
                normal: normal.to_array(),
                value: heights[r * cols + c],
            });
        }
    }
    let mut indices = Vec::with_capacity((cols - 1) * (rows - 1) * 6);
    for r in 0..rows - 1 {
        for c in 0..cols - 1 {
            let i = (r * cols + c) as u32;
            let (right, up) = (i + 1, i + cols as u32);
            indices.extend_from_slice(&[i, up, right, right, up, up + 1]);
        }
    }
    Mesh { vertices, indices }
}

/// Points counted on a `cols` × `rows` grid over the box `x0..x1` × `y0..y1` (data units): what
/// a scatter of too many points to draw one by one shows instead. Cell (c, r) counts the points
/// nearest to its grid point, so the flat mesh over the grid shows them where they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Density {
    pub cols: usize,
    pub rows: usize,
    pub x0: f32,
    pub x1: f32,
    pub y0: f32,
    pub y1: f32,
    /// Row-major from the bottom row.
    pub counts: Vec<u32>,
}

impl Density {
    /// An empty grid over the box (at least 2 × 2).
    pub fn new(cols: usize, rows: usize, (x0, x1): (f32, f32), (y0, y1): (f32, f32)) -> Self {
        let (cols, rows) = (cols.max(2), rows.max(2));
        Density {
            cols,
            rows,
            x0,
            x1,
            y0,
            y1,
            counts: vec![0; cols * rows],
        }
    }

    /// Counts a point; false (and nothing counted) outside the box.
    pub fn add(&mut self, x: f32, y: f32) -> bool {
        let fx = (x - self.x0) / (self.x1 - self.x0);
        let fy = (y - self.y0) / (self.y1 - self.y0);
        if !(0.0..=1.0).contains(&fx) || !(0.0..=1.0).contains(&fy) {
            return false;
        }
        let c = (fx * (self.cols - 1) as f32).round() as usize;
        let r = (fy * (self.rows - 1) as f32).round() as usize;
        self.counts[r * self.cols + c] += 1;
        true
    }

    /// The grid as a flat mesh in the z = 0 plane (data units relative to the origin of the box
    /// coordinates), coloured by log count. Empty grid points get a value just below zero,
    /// which the shader leaves undrawn: the density ends at its last counted points instead of
    /// tiling the view, and a lone empty point inside it leaves no visible hole.
    pub fn mesh(&self) -> Mesh {
        let max = self.counts.iter().copied().max().unwrap_or(0);
        if max == 0 {
            return Mesh::default();
        }
        let scale = 1.0 / (max as f32).ln_1p();
        let (cols, rows) = (self.cols, self.rows);
        let mut vertices = Vec::with_capacity(cols * rows);
        for r in 0..rows {
            let y = self.y0 + (self.y1 - self.y0) * r as f32 / (rows - 1) as f32;
            for c in 0..cols {
                let x = self.x0 + (self.x1 - self.x0) * c as f32 / (cols - 1) as f32;
                let n = self.counts[r * cols + c];
                vertices.push(MeshVertex {
                    position: [x, y, 0.0],
                    normal: [0.0, 0.0, 1.0],
                    // At least a fifth of the ramp, so a lone span is visible.
                    value: if n == 0 {
                        EMPTY
                    } else {
                        0.2 + 0.8 * (n as f32).ln_1p() * scale
                    },
                });
            }
        }
        let mut indices = Vec::new();
        for r in 0..rows - 1 {
            for c in 0..cols - 1 {
                let i = (r * cols + c) as u32;
                let (right, up) = (i + 1, i + cols as u32);
                // Squares without a single point are left out: most of a scatter is empty.
                let corners = [i, right, up, up + 1];
                if corners.iter().all(|&k| self.counts[k as usize] == 0) {
                    continue;
                }
                indices.extend_from_slice(&[i, right, up, right, up + 1, up]);
            }
        }
        Mesh { vertices, indices }
    }
}

/// The value of an empty density grid point (see [`Density::mesh`]).
const EMPTY: f32 = -1e-3;

/// The floor grid and the three axes of the unit cube, `divisions` lines each way.
pub fn frame(divisions: usize, color: [f32; 4], axis: [f32; 4]) -> Vec<LineVertex> {
    let mut lines = Vec::new();
    let mut seg = |a: [f32; 3], b: [f32; 3], color: [f32; 4]| {
        lines.push(LineVertex { position: a, color });
        lines.push(LineVertex { position: b, color });
    };
    let n = divisions.max(1);
    for i in 0..=n {
        let t = -1.0 + 2.0 * i as f32 / n as f32;
        seg([t, -1.0, -1.0], [t, -1.0, 1.0], color);
        seg([-1.0, -1.0, t], [1.0, -1.0, t], color);
    }
    seg([-1.0, -1.0, -1.0], [1.0, -1.0, -1.0], axis);
    seg([-1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], axis);
    seg([-1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], axis);
    lines
}

/// The point nearest to pixel (`x`, `y`) within `radius` pixels (plus its own size), if any.
/// CPU picking: projecting a few thousand points is cheaper than a GPU read-back.
pub fn pick(
    points: &[Point],
    view_proj: Mat4,
    width: f32,
    height: f32,
    x: f32,
    y: f32,
    radius: f32,
) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, p) in points.iter().enumerate() {
        let Some((px, py)) =
            crate::camera::project(view_proj, Vec3::from(p.position), width, height)
        else {
            continue;
        };
        let d = ((px - x).powi(2) + (py - y).powi(2)).sqrt();
        if d <= radius + p.size * 0.5 && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((i, d));
        }
    }
    best.map(|(i, _)| i)
}

/// The palette the surfaces use (a perceptual blue → teal → yellow ramp), for CSS legends; the
/// shaders hold the same stops.
pub const PALETTE: [[f32; 3]; 5] = [
    [0.18, 0.20, 0.55],
    [0.13, 0.45, 0.70],
    [0.10, 0.66, 0.62],
    [0.55, 0.80, 0.30],
    [0.99, 0.85, 0.20],
];

/// The palette's colour at `t` (0 to 1).
pub fn palette(t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0) * (PALETTE.len() - 1) as f32;
    let i = (t.floor() as usize).min(PALETTE.len() - 2);
    let f = t - i as f32;
    let (a, b) = (PALETTE[i], PALETTE[i + 1]);
    [
        a[0] + (b[0] - a[0]) * f,
        a[1] + (b[1] - a[1]) * f,
        a[2] + (b[2] - a[2]) * f,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Orbit;

    fn grid(cols: usize, rows: usize, f: impl Fn(usize, usize) -> f32) -> Grid {
        let mut values = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                values.push(f(c, r));
            }
        }
        Grid { cols, rows, values }
    }

    #[test]
    fn a_surface_has_a_vertex_per_cell_and_two_triangles_per_square() {
        let m = surface(&grid(200, 200, |c, r| (c * r) as f32));
        assert_eq!(m.vertices.len(), 40_000);
        assert_eq!(m.indices.len(), 199 * 199 * 6);
        assert!(m.indices.iter().all(|&i| (i as usize) < m.vertices.len()));
    }

    #[test]
    fn heights_follow_counts_and_the_peak_is_brightest() {
        let m = surface(&grid(
            5,
            4,
            |c, r| if (c, r) == (2, 1) { 1000.0 } else { 1.0 },
        ));
        let peak = &m.vertices[5 + 2];
        assert_eq!(peak.value, 1.0);
        assert!((peak.position[1] - (-1.0 + SURFACE_HEIGHT)).abs() < 1e-6);
        assert!(m
            .vertices
            .iter()
            .all(|v| v.value <= peak.value && v.position[1] >= -1.0));
    }

    #[test]
    fn a_flat_grid_points_its_normals_up() {
        let m = surface(&grid(4, 3, |_, _| 7.0));
        for v in &m.vertices {
            assert!(
                (Vec3::from(v.normal) - Vec3::Y).length() < 1e-5,
                "{:?}",
                v.normal
            );
        }
        let empty = surface(&grid(4, 3, |_, _| 0.0));
        assert!(empty.vertices.iter().all(|v| v.value == 0.0));
    }

    #[test]
    fn triangles_face_up_so_back_face_culling_keeps_the_top() {
        let m = surface(&grid(3, 3, |_, _| 1.0));
        for t in m.indices.chunks(3) {
            let p = |i: u32| Vec3::from(m.vertices[i as usize].position);
            let n = (p(t[1]) - p(t[0])).cross(p(t[2]) - p(t[0]));
            assert!(n.y > 0.0, "{t:?}");
        }
    }

    #[test]
    fn density_counts_points_in_the_box_at_their_nearest_grid_point() {
        let mut d = Density::new(3, 2, (0.0, 10.0), (0.0, 1.0));
        assert!(d.add(0.1, 0.0));
        assert!(d.add(4.0, 0.9));
        assert!(d.add(6.0, 0.6));
        assert!(!d.add(11.0, 0.5));
        assert!(!d.add(5.0, -0.1));
        assert_eq!(d.counts, vec![1, 0, 0, 0, 2, 0]);
        let m = d.mesh();
        assert_eq!(m.vertices.len(), 6);
        assert_eq!(m.vertices[4].value, 1.0);
        assert!(m.vertices[4].position == [5.0, 1.0, 0.0]);
        assert!(m.vertices[2].value < 0.0, "empty points are not drawn");
        assert!((m.vertices[0].value - (0.2 + 0.8 * 2f32.ln() / 3f32.ln())).abs() < 1e-6);
        // Both squares touch a counted point.
        assert_eq!(m.indices.len(), 12);
    }

    #[test]
    fn density_leaves_empty_squares_out_and_an_empty_grid_draws_nothing() {
        let mut d = Density::new(4, 2, (0.0, 3.0), (0.0, 1.0));
        d.add(0.0, 0.0);
        assert_eq!(d.mesh().indices.len(), 6, "only the square by the point");
        assert_eq!(
            Density::new(4, 2, (0.0, 3.0), (0.0, 1.0)).mesh(),
            Mesh::default()
        );
    }

    #[test]
    fn heights_are_drawn_as_given() {
        let m = height_surface(2, 2, &[0.0, 0.5, 0.25, 1.0]);
        let ys: Vec<f32> = m.vertices.iter().map(|v| v.position[1]).collect();
        let expected = [0.0, 0.5, 0.25, 1.0].map(|h| -1.0 + h * SURFACE_HEIGHT);
        assert_eq!(ys, expected);
        assert_eq!(height_surface(2, 2, &[0.0; 3]), Mesh::default());
    }

    #[test]
    fn degenerate_grids_make_no_mesh() {
        assert_eq!(surface(&grid(1, 5, |_, _| 1.0)), Mesh::default());
        assert_eq!(
            surface(&Grid {
                cols: 3,
                rows: 3,
                values: vec![1.0]
            }),
            Mesh::default()
        );
    }

    #[test]
    fn picking_finds_the_point_under_the_cursor() {
        let cam = Orbit::default();
        let vp = cam.view_proj(1.0);
        let points = [
            Point {
                position: [-0.8, -0.8, 0.0],
                size: 10.0,
                color: [1.0; 4],
            },
            Point {
                position: [0.5, 0.5, 0.5],
                size: 10.0,
                color: [1.0; 4],
            },
        ];
        let (x, y) = crate::camera::project(vp, Vec3::new(0.5, 0.5, 0.5), 600.0, 600.0).unwrap();
        assert_eq!(
            pick(&points, vp, 600.0, 600.0, x + 3.0, y - 2.0, 6.0),
            Some(1)
        );
        assert_eq!(pick(&points, vp, 600.0, 600.0, 2.0, 2.0, 6.0), None);
    }

    #[test]
    fn the_palette_runs_from_its_first_to_its_last_stop() {
        assert_eq!(palette(0.0), PALETTE[0]);
        assert_eq!(palette(1.0), PALETTE[4]);
        assert_eq!(palette(7.0), PALETTE[4]);
        let mid = palette(0.5);
        assert_eq!(mid, PALETTE[2]);
    }
}
