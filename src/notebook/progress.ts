/**
 * Progress displays: live training progress, download progress and the progress of one-off steps
 * (the frozen layers' output, evaluate, predict).
 *
 * In the tslab kernel each is one output updated in place (a bar, the batch, elapsed time, ETA,
 * metrics; a line per finished epoch), sent with a plain-text form that the headless runner prints
 * in the terminal as it changes (./tslab.ts, `newLiveDisplay`). Elsewhere they print plain lines:
 * one per epoch, one per 10 % of a download, a step's state now and then and its closing line.
 */
import { terminalProgress, type ProgressCallback } from "../keras/download";
import { escapeHtml, formatBytes, formatClock, formatSeconds } from "../util/format";
import { inKernel, newLiveDisplay, type LiveDisplay } from "./tslab";

// ---------------------------------------------------------------------------
// Live training progress

/** Where training stands, as the training loop reports it. */
export interface ProgressState {
  /** The current epoch, counted from 1. */
  epoch: number;
  epochs: number;
  /** Batches done in this epoch (1 after the first batch). */
  batch?: number;
  batches?: number;
  /** Seconds since training started. */
  seconds?: number;
  /** Metrics so far: loss, accuracy, and at the end of an epoch val_loss, val_accuracy, … */
  logs?: Record<string, number | undefined>;
}

export interface Progress {
  /** The state after a batch; the display is refreshed at most every `minIntervalMs`. */
  update(state: ProgressState): void;
  /** The state at the end of epoch `state.epoch` (with validation metrics): adds a line for it. */
  epochEnd(state: ProgressState): void;
  /** Training is over: the final state, with a summary line. */
  done(summary?: string): void;
}

export interface ProgressOptions {
  /** A heading above the progress bar in the notebook. */
  title?: string;
  /** Least time between two refreshes of the notebook display (default 250 ms). */
  minIntervalMs?: number;
  /** Where lines go outside a notebook (default: console.log). */
  write?: (line: string) => void;
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number;
}

const LOG_ORDER = ["loss", "accuracy", "acc"];

/** "loss 0.1234 · accuracy 0.9612 · val_loss … · val_accuracy …" */
export function formatLogs(logs: Record<string, number | undefined> | undefined): string {
  if (!logs) return "";
  const keys = Object.keys(logs).filter((k) => typeof logs[k] === "number" && k !== "batch" && k !== "size");
  const rank = (k: string) => {
    const base = k.startsWith("val_") ? k.slice(4) : k;
    const i = LOG_ORDER.indexOf(base);
    return (k.startsWith("val_") ? 100 : 0) + (i < 0 ? 50 : i);
  };
  keys.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((k) => `${k} ${(logs[k] as number).toFixed(4)}`).join(" · ");
}

/**
 * A live progress display for training. In the notebook: one output, updated
 * in place (a bar for the current epoch, batch, elapsed time, ETA, metrics, and
 * a line per finished epoch), refreshed at most every `minIntervalMs` and at
 * every epoch's end. Elsewhere: one line per epoch, and the summary.
 *
 * Call `update` after each batch, `epochEnd` after each epoch and `done` at
 * the end. An epoch for which `epochEnd` is not called gets its line when the
 * next epoch starts (or at `done`) from its last state.
 */
