"""Executes notebooks headlessly through the project's kernel, with papermill's conventions.

    python kernel-setup/run_notebook.py NOTEBOOK... [-p NAME VALUE]... [-r NAME VALUE]...
        [--param NAME=VALUE]... [-f FILE.yaml]... [-y YAML]... [--out DIR] [--log-output] [--no-progress-bar]
        [--progress-interval SECONDS] [--execution-timeout SECONDS] [-k KERNEL]

papermill itself is not used: it is not on every pip index these machines reach, and it has no
translator for TypeScript. This runner does what papermill does, the same way:

Parameters: a cell of `const NAME: TYPE = VALUE;` lines, tagged "injected-parameters", is inserted
right after the cell tagged "parameters" (replacing one injected before), keeping the types the
parameters cell declares (`const EPOCHS: number = 5` gives `const EPOCHS: number = 1;`). Values
come, lowest priority first, from environment variables NB_<NAME>=VALUE, then YAML mappings
(`-f params.yaml`, then `-y "EPOCHS: 1"`, each in the order given, their values typed by YAML as
papermill's are), then from the command line: `-p NAME VALUE` and `--param NAME=VALUE` take VALUE
as JSON when it parses (1, 0.5, true, null, "text", [1,2]), as papermill's True / False / None,
and as a string otherwise (or when the parameters cell declares the name a `string`);
`-r NAME VALUE` always as a string. They are recorded
in the executed notebook's metadata, `metadata.papermill.parameters`, with the run's start, end,
duration and whether it failed; each code cell gets `metadata.papermill` (status, start and end
time, duration), as papermill writes them.

Progress, on stderr: a line per code cell as it starts ("[ 9/19 0:31] train"), or on a terminal a
status line redrawn in place; the progress displays of the library (training, evaluate, predict,
downloads; a display whose metadata holds "keras-transfer-ts") are printed as they change: finished
lines (an epoch) as they appear, the current state every --progress-interval seconds (default 10;
on a terminal, in the status line), and the closing line. --log-output also prints what cells
print (stdout, stderr, the plain text of other displays), as papermill's --log-output does.

The executed notebook and an HTML copy are written to DIR (default out/notebooks); the notebook
is also saved every 30 seconds while it runs. The run stops at the first failing cell and exits with
status 1, after writing what was executed so far (with papermill's error banner: a markdown cell at
the top linking to one just before the failing cell, both tagged "papermill-error-cell-tag") and
printing the cell and its error. Bad arguments exit with status 2.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import run_sync

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "keras-transfer-ts"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The metadata key of the library's live displays (src/notebook/tslab.ts, LIVE_DISPLAY_KEY).
LIVE_KEY = "keras-transfer-ts"
AUTOSAVE_SECONDS = 30


# ---------------------------------------------------------------------------
# Parameters: values, TypeScript declarations, injection


class Raw(str):
    """A parameter value to be taken as a string as it is (`-r NAME VALUE`)."""


class Typed:
    """A parameter value already typed (from YAML: `-f`, `-y`)."""

    def __init__(self, value):
        self.value = value


def parse_value(text, declared=""):
    """The value of a parameter given as text: JSON, papermill's True / False / None, else the text.
    A name the parameters cell declares `string` keeps its text unless it is a JSON string."""
    if isinstance(text, Raw):
        return str(text)
    if isinstance(text, Typed):
        value = text.value
        if isinstance(value, str):  # as -p takes it: YAML 1.1 leaves 1e3 and 1.5e3 strings
            return parse_value(value, declared)
        if declared.strip() == "string" and value is not None:
            return json.dumps(value)
        return value
    try:
        value = json.loads(text)
    except ValueError:
        value = {"True": True, "False": False, "None": None}.get(text, text)
    if declared.strip() == "string" and not isinstance(value, str):
        return text
    return value


def ts_literal(value):
    """The TypeScript literal of a JSON-able value."""
    return json.dumps(value)


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


def read_yaml_params(text, source):
    """NAME -> Typed value from a YAML mapping (`-f FILE`, `-y TEXT`), as papermill reads them."""
    try:
        import yaml
    except ImportError:
        fail(f"{source}: reading YAML parameters needs PyYAML in .venv (npm run setup installs it with Jupyter)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        fail(f"{source} is not valid YAML{where}: {getattr(e, 'problem', None) or e}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        got = f"the text {data!r}" if isinstance(data, str) else f"a {type(data).__name__}"
        fail(f"{source}: expected NAME: VALUE lines (a YAML mapping, a space after each colon), got {got}")
    params = {}
    for key, value in data.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            fail(f"{source}: the value of {key} ({value!r}) has no TypeScript literal; "
                 "use numbers, strings, true/false, null, lists and mappings (quote dates)")
        params[str(key)] = Typed(value)
    return params


def collect_params(cli_params, files=(), yamls=()):
    """NAME -> text (Raw for -r, Typed from YAML) from NB_* environment variables, then the YAML
    files and texts, then the command line's parameters in order: ("param", "NAME=VALUE"),
    ("p", (NAME, VALUE)) or ("r", (NAME, VALUE))."""
    params = {}
    for key, value in os.environ.items():
        if key.startswith("NB_") and len(key) > 3:
            params[key[3:]] = value
    for file in files:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except FileNotFoundError:
            fail(f"no parameters file at {file}")
        except (OSError, UnicodeDecodeError) as e:
            fail(f"cannot read the parameters file {file}: {e}")
        params.update(read_yaml_params(text, f"the parameters file {file}"))
    for text in yamls:
        params.update(read_yaml_params(text, f"-y {text!r}"))
    for item in cli_params:
        if isinstance(item, str):  # --param NAME=VALUE, as earlier callers pass them
            item = ("param", item)
        kind, given = item
        if kind == "param":
            if "=" not in given:
                fail(f"--param expects NAME=VALUE, got {given!r} (or use -p NAME VALUE)")
            key, value = given.split("=", 1)
            params[key.strip()] = value
        else:
            key, value = given
            params[key] = Raw(value) if kind == "r" else value
    for key in params:
        if not NAME_RE.match(key):
            fail(f"parameter name {key!r} is not a valid TypeScript identifier")
    return params


class _InOrder(argparse.Action):
    """Keeps -p, -r and --param in the order given, in one list."""

    def __call__(self, parser, namespace, values, option_string=None):
        kind = {"-p": "p", "--parameters": "p", "-r": "r", "--parameters_raw": "r"}.get(option_string, "param")
        items = list(getattr(namespace, self.dest) or [])
        items.append((kind, tuple(values) if isinstance(values, list) else values))
        setattr(namespace, self.dest, items)


def fail(message):
    print(f"run_notebook: error: {message}", file=sys.stderr)
    sys.exit(2)


def inject(nb, params, path):
    """Inserts the parameters cell after the one tagged "parameters"; returns NAME -> value as injected."""
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    if not params:
        return {}
    index = next((i for i, c in enumerate(nb.cells)
                  if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if index is None:
        fail(f"{path}: parameters were given ({', '.join(params)}) but no cell is tagged 'parameters'")
    # Keep the types the parameters cell declares (`const EPOCHS: number = 5`),
    # so that an injected 1 is a number, not the literal type 1.
    types = declared_types(nb.cells[index].source)
    unknown = [k for k in params if k not in types]
    if unknown:
        print(f"warning: {path}: the parameters cell does not declare {', '.join(unknown)}; "
              f"it declares {', '.join(types) or 'nothing'}", file=sys.stderr)
    values = {}
    lines = []
    for k, text in params.items():
        value = parse_value(text, types.get(k, ""))
        values[k] = value
        annotation = types.get(k) or ts_type(value)
        lines.append(f"const {k}{': ' + annotation if annotation else ''} = {ts_literal(value)};")
    source = "// Parameters given to the headless runner\n" + "\n".join(lines)
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
    return values


# ---------------------------------------------------------------------------
# What the terminal shows


def clock(seconds):
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def cell_label(cell):
    """The cell's first tag, else its first line of code."""
    tags = cell.get("metadata", {}).get("tags", [])
    if tags:
        return tags[0]
    for line in cell.source.splitlines():
        line = line.strip()
        if line and not line.startswith("//"):
            return line if len(line) <= 60 else line[:57] + "..."
    return "(comments only)"


