#!/usr/bin/env bash
# Installs what a Debian 12 machine lacks to build distro with every backend
# this machine can run (CPU, OpenCL through PoCL, Vulkan through lavapipe),
# then configures and builds into ./build. Run as root (or with sudo) on a
# fresh machine; later runs skip what is already there.
#
# Environment:
#   DISTRO_BUILD_DIR    build directory (default: build)
#   DISTRO_CMAKE_ARGS   extra arguments for cmake (CI passes -DDISTRO_WERROR=ON)
#   DISTRO_NO_APT=1     never call apt-get (you installed the packages yourself)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  build-essential cmake pkg-config git
  # required libraries: transport, JSON, CPU BLAS, BLAKE2b (hashes, checksums)
  libzmq3-dev libcjson-dev libopenblas-dev libsodium-dev
  # dashboard and reports: HTTP server, Chart.js (embedded at build time)
  libmicrohttpd-dev libjs-chart.js
  # OpenCL backend: headers, ICD loader, CLBlast; PoCL runs it on the CPU
  ocl-icd-opencl-dev opencl-headers libclblast-dev pocl-opencl-icd
  # Vulkan backend: loader headers, shader compiler; lavapipe runs it on the CPU
  libvulkan-dev glslc mesa-vulkan-drivers
  # tests: independent checkpoint reader, fuzzing with clang's libFuzzer (its
  # runtime is only a recommendation of clang's), a real browser for the
  # dashboard and report, Vulkan's validation layer
  python3 python3-venv clang libclang-rt-dev clang-format chromium vulkan-validationlayers
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] && [ "${DISTRO_NO_APT:-0}" != 1 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build="${DISTRO_BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ${DISTRO_CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)"

# Test-only Python tools (an independent safetensors reader), from PyPI into
# a virtual environment inside the build directory. Never a runtime
# dependency: if PyPI is unreachable, the tests that need it report skipped.
if [ ! -x "$build/pyenv/bin/python" ] || ! "$build/pyenv/bin/python" -c 'import safetensors, numpy' 2>/dev/null; then
  if python3 -m venv "$build/pyenv" && "$build/pyenv/bin/pip" install -q safetensors numpy; then
    echo "setup: test tools installed in $build/pyenv"
  else
    echo "setup: warning: could not install safetensors/numpy from PyPI; the tests that use them will be skipped" >&2
  fi
fi
