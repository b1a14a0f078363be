//! The wgpu renderer of the browser: one canvas, one device, three pipelines (lit mesh, lines,
//! instanced points) under one camera. WebGPU where the browser has a working adapter, WebGL2
//! otherwise. [`Renderer::destroy`] releases every GPU object on purpose — buffers, textures,
//! device and, on WebGL2, the context itself — because a page that mounts views repeatedly
//! must not wait for the garbage collector (Chromium keeps 16 WebGL contexts, then drops the
//! oldest with a warning).

use crate::scene::{LineVertex, Mesh, MeshVertex, Point};
use bytemuck::{Pod, Zeroable};
use glam::Mat4;
use wasm_bindgen::JsCast;
use web_sys::HtmlCanvasElement;
use wgpu::util::DeviceExt;

/// The canvas's colour when nothing is drawn on it (the page's panel background).
pub type Rgba = [f64; 4];

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct Uniforms {
    view_proj: [[f32; 4]; 4],
    light: [f32; 4],
    viewport: [f32; 4],
}

/// What one frame draws with: the camera and how to light it.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub view_proj: Mat4,
    /// Lit (3-D surfaces) or flat (2-D heatmaps).
    pub lit: bool,
    pub clear: Rgba,
}

struct Geometry {
    buffer: wgpu::Buffer,
    index: Option<wgpu::Buffer>,
    count: u32,
}

impl Geometry {
    fn destroy(self) {
        self.buffer.destroy();
        if let Some(index) = self.index {
            index.destroy();
        }
    }
}

/// Puts `new` in `slot`, destroying what was there (its GPU memory goes now, not at collection).
fn replace(slot: &mut Option<Geometry>, new: Option<Geometry>) {
    if let Some(old) = std::mem::replace(slot, new) {
        old.destroy();
    }
}

struct Targets {
    depth: wgpu::Texture,
    depth_view: wgpu::TextureView,
    /// The multisampled colour target, resolved into the canvas (absent without MSAA).
    msaa: Option<(wgpu::Texture, wgpu::TextureView)>,
}

impl Targets {
    fn new(device: &wgpu::Device, config: &wgpu::SurfaceConfiguration, samples: u32) -> Targets {
        let size = wgpu::Extent3d {
            width: config.width,
            height: config.height,
            depth_or_array_layers: 1,
        };
        let texture = |format, label| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size,
                mip_level_count: 1,
                sample_count: samples,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                view_formats: &[],
            })
        };
        let depth = texture(DEPTH, "depth");
        let depth_view = depth.create_view(&wgpu::TextureViewDescriptor::default());
        let msaa = (samples > 1).then(|| {
            let t = texture(config.format, "msaa");
            let v = t.create_view(&wgpu::TextureViewDescriptor::default());
            (t, v)
        });
        Targets {
            depth,
            depth_view,
            msaa,
        }
    }

    fn destroy(self) {
        self.depth.destroy();
        if let Some((t, _)) = self.msaa {
            t.destroy();
        }
    }
}

const DEPTH: wgpu::TextureFormat = wgpu::TextureFormat::Depth24Plus;

pub struct Renderer {
    canvas: HtmlCanvasElement,
    backend: wgpu::Backend,
    surface: wgpu::Surface<'static>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    config: wgpu::SurfaceConfiguration,
    samples: u32,
    targets: Targets,
    uniforms: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    mesh_pipeline: wgpu::RenderPipeline,
    line_pipeline: wgpu::RenderPipeline,
    point_pipeline: wgpu::RenderPipeline,
    mesh: Option<Geometry>,
    lines: Option<Geometry>,
    points: Option<Geometry>,
    /// Device pixels per CSS pixel.
    scale: f32,
}