class Terminal:
    """Prints a run's progress to `stream`: cell lines, the library's live displays, and with
    `log_output` what cells print. On a terminal (`tty`) the current state is one status line
    redrawn in place; elsewhere it is printed every `interval` seconds."""

    INDENT = "    "

    def __init__(self, stream=sys.stderr, tty=None, interval=10.0, log_output=False, cell_lines=True, now=time.monotonic):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval
        self.log_output = log_output
        self.cell_lines = cell_lines
        self.now = now
        self.started = now()
        self.status = ""
        self.cell = ""
        self.live = {}
        self.partial = {}

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def _width(self):
        return max(40, shutil.get_terminal_size((100, 20)).columns - 1)

    def line(self, text):
        """A line, above the status line on a terminal."""
        if self.tty:
            self._write("\r\x1b[K" + text + "\n")
            self._draw()
        else:
            self._write(text + "\n")

    def _draw(self):
        if self.tty:
            parts = [p for p in (self.cell, self.status) if p]
            self._write("\r\x1b[K" + " · ".join(parts)[: self._width()])

    def set_status(self, text):
        self.status = text
        self._draw()

    def start_notebook(self, path, kernel, values, out):
        self.started = self.now()
        given = ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())
        self.line(f"Executing {path} with kernel {kernel}" + (f"; parameters {given}" if given else "") + f" -> {out}")

    def start_cell(self, number, total, cell):
        head = f"[{number:>{len(str(total))}}/{total} {clock(self.now() - self.started)}] {cell_label(cell)}"
        self.live = {}
        self.partial = {}
        self.status = ""
        if self.tty:
            self.cell = head if self.cell_lines else ""
            self._draw()
        elif self.cell_lines:
            self.line(head)

    def end_cell(self):
        for name, text in self.partial.items():
            if text:
                self.line(self.INDENT + text)
        self.partial = {}
        if not self.tty:
            # The last state of a display that did not close (interrupted, or not the library's).
            for state in self.live.values():
                if not state["done"] and state["current"] and state["current"] != state["shown"]:
                    self.line(self.INDENT + state["current"])
        self.status = ""
        self.cell = ""
        if self.tty:
            self._write("\r\x1b[K")

    def end_notebook(self, text):
        self.line(text)

    def message(self, msg):
        """A message from the kernel about the running cell."""
        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        content = msg.get("content", {})
        if kind in ("display_data", "update_display_data"):
            data = content.get("data", {})
            meta = (content.get("metadata") or {}).get(LIVE_KEY)
            display_id = (content.get("transient") or {}).get("display_id")
            if isinstance(meta, dict) and "text/plain" in data:
                self._live(display_id or id(msg), data["text/plain"], meta.get("live") == "done")
            elif self.log_output and kind == "display_data":
                text = data.get("text/plain")
                if text:
                    for line in str(text).splitlines():
                        self.line(self.INDENT + line)
                else:
                    self.line(self.INDENT + f"[{', '.join(sorted(data)) or 'empty'} output]")
        elif kind == "stream" and self.log_output:
            name = content.get("name", "stdout")
            text = self.partial.get(name, "") + content.get("text", "")
            *complete, rest = text.split("\n")
            for line in complete:
                self.line(self.INDENT + line)
            self.partial[name] = rest
        elif kind == "error" and self.log_output:
            self.line(self.INDENT + f"{content.get('ename')}: {content.get('evalue')}")

    def _live(self, key, text, done):
        state = self.live.setdefault(key, {"printed": 0, "shown": None, "at": None, "current": "", "done": False})
        if state["done"]:
            return
        lines = str(text).split("\n")
        finished = lines if done else lines[:-1]
        if done:
            self.status = ""
        for line in finished[state["printed"]:]:
            self.line(self.INDENT + line)
        state["printed"] = max(state["printed"], len(finished))
        state["done"] = done
        if done:
            state["current"] = ""
            self._draw()
            return
        current = lines[-1]
        state["current"] = current
        if self.tty:
            self.set_status(current)
        elif state["at"] is None or self.now() - state["at"] >= self.interval:
            if current != state["shown"]:
                self.line(self.INDENT + current)
                state["shown"] = current
                state["at"] = self.now()


