#!/usr/bin/env bash
# Builds the CUDA `lamer-host` and the lamer-policy bench example with
# `--features cuda` using the CUDA 13.0.x toolkit from PyPI wheels (no system
# CUDA needed; GPU drivers R580+), then packs them for transfer: stripped,
# xz-compressed, with the environment plugins and scripts/gpu-launch.sh, in
# $CARGO_TARGET_DIR/dist; on the GPU machine gpu-launch.sh unpacks a binary
# with python3's lzma and finds the CUDA libraries of its Python environment.
#
# Usage: scripts/cuda-build.sh [extra cargo args]
#   env: CUDA_VENV (default ~/.cache/lamer/cuda13-venv), CUDA_COMPUTE_CAP
#        (default 90 = H100/H200), CARGO_TARGET_DIR (default target/cuda)
# Then run, e.g.:
#   source "$CUDA_VENV/cuda-env.sh"
#   $CARGO_TARGET_DIR/release/examples/bench --config qwen3-4b --device cuda:0 --dtype bf16 \
#       --batch 1,32,128
#
# Recipe (reference/feasibility.md §4): the CUDA-13 split wheels install a usable
# CUDA_HOME at site-packages/nvidia/cu13; candle links cudarc dynamically, so the
# link needs unversioned .so symlinks and a libcuda.so. The real libcuda comes
# with the driver; on a build machine without one we link against a stub made
# from cudarc's list of driver functions (at run time the driver's libcuda.so.1
# is used). cudarc checks `nvcc --version` against the versions it supports;
# 13.0 is supported by cudarc 0.19.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${CUDA_VENV:-$HOME/.cache/lamer/cuda13-venv}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target/cuda}"

# CUDA 13.0 Update 2 (the toolkit of driver branch R580).
PACKAGES=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.1.0.3
  nvidia-curand==10.4.0.35
)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
C="$SITE/nvidia/cu13"
if [ ! -x "$C/bin/nvcc" ]; then
  NVCC="$(find "$SITE/nvidia" -path '*/bin/nvcc' -type f | head -n1)"
  [ -n "$NVCC" ] || { echo "no nvcc found under $SITE/nvidia" >&2; exit 1; }
  C="$(dirname "$(dirname "$NVCC")")"
fi
echo "CUDA_HOME=$C"

# Unversioned names for the linker (wheels ship only libX.so.N).
for lib in cublas cublasLt cudart curand nvrtc; do
  so="$(ls "$C"/lib/lib$lib.so.* 2>/dev/null | sort | head -n1 || true)"
  [ -n "$so" ] || { echo "missing lib$lib in $C/lib" >&2; exit 1; }
  ln -sf "$(basename "$so")" "$C/lib/lib$lib.so"
done

# A libcuda stub for linking only: every cu* entry point cudarc declares.
if [ ! -f "$C/lib/stubs/libcuda.so" ]; then
  (cd "$REPO" && cargo fetch --quiet)
  SYS="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs | sort | tail -n1)"
  mkdir -p "$C/lib/stubs"
  grep -ho 'pub unsafe fn cu[A-Za-z0-9_]*' "$SYS" | awk '{print $4}' | sort -u \
    | awk '{print "int " $1 "(void){return 999;}"}' > "$C/lib/stubs/libcuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$C/lib/stubs/libcuda.so" "$C/lib/stubs/libcuda_stub.c"
fi

cat > "$VENV/cuda-env.sh" <<ENV
export CUDA_HOME="$C" CUDA_ROOT="$C" CUDA_PATH="$C"
export PATH="$C/bin:\$PATH"
export CUDA_COMPUTE_CAP="$CUDA_COMPUTE_CAP"
# cublas, curand, cudart, nvrtc from the wheels; libcuda.so.1 from the driver.
export LD_LIBRARY_PATH="$C/lib:\${LD_LIBRARY_PATH:-}"
export LIBRARY_PATH="$C/lib:$C/lib/stubs:\${LIBRARY_PATH:-}"
ENV
# shellcheck disable=SC1091
source "$VENV/cuda-env.sh"
nvcc --version | tail -n2

cd "$REPO"
# One invocation for both: built separately, the bench example's package
# resolves its dependencies' features differently and candle-kernels (most of
# the half-hour) is built a second time.
cargo build --release -p lamer-host -p lamer-policy --features lamer-host/cuda,lamer-policy/cuda \
  --bin lamer-host --example bench "$@"
echo "built $CARGO_TARGET_DIR/release/lamer-host and examples/bench (source $VENV/cuda-env.sh before running)"

# Pack for a machine that has the driver and a Python environment with the
# nvidia-* wheels, but no network and no Rust: binaries stripped and
# xz-compressed, plugins as they are.
DIST="$CARGO_TARGET_DIR/dist"
rm -rf "$DIST" && mkdir -p "$DIST/plugins"
for bin in release/lamer-host release/examples/bench; do
  name="$(basename "$bin")"
  strip -o "$DIST/$name" "$CARGO_TARGET_DIR/$bin"
  xz -9 -T0 -f "$DIST/$name"
done
# The plugins: built by `scripts/build.sh` (target/wasm32-wasip2) or by the
# test build (target/plugins/wasm32-wasip2); scripts/gpu-check.sh needs sokoban.
for dir in "$REPO"/target/wasm32-wasip2/plugin "$REPO"/target/plugins/wasm32-wasip2/plugin; do
  if ls "$dir"/*.wasm >/dev/null 2>&1; then
    cp "$dir"/*.wasm "$DIST/plugins/"
  fi
done
[ -f "$DIST/plugins/sokoban.wasm" ] || echo "warning: no sokoban.wasm in $DIST/plugins (run scripts/build.sh)" >&2
cp "$REPO/scripts/gpu-launch.sh" "$DIST/"
du -b "$DIST"/* "$DIST"/plugins/* 2>/dev/null | sort -n
echo "transfer size: $(du -cb "$DIST" | tail -n1 | cut -f1) bytes (limit 67108864)"
