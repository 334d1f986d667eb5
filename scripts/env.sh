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