# ---------------------------------------------------------------------------
# Running


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class RunnerClient(NotebookClient):
    """nbclient's client, telling `terminal` (when given) what runs and what the kernel sends, and
    recording papermill's per-cell metadata; `on_cell_done` is called after each code cell."""

    def __init__(self, nb, terminal=None, on_cell_done=None, **kwargs):
        super().__init__(nb, **kwargs)
        self.terminal = terminal
        self.on_cell_done = on_cell_done
        self.code_total = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
        self.code_number = 0
        self.failed_index = None
        for c in nb.cells:
            if c.cell_type == "code":
                c.metadata["papermill"] = {"exception": None, "start_time": None, "end_time": None,
                                           "duration": None, "status": "pending"}

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        self.code_number += 1
        started = time.time()
        record = {"exception": None, "start_time": utc_now(), "end_time": None, "duration": None, "status": "running"}
        cell.metadata["papermill"] = record
        if self.terminal:
            self.terminal.start_cell(self.code_number, self.code_total, cell)
        ok = False
        try:
            result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            ok = True
            return result
        finally:
            if self.terminal:
                self.terminal.end_cell()
            record.update(end_time=utc_now(), duration=round(time.time() - started, 3),
                          status="completed" if ok else "failed", exception=not ok)
            # nbclient may have replaced the cell object: keep the record on the one in the notebook.
            self.nb.cells[cell_index].metadata["papermill"] = record
            if not ok:
                self.failed_index = cell_index
            if self.on_cell_done:
                self.on_cell_done()

    def process_message(self, msg, cell, cell_index):
        if self.terminal:
            self.terminal.message(msg)
        return super().process_message(msg, cell, cell_index)

    # nbclient binds its synchronous execute_cell to its own async_execute_cell: bound again here, so
    # that a cell run one at a time (as the tests' re-run and interrupt scripts do) goes through ours.
    execute_cell = run_sync(async_execute_cell)


