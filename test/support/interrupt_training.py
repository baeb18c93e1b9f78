"""Runs a notebook through the project's kernel up to its training cell, interrupts the
kernel while that cell trains (as the Jupyter "interrupt" button does), then runs a cell
that reports the model's state and the evaluation cell, in the same kernel. Writes
the notebook with those outputs to OUT.

    python test/support/interrupt_training.py NOTEBOOK OUT SECONDS [NAME=VALUE ...]
"""
import os
import signal
import sys
import threading
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "kernel-setup"))
from run_notebook import open_notebook, tagged  # noqa: E402

REPORT = """console.log(JSON.stringify({
  interrupted: learner.lastHistory ? learner.lastHistory.interrupted : null,
  epochs: learner.lastHistory ? learner.lastHistory.epoch.length : null,
}));"""


def main():
    path, out, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    params = dict(a.split("=", 1) for a in sys.argv[4:])
    nb, client = open_notebook(path, params, timeout=900)
    train, evaluate = tagged(nb, "train"), tagged(nb, "evaluate")
    with client.setup_kernel():
        for i in range(train):
            client.execute_cell(nb.cells[i], i)
        # What Jupyter's interrupt button does for a kernel with interrupt_mode "signal".
        pid = client.km.provisioner.pid
        timer = threading.Timer(delay, lambda: os.kill(pid, signal.SIGINT))
        timer.start()
        try:
            client.execute_cell(nb.cells[train], train)
            print("the training cell finished before the interrupt", file=sys.stderr)
            sys.exit(2)
        except CellExecutionError:
            pass
        timer.cancel()
        time.sleep(1.0)  # tslab drops requests that arrive right after an error
        report = nbformat.v4.new_code_cell(REPORT)
        report.metadata["tags"] = ["interrupt-report"]
        nb.cells.insert(train + 1, report)
        client.execute_cell(report, train + 1)
        client.execute_cell(nb.cells[evaluate + 1], evaluate + 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))


if __name__ == "__main__":
    main()
