#!/usr/bin/env bash
# Builds real C code bases for wasm32-wasi, for `cargo xtask compare --whole-process`:
# large modules that run briefly, the programs issue 10's start-up targets are about.
# The sources are Debian bookworm's source packages (the upstream orig tarballs, without
# Debian's patches), fetched with apt-get into a private state directory: the system's
# apt configuration is neither read for sources nor changed. Everything goes under
# target/bench-inputs/ (git-ignored). Idempotent: a program is rebuilt only when its
# driver or this script is newer than its .wasm.
#
#   programs/bz2_roundtrip.wasm  bzip2 1.0.8 + benches/programs/drivers/bz2_roundtrip.c
#   programs/sqlite_bench.wasm   SQLite 3.40.1 + benches/programs/drivers/sqlite_bench.c
#   programs/lua.wasm            Lua 5.4.4's `lua`; run benches/programs/drivers/bench.lua
#   debian/                      apt state, the source packages and the build trees
#
# Needs: apt-get (and network access to deb.debian.org), tar with xz, clang with lld
# and wasi-libc (Debian: clang lld wasi-libc libclang-rt-dev-wasm32; or a wasi-sdk
# sysroot in WASI_SYSROOT or /usr/share/wasi-sysroot), and for SQLite's amalgamation
# tclsh and a host C compiler. WASI_CC overrides the compiler, as for xtask.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/bench-inputs"
work="$out/debian"
programs="$out/programs"
drivers="$root/benches/programs/drivers"
script="$root/scripts/build-debian-programs.sh"
mkdir -p "$work/src" "$programs"

CC="${WASI_CC:-clang}"
WASI_FLAGS=(--target=wasm32-wasi -O2 -Wl,--strip-debug)
if [[ -n "${WASI_SYSROOT:-}" ]]; then
    WASI_FLAGS+=("--sysroot=$WASI_SYSROOT")
elif [[ -d /usr/share/wasi-sysroot ]]; then
    WASI_FLAGS+=(--sysroot=/usr/share/wasi-sysroot)
fi # else Debian's clang finds wasi-libc under /usr/include/wasm32-wasi itself.

# The upstream tarballs of bookworm's source packages.
BZIP2_ORIG=bzip2_1.0.8.orig.tar.gz
SQLITE_ORIG=sqlite3_3.40.1.orig.tar.xz
LUA_ORIG=lua5.4_5.4.4.orig.tar.gz

# apt-get with its own sources.list and lists: nothing of the system's apt state is used
# for sources or written. (As root it warns that `_apt` cannot read the download
# directory and downloads unsandboxed; that is harmless.)
apt_private() {
    apt-get -o "Dir::Etc::SourceList=$work/apt/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o "Dir::State::Lists=$work/apt/lists" \
        -o "Dir::Cache=$work/apt/cache" "$@"
}

fetch_sources() {
    if [[ -f "$work/src/$BZIP2_ORIG" && -f "$work/src/$SQLITE_ORIG" && -f "$work/src/$LUA_ORIG" ]]; then
        echo "debian sources: already in $work/src"
        return
    fi
    mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
    echo 'deb-src http://deb.debian.org/debian bookworm main' >"$work/apt/sources.list"
    echo "debian sources: apt-get update (bookworm deb-src only, private lists)"
    apt_private -qq update
    (cd "$work/src" && apt_private -qq source --download-only bzip2 sqlite3 lua5.4)
}

# `unpack TARBALL DIR`: extracts TARBALL in $work/src unless DIR already exists there.
unpack() {
    if [[ ! -d "$work/src/$2" ]]; then
        tar -xf "$work/src/$1" -C "$work/src" || return 1
    fi
}

# `stale OUT INPUT...`: true if OUT is missing or older than this script or an INPUT.
stale() {
    local target="$1"
    shift
    [[ -f "$target" ]] || return 0
    local input
    for input in "$script" "$@"; do
        [[ "$input" -nt "$target" ]] && return 0
    done
    return 1
}

