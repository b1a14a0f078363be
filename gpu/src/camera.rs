//! Cameras: an orbit camera for the 3-D views and a pan/zoom window for the dense 2-D ones.
//!
//! Scenes live in a unit cube (`-1..1` on every axis, y up), so one camera fits them all.

use glam::{Mat4, Vec3, Vec4};

/// Looks at `target` from a point on a sphere around it; the user orbits (drag) and zooms
/// (wheel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orbit {
    pub target: Vec3,
    /// Around the y axis, radians.
    pub yaw: f32,
    /// Above the horizon, radians, kept within ±85°.
    pub pitch: f32,
    pub distance: f32,
}

impl Default for Orbit {
    fn default() -> Self {
        Orbit {
            target: Vec3::ZERO,
            yaw: -0.75,
            pitch: 0.5,
            distance: 4.6,
        }
    }
}

const MAX_PITCH: f32 = 85.0 * std::f32::consts::PI / 180.0;

impl Orbit {
    /// Turns by a drag of `dx`, `dy` pixels.
    pub fn drag(&mut self, dx: f32, dy: f32) {
        self.yaw -= dx * 0.008;
        self.pitch = (self.pitch + dy * 0.008).clamp(-MAX_PITCH, MAX_PITCH);
    }

    /// Zooms by a wheel delta (positive: away), within sensible bounds.
    pub fn zoom(&mut self, delta: f32) {
        self.distance = (self.distance * (delta * 0.001).exp()).clamp(1.5, 12.0);
    }

    pub fn eye(&self) -> Vec3 {
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        self.target + Vec3::new(cp * sy, sp, cp * cy) * self.distance
    }

    /// World to clip space for a viewport of the given aspect (width / height).
    pub fn view_proj(&self, aspect: f32) -> Mat4 {
        let view = Mat4::look_at_rh(self.eye(), self.target, Vec3::Y);
        let proj = Mat4::perspective_rh(0.7, aspect.max(0.1), 0.1, 50.0);
        proj * view
    }
}

/// The visible part of a 2-D plane, in data units; panned by drags and zoomed about the cursor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window2d {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl Window2d {
    /// Moves by a drag of `dx`, `dy` pixels in a viewport `width` × `height`.
    pub fn pan(&mut self, dx: f64, dy: f64, width: f64, height: f64) {
        let sx = (self.x1 - self.x0) / width.max(1.0);
        let sy = (self.y1 - self.y0) / height.max(1.0);
        self.x0 -= dx * sx;
        self.x1 -= dx * sx;
        self.y0 += dy * sy;
        self.y1 += dy * sy;
    }

    /// Zooms by `factor` (< 1 closer) keeping the point under the cursor where it is; `fx`, `fy`
    /// are the cursor's position as fractions of the viewport from its left and bottom.
    pub fn zoom(&mut self, factor: f64, fx: f64, fy: f64) {
        let cx = self.x0 + (self.x1 - self.x0) * fx;
        let cy = self.y0 + (self.y1 - self.y0) * fy;
        self.x0 = cx + (self.x0 - cx) * factor;
        self.x1 = cx + (self.x1 - cx) * factor;
        self.y0 = cy + (self.y0 - cy) * factor;
        self.y1 = cy + (self.y1 - cy) * factor;
    }

    /// The data point at fractions `fx`, `fy` of the viewport (from left and bottom).
    pub fn at(&self, fx: f64, fy: f64) -> (f64, f64) {
        (
            self.x0 + (self.x1 - self.x0) * fx,
            self.y0 + (self.y1 - self.y0) * fy,
        )
    }

    /// Data to clip space. Points are uploaded relative to `origin` (in f32, which cannot hold
    /// epoch milliseconds to the millisecond), so the matrix is too.
    pub fn matrix(&self, origin: (f64, f64)) -> Mat4 {
        let (w, h) = ((self.x1 - self.x0).max(1e-9), (self.y1 - self.y0).max(1e-9));
        let sx = 2.0 / w;
        let sy = 2.0 / h;
        let tx = -1.0 - (self.x0 - origin.0) * sx;
        let ty = -1.0 - (self.y0 - origin.1) * sy;
        Mat4::from_cols(
            Vec4::new(sx as f32, 0.0, 0.0, 0.0),
            Vec4::new(0.0, sy as f32, 0.0, 0.0),
            Vec4::new(0.0, 0.0, 1.0, 0.0),
            Vec4::new(tx as f32, ty as f32, 0.0, 1.0),
        )
    }
}

