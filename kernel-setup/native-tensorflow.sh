#!/usr/bin/env bash
# Makes a native TensorFlow backend for TF.js available.
#
# 1. If @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node already loads (npm
#    could download Google's prebuilt libtensorflow), there is nothing to do.
# 2. Otherwise (no access to Google's storage, as behind many firewalls), build
#    the tfjs-node addon from source against the TensorFlow C library that the
#    pip wheel in the project's virtualenv ships.
#
# KT_NATIVE_PACKAGE chooses which package to build (default
# @tensorflow/tfjs-node; @tensorflow/tfjs-node-gpu with a CUDA-enabled
# "tensorflow" wheel in the venv, see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
PKG="${KT_NATIVE_PACKAGE:-@tensorflow/tfjs-node}"
VERSION="$(node -p "require('./package.json').optionalDependencies['$PKG']")"

loads() { node -e "require('$1')" >/dev/null 2>&1; }

if loads @tensorflow/tfjs-node-gpu || loads @tensorflow/tfjs-node; then
  exit 0
fi

echo "[setup] no prebuilt native TensorFlow for TF.js could be installed; building $PKG@$VERSION against the TensorFlow wheel in .venv"
TF_DIR="$("$PY" -c 'import os, tensorflow; print(os.path.dirname(tensorflow.__file__))' 2>/dev/null || true)"
if [[ -z "$TF_DIR" || ! -f "$TF_DIR/libtensorflow_cc.so.2" ]]; then
  echo "[setup] error: TensorFlow is not installed in .venv (pip install -r kernel-setup/requirements.txt)" >&2
  exit 1
fi

# The package itself, without running its download script. --no-save leaves
# package.json and package-lock.json as they are.
DIR="node_modules/$PKG"
if [[ ! -f "$DIR/binding.gyp" || ! -x node_modules/.bin/node-pre-gyp ]]; then
  npm install --no-save --ignore-scripts --no-audit --no-fund "$PKG@$VERSION" >/dev/null
fi
# A package left without its addon by the step above would shadow the one we
# build; the backend loader skips it anyway, but keep the tree honest.
for other in @tensorflow/tfjs-node @tensorflow/tfjs-node-gpu; do
  if [[ "$other" != "$PKG" && -d "node_modules/$other" ]] && ! loads "$other"; then
    rm -rf "node_modules/$other"
  fi
done

# Point the package's deps/ at the wheel's C library and headers. The file
# libtensorflow.so.<version> is the one scripts/install.js checks before it
# would download anything.
LIBVER="$(node -p "require('./$DIR/package.json')['tensorflow-version'] || '2.9.1'" 2>/dev/null || echo 2.9.1)"
rm -rf "$DIR/deps"
mkdir -p "$DIR/deps/lib"
ln -s "$TF_DIR/include" "$DIR/deps/include"
ln -s "$TF_DIR/libtensorflow_cc.so.2" "$DIR/deps/lib/libtensorflow_cc.so.2"
ln -s "$TF_DIR/libtensorflow_framework.so.2" "$DIR/deps/lib/libtensorflow_framework.so.2"
ln -s libtensorflow_cc.so.2 "$DIR/deps/lib/libtensorflow.so"
ln -s libtensorflow_cc.so.2 "$DIR/deps/lib/libtensorflow.so.2"
ln -s libtensorflow_framework.so.2 "$DIR/deps/lib/libtensorflow_framework.so"
ln -s libtensorflow_cc.so.2 "$DIR/deps/lib/libtensorflow.so.$LIBVER"

npm_config_build_from_source=true npm rebuild "$PKG" --build-from-source --foreground-scripts >"$ROOT/.venv/native-build.log" 2>&1 || {
  echo "[setup] error: building $PKG failed; see .venv/native-build.log" >&2
  tail -30 "$ROOT/.venv/native-build.log" >&2
  exit 1
}
if ! loads "$PKG"; then
  echo "[setup] error: $PKG was built but does not load:" >&2
  node -e "require('$PKG')" 2>&1 | tail -5 >&2
  exit 1
fi
echo "[setup] built $PKG against TensorFlow $("$PY" -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null)"