export function createProgress(options: ProgressOptions = {}): Progress {
  const now = options.now ?? Date.now;
  const minInterval = options.minIntervalMs ?? 250;
  const write = options.write ?? ((line: string) => console.log(line));
  const kernel = inKernel();
  const started = now();
  let display: LiveDisplay | undefined;
  let lastRender = -Infinity;
  let current: ProgressState | undefined;
  let closedEpoch = 0;
  let completed = 0;
  let lastEpochEndSeconds = 0;
  let finished = false;
  const lines: string[] = [];

  const elapsed = (s: ProgressState | undefined) => s?.seconds ?? (now() - started) / 1000;

  const eta = (s: ProgressState): number | undefined => {
    if (!s.batches || s.batch === undefined) return undefined;
    const done = (s.epoch - 1) * s.batches + s.batch;
    const total = s.epochs * s.batches;
    return done > 0 ? (elapsed(s) / done) * (total - done) : undefined;
  };

  const closeEpoch = (s: ProgressState, complete: boolean) => {
    if (s.epoch <= closedEpoch) return;
    const t = elapsed(s);
    const parts = [`epoch ${s.epoch}/${s.epochs}`];
    if (!complete && s.batches) parts.push(`stopped after batch ${s.batch ?? 0}/${s.batches}`);
    parts.push(formatSeconds(t - lastEpochEndSeconds));
    const logs = formatLogs(s.logs);
    if (logs) parts.push(logs);
    const line = parts.join(" · ");
    lines.push(line);
    closedEpoch = s.epoch;
    if (complete) completed++;
    lastEpochEndSeconds = t;
    if (!kernel) write(line);
  };

  const render = (summary?: string) => {
    if (!kernel) return;
    const s = current;
    const fraction = summary !== undefined ? 1 : s && s.batches ? Math.min(1, (s.batch ?? 0) / s.batches) : 0;
    const barColour = summary !== undefined ? "#1a7f37" : "#2f81f7";
    const head: string[] = [];
    if (summary !== undefined) head.push(`<strong>Done</strong>`);
    else if (s) head.push(`<strong>Epoch ${s.epoch}/${s.epochs}</strong>`);
    else head.push(`<strong>Starting…</strong>`);
    const status: string[] = [];
    if (summary === undefined && s) {
      if (s.batches) status.push(`batch ${s.batch ?? 0}/${s.batches}`);
      status.push(`${formatClock(elapsed(s))} elapsed`);
      const left = eta(s);
      if (left !== undefined) status.push(`ETA ${formatClock(left)}`);
    }
    const bar =
      `<span style="display:inline-block;width:240px;height:9px;border-radius:5px;background:rgba(127,127,127,0.28);overflow:hidden;vertical-align:middle">` +
      `<span style="display:block;height:100%;width:${(fraction * 100).toFixed(1)}%;background:${barColour}"></span></span>`;
    const logs = summary === undefined && s ? formatLogs(s.logs) : "";
    // The plain-text form: the title and the finished epochs, then the current state (or the summary).
    const stateLine =
      summary ?? [head.join("").replace(/<[^>]*>/g, ""), ...status, logs].filter((p) => p !== "").join(" · ");
    const plain = [...(options.title ? [options.title] : []), ...lines, stateLine].join("\n");
    const htmlText =
      `<div class="kt-progress" style="font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,Consolas,monospace);font-size:12px;line-height:1.6">` +
      (options.title ? `<div style="font-weight:600">${escapeHtml(options.title)}</div>` : "") +
      `<div>${head.join("")} ${bar} <span class="kt-progress-status">${escapeHtml(status.join(" · "))}</span></div>` +
      (logs ? `<div class="kt-progress-logs">${escapeHtml(logs)}</div>` : "") +
      (summary ? `<div class="kt-progress-summary" style="font-weight:600">${escapeHtml(summary)}</div>` : "") +
      (lines.length
        ? `<div class="kt-progress-epochs" style="opacity:0.8;margin-top:2px">${lines.map((l) => `<div>${escapeHtml(l)}</div>`).join("")}</div>`
        : "") +
      `</div>`;
    if (!display) display = newLiveDisplay();
    display.update(htmlText, plain, summary !== undefined);
    lastRender = now();
  };

  const check = (s: ProgressState) => {
    if (!s || !Number.isFinite(s.epoch) || !Number.isFinite(s.epochs))
      throw new Error("progress state needs numeric epoch and epochs.");
  };

  /** Closes an epoch that got no `epochEnd`, from its last state (complete if all its batches ran). */
  const closeFromLastState = (s: ProgressState) => closeEpoch(s, !s.batches || (s.batch ?? 0) >= s.batches);

  /** Takes `state` as the current state; when a new epoch began and the previous one had no `epochEnd`, closes that first. */
  const advance = (state: ProgressState) => {
    check(state);
    if (current && state.epoch > current.epoch && current.epoch > closedEpoch) closeFromLastState(current);
    current = state;
  };

  return {
    update(state: ProgressState): void {
      if (finished) return;
      advance(state);
      if (kernel && now() - lastRender >= minInterval) render();
    },
    epochEnd(state: ProgressState): void {
      if (finished) return;
      advance(state);
      closeEpoch(state, true);
      render();
    },
    done(summary?: string): void {
      if (finished) return;
      finished = true;
      if (current && current.epoch > closedEpoch) closeFromLastState(current);
      const total = current?.epochs;
      const text =
        summary ??
        `${completed}${total === undefined ? "" : ` of ${total}`} epoch${(total ?? completed) === 1 ? "" : "s"} in ${formatClock(elapsed(current))}`;
      if (kernel) render(text);
      else write(text);
    },
  };
}