impl Renderer {
    /// Starts a renderer on `canvas`, sized `width` × `height` device pixels. Fails with a
    /// sentence a person can read when the browser has neither WebGPU nor WebGL2.
    pub async fn new(
        canvas: HtmlCanvasElement,
        width: u32,
        height: u32,
        scale: f32,
    ) -> Result<Renderer, String> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::BROWSER_WEBGPU | wgpu::Backends::GL;
        // Chromium may expose navigator.gpu with no adapter behind it: this asks for one first and
        // leaves WebGPU out when none comes, so the canvas is not committed to a dead API.
        let instance = wgpu::util::new_instance_with_webgpu_detection(desc).await;
        let surface = instance
            .create_surface(wgpu::SurfaceTarget::Canvas(canvas.clone()))
            .map_err(|e| format!("This browser can draw neither WebGPU nor WebGL2 ({e})."))?;
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                compatible_surface: Some(&surface),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("No GPU adapter for this canvas ({e})."))?;
        let backend = adapter.get_info().backend;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("osprey"),
                required_features: wgpu::Features::empty(),
                required_limits: wgpu::Limits::downlevel_webgl2_defaults()
                    .using_resolution(adapter.limits()),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| format!("The GPU refused a device ({e})."))?;
        // The default handler panics, which would take the whole island down with it.
        device.on_uncaptured_error(std::sync::Arc::new(|e| {
            web_sys::console::warn_1(&format!("osprey gpu: {e}").into());
        }));
        let caps = surface.get_capabilities(&adapter);
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .unwrap_or(caps.formats[0]);
        let samples = if adapter
            .get_texture_format_features(format)
            .flags
            .sample_count_supported(4)
            && adapter
                .get_texture_format_features(DEPTH)
                .flags
                .sample_count_supported(4)
        {
            4
        } else {
            1
        };
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: wgpu::SurfaceColorSpace::Auto,
            width: width.max(1),
            height: height.max(1),
            present_mode: wgpu::PresentMode::Fifo,
            desired_maximum_frame_latency: 2,
            alpha_mode: wgpu::CompositeAlphaMode::Auto,
            view_formats: vec![],
        };
        surface.configure(&device, &config);
        let targets = Targets::new(&device, &config, samples);

        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("uniforms"),
            size: std::mem::size_of::<Uniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("uniforms"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("uniforms"),
            layout: &layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.as_entire_binding(),
            }],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("osprey"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("osprey"),
            source: wgpu::ShaderSource::Wgsl(include_str!("shader.wgsl").into()),
        });
        let pipelines = Pipelines {
            device: &device,
            layout: &pipeline_layout,
            module: &module,
            format,
            samples,
        };
        let mesh_pipeline = pipelines.make(
            "mesh",
            wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<MeshVertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32],
            },
            wgpu::PrimitiveTopology::TriangleList,
            false,
        );
        let line_pipeline = pipelines.make(
            "line",
            wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<LineVertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x4],
            },
            wgpu::PrimitiveTopology::LineList,
            false,
        );
        let point_pipeline = pipelines.make(
            "point",
            wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<Point>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32, 2 => Float32x4],
            },
            wgpu::PrimitiveTopology::TriangleStrip,
            true,
        );
        Ok(Renderer {
            canvas,
            backend,
            surface,
            device,
            queue,
            config,
            samples,
            targets,
            uniforms,
            bind_group,
            mesh_pipeline,
            line_pipeline,
            point_pipeline,
            mesh: None,
            lines: None,
            points: None,
            scale,
        })
    }

    /// "WebGPU" or "WebGL2": what this view is drawn with.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            wgpu::Backend::BrowserWebGpu => "WebGPU",
            wgpu::Backend::Gl => "WebGL2",
            _ => "GPU",
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (self.config.width, self.config.height)
    }

    /// Resizes the drawing buffer to `width` × `height` device pixels.
    pub fn resize(&mut self, width: u32, height: u32) {
        let limit = self.device.limits().max_texture_dimension_2d;
        let (width, height) = (width.clamp(1, limit), height.clamp(1, limit));
        if (width, height) == (self.config.width, self.config.height) {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.surface.configure(&self.device, &self.config);
        let old = std::mem::replace(
            &mut self.targets,
            Targets::new(&self.device, &self.config, self.samples),
        );
        old.destroy();
    }

    pub fn set_mesh(&mut self, mesh: &Mesh) {
        let geometry = (!mesh.indices.is_empty()).then(|| Geometry {
            buffer: self.buffer(
                "mesh",
                bytemuck::cast_slice(&mesh.vertices),
                wgpu::BufferUsages::VERTEX,
            ),
            index: Some(self.buffer(
                "mesh indices",
                bytemuck::cast_slice(&mesh.indices),
                wgpu::BufferUsages::INDEX,
            )),
            count: mesh.indices.len() as u32,
        });
        replace(&mut self.mesh, geometry);
    }

    pub fn set_lines(&mut self, lines: &[LineVertex]) {
        let geometry = (!lines.is_empty()).then(|| Geometry {
            buffer: self.buffer(
                "lines",
                bytemuck::cast_slice(lines),
                wgpu::BufferUsages::VERTEX,
            ),
            index: None,
            count: lines.len() as u32,
        });
        replace(&mut self.lines, geometry);
    }

    pub fn set_points(&mut self, points: &[Point]) {
        let geometry = (!points.is_empty()).then(|| Geometry {
            buffer: self.buffer(
                "points",
                bytemuck::cast_slice(points),
                wgpu::BufferUsages::VERTEX,
            ),
            index: None,
            count: points.len() as u32,
        });
        replace(&mut self.points, geometry);
    }

    fn buffer(&self, label: &str, contents: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
    }

    /// Draws one frame: the mesh, then the lines, then the points (blended, on top). False
    /// when the surface had no texture to draw on (try again next frame).
    pub fn draw(&mut self, frame: &Frame) -> bool {
        let uniforms = Uniforms {
            view_proj: frame.view_proj.to_cols_array_2d(),
            light: [0.4, 1.0, 0.6, if frame.lit { 1.0 } else { 0.0 }],
            viewport: [
                self.config.width as f32,
                self.config.height as f32,
                self.scale,
                0.0,
            ],
        };
        self.queue
            .write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        let texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t)
            | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            wgpu::CurrentSurfaceTexture::Outdated => {
                self.surface.configure(&self.device, &self.config);
                return false;
            }
            _ => return false,
        };
        let view = texture
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let (target, resolve) = match &self.targets.msaa {
            Some((_, msaa)) => (msaa, Some(&view)),
            None => (&view, None),
        };
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        {
            let [r, g, b, a] = frame.clear;
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("frame"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: target,
                    depth_slice: None,
                    resolve_target: resolve,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.targets.depth_view,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                ..Default::default()
            });
            pass.set_bind_group(0, &self.bind_group, &[]);
            if let Some(mesh) = &self.mesh {
                pass.set_pipeline(&self.mesh_pipeline);
                pass.set_vertex_buffer(0, mesh.buffer.slice(..));
                if let Some(index) = &mesh.index {
                    pass.set_index_buffer(index.slice(..), wgpu::IndexFormat::Uint32);
                }
                pass.draw_indexed(0..mesh.count, 0, 0..1);
            }
            if let Some(lines) = &self.lines {
                pass.set_pipeline(&self.line_pipeline);
                pass.set_vertex_buffer(0, lines.buffer.slice(..));
                pass.draw(0..lines.count, 0..1);
            }
            if let Some(points) = &self.points {
                pass.set_pipeline(&self.point_pipeline);
                pass.set_vertex_buffer(0, points.buffer.slice(..));
                pass.draw(0..4, 0..points.count);
            }
        }
        self.queue.submit([encoder.finish()]);
        self.queue.present(texture);
        true
    }

    /// Releases everything on purpose rather than leaving it to the garbage collector: buffers
    /// and textures, the surface, the device, and on WebGL2 the context itself
    /// (`WEBGL_lose_context`), which wgpu does not do by dropping.
    pub fn destroy(self) {
        let Renderer {
            canvas,
            backend,
            surface,
            device,
            queue,
            targets,
            uniforms,
            mesh,
            lines,
            points,
            ..
        } = self;
        for geometry in [mesh, lines, points].into_iter().flatten() {
            geometry.destroy();
        }
        targets.destroy();
        uniforms.destroy();
        drop(surface);
        drop(queue);
        device.destroy();
        drop(device);
        if backend == wgpu::Backend::Gl {
            if let Ok(Some(context)) = canvas.get_context("webgl2") {
                let gl: web_sys::WebGl2RenderingContext = context.unchecked_into();
                if let Ok(Some(ext)) = gl.get_extension("WEBGL_lose_context") {
                    ext.unchecked_into::<web_sys::WebglLoseContext>()
                        .lose_context();
                }
            }
        }
        // A zero-sized canvas holds no drawing buffer while the element waits to be collected.
        canvas.set_width(0);
        canvas.set_height(0);
    }
}

