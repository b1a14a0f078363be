// Osprey's GPU views: lit meshes (surfaces, heatmaps), lines (axes, grids) and instanced round
// points (service maps, span scatters), all under one camera.

struct Uniforms {
    view_proj: mat4x4<f32>,
    // xyz: direction towards the light; w: 1 lit, 0 flat (2-D heatmaps).
    light: vec4<f32>,
    // x, y: viewport in pixels; z: device pixels per CSS pixel.
    viewport: vec4<f32>,
};

@group(0) @binding(0) var<uniform> u: Uniforms;

// The same five stops as gpu::scene::PALETTE.
fn palette(t: f32) -> vec3<f32> {
    let stops = array<vec3<f32>, 5>(
        vec3<f32>(0.18, 0.20, 0.55),
        vec3<f32>(0.13, 0.45, 0.70),
        vec3<f32>(0.10, 0.66, 0.62),
        vec3<f32>(0.55, 0.80, 0.30),
        vec3<f32>(0.99, 0.85, 0.20),
    );
    let x = clamp(t, 0.0, 1.0) * 4.0;
    let i = min(u32(floor(x)), 3u);
    return mix(stops[i], stops[i + 1u], x - f32(i));
}

struct MeshOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) normal: vec3<f32>,
    @location(1) value: f32,
};

@vertex
fn mesh_vs(@location(0) position: vec3<f32>, @location(1) normal: vec3<f32>, @location(2) value: f32) -> MeshOut {
    var out: MeshOut;
    out.clip = u.view_proj * vec4<f32>(position, 1.0);
    out.normal = normal;
    out.value = value;
    return out;
}

@fragment
fn mesh_fs(in: MeshOut, @builtin(front_facing) front: bool) -> @location(0) vec4<f32> {
    // Negative values mark empty cells of a density grid (gpu::scene::Density).
    if (in.value < 0.0) {
        discard;
    }
    let base = palette(in.value);
    if (u.light.w < 0.5) {
        return vec4<f32>(base, 1.0);
    }
    var n = normalize(in.normal);
    if (!front) {
        n = -n;
    }
    let l = normalize(u.light.xyz);
    let diffuse = max(dot(n, l), 0.0);
    // A little light from below keeps the underside readable while orbiting.
    let fill = max(dot(n, -l), 0.0) * 0.15;
    return vec4<f32>(base * (0.30 + 0.70 * diffuse + fill), 1.0);
}

struct LineOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec4<f32>,
};

@vertex
fn line_vs(@location(0) position: vec3<f32>, @location(1) color: vec4<f32>) -> LineOut {
    var out: LineOut;
    out.clip = u.view_proj * vec4<f32>(position, 1.0);
    out.color = color;
    return out;
}

@fragment
fn line_fs(in: LineOut) -> @location(0) vec4<f32> {
    return in.color;
}

struct PointOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec4<f32>,
    // The corner of the billboard, -1..1, and its size in device pixels.
    @location(1) corner: vec2<f32>,
    @location(2) pixels: f32,
};

@vertex
fn point_vs(
    @builtin(vertex_index) corner_index: u32,
    @location(0) position: vec3<f32>,
    @location(1) size: f32,
    @location(2) color: vec4<f32>,
) -> PointOut {
    let corner = vec2<f32>(f32(corner_index & 1u) * 2.0 - 1.0, f32((corner_index >> 1u) & 1u) * 2.0 - 1.0);
    var clip = u.view_proj * vec4<f32>(position, 1.0);
    let pixels = size * u.viewport.z;
    clip = vec4<f32>(clip.xy + corner * pixels / u.viewport.xy * clip.w, clip.zw);
    var out: PointOut;
    out.clip = clip;
    out.color = color;
    out.corner = corner;
    out.pixels = pixels;
    return out;
}

@fragment
fn point_fs(in: PointOut) -> @location(0) vec4<f32> {
    let r = length(in.corner);
    // One device pixel of soft edge, so small points stay round and large ones crisp.
    let edge = 1.0 - smoothstep(1.0 - 2.0 / max(in.pixels, 1.0), 1.0, r);
    if (edge <= 0.0) {
        discard;
    }
    return vec4<f32>(in.color.rgb, in.color.a * edge);
}