build_bzip2() {
    local wasm="$programs/bz2_roundtrip.wasm" driver="$drivers/bz2_roundtrip.c"
    if ! stale "$wasm" "$driver"; then
        echo "bz2_roundtrip.wasm: up to date"
        return
    fi
    unpack "$BZIP2_ORIG" bzip2-1.0.8 || return 1
    local src="$work/src/bzip2-1.0.8"
    echo "bz2_roundtrip.wasm: building"
    "$CC" "${WASI_FLAGS[@]}" -I"$src" -o "$wasm" "$driver" \
        "$src"/{blocksort,huffman,crctable,randtable,compress,decompress,bzlib}.c || return 1
    echo "bz2_roundtrip.wasm: $(stat -c %s "$wasm") bytes"
}

build_sqlite() {
    local wasm="$programs/sqlite_bench.wasm" driver="$drivers/sqlite_bench.c"
    if ! stale "$wasm" "$driver"; then
        echo "sqlite_bench.wasm: up to date"
        return
    fi
    unpack "$SQLITE_ORIG" sqlite3-3.40.1 || return 1
    local build="$work/src/sqlite-build"
    if [[ ! -f "$build/sqlite3.c" ]]; then
        if ! command -v tclsh >/dev/null; then
            echo "sqlite_bench.wasm: SQLite's amalgamation needs tclsh (Debian: tcl)" >&2
            return 1
        fi
        echo "sqlite_bench.wasm: making the amalgamation sqlite3.c (configure, tclsh)"
        mkdir -p "$build"
        (cd "$build" && ../sqlite3-3.40.1/configure --disable-tcl --disable-readline \
            >configure.log 2>&1 && make sqlite3.c >make.log 2>&1) || {
            echo "sqlite_bench.wasm: see $build/configure.log and make.log" >&2
            return 1
        }
    fi
    # WASI has no file locking, so no unix VFS (SQLITE_OS_OTHER): the driver supplies
    # a VFS that opens no files, and temporary tables live in memory.
    echo "sqlite_bench.wasm: building (about a minute)"
    "$CC" "${WASI_FLAGS[@]}" -I"$build" -o "$wasm" \
        -DSQLITE_OS_OTHER=1 -DSQLITE_TEMP_STORE=3 -DSQLITE_THREADSAFE=0 \
        -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL \
        "$build/sqlite3.c" "$driver" || return 1
    echo "sqlite_bench.wasm: $(stat -c %s "$wasm") bytes"
}

build_lua() {
    local wasm="$programs/lua.wasm"
    if ! stale "$wasm" "$drivers/lua_wasi.h" "$drivers/lua_wasi.c"; then
        echo "lua.wasm: up to date"
        return
    fi
    unpack "$LUA_ORIG" lua-5.4.4 || return 1
    local src="$work/src/lua-5.4.4/src" shim="$work/src/lua-shim"
    # An empty setjmp.h ahead of the sysroot's: lua_wasi.h replaces setjmp/longjmp.
    mkdir -p "$shim" &&
        echo '/* Empty: see benches/programs/drivers/lua_wasi.h. */' >"$shim/setjmp.h" || return 1
    local sources=()
    local file
    for file in "$src"/*.c; do
        [[ "$(basename "$file")" == luac.c ]] || sources+=("$file")
    done
    echo "lua.wasm: building"
    "$CC" "${WASI_FLAGS[@]}" -I"$shim" -I"$src" -include "$drivers/lua_wasi.h" \
        -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_PROCESS_CLOCKS -o "$wasm" \
        "${sources[@]}" "$drivers/lua_wasi.c" \
        -lwasi-emulated-signal -lwasi-emulated-process-clocks || return 1
    echo "lua.wasm: $(stat -c %s "$wasm") bytes"
}

fetch_sources
# Each one on its own: a program that cannot be built is skipped by the harness. (Under
# `||`, bash ignores `set -e` inside the function, hence the `|| return 1`s above.)
status=0
build_bzip2 || { echo "bz2_roundtrip.wasm: FAILED" >&2; status=1; }
build_sqlite || { echo "sqlite_bench.wasm: FAILED" >&2; status=1; }
build_lua || { echo "lua.wasm: FAILED" >&2; status=1; }
exit "$status"
