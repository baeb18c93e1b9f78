/**
 * The geometric transforms of Keras's augmentation layers, as plain functions of the drawn
 * parameters (the layers in ./layers.ts draw them, then call these):
 *
 *   rotationMatrices(angles, h, w)       keras/src/layers/preprocessing/image_preprocessing/
 *                                        base_image_preprocessing_layer.py, `_compute_affine_matrix`
 *                                        with only an angle (degrees, counter-clockwise), about the
 *                                        image's centre ((w - 1) / 2, (h - 1) / 2)
 *   translationMatrices(dx, dy)          random_translation.py, `_get_translation_matrix` (pixels)
 *   zoomMatrices(zx, zy, h, w)           random_zoom.py, `_get_zoom_matrix` (zoom > 1 shows more of
 *                                        the image: zooms out)
 *   affineTransform(images, m, options)  keras/src/backend/tensorflow/image.py, `affine_transform`:
 *                                        each output pixel (x, y) reads the input at
 *                                        (a0 x + a1 y + a2, b0 x + b1 y + b2), the row of `m` being
 *                                        [a0, a1, a2, b0, b1, b2, 0, 0]
 *   rotate, translate, zoom               the three above put together
 *
 * The matrices are computed with the same float32 operations in the same order as Keras, so that on
 * native TensorFlow (TensorFlow's own kernels: Cos, Sin, ImageProjectiveTransformV3) they come out
 * the same. Elsewhere the transform is `tf.image.transform`, TF.js's port of the same kernel, one
 * image at a time: TF.js 4.22's CPU kernel returns after the first image of a batch and leaves the
 * others filled with the fill value.
 * Images are [n, h, w, c] float32, channels last.
 */
import type { Tensor, Tensor2D, Tensor4D } from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";
import { projectiveTransform } from "../../tfjs/native_image";
import type { FillMode, Interpolation } from "./factors";

/** How an affine transform samples the input and fills what lies outside it. */
export interface TransformOptions {
  interpolation: Interpolation;
  fillMode: FillMode;
  /** The value outside the image with fillMode "constant". */
  fillValue: number;
}

const column = (t: Tensor): Tensor => tf.reshape(t, [-1, 1]);

/** Rows [a0, a1, a2, b0, b1, b2, 0, 0] from columns of shape [n, 1]. */
function rows(a0: Tensor, a1: Tensor, a2: Tensor, b0: Tensor, b1: Tensor, b2: Tensor): Tensor2D {
  const n = a0.shape[0];
  return tf.concat([a0, a1, a2, b0, b1, b2, tf.zeros([n, 2])], 1) as Tensor2D;
}

/**
 * One rotation per image, `angles` in degrees ([n], counter-clockwise as drawn), about the centre of
 * an h×w image: [cos, -sin, cx - cx·cos + cy·sin, sin, cos, cy - cx·sin - cy·cos, 0, 0], where
 * (cx, cy) = ((w - 1) / 2, (h - 1) / 2).
 */
export function rotationMatrices(angles: Tensor, height: number, width: number): Tensor2D {
  return tf.tidy(() => {
    const radians = tf.mul(angles, tf.scalar(Math.PI / 180, "float32"));
    const cos = column(tf.cos(radians));
    const sin = column(tf.sin(radians));
    const cx = tf.scalar(0.5 * (width - 1), "float32");
    const cy = tf.scalar(0.5 * (height - 1), "float32");
    // Keras: a0 = cos, a1 = -sin, a2 = cx - cx * a0 - cy * a1; b0 = sin, b1 = cos, b2 = cy - cx * b0 - cy * b1.
    const a1 = tf.neg(sin);
    const a2 = tf.sub(tf.sub(cx, tf.mul(cx, cos)), tf.mul(cy, a1));
    const b2 = tf.sub(tf.sub(cy, tf.mul(cx, sin)), tf.mul(cy, cos));
    return rows(cos, a1, a2, sin, cos, b2);
  });
}

