"""Keras's augmentation layers as the oracle of test/augmentation.test.ts, run live.

  layers SPEC.json OUT_DIR
        SPEC: {"input": "x.npy", "calls": 2, "layers": [{"class": "RandomRotation",
        "kwargs": {"factor": 0.2, "seed": 11, ...}}, ...]}. For each layer (made afresh with its
        kwargs, Keras's own spelling), its output on the input for `calls` calls in a row with
        training=True, then one with training=False: OUT_DIR/<i>-<k>.npy, OUT_DIR/<i>-inference.npy.

  transforms SPEC.json OUT_DIR
        SPEC: {"input": "x.npy", "cases": [{"class", "kwargs", "parameters": {name: "p.npy"}}]}.
        For each case, the layer's own transform (`transform_images`) of the input with the given
        drawn parameters instead of drawn ones -> OUT_DIR/<i>-keras.npy, and the same computed by
        hand in numpy from the formulas of Keras's source and of TensorFlow's
        ImageProjectiveTransformV3 kernel (tensorflow/core/kernels/image/image_ops.h: the output
        pixel (x, y) reads the input at (a0 x + a1 y + a2, b0 x + b1 y + b2), coordinates mapped
        by the fill mode, then interpolated, neighbours outside the image reading the fill value)
        -> OUT_DIR/<i>-numpy.npy, and for nearest interpolation OUT_DIR/<i>-ties.npy: 1 where a
        sampled coordinate lies within 1e-4 of a rounding tie (x.5), where float rounding may pick
        either neighbour.

Parameters by class: RandomRotation "angles" [n] (degrees); RandomTranslation "dx", "dy" [n, 1]
(pixels); RandomZoom "zx", "zy" [n, 1]; RandomContrast "factors" [n, 1, 1, 1].

Run with the project's virtualenv: .venv/bin/python scripts/keras_augmentation.py layers spec.json out/
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import keras  # noqa: E402


def make(spec):
    return getattr(keras.layers, spec["class"])(**spec["kwargs"])


def run_layers(spec, out):
    x = np.load(spec["input"])
    for i, item in enumerate(spec["layers"]):
        layer = make(item)
        for k in range(spec.get("calls", 2)):
            np.save(os.path.join(out, f"{i}-{k}.npy"), keras.ops.convert_to_numpy(layer(x, training=True)))
        np.save(os.path.join(out, f"{i}-inference.npy"), keras.ops.convert_to_numpy(layer(x, training=False)))


# --- by hand -----------------------------------------------------------------------------------


def rotation_matrices(angles, h, w):
    """base_image_preprocessing_layer.py, _compute_affine_matrix with only an angle (degrees)."""
    t = np.radians(angles.astype(np.float64))
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    c, s = np.cos(t), np.sin(t)
    z = np.zeros_like(t)
    return np.stack([c, -s, cx - cx * c + cy * s, s, c, cy - cx * s - cy * c, z, z], axis=1)


def translation_matrices(dx, dy):
    dx, dy = dx.reshape(-1).astype(np.float64), dy.reshape(-1).astype(np.float64)
    o, z = np.ones_like(dx), np.zeros_like(dx)
    return np.stack([o, z, -dx, z, o, -dy, z, z], axis=1)


def zoom_matrices(zx, zy, h, w):
    zx, zy = zx.reshape(-1).astype(np.float64), zy.reshape(-1).astype(np.float64)
    z = np.zeros_like(zx)
    return np.stack([zx, z, (w - 1) / 2 * (1 - zx), z, zy, (h - 1) / 2 * (1 - zy), z, z], axis=1)


def map_coordinates(c, n, mode):
    """TensorFlow's MapCoordinate for coordinates c (an array) along an axis of n pixels."""
    c = c.copy()
    if mode in ("reflect", "wrap") and n <= 1:
        return np.zeros_like(c)
    if mode == "reflect":
        # Reflect [abcd] to [dcba|abcd|dcba]; C++'s integer casts truncate towards zero.
        sz2 = 2 * n
        neg, pos = c < 0, c > n - 1  # one branch or the other, as in C++
        cn = c[neg]
        cn = np.where(cn < sz2, sz2 * np.trunc(-cn / sz2) + cn, cn)
        c[neg] = np.where(cn < -n, cn + sz2, -cn - 1)
        cp = c[pos] - sz2 * np.trunc(c[pos] / sz2)
        c[pos] = np.where(cp >= n, sz2 - cp - 1, cp)
        return np.clip(c, 0, n - 1)
    if mode == "wrap":
        # Wrap [abcd] to [abcd|abcd|abcd].
        neg, pos = c < 0, c > n - 1
        c[neg] = c[neg] + n * (np.trunc(-c[neg] / (n - 1)) + 1)
        c[pos] = c[pos] - n * np.trunc(c[pos] / (n - 1))
        return np.clip(c, 0, n - 1)
    if mode == "nearest":
        return np.clip(c, 0, n - 1)
    return c  # constant: neighbours outside the image read the fill value


