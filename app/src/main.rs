//! `gridwall`: the display. Natively a window (or a capture) set up by its flags; built for
//! `wasm32` the same app on the page's canvas, set up by the page's address (`web`).

#[cfg(not(target_arch = "wasm32"))]
mod desktop;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> anyhow::Result<()> {
    desktop::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {
    gridwall::web::start();
}
