#!/usr/bin/env bash
# Builds the project's own TensorFlow kernel, build/native/adam.node (src/tfjs/native/adam.cc:
# Keras's Adam update of one weight in one pass, used by the graph engine's train step), against the
# TensorFlow library that @tensorflow/tfjs-node runs on, with the machine's C++ compiler (a few
# seconds). build/native/adam.json records what it was built from (the source's hash, the library);
# src/tfjs/adam_kernel.ts loads the kernel only when both still match, and the step falls back to
# twelve elementwise ops otherwise, so a failed or skipped build costs speed, never a result.
#
# Skipped (with a note) when tfjs-node is not installed (tfjs-node-gpu alone: the kernel is for the
# CPU, and on a GPU the update's ops run there) or there is no C++ compiler.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[setup] $*" >&2; }

SRC="src/tfjs/native/adam.cc"
OUT="build/native/adam.node"
STAMP="build/native/adam.json"
DEPS="node_modules/@tensorflow/tfjs-node/deps"
if [[ ! -e "$DEPS/lib/libtensorflow_framework.so.2" || ! -f "$DEPS/include/tensorflow/c/kernels.h" ]]; then
  log "note: no @tensorflow/tfjs-node library to build the fused Adam kernel against; training uses TensorFlow's elementwise ops"
  exit 0
fi
CXX="${CXX:-g++}"
if ! command -v "$CXX" >/dev/null; then
  log "note: no C++ compiler ($CXX) for the fused Adam kernel; training uses TensorFlow's elementwise ops"
  exit 0
fi
LIB="$(realpath "$DEPS/lib/libtensorflow_framework.so.2")"
LIBDIR="$(dirname "$LIB")"
stamp="$(SRC="$SRC" LIB="$LIB" node -e '
const fs = require("node:fs"), crypto = require("node:crypto");
const source = crypto.createHash("sha256").update(fs.readFileSync(process.env.SRC)).digest("hex");
process.stdout.write(JSON.stringify({ source, library: process.env.LIB }));')"
if [[ -f "$OUT" && "$(cat "$STAMP" 2>/dev/null)" == "$stamp" ]]; then
  exit 0
fi
log "building the fused Adam kernel ($OUT) against $LIB"
mkdir -p build/native
# -ffp-contract=off: no fused multiply-adds, so the kernel rounds as the twelve ops it replaces.
# --as-needed keeps only the library that defines the C API's kernel functions (the framework
# library in TensorFlow's wheel; libtensorflow in Google's C library for tfjs-node).
if "$CXX" -std=c++17 -O3 -fPIC -shared -fvisibility=hidden -ffp-contract=off -fno-math-errno \
  -I"$DEPS/include" "$SRC" -o "$OUT.tmp" \
  -Wl,--as-needed -L"$LIBDIR" -L"$DEPS/lib" -l:libtensorflow_framework.so.2 -l:libtensorflow.so.2 \
  -Wl,-rpath,"$LIBDIR" -Wl,-rpath,"$(realpath "$DEPS/lib")"; then
  mv "$OUT.tmp" "$OUT"
  printf '%s' "$stamp" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
else
  rm -f "$OUT.tmp"
  log "warning: the fused Adam kernel did not build (above); training uses TensorFlow's elementwise ops"
fi