/// Looks straight down on the unit cube through `window` (world x across, world z up the
/// screen), flat: a surface seen this way is a heatmap. Higher points are nearer, so the floor
/// grid shows only where the surface is empty.
pub fn top_down(window: &Window2d) -> Mat4 {
    let swizzle = Mat4::from_cols(
        Vec4::new(1.0, 0.0, 0.0, 0.0),
        Vec4::new(0.0, 0.0, -0.25, 0.0),
        Vec4::new(0.0, 1.0, 0.0, 0.0),
        Vec4::new(0.0, 0.0, 0.5, 1.0),
    );
    window.matrix((0.0, 0.0)) * swizzle
}

/// Where a world point lands on screen, in pixels from the top left, or None behind the camera.
pub fn project(view_proj: Mat4, point: Vec3, width: f32, height: f32) -> Option<(f32, f32)> {
    let clip = view_proj * point.extend(1.0);
    if clip.w <= 1e-6 {
        return None;
    }
    let ndc = clip.truncate() / clip.w;
    Some(((ndc.x + 1.0) * 0.5 * width, (1.0 - ndc.y) * 0.5 * height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_projects_to_the_middle_from_any_angle() {
        for yaw in [-3.0, -1.0, 0.0, 0.5, 2.0] {
            let target = Vec3::new(0.0, -0.4, 0.1);
            let mut cam = Orbit {
                yaw,
                target,
                ..Orbit::default()
            };
            cam.drag(37.0, -90.0);
            let (x, y) = project(cam.view_proj(2.0), target, 800.0, 400.0).unwrap();
            assert!(
                (x - 400.0).abs() < 0.01 && (y - 200.0).abs() < 0.01,
                "{x} {y}"
            );
        }
    }

    #[test]
    fn pitch_and_distance_stay_in_bounds() {
        let mut cam = Orbit::default();
        cam.drag(0.0, 1e6);
        assert!(cam.pitch <= MAX_PITCH);
        cam.zoom(1e6);
        assert_eq!(cam.distance, 12.0);
        cam.zoom(-1e6);
        assert_eq!(cam.distance, 1.5);
    }

    #[test]
    fn points_above_the_floor_appear_higher_on_screen() {
        let cam = Orbit::default();
        let vp = cam.view_proj(1.0);
        let (_, low) = project(vp, Vec3::new(0.0, -0.5, 0.0), 100.0, 100.0).unwrap();
        let (_, high) = project(vp, Vec3::new(0.0, 0.5, 0.0), 100.0, 100.0).unwrap();
        assert!(high < low);
    }

    #[test]
    fn a_window_maps_its_corners_to_the_clip_corners() {
        let w = Window2d {
            x0: 1.7e12,
            x1: 1.7e12 + 3.6e6,
            y0: 0.0,
            y1: 500.0,
        };
        let origin = (1.7e12, 0.0);
        let m = w.matrix(origin);
        let corner =
            |x: f64, y: f64| m * Vec4::new((x - origin.0) as f32, (y - origin.1) as f32, 0.0, 1.0);
        let a = corner(w.x0, w.y0);
        let b = corner(w.x1, w.y1);
        assert!((a.x + 1.0).abs() < 1e-4 && (a.y + 1.0).abs() < 1e-4, "{a}");
        assert!((b.x - 1.0).abs() < 1e-4 && (b.y - 1.0).abs() < 1e-4, "{b}");
    }

    #[test]
    fn looking_down_maps_x_across_and_z_up_with_depth_by_height() {
        let w = Window2d {
            x0: -1.0,
            x1: 1.0,
            y0: -1.0,
            y1: 1.0,
        };
        let m = top_down(&w);
        let floor = m * Vec4::new(1.0, -1.0, 1.0, 1.0);
        assert!(
            (floor.x - 1.0).abs() < 1e-6 && (floor.y - 1.0).abs() < 1e-6,
            "{floor}"
        );
        let peak = m * Vec4::new(-1.0, 0.2, -1.0, 1.0);
        assert!(
            (peak.x + 1.0).abs() < 1e-6 && (peak.y + 1.0).abs() < 1e-6,
            "{peak}"
        );
        assert!(peak.z < floor.z && (0.0..=1.0).contains(&peak.z) && floor.z <= 1.0);
    }

    #[test]
    fn zoom_keeps_the_point_under_the_cursor() {
        let mut w = Window2d {
            x0: 0.0,
            x1: 100.0,
            y0: 0.0,
            y1: 10.0,
        };
        let before = w.at(0.25, 0.8);
        w.zoom(0.5, 0.25, 0.8);
        let after = w.at(0.25, 0.8);
        assert!((before.0 - after.0).abs() < 1e-9 && (before.1 - after.1).abs() < 1e-9);
        assert!((w.x1 - w.x0 - 50.0).abs() < 1e-9);
        w.pan(100.0, 0.0, 100.0, 100.0);
        assert!((w.at(0.25, 0.8).0 - (after.0 - 50.0)).abs() < 1e-9);
    }
}
