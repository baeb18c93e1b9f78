"""Executes a notebook through the project's kernel, then, in the same kernel, re-runs
the cells from the one tagged "freeze" through the one tagged "evaluate" with a new
freeze depth, as a user tweaking the depth would. Writes the final notebook (with the
outputs of the re-run cells) to OUT. Prints the runner's progress on stderr meanwhile,
as run_notebook.py does when its output is not a terminal.

    python test/support/rerun_cells.py NOTEBOOK OUT DEPTH [NAME=VALUE ...]
"""
import json
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "kernel-setup"))
from run_notebook import Terminal, open_notebook, tagged  # noqa: E402


def main():
    path, out, depth = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    params = dict(a.split("=", 1) for a in sys.argv[4:])
    nb, client = open_notebook(path, params, timeout=900, terminal=Terminal(sys.stderr, tty=False))
    first, last = tagged(nb, "freeze"), tagged(nb, "evaluate")
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        for i in range(first, last + 1):
            cell = nb.cells[i]
            if i == first:
                cell.source = cell.source.replace("const depth: number | string = FREEZE;",
                                                  f"const depth: number | string = {json.dumps(json.loads(depth) if depth.lstrip('-').isdigit() else depth)};")
            cell.outputs = []
            client.execute_cell(cell, i)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))


if __name__ == "__main__":
    main()
