/**
 * Progress displays: live training progress, download progress and the progress of one-off steps
 * (the frozen layers' output, evaluate, predict), the sinks of ../util/progress.ts.
 *
 * In the tslab kernel each is one output updated in place (a bar, the batch, elapsed time, ETA,
 * metrics; a line per finished epoch), sent with a plain-text form that the headless runner prints
 * in the terminal as it changes (./tslab.ts, `newLiveDisplay`). Elsewhere they print plain lines:
 * one per epoch, one per 10 % of a download, a step's state now and then and its closing line.
 */
import { terminalProgress } from "../keras/download";
import { escapeHtml, formatBytes, formatClock, formatSeconds } from "../util/format";
import type {
  DownloadProgress,
  ProgressState,
  StepProgress,
  TrainingProgress,
  TrainingSummary,
} from "../util/progress";
import { inKernel, newLiveDisplay, type LiveDisplay } from "./tslab";

// ---------------------------------------------------------------------------
// Live training progress

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

/** "Trained 5 of 5 epochs in 14.7 s — accuracy 0.9612, validation accuracy 0.9500" (or "Stopped …"). */
function summaryLine(s: TrainingSummary): string {
  return (
    `${s.stopped ? "Stopped" : "Trained"} ${s.epochsRun} of ${s.epochs} epoch${s.epochs === 1 ? "" : "s"} in ` +
    formatSeconds(s.seconds) +
    (s.accuracy !== undefined ? ` — accuracy ${s.accuracy.toFixed(4)}` : "") +
    (s.valAccuracy !== undefined ? `, validation accuracy ${s.valAccuracy.toFixed(4)}` : "")
  );
}

