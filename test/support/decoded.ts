/**
 * A model's predictions with its weights as a quantized TF.js export decodes them: each weight
 * quantized by src/keras/saving/tfjs_quantization.ts (the converter's arithmetic, tested in
 * test/tfjs_quantization.test.ts) and decoded as TF.js's loader decodes it. What a loaded export
 * predicts is compared with this, so that only float32 arithmetic separates the two.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../../src/tfjs/backend";
import { dequantize, quantizeWeight, type QuantizationDtype } from "../../src/keras/saving/tfjs_quantization";

/** `model.predict(x)` with each weight replaced by its decoded `dtype` export; the model's own weights are put back. */
export function predictDecoded(model: TF.LayersModel, x: TF.Tensor, dtype: QuantizationDtype): Float32Array {
  const own = model.getWeights().map((w) => tf.tensor(w.dataSync().slice(), w.shape));
  try {
    const decoded = own.map((w, i) => {
      const { bytes, quantization } = quantizeWeight(w.dataSync() as Float32Array, dtype, model.weights[i].name);
      return tf.tensor(dequantize(bytes, quantization), w.shape);
    });
    model.setWeights(decoded);
    tf.dispose(decoded);
    return tf.tidy(() => (model.predict(x) as TF.Tensor).dataSync() as Float32Array);
  } finally {
    model.setWeights(own);
    tf.dispose(own);
  }
}
