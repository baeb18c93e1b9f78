/**
 * Where the fit loop (./loop.ts) takes each batch's inputs from: a `RowSource` hands out any rows,
 * in any order, as tensors.
 *
 *   tensorRows(xs)   rows of tensors held by TF.js (the digits themselves, for the whole model)
 *   FeatureStore     rows of the frozen layers' output, in memory or in a file (./feature_store.ts)
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";

/** The inputs of a model, row by row. */
export interface RowSource {
  /** Number of rows. */
  readonly count: number;
  /** The rows at `indices`, in that order: one new tensor per input, [indices.length, ...]; the caller disposes them. */
  rows(indices: Int32Array): TF.Tensor[];
}

/** The rows of tensors that share their first dimension (one per input of the model). */
export function tensorRows(xs: TF.Tensor[]): RowSource {
  return {
    count: xs[0].shape[0],
    rows: (indices) =>
      tf.tidy(() => {
        const idx = tf.tensor1d(indices, "int32");
        return xs.map((x) => tf.gather(x, idx));
      }),
  };
}
