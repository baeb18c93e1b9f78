/**
 * How the tutorial's model runs its base's batch normalisation while it trains
 * (`buildTransferModel({ batchNorm })`, `freeze(depth, { batchNorm })`):
 *
 *   "training"   the tutorial's: a trainable batch normalisation normalises with the batch's
 *                statistics and updates its moving ones; a frozen one runs in inference mode
 *   "inference"  Keras's transfer-learning guide, `base_model(x, training=False)`: every batch
 *                normalisation of the base normalises with its moving statistics, which are not
 *                updated, whether it trains or not; gamma and beta of the unfrozen ones still train
 *
 * The layers carry it (`setInferenceCall` in ./keras/layers.ts), and the `.keras` archive records it
 * on the base's call, as Keras does.
 */
export type BatchNormMode = "training" | "inference";

/** Checks a batch-normalisation mode given to `what`. */
export function checkBatchNormMode(mode: unknown, what: string): BatchNormMode {
  if (mode !== "training" && mode !== "inference") {
    throw new Error(
      `${what}: batchNorm must be "training" (the tutorial's: trainable batch normalisation uses the batch's ` +
        `statistics) or "inference" (Keras's guide, base_model(x, training=False): the moving statistics, kept as ` +
        `they are), got ${JSON.stringify(mode)}.`,
    );
  }
  return mode;
}
