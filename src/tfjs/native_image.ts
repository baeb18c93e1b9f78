/**
 * Two TensorFlow kernels the augmentation layers (../keras/preprocessing/) run on the native
 * backend, where tfjs-node registers no TF.js kernel for them:
 *
 *   statelessUniform(shape, seed)                  `StatelessRandomUniform`: float32 values in [0, 1)
 *                                                  from an int32 seed pair (Philox); the numbers Keras's
 *                                                  TensorFlow backend draws with `tf.random.stateless_uniform`
 *                                                  for the same seed
 *   projectiveTransform(images, transforms, mode)  `ImageProjectiveTransformV3`: what Keras's TensorFlow
 *                                                  backend runs for `ops.image.affine_transform`
 *                                                  (keras/src/backend/tensorflow/image.py)
 *
 * Each returns null without a native backend; the callers then use TF.js's own ops. Neither is
 * differentiable: nothing trainable comes before an augmentation layer.
 */
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "./backend";
import { nativeBackend } from "./native_ops";

/** Uniform float32 values in [0, 1) of `shape` from `seed` (two int32s), or null without native TensorFlow. */
export function statelessUniform(shape: number[], seed: [number, number]): Tensor | null {
  const backend = nativeBackend();
  if (backend === null) return null;
  const b = backend.binding;
  return tf.tidy(() =>
    backend.executeSingleOutput(
      "StatelessRandomUniform",
      [
        { name: "dtype", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
        { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
        { name: "Tseed", type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
      ],
      [tf.tensor1d(shape, "int32"), tf.tensor1d(seed, "int32")],
    ),
  );
}

/** How `projectiveTransform` samples and fills, in TensorFlow's spelling. */
export interface ProjectiveMode {
  interpolation: "NEAREST" | "BILINEAR";
  fillMode: "REFLECT" | "WRAP" | "CONSTANT" | "NEAREST";
  fillValue: number;
}

/**
 * `images` [n, h, w, c] float32 resampled through one transform per image ([n, 8] float32, the
 * output-to-input map `[a0, a1, a2, b0, b1, b2, c0, c1]`), or null without native TensorFlow.
 */
export function projectiveTransform(images: Tensor, transforms: Tensor, mode: ProjectiveMode): Tensor | null {
  const backend = nativeBackend();
  if (backend === null) return null;
  const b = backend.binding;
  return tf.tidy(() =>
    backend.executeSingleOutput(
      "ImageProjectiveTransformV3",
      [
        { name: "dtype", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
        { name: "interpolation", type: b.TF_ATTR_STRING, value: mode.interpolation },
        { name: "fill_mode", type: b.TF_ATTR_STRING, value: mode.fillMode },
      ],
      [images, transforms, tf.tensor1d(images.shape.slice(1, 3), "int32"), tf.scalar(mode.fillValue, "float32")],
    ),
  );
}
