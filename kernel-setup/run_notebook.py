"""Executes notebooks headlessly through the project's kernel.

    python kernel-setup/run_notebook.py NOTEBOOK... [--param NAME=VALUE]... [--out DIR]

Parameters: for every notebook, a cell with `const NAME = VALUE;` lines is
inserted right after the cell tagged "parameters" (as papermill does), so later
cells see the new values. They come from --param NAME=VALUE and from the
environment variables NB_<NAME>=VALUE (the command line wins). VALUE is taken
as JSON when it parses (1, 0.5, true, null, "text", [1,2]) and as a string
otherwise.

The executed notebook and an HTML copy are written to DIR (default
out/notebooks). The run stops at the first failing cell and exits with status 1,
after writing what was executed so far and printing the cell's error.
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "keras-transfer-ts"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ts_literal(text):
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    return json.dumps(value), value


DECL_RE = re.compile(r"^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*([^=]+?))?\s*=", re.M)


def declared_types(source):
    """NAME -> type annotation, from `const NAME: TYPE = ...` lines."""
    return {m.group(1): (m.group(2) or "").strip() for m in DECL_RE.finditer(source)}


def ts_type(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return ""


def collect_params(cli_params):
    params = {}
    for key, value in os.environ.items():
        if key.startswith("NB_") and len(key) > 3:
            params[key[3:]] = value
    for item in cli_params:
        if "=" not in item:
            sys.exit(f"--param expects NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        params[key.strip()] = value
    for key in params:
        if not NAME_RE.match(key):
            sys.exit(f"parameter name {key!r} is not a valid identifier")
    return params


def inject(nb, params, path):
    if not params:
        return
    index = next((i for i, c in enumerate(nb.cells)
                  if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if index is None:
        sys.exit(f"{path}: parameters were given but no cell is tagged 'parameters'")
    # Keep the types the parameters cell declares (`const EPOCHS: number = 5`),
    # so that an injected 1 is a number, not the literal type 1.
    types = declared_types(nb.cells[index].source)
    lines = []
    unknown = [k for k in params if k not in types]
    if unknown:
        print(f"warning: {path}: the parameters cell does not declare {', '.join(unknown)}; "
              f"it declares {', '.join(types) or 'nothing'}", file=sys.stderr)
    for k, v in params.items():
        literal, value = ts_literal(v)
        annotation = types.get(k) or ts_type(value)
        lines.append(f"const {k}{': ' + annotation if annotation else ''} = {literal};")
    source = "// Parameters given to the headless runner\n" + "\n".join(lines)
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)


def cell_error_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(parts).strip()


def write(nb, out_dir, stem):
    out_dir.mkdir(parents=True, exist_ok=True)
    ipynb = out_dir / f"{stem}.ipynb"
    tmp = ipynb.with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, ipynb)
    try:
        from nbconvert import HTMLExporter
        body, _ = HTMLExporter().from_notebook_node(nb)
        html = out_dir / f"{stem}.html"
        html.with_suffix(".html.tmp").write_text(body, encoding="utf-8")
        os.replace(html.with_suffix(".html.tmp"), html)
    except Exception as e:  # the HTML copy is a convenience
        print(f"warning: could not write the HTML copy: {e}", file=sys.stderr)
    return ipynb


def open_notebook(path, params, timeout=None):
    """The notebook with its parameters injected, and a client for the kernel it names."""
    nb = nbformat.read(str(path), as_version=4)
    inject(nb, params, path)
    kernel = nb.metadata.get("kernelspec", {}).get("name", KERNEL)
    client = NotebookClient(nb, kernel_name=kernel, timeout=timeout,
                            startup_timeout=120,
                            # Jupyter starts a kernel in the notebook's folder; so do we (the
                            # kernel wrapper then moves to the project root).
                            resources={"metadata": {"path": str(path.resolve().parent)}})
    return nb, client


def tagged(nb, tag):
    """Index of the first cell with `tag`."""
    return next(i for i, c in enumerate(nb.cells) if tag in c.metadata.get("tags", []))


def run(path, params, out_dir, timeout):
    nb, client = open_notebook(path, params, timeout)
    kernel = client.kernel_name
    started = time.time()
    print(f"running {path} (kernel {kernel}" +
          (", " + ", ".join(f"{k}={v}" for k, v in params.items()) if params else "") + ")",
          file=sys.stderr, flush=True)
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        failure = e
    written = write(nb, out_dir, path.stem)
    if failure is not None:
        failed = next((c for c in nb.cells if c.cell_type == "code" and
                       any(o.get("output_type") == "error" or
                           (o.get("output_type") == "stream" and o.get("name") == "stderr")
                           for o in c.get("outputs", []))), None)
        print(f"FAILED {path} after {time.time() - started:.1f}s; executed copy: {written}", file=sys.stderr)
        if failed is not None:
            print("--- failing cell ---\n" + failed.source + "\n--- its error ---\n" +
                  (cell_error_text(failed) or str(failure)), file=sys.stderr)
        else:
            print(str(failure), file=sys.stderr)
        return False
    print(f"ok {path} in {time.time() - started:.1f}s -> {written} (+ .html)", file=sys.stderr)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "notebooks")
    ap.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none)")
    args = ap.parse_args()
    os.environ.setdefault("JUPYTER_PATH", str(ROOT / ".venv" / "share" / "jupyter"))
    params = collect_params(args.param)
    ok = True
    for path in args.notebooks:
        if not path.exists():
            sys.exit(f"no notebook at {path}")
        if not run(path, params, args.out, args.timeout):
            ok = False
            break
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
