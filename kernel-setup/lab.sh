#!/usr/bin/env bash
# Opens JupyterLab on notebooks/ with the project's kernel (run setup.sh first).
# Extra arguments go to JupyterLab, e.g. --port=8899 --no-browser.
# As root (containers, CI machines) it passes --allow-root, without which
# JupyterLab refuses to start.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JUPYTER_PATH="$ROOT/.venv/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
as_root=()
if [[ "$(id -u)" == 0 ]]; then
  as_root=(--allow-root)
fi
exec "$ROOT/.venv/bin/jupyter" lab --notebook-dir="$ROOT/notebooks" \
  --MappingKernelManager.default_kernel_name=keras-transfer-ts "${as_root[@]}" "$@"