def cell_error_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(parts).strip()


def write_ipynb(nb, ipynb):
    ipynb.parent.mkdir(parents=True, exist_ok=True)
    tmp = ipynb.with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, ipynb)


def write(nb, out_dir, stem):
    ipynb = out_dir / f"{stem}.ipynb"
    write_ipynb(nb, ipynb)
    try:
        from nbconvert import HTMLExporter
        body, _ = HTMLExporter().from_notebook_node(nb)
        html = out_dir / f"{stem}.html"
        html.with_suffix(".html.tmp").write_text(body, encoding="utf-8")
        os.replace(html.with_suffix(".html.tmp"), html)
    except Exception as e:  # the HTML copy is a convenience
        print(f"warning: could not write the HTML copy: {e}", file=sys.stderr)
    return ipynb


def open_notebook(path, params, timeout=None, terminal=None, kernel=None, on_cell_done=None):
    """The notebook with its parameters injected (NAME -> text, as collect_params gives them), and a
    client for the kernel it names (or `kernel`); the injected values are in
    nb.metadata.papermill.parameters."""
    nb = nbformat.read(str(path), as_version=4)
    values = inject(nb, params, path)
    nb.metadata["papermill"] = {"parameters": values, "input_path": str(path), "output_path": None,
                                "start_time": None, "end_time": None, "duration": None, "exception": None,
                                "runner": "kernel-setup/run_notebook.py (papermill's conventions)"}
    kernel = kernel or nb.metadata.get("kernelspec", {}).get("name", KERNEL)
    client = RunnerClient(nb, terminal=terminal, on_cell_done=on_cell_done, kernel_name=kernel,
                          timeout=timeout, startup_timeout=120,
                          # Jupyter starts a kernel in the notebook's folder; so do we (the
                          # kernel wrapper then moves to the project root).
                          resources={"metadata": {"path": str(path.resolve().parent)}})
    return nb, client


def tagged(nb, tag):
    """Index of the first cell with `tag`."""
    return next(i for i, c in enumerate(nb.cells) if tag in c.metadata.get("tags", []))


ERROR_TAG = "papermill-error-cell-tag"
ERROR_STYLE = "color:red; font-size:1.5em;"


def mark_failure(nb, index):
    """As papermill marks a failed run in the executed notebook: a banner at the top linking to
    the failing cell, and a marker just before it, both markdown cells tagged ERROR_TAG."""
    count = nb.cells[index].get("execution_count")
    banner = nbformat.v4.new_markdown_cell(
        f'<span style="{ERROR_STYLE}">The run stopped with an error at '
        f'<a href="#papermill-error-cell">In [{count if count is not None else " "}]</a>.</span>')
    marker = nbformat.v4.new_markdown_cell(
        f'<span id="papermill-error-cell" style="{ERROR_STYLE}">The headless run stopped here, '
        f'with the error below:</span>')
    for cell in (banner, marker):
        cell.metadata["tags"] = [ERROR_TAG]
    nb.cells.insert(index, marker)
    nb.cells.insert(0, banner)