/** "loss 0.1234 · accuracy 0.9612 · val_loss … · val_accuracy …" */
export function formatLogs(logs: Record<string, number | undefined> | undefined): string {
  if (!logs) return "";
  const keys = Object.keys(logs).filter((k) => typeof logs[k] === "number" && k !== "batch" && k !== "size");
  const rank = (k: string) => {
    const base = k.startsWith("val_") ? k.slice(4) : k;
    const i = LOG_ORDER.indexOf(base);
    return k === "learning_rate" ? 1000 : (k.startsWith("val_") ? 100 : 0) + (i < 0 ? 50 : i);
  };
  keys.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  // A learning rate is small: in Keras's progress bar's form for small values (1.0000e-05), last.
  const value = (k: string, v: number) =>
    k === "learning_rate" && Math.abs(v) <= 1e-3 ? v.toExponential(4) : v.toFixed(4);
  return keys.map((k) => `${k} ${value(k, logs[k] as number)}`).join(" · ");
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
export function createProgress(
  options: ProgressOptions = {},
): TrainingProgress & { done(summary?: TrainingSummary | string): void } {
  return new TrainingDisplay(options);
}

/** The time left, from the batches done so far and the time they took. */
function timeLeft(s: ProgressState, elapsed: number): number | undefined {
  if (!s.batches || s.batch === undefined) return undefined;
  const done = (s.epoch - 1) * s.batches + s.batch;
  const total = s.epochs * s.batches;
  return done > 0 ? (elapsed / done) * (total - done) : undefined;
}

/** What the notebook display shows: a heading, a bar, the status, the metrics, then the epochs' lines. */
interface TrainingView {
  title?: string;
  head: string;
  fraction: number;
  done: boolean;
  status: string[];
  logs: string;
  summary?: string;
  lines: string[];
}

const BAR_TRACK =
  "display:inline-block;width:240px;height:9px;border-radius:5px;background:rgba(127,127,127,0.28);" +
  "overflow:hidden;vertical-align:middle";

/** The display's HTML. */
function trainingHtml(v: TrainingView): string {
  const bar =
    `<span style="${BAR_TRACK}"><span style="display:block;height:100%;width:${(v.fraction * 100).toFixed(1)}%;` +
    `background:${v.done ? "#1a7f37" : "#2f81f7"}"></span></span>`;
  const epochs = v.lines.map((l) => `<div>${escapeHtml(l)}</div>`).join("");
  return (
    `<div class="kt-progress" style="font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,` +
    `Consolas,monospace);font-size:12px;line-height:1.6">` +
    (v.title ? `<div style="font-weight:600">${escapeHtml(v.title)}</div>` : "") +
    `<div><strong>${escapeHtml(v.head)}</strong> ${bar} ` +
    `<span class="kt-progress-status">${escapeHtml(v.status.join(" · "))}</span></div>` +
    (v.logs ? `<div class="kt-progress-logs">${escapeHtml(v.logs)}</div>` : "") +
    (v.summary ? `<div class="kt-progress-summary" style="font-weight:600">${escapeHtml(v.summary)}</div>` : "") +
    (v.lines.length ? `<div class="kt-progress-epochs" style="opacity:0.8;margin-top:2px">${epochs}</div>` : "") +
    `</div>`
  );
}

/** The display's plain-text form: the title and the finished epochs, then the current state (or the summary). */
function trainingText(v: TrainingView): string {
  const state = v.summary ?? [v.head, ...v.status, v.logs].filter((p) => p !== "").join(" · ");
  return [...(v.title ? [v.title] : []), ...v.lines, state].join("\n");
}

class TrainingDisplay implements TrainingProgress {
  private readonly now: () => number;
  private readonly minInterval: number;
  private readonly write: (line: string) => void;
  private readonly kernel = inKernel();
  private readonly started: number;
  private display: LiveDisplay | undefined;
  private lastRender = -Infinity;
  private current: ProgressState | undefined;
  private closedEpoch = 0;
  private completed = 0;
  private lastEpochEndSeconds = 0;
  private finished = false;
  private readonly lines: string[] = [];

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.minInterval = options.minIntervalMs ?? 250;
    this.write = options.write ?? ((line: string) => console.log(line));
    this.started = this.now();
  }

  update(state: ProgressState): void {
    if (this.finished) return;
    this.advance(state);
    if (this.kernel && this.now() - this.lastRender >= this.minInterval) this.render();
  }

  epochEnd(state: ProgressState): void {
    if (this.finished) return;
    this.advance(state);
    this.closeEpoch(state, true);
    this.render();
  }

  done(summary?: TrainingSummary | string): void {
    if (this.finished) return;
    this.finished = true;
    const current = this.current;
    if (current && current.epoch > this.closedEpoch) this.closeFromLastState(current);
    const total = current?.epochs;
    const epochs = `epoch${(total ?? this.completed) === 1 ? "" : "s"}`;
    const text =
      (typeof summary === "object" ? summaryLine(summary) : summary) ??
      `${this.completed}${total === undefined ? "" : ` of ${total}`} ${epochs} in ${formatClock(this.elapsed(current))}`;
    if (this.kernel) this.render(text);
    else this.write(text);
  }

  private elapsed(s: ProgressState | undefined): number {
    return s?.seconds ?? (this.now() - this.started) / 1000;
  }

  private closeEpoch(s: ProgressState, complete: boolean): void {
    if (s.epoch <= this.closedEpoch) return;
    const t = this.elapsed(s);
    const parts = [`epoch ${s.epoch}/${s.epochs}`];
    if (!complete && s.batches) parts.push(`stopped after batch ${s.batch ?? 0}/${s.batches}`);
    parts.push(formatSeconds(t - this.lastEpochEndSeconds));
    const logs = formatLogs(s.logs);
    if (logs) parts.push(logs);
    const line = parts.join(" · ");
    this.lines.push(line);
    this.closedEpoch = s.epoch;
    if (complete) this.completed++;
    this.lastEpochEndSeconds = t;
    if (!this.kernel) this.write(line);
  }

  /** Closes an epoch that got no `epochEnd`, from its last state (complete if all its batches ran). */
  private closeFromLastState(s: ProgressState): void {
    this.closeEpoch(s, !s.batches || (s.batch ?? 0) >= s.batches);
  }

  /** Takes `state` as the current state; when a new epoch began and the previous one had no `epochEnd`, closes that first. */
  private advance(state: ProgressState): void {
    if (!state || !Number.isFinite(state.epoch) || !Number.isFinite(state.epochs))
      throw new Error("progress state needs numeric epoch and epochs.");
    const current = this.current;
    if (current && state.epoch > current.epoch && current.epoch > this.closedEpoch) this.closeFromLastState(current);
    this.current = state;
  }

  private view(summary?: string): TrainingView {
    const s = this.current;
    const done = summary !== undefined;
    const status: string[] = [];
    if (!done && s) {
      if (s.batches) status.push(`batch ${s.batch ?? 0}/${s.batches}`);
      status.push(`${formatClock(this.elapsed(s))} elapsed`);
      const left = timeLeft(s, this.elapsed(s));
      if (left !== undefined) status.push(`ETA ${formatClock(left)}`);
    }
    return {
      title: this.options.title,
      head: done ? "Done" : s ? `Epoch ${s.epoch}/${s.epochs}` : "Starting…",
      fraction: done ? 1 : s && s.batches ? Math.min(1, (s.batch ?? 0) / s.batches) : 0,
      done,
      status,
      logs: !done && s ? formatLogs(s.logs) : "",
      summary,
      lines: this.lines,
    };
  }

  private render(summary?: string): void {
    if (!this.kernel) return;
    const v = this.view(summary);
    if (!this.display) this.display = newLiveDisplay();
    this.display.update(trainingHtml(v), trainingText(v), summary !== undefined);
    this.lastRender = this.now();
  }
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
export function downloadProgress(label: string): DownloadProgress {
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

/** A line of news from a long step: a line of progress in a notebook (the runner prints it), else console.log. */
export function progressNote(text: string): void {
  stepProgress("").finish(text);
}
