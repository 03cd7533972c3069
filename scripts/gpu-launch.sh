#!/usr/bin/env bash
# Runs a CUDA build of lamer (lamer-host or bench) on a GPU machine that has
# the NVIDIA driver and a Python environment with the nvidia-* CUDA wheels
# (cuBLAS, cuRAND, NVRTC, the runtime: e.g. PyTorch's), but no CUDA toolkit,
# no Rust and no network.
#
# Usage: gpu-launch.sh BINARY [args...]   (BINARY: lamer-host or bench, next to
#        this script; a BINARY.xz is unpacked first with python3's lzma)
#   env: PYTHON (default python3) — the interpreter whose site-packages hold
#        the nvidia/* libraries.
#
# The binary needs libcuda.so.1 (the driver's), libcublas.so.13,
# libcurand.so.10 and libcudart.so.13 (+ libnvrtc); this finds the directory
# of each under site-packages/nvidia and puts them on LD_LIBRARY_PATH.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
BIN="${1:?usage: gpu-launch.sh BINARY [args...]}"
shift
if [ ! -x "$HERE/$BIN" ] && [ -f "$HERE/$BIN.xz" ]; then
  "$PY" - "$HERE/$BIN.xz" "$HERE/$BIN" <<'PYEOF'
import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PYEOF
  chmod +x "$HERE/$BIN"
fi
LIBS="$("$PY" - <<'PYEOF'
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
want = ["libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcudart.so.13", "libnvrtc.so.13"]
dirs = []
missing = []
for name in want:
    hits = [h for root in roots
            for h in glob.glob(os.path.join(root, "nvidia", "**", name + "*"), recursive=True)]
    if not hits:
        missing.append(name)
    for hit in hits:
        d = os.path.dirname(hit)
        if d not in dirs:
            dirs.append(d)
if missing:
    print("gpu-launch: not in this Python environment: " + ", ".join(missing), file=sys.stderr)
print(":".join(dirs))
PYEOF
)"
[ -n "$LIBS" ] || { echo "gpu-launch: no nvidia-* CUDA libraries in $PY's site-packages" >&2; exit 1; }
export LD_LIBRARY_PATH="$LIBS:${LD_LIBRARY_PATH:-}"
exec "$HERE/$BIN" "$@"
