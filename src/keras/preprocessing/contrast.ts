/**
 * Keras's RandomContrast transform as a plain function of the drawn factors
 * (keras/src/layers/preprocessing/image_preprocessing/random_contrast.py, `_adjust_contrast` and
 * `transform_images`): each image's pixels move away from (factor > 1) or towards (factor < 1) the
 * image's mean, per channel, then are clipped to the value range.
 */
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";

/**
 * `images` [n, h, w, c] with their contrast scaled by `factors` ([n], or [n, 1, 1, 1]):
 * (x - mean) · factor + mean, the mean over height then width of each image and channel, clipped to
 * `valueRange`.
 */
export function adjustContrast(images: Tensor, factors: Tensor, valueRange: readonly [number, number]): Tensor {
  if (images.rank !== 4)
    throw new Error(
      `adjustContrast: images must be [n, height, width, channels], got shape [${images.shape.join(", ")}].`,
    );
  return tf.tidy(() => {
    const mean = tf.mean(tf.mean(images, 1, true), 2, true);
    const f = tf.reshape(factors, [-1, 1, 1, 1]);
    return tf.clipByValue(tf.add(tf.mul(tf.sub(images, mean), f), mean), valueRange[0], valueRange[1]);
  });
}
