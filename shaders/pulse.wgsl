// Pulsing rings under an incident that needs attention (new, urgent, overdue): rings expand
// from the centre of a ground quad and fade towards its edge. One material per kind of
// attention, so all rings of a kind draw together.
#import bevy_pbr::{
    mesh_view_bindings::globals,
    forward_io::VertexOutput,
}

struct Pulse {
    color: vec4<f32>,
    // x: rings per radius, y: cycles per second, z: ring sharpness, w: unused
    shape: vec4<f32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> pulse: Pulse;

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let r = length(in.uv - vec2<f32>(0.5)) * 2.0;
    if (r > 1.0) {
        discard;
    }
    // Phase of the ring pattern at this radius, moving outwards over time.
    let wave = fract(r * pulse.shape.x - globals.time * pulse.shape.y);
    let ring = pow(1.0 - abs(wave * 2.0 - 1.0), pulse.shape.z);
    // A solid core, rings fading out towards the edge.
    let core = 1.0 - smoothstep(0.06, 0.12, r);
    let alpha = max(ring * (1.0 - r) * (1.0 - r), core) * pulse.color.a;
    return vec4<f32>(pulse.color.rgb * (1.0 + 2.0 * ring), alpha);
}
