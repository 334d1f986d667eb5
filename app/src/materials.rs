//! The display's custom materials, with their WGSL from `shaders/` compiled into the binary:
//! [`PulseMaterial`] (rings under incidents that need attention) and [`TrailMaterial`] (patrol
//! trails that fade with age).

use bevy::asset::uuid_handle;
use bevy::prelude::*;
use bevy::render::render_resource::AsBindGroup;
use bevy::shader::ShaderRef;

const PULSE_SHADER: Handle<Shader> = uuid_handle!("5d0b7c3e-8f61-4a9e-9a57-1c2f0e6b4d11");
const TRAIL_SHADER: Handle<Shader> = uuid_handle!("a3f1e2d4-6b7c-4e8f-9d0a-2b3c4d5e6f70");

/// Expanding rings on a ground quad.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct PulseMaterial {
    #[uniform(0)]
    pub pulse: PulseUniform,
}

#[derive(Debug, Clone, Copy, bevy::render::render_resource::ShaderType)]
pub struct PulseUniform {
    pub color: LinearRgba,
    /// x: rings per radius, y: cycles per second, z: ring sharpness.
    pub shape: Vec4,
}

impl PulseMaterial {
    pub fn new(color: Color, rings: f32, speed: f32) -> Self {
        Self { pulse: PulseUniform { color: LinearRgba::from(color), shape: Vec4::new(rings, speed, 3.0, 0.0) } }
    }
}

impl Material for PulseMaterial {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(PULSE_SHADER)
    }

    fn alpha_mode(&self) -> AlphaMode {
        AlphaMode::Add
    }
}

/// Ribbons coloured per vertex, fading by the record time each vertex carries in `uv.x`.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct TrailMaterial {
    /// x: seconds a trail lasts, y: opacity of its newest part.
    #[uniform(0)]
    pub params: Vec4,
}

impl Material for TrailMaterial {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(TRAIL_SHADER)
    }

    fn alpha_mode(&self) -> AlphaMode {
        AlphaMode::Blend
    }
}

pub struct MaterialsPlugin;

impl Plugin for MaterialsPlugin {
    fn build(&self, app: &mut App) {
        let Some(mut shaders) = app.world_mut().get_resource_mut::<Assets<Shader>>() else { return };
        // The same files as `shaders/`, compiled in.
        let _ = shaders
            .insert(&PULSE_SHADER, Shader::from_wgsl(include_str!("../../shaders/pulse.wgsl"), "shaders/pulse.wgsl"));
        let _ = shaders
            .insert(&TRAIL_SHADER, Shader::from_wgsl(include_str!("../../shaders/trail.wgsl"), "shaders/trail.wgsl"));
        app.add_plugins((MaterialPlugin::<PulseMaterial>::default(), MaterialPlugin::<TrailMaterial>::default()));
    }
}