def resample(images, matrices, interpolation, fill_mode, fill_value):
    """ImageProjectiveTransformV3 by hand, in float64 (see the module comment)."""
    n, h, w, ch = images.shape
    padded = np.full((n, h + 2, w + 2, ch), fill_value, np.float64)  # a border of the fill value
    padded[:, 1:-1, 1:-1] = images
    oy, ox = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    out = np.zeros(images.shape, np.float64)
    ties = np.zeros(images.shape[:3], np.uint8)
    batch = np.arange(n)[:, None, None]

    def read(y, x):
        """Pixels at integer (y, x) per image, the fill value outside the image."""
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        yy = np.where(inside, y + 1, 0).astype(np.int64)
        xx = np.where(inside, x + 1, 0).astype(np.int64)
        return padded[batch, yy, xx]

    m = matrices.astype(np.float64)
    k = m[:, 6, None, None] * ox + m[:, 7, None, None] * oy + 1.0
    x = map_coordinates((m[:, 0, None, None] * ox + m[:, 1, None, None] * oy + m[:, 2, None, None]) / k, w, fill_mode)
    y = map_coordinates((m[:, 3, None, None] * ox + m[:, 4, None, None] * oy + m[:, 5, None, None]) / k, h, fill_mode)
    if interpolation == "nearest":
        # std::round: halves away from zero.
        out = read(np.sign(y) * np.floor(np.abs(y) + 0.5), np.sign(x) * np.floor(np.abs(x) + 0.5))
        ties = ((np.abs(np.abs(x) % 1 - 0.5) < 1e-4) | (np.abs(np.abs(y) % 1 - 0.5) < 1e-4)).astype(np.uint8)
        return out, ties
    xf, yf = np.floor(x), np.floor(y)
    wx, wy = (x - xf)[..., None], (y - yf)[..., None]
    top = (1 - wx) * read(yf, xf) + wx * read(yf, xf + 1)
    bottom = (1 - wx) * read(yf + 1, xf) + wx * read(yf + 1, xf + 1)
    return (1 - wy) * top + wy * bottom, ties


def by_hand(cls, kwargs, x, p):
    n, h, w, _ = x.shape
    if cls == "RandomContrast":
        lo, hi = kwargs.get("value_range", (0, 255))
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=(1, 2), keepdims=True)
        return np.clip((x64 - mean) * p["factors"].astype(np.float64) + mean, lo, hi), None
    if cls == "RandomRotation":
        m = rotation_matrices(p["angles"], h, w)
    elif cls == "RandomTranslation":
        m = translation_matrices(p["dx"], p["dy"])
    else:
        m = zoom_matrices(p["zx"], p["zy"], h, w)
    interpolation = kwargs.get("interpolation", "bilinear")
    return resample(x, m, interpolation, kwargs.get("fill_mode", "reflect"), kwargs.get("fill_value", 0.0))


def keras_transform(layer, cls, x, p):
    """The layer's own transform of x with the given parameters (what its call does after drawing them)."""
    n, h, w, _ = x.shape
    f32 = lambda a: keras.ops.convert_to_tensor(a.astype(np.float32))  # noqa: E731
    if cls == "RandomRotation":
        angle = f32(p["angles"])
        zeros, ones = keras.ops.zeros([n]), keras.ops.ones([n])
        matrix = layer._compute_affine_matrix(center_x=0.5, center_y=0.5, angle=angle, translate_x=zeros,
                                              translate_y=zeros, scale=ones, shear_x=zeros, shear_y=zeros,
                                              height=h, width=w)
        t = {"angle": angle, "rotation_matrix": matrix, "image_height": h, "image_width": w, "batch_size": n}
    elif cls == "RandomTranslation":
        shifts = np.concatenate([p["dx"].reshape(-1, 1), p["dy"].reshape(-1, 1)], axis=1)
        t = {"translations": f32(shifts), "input_shape": x.shape}
    elif cls == "RandomZoom":
        t = {"width_zoom": f32(p["zx"].reshape(-1, 1)), "height_zoom": f32(p["zy"].reshape(-1, 1)),
             "input_shape": x.shape}
    else:
        t = {"contrast_factor": f32(p["factors"].reshape(-1, 1, 1, 1))}
    return keras.ops.convert_to_numpy(layer.transform_images(keras.ops.convert_to_tensor(x), t, training=True))


def run_transforms(spec, out):
    x = np.load(spec["input"])
    for i, case in enumerate(spec["cases"]):
        p = {k: np.load(v) for k, v in case["parameters"].items()}
        layer = make(case)
        np.save(os.path.join(out, f"{i}-keras.npy"), keras_transform(layer, case["class"], x, p))
        hand, ties = by_hand(case["class"], case["kwargs"], x, p)
        np.save(os.path.join(out, f"{i}-numpy.npy"), hand.astype(np.float32))
        if ties is not None:
            np.save(os.path.join(out, f"{i}-ties.npy"), ties)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("layers", "transforms"):
        with open(sys.argv[2]) as f:
            spec = json.load(f)
        os.makedirs(sys.argv[3], exist_ok=True)
        (run_layers if sys.argv[1] == "layers" else run_transforms)(spec, sys.argv[3])
    else:
        sys.exit(__doc__)
