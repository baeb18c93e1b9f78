/**
 * Progress of long work, as the layers below notebook/ report it. These are the sinks they are
 * given; notebook/progress.ts makes the displays behind them (in place in a notebook, plain lines in
 * a terminal), and the top-level modules pass those down:
 *
 *   TrainingProgress   epochs and batches of a fit (engine/loop.ts)
 *   StepProgress       a one-off pass over items (the frozen layers' output, evaluate, predict)
 *   DownloadProgress   bytes of a download (keras/download.ts)
 */

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

/** The progress of a fit. */
export interface TrainingProgress {
  /** The state after a batch. */
  update(state: ProgressState): void;
  /** The state at the end of epoch `state.epoch` (with validation metrics). */
  epochEnd(state: ProgressState): void;
  /** Training is over. */
  done(summary?: TrainingSummary): void;
}

/** How a fit ended. */
export interface TrainingSummary {
  /** Stopped before its last epoch ended (an interrupt, a callback, `stopTraining`). */
  stopped: boolean;
  epochsRun: number;
  epochs: number;
  seconds: number;
  /** The last epoch's training and validation accuracy. */
  accuracy?: number;
  valAccuracy?: number;
}

/** The progress of a one-off pass over items. */
export interface StepProgress {
  /** `done` of `total` items processed. */
  update(done: number, total: number): void;
  /** The closing line. */
  finish(text: string): void;
}

/** The progress of a download: bytes received so far, of `total` when the server said. */
export type DownloadProgress = (received: number, total?: number) => void;