def run(path, params, out_dir, timeout, terminal, kernel=None):
    ipynb = out_dir / f"{path.stem}.ipynb"
    last_save = [time.time()]

    def autosave():
        if time.time() - last_save[0] >= AUTOSAVE_SECONDS:
            last_save[0] = time.time()
            try:
                write_ipynb(nb, ipynb)
            except OSError as e:
                print(f"warning: could not save {ipynb} while running: {e}", file=sys.stderr)

    nb, client = open_notebook(path, params, timeout, terminal=terminal, kernel=kernel, on_cell_done=autosave)
    meta = nb.metadata["papermill"]
    meta.update(output_path=str(ipynb), start_time=utc_now())
    terminal.start_notebook(path, client.kernel_name, meta["parameters"], ipynb)
    started = time.time()
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        failure = e
    meta.update(end_time=utc_now(), duration=round(time.time() - started, 3), exception=failure is not None)
    index = client.failed_index
    failed = nb.cells[index] if failure is not None and index is not None else None
    if failed is not None:
        mark_failure(nb, index)
    written = write(nb, out_dir, path.stem)
    seconds = time.time() - started
    if failure is not None:
        where = f" at cell {client.code_number}/{client.code_total} ({cell_label(failed)})" if failed is not None else ""
        terminal.end_notebook(f"FAILED {path}{where} after {seconds:.1f}s; executed copy: {written}")
        if failed is not None:
            print("--- failing cell ---\n" + failed.source + "\n--- its error ---\n" +
                  (cell_error_text(failed) or str(failure)), file=sys.stderr)
        else:
            print(str(failure), file=sys.stderr)
        return False
    terminal.end_notebook(f"ok {path} in {seconds:.1f}s -> {written} (+ .html)")
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("-p", "--parameters", dest="params", nargs=2, action=_InOrder, default=[], metavar=("NAME", "VALUE"),
                    help="a parameter, VALUE as JSON (or True / False / None, else a string)")
    ap.add_argument("-r", "--parameters_raw", dest="params", nargs=2, action=_InOrder, default=[], metavar=("NAME", "VALUE"),
                    help="a parameter, VALUE as a string")
    ap.add_argument("--param", dest="params", action=_InOrder, default=[], metavar="NAME=VALUE", help="the same as -p NAME VALUE")
    ap.add_argument("-f", "--parameters_file", dest="param_files", action="append", default=[], metavar="FILE",
                    help="parameters from a YAML file of NAME: VALUE lines (before -y, -p and -r)")
    ap.add_argument("-y", "--parameters_yaml", dest="param_yamls", action="append", default=[], metavar="YAML",
                    help="parameters as YAML text, e.g. -y 'EPOCHS: 1' (after -f, before -p and -r)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "notebooks", help="folder for the executed notebooks and their HTML copies")
    ap.add_argument("--execution-timeout", "--timeout", dest="timeout", type=int, default=None, help="seconds per cell (default: none)")
    ap.add_argument("-k", "--kernel", default=None, help="kernel name (default: the notebook's)")
    ap.add_argument("--log-output", action="store_true", help="also print what cells print")
    ap.add_argument("--progress-bar", dest="progress_bar", action="store_true", default=True, help="a line per cell as it starts (default)")
    ap.add_argument("--no-progress-bar", dest="progress_bar", action="store_false", help="no line per cell")
    ap.add_argument("--progress-interval", type=float, default=10.0, help="seconds between two lines of a running progress display (default 10)")
    args = ap.parse_args(argv)
    os.environ.setdefault("JUPYTER_PATH", str(ROOT / ".venv" / "share" / "jupyter"))
    params = collect_params(args.params, args.param_files, args.param_yamls)
    for path in args.notebooks:
        if not path.exists():
            fail(f"no notebook at {path}")
    ok = True
    for path in args.notebooks:
        terminal = Terminal(sys.stderr, interval=args.progress_interval, log_output=args.log_output, cell_lines=args.progress_bar)
        if not run(path, params, args.out, args.timeout, terminal, kernel=args.kernel):
            ok = False
            break
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