// ---------------------------------------------------------------------------
// Download and step progress

function barHtml(cls: string, label: string, fraction: number, amount: string): string {
  return (
    `<div class="${cls}" style="font-size:12px;line-height:1.6">${escapeHtml(label)} ` +
    `<span style="display:inline-block;width:200px;height:8px;border-radius:4px;background:rgba(127,127,127,0.28);overflow:hidden;vertical-align:middle">` +
    `<span style="display:block;height:100%;width:${(Math.min(1, fraction) * 100).toFixed(1)}%;background:#2da44e"></span></span> ${escapeHtml(amount)}</div>`
  );
}

/**
 * A download progress reporter: in the notebook, one output updated in place (a bar with the
 * bytes received); elsewhere, a line per 10 %.
 */
export function downloadProgress(label: string): ProgressCallback {
  if (!inKernel()) return terminalProgress(label);
  const d = newLiveDisplay();
  let last = 0;
  return (received, total) => {
    const now = Date.now();
    const finished = total !== undefined && received >= total;
    if (now - last < 250 && !finished) return;
    last = now;
    const amount = total ? `${formatBytes(received)} of ${formatBytes(total)}` : formatBytes(received);
    d.update(barHtml("kt-download", label, total ? received / total : 0, amount), `${label} · ${amount}`, finished);
  };
}

export interface StepProgress {
  /** `done` of `total` items processed. */
  update(done: number, total: number): void;
  /** Replaces the bar with a closing line. */
  finish(text: string): void;
}

export interface StepProgressOptions {
  /** Where lines go outside a notebook (default: console.log). */
  write?: (line: string) => void;
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number;
  /** Outside a notebook: least time between two lines of progress (default 10 s); the closing line is always written. */
  intervalMs?: number;
}

/**
 * Progress of a one-off computation over items (the frozen layers over the digits, evaluate,
 * predict): in the notebook a bar updated in place, then the closing line; elsewhere a line now
 * and then (at most every `intervalMs`, none for a step shorter than that) and the closing line.
 */
export function stepProgress(label: string, unit = "items", options: StepProgressOptions = {}): StepProgress {
  const now = options.now ?? Date.now;
  const write = options.write ?? ((line: string) => console.log(line));
  const interval = options.intervalMs ?? 10_000;
  const d = inKernel() ? newLiveDisplay() : undefined;
  let last = d ? -Infinity : now();
  let finished = false;
  const amount = (done: number, total: number) => `${done} of ${total} ${unit}`;
  return {
    update(done, total) {
      if (finished) return;
      const t = now();
      if (d) {
        if (t - last < 250 && done < total) return;
        last = t;
        d.update(
          barHtml("kt-steps", label, total ? done / total : 0, amount(done, total)),
          `${label} · ${amount(done, total)}`,
        );
      } else if (t - last >= interval && done < total) {
        last = t;
        write(`${label} · ${amount(done, total)} (${Math.floor((100 * done) / Math.max(1, total))} %)`);
      }
    },
    finish(text) {
      if (finished) return;
      finished = true;
      if (d)
        d.update(`<div class="kt-steps" style="font-size:12px;line-height:1.6">${escapeHtml(text)}</div>`, text, true);
      else write(text);
    },
  };
}
