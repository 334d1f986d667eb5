# Shared environment of gridwall's scripts (sourced).
# One cached target dir per machine so rebuilds are incremental (Bevy takes ~20 min cold).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gridwall/target}"
# The software renderer (Mesa lavapipe) when there is no GPU.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
GRIDWALL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GRIDWALL_ROOT
export BEVY_ASSET_ROOT="${BEVY_ASSET_ROOT:-$GRIDWALL_ROOT}"
# Tools installed by scripts/setup-debian.sh outside apt (nats-server from PyPI).
export GRIDWALL_TOOLS="${GRIDWALL_TOOLS:-$HOME/.cache/gridwall/tools}"
export GRIDWALL_NATS_SERVER="${GRIDWALL_NATS_SERVER:-$GRIDWALL_TOOLS/bin/nats-server}"
# Clippy lints our crates during the build (pedantic, warnings are errors), for every script:
# clippy-driver compiles the workspace's own crates, plain rustc the dependencies. `cargo clippy`
# after `cargo build` type-checked every dependency again (9 minutes of a clean run), and one
# setting for all scripts keeps one set of compiled crates (the wrapper is part of cargo's
# fingerprint).
if [ -z "${RUSTC_WORKSPACE_WRAPPER:-}" ]; then
  clippy_driver="$(rustc --print sysroot 2>/dev/null)/bin/clippy-driver"
  [ -x "$clippy_driver" ] || clippy_driver="$(command -v clippy-driver || true)"
  if [ -n "$clippy_driver" ]; then
    export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
    export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  fi
fi