struct Pipelines<'a> {
    device: &'a wgpu::Device,
    layout: &'a wgpu::PipelineLayout,
    module: &'a wgpu::ShaderModule,
    format: wgpu::TextureFormat,
    samples: u32,
}

impl Pipelines<'_> {
    fn make(
        &self,
        name: &str,
        buffer: wgpu::VertexBufferLayout<'_>,
        topology: wgpu::PrimitiveTopology,
        blended: bool,
    ) -> wgpu::RenderPipeline {
        let vs = format!("{name}_vs");
        let fs = format!("{name}_fs");
        self.device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(name),
                layout: Some(self.layout),
                vertex: wgpu::VertexState {
                    module: self.module,
                    entry_point: Some(&vs),
                    compilation_options: Default::default(),
                    buffers: &[Some(buffer)],
                },
                primitive: wgpu::PrimitiveState {
                    topology,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH,
                    // Blended points test against the surface but do not hide one another.
                    depth_write_enabled: Some(!blended),
                    depth_compare: Some(wgpu::CompareFunction::LessEqual),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: wgpu::MultisampleState {
                    count: self.samples,
                    ..Default::default()
                },
                fragment: Some(wgpu::FragmentState {
                    module: self.module,
                    entry_point: Some(&fs),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: self.format,
                        blend: Some(if blended {
                            wgpu::BlendState::ALPHA_BLENDING
                        } else {
                            wgpu::BlendState::REPLACE
                        }),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
    }
}
