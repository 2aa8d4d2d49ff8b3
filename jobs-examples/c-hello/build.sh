#!/usr/bin/env bash
# Builds the C hello job into a component, in one command:
#
#     jobs-examples/c-hello/build.sh jobs-examples/c-hello -o hello.wasm
#
# Bindings from the project's WIT (`wit-bindgen c`), compiled with Debian's
# clang-19 and wasi-libc, linked into a component by `wasm-component-ld`
# (which rustup ships with the wasm32-wasip2 target; clang runs it as the
# linker and it adds the WASI preview1 adapter), then the
# `wasync-functions` custom section is appended so the server lists the
# job functions. `cargo xtask polyglot` installs the tools when missing
# (apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32;
# cargo install wit-bindgen-cli).
set -euo pipefail

src=${1:?usage: build.sh FOLDER -o OUTPUT.wasm}
[[ ${2:-} == -o && -n ${3:-} ]] || { echo "usage: build.sh FOLDER -o OUTPUT.wasm" >&2; exit 2; }
out=$3
src=$(cd "$src" && pwd)
root=$(cd "$src/../.." && pwd)
WIT_BINDGEN=${WIT_BINDGEN:-wit-bindgen}
CC=${CC:-clang-19}
if [[ -z ${WASM_COMPONENT_LD:-} ]]; then
    WASM_COMPONENT_LD="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/wasm-component-ld"
fi

gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
"$WIT_BINDGEN" c "$root/wit" --world job --out-dir "$gen" >"$gen/wit-bindgen.log" 2>&1 ||
    { cat "$gen/wit-bindgen.log" >&2; exit 1; }
cflags=(--target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror -I"$gen")
"$CC" "${cflags[@]}" -c "$gen/job.c" -o "$gen/job.o"
"$CC" "${cflags[@]}" -c "$src/hello.c" -o "$gen/hello.o"
mkdir -p "$(dirname "$out")"
"$CC" --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -fuse-ld="$WASM_COMPONENT_LD" \
    "$gen/hello.o" "$gen/job.o" "$gen/job_component_type.o" -o "$out"

# The job functions, as a custom section (id 0): name, then a JSON array.
python3 - "$out" "$src/hello.c" <<'PY'
import json, re, sys
out, source = sys.argv[1], sys.argv[2]
names = re.findall(r'^\s*\{"([\w-]+)",\s*job_\w+\}', open(source).read(), re.M)
def leb(n):
    b = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        b.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(b)
name = b"wasync-functions"
body = leb(len(name)) + name + json.dumps(names).encode()
open(out, "ab").write(b"\0" + leb(len(body)) + body)
print(f"built {out}; job functions: {', '.join(names)}")
PY