/** One shift per image, in pixels ([n] or [n, 1]; positive: right and down): [1, 0, -dx, 0, 1, -dy, 0, 0]. */
export function translationMatrices(dx: Tensor, dy: Tensor): Tensor2D {
  return tf.tidy(() => {
    const x = column(dx);
    const ones = tf.onesLike(x);
    const zeros = tf.zerosLike(x);
    return rows(ones, zeros, tf.neg(x), zeros, ones, tf.neg(column(dy)));
  });
}

/**
 * One zoom per image ([n] or [n, 1] each), about the centre of an h×w image:
 * [zx, 0, (w - 1) / 2 · (1 - zx), 0, zy, (h - 1) / 2 · (1 - zy), 0, 0].
 */
export function zoomMatrices(zx: Tensor, zy: Tensor, height: number, width: number): Tensor2D {
  return tf.tidy(() => {
    const x = column(zx);
    const y = column(zy);
    const one = tf.scalar(1, "float32");
    const xOffset = tf.mul(tf.scalar((width - 1) / 2, "float32"), tf.sub(one, x));
    const yOffset = tf.mul(tf.scalar((height - 1) / 2, "float32"), tf.sub(one, y));
    const zeros = tf.zerosLike(x);
    return rows(x, zeros, xOffset, zeros, y, yOffset);
  });
}

/** `images` [n, h, w, c] resampled through one transform per image ([n, 8], see the module comment). */
export function affineTransform(images: Tensor, transforms: Tensor, options: TransformOptions): Tensor4D {
  if (images.rank !== 4)
    throw new Error(
      `affineTransform: images must be [n, height, width, channels], got shape [${images.shape.join(", ")}].`,
    );
  if (transforms.rank !== 2 || transforms.shape[1] !== 8 || transforms.shape[0] !== images.shape[0]) {
    throw new Error(
      `affineTransform: transforms must be [n, 8], one row per image, ` +
        `got shape [${transforms.shape.join(", ")}] for ${images.shape[0]} images.`,
    );
  }
  const native = projectiveTransform(images, transforms, {
    interpolation: options.interpolation === "nearest" ? "NEAREST" : "BILINEAR",
    fillMode: options.fillMode.toUpperCase() as "REFLECT" | "WRAP" | "CONSTANT" | "NEAREST",
    fillValue: options.fillValue,
  });
  if (native !== null) return native as Tensor4D;
  return tf.tidy(() => {
    const n = images.shape[0];
    const one = (b: number) =>
      tf.image.transform(
        tf.slice(images, [b, 0, 0, 0], [1, -1, -1, -1]) as Tensor4D,
        tf.slice(transforms, [b, 0], [1, 8]) as Tensor2D,
        options.interpolation,
        options.fillMode,
        options.fillValue,
      );
    return (
      n === 1
        ? one(0)
        : tf.concat(
            Array.from({ length: n }, (_, b) => one(b)),
            0,
          )
    ) as Tensor4D;
  });
}

/** Images rotated by `angles` degrees each (counter-clockwise), about their centres. */
export function rotate(images: Tensor, angles: Tensor, options: TransformOptions): Tensor4D {
  return tf.tidy(() =>
    affineTransform(images, rotationMatrices(angles, images.shape[1] as number, images.shape[2] as number), options),
  );
}

/** Images shifted by `dx`, `dy` pixels each (positive: right, down). */
export function translate(images: Tensor, dx: Tensor, dy: Tensor, options: TransformOptions): Tensor4D {
  return tf.tidy(() => affineTransform(images, translationMatrices(dx, dy), options));
}

/** Images zoomed by `zx`, `zy` each about their centres (a factor > 1 shows more of the image). */
export function zoom(images: Tensor, zx: Tensor, zy: Tensor, options: TransformOptions): Tensor4D {
  return tf.tidy(() =>
    affineTransform(images, zoomMatrices(zx, zy, images.shape[1] as number, images.shape[2] as number), options),
  );
}
