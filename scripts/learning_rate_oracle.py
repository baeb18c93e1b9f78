"""What Keras and fastai compute for learning rates, for test/learning_rate.test.ts and test/lr_finder.test.ts.

Reads a JSON spec on stdin and prints JSON on stdout; run live by the tests (nothing is cached or
committed: the values are cheap to make).

  schedules   {"schedules": [{"class": "CosineDecay", "config": {...Keras's arguments...},
              "steps": [0, 1, ...]}, ...]}
              -> {"rates": [[...], ...]}: keras.optimizers.schedules.<class>(**config)(step)
              for each step, as float32 values (Keras computes them in float32 tensors).

  plateau     {"runs": [{"config": {...ReduceLROnPlateau's arguments...}, "learning_rate": 0.001,
              "values": [...monitored value per epoch...]}, ...]}
              -> {"runs": [{"logged": [...], "after": [...]}]}: Keras's own
              keras.callbacks.ReduceLROnPlateau driven epoch by epoch on a real Keras Adam (built
              with that rate) inside a model that is never trained; "logged" is the learning_rate
              it writes into each epoch's logs, "after" the optimizer's rate after each epoch.

  fastai      {"curves": [{"rates": [...], "losses": [...], "steps": n}, ...],
              "one_cycle": [{"lr_max": .., "div": .., "div_final": .., "pct_start": ..,
              "moms": [..] , "n": total batches}, ...]}
              -> fastai's suggestion functions (valley, steep, minimum, slide) on each curve's
              suggestion window, and fastai's combined_cos one-cycle values per batch. fastai is
              not installable here, so its formulas (fastai/callback/schedule.py, version 2.7) are
              transcribed with numpy, float32 where fastai uses torch tensors (torch.tensor makes
              float32): each function below names the fastai code it follows.
"""

import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def schedules(spec):
    import keras
    import numpy as np

    # JSON writes 0.0 as 0: rates and factors back to Python floats (Keras takes the dtype of
    # initial_learning_rate), boundaries stay integers (steps).
    floats = {"initial_learning_rate", "warmup_target", "end_learning_rate", "decay_rate", "alpha", "t_mul", "m_mul", "power"}
    out = []
    for item in spec["schedules"]:
        cls = getattr(keras.optimizers.schedules, item["class"])
        config = {k: (float(v) if k in floats and v is not None else v) for k, v in item["config"].items()}
        if "values" in config:
            config["values"] = [float(v) for v in config["values"]]
        schedule = cls(**config)
        out.append([float(np.asarray(schedule(np.int64(step)), dtype=np.float32)) for step in item["steps"]])
    return {"rates": out}


def plateau(spec):
    import keras

    results = []
    for run in spec["runs"]:
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=run["learning_rate"]), loss="mse")
        callback = keras.callbacks.ReduceLROnPlateau(**run["config"])
        callback.set_model(model)
        callback.on_train_begin({})
        logged, after = [], []
        for epoch, value in enumerate(run["values"]):
            logs = {run["config"].get("monitor", "val_loss"): float(value)}
            callback.on_epoch_end(epoch, logs)
            logged.append(logs["learning_rate"])
            after.append(float(model.optimizer.learning_rate.numpy()))
        results.append({"logged": logged, "after": after})
    return {"runs": results}


def fastai(spec):
    import numpy as np

    f32 = np.float32

    def window(rates, losses, steps):
        # lr_find: lrs, losses = tensor(lrs[num_it//10:-5]), tensor(losses[num_it//10:-5]); cut at the first NaN.
        lrs = np.array(rates[steps // 10 : -5], dtype=f32)
        ls = np.array(losses[steps // 10 : -5], dtype=f32)
        nan = np.nonzero(np.isnan(ls))[0]
        if len(nan) > 0:
            lrs, ls = lrs[: nan.min()], ls[: nan.min()]
        return lrs, ls

    def valley(lrs, losses):
        # fastai.callback.schedule.valley
        n = len(losses)
        if n == 0:
            return None
        max_start, max_end = 0, 0
        lds = [1] * n
        for i in range(1, n):
            for j in range(0, i):
                if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                    lds[i] = lds[j] + 1
                if lds[max_end] < lds[i]:
                    max_end = i
                    max_start = max_end - lds[max_end]
        sections = (max_end - max_start) / 3
        idx = max_start + int(sections) + int(sections / 2)
        return [float(lrs[idx]), float(lrs[idx]), float(losses[idx])]

    def steep(lrs, losses):
        # fastai.callback.schedule.steep: grads = (losses[1:]-losses[:-1]) / (lrs[1:].log()-lrs[:-1].log())
        if len(losses) < 2:
            return None
        grads = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
        i = int(np.argmin(grads))
        return [float(lrs[i]), float(lrs[i]), float(losses[i])]

    def minimum(lrs, losses):
        # fastai.callback.schedule.minimum
        if len(losses) == 0:
            return None
        i = int(np.argmin(losses))
        return [float(lrs[i]) / 10, float(lrs[i]), float(losses[i])]

    def slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
        # fastai.callback.schedule.slide
        if len(losses) < lr_diff + 1:
            return None
        loss_grad = np.gradient(losses)
        r_idx = -1
        l_idx = r_idx - lr_diff
        local_min_lr = lrs[l_idx]
        while (l_idx >= -len(losses)) and (abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh):
            local_min_lr = lrs[l_idx]
            r_idx -= 1
            l_idx -= 1
        suggestion = float(local_min_lr) * adjust_value
        loss = float(np.interp(np.log10(suggestion), np.log10(lrs), losses))
        return [suggestion, suggestion, loss]

    def sched_cos(start, end, pos):
        return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2

    def combined_cos(pct, start, middle, end, pos):
        # combine_scheds([pct, 1-pct], [SchedCos(start, middle), SchedCos(middle, end)]) with torch's float32 tensors
        pcts = np.cumsum(np.array([0, pct, 1 - pct], dtype=f32), dtype=f32)
        p = f32(pos)
        idx = min(int(np.nonzero(p >= pcts)[0].max()), 1)
        actual = float((p - pcts[idx]) / (pcts[idx + 1] - pcts[idx]))
        return sched_cos(start, middle, actual) if idx == 0 else sched_cos(middle, end, actual)

    curves = []
    for c in spec.get("curves", []):
        lrs, ls = window(c["rates"], c["losses"], c["steps"])
        curves.append({"valley": valley(lrs, ls), "steep": steep(lrs, ls), "minimum": minimum(lrs, ls), "slide": slide(lrs, ls)})
    cycles = []
    for o in spec.get("one_cycle", []):
        lr_max, n = o["lr_max"], o["n"]
        # fit_one_cycle: lr from lr_max/div to lr_max to lr_max/div_final; mom from moms[0] to moms[1] to moms[2];
        # ParamScheduler sets them before batch i at pct_train = i / (n_epoch * n_iter).
        lr = [combined_cos(o["pct_start"], lr_max / o["div"], lr_max, lr_max / o["div_final"], i / n) for i in range(n)]
        mom = [combined_cos(o["pct_start"], *o["moms"], i / n) for i in range(n)]
        cycles.append({"lr": lr, "mom": mom})
    return {"curves": curves, "one_cycle": cycles}


def main():
    command = sys.argv[1]
    spec = json.load(sys.stdin)
    result = {"schedules": schedules, "plateau": plateau, "fastai": fastai}[command](spec)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
