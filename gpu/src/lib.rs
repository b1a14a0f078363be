//! Osprey's GPU views.
//!
//! The scene — cameras, meshes, picking — is plain Rust, tested natively. The renderer
//! (`render`, browser only) draws it with wgpu: WebGPU where the browser has it, WebGL2
//! otherwise, and tears every GPU object down explicitly when a view goes away.

pub mod camera;
#[cfg(target_arch = "wasm32")]
pub mod render;
pub mod scene;
