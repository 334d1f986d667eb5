// Fading trails of the patrols' recent track. Each trail vertex carries its patrol's colour
// (vertex colour) and the time it was recorded (uv.x, seconds on the same wrapped clock as
// `globals.time`); uv.y runs across the ribbon. The ribbon fades with age and to its edges, so
// the mesh only needs rebuilding when points are added, not every frame.
#import bevy_pbr::{
    mesh_view_bindings::globals,
    forward_io::VertexOutput,
}

struct Trail {
    // x: seconds a trail lasts, y: opacity of the newest part, zw: unused
    params: vec4<f32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> trail: Trail;

const WRAP: f32 = 3600.0;

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    var age = globals.time - in.uv.x;
    if (age < 0.0) {
        // The clock wrapped since this point was recorded.
        age = age + WRAP;
    }
    let life = clamp(1.0 - age / trail.params.x, 0.0, 1.0);
    let across = 1.0 - abs(in.uv.y * 2.0 - 1.0);
    let alpha = life * life * smoothstep(0.0, 0.6, across) * trail.params.y;
    if (alpha < 0.01) {
        discard;
    }
#ifdef VERTEX_COLORS
    let rgb = in.color.rgb;
#else
    let rgb = vec3<f32>(1.0);
#endif
    return vec4<f32>(rgb * (0.6 + 0.8 * life), alpha);
}
