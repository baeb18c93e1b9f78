/**
 * Each gradient rule of the graph compiler (src/engine/graph/gradients.ts) against TF.js's own
 * gradient: the same function built twice — as a TensorFlow graph differentiated by our rules and
 * run in a TensorFlow session, and with TF.js's eager ops differentiated by `tf.grads` — on small
 * random inputs, with a random weighting of the output (loss = Σ out · r) so that every output
 * element's gradient matters. The batch is left unknown in the graph, as in the compiled models.
 *
 * Tolerance: 1e-4 of the largest expected value; both sides run TensorFlow kernels in float32 on
 * sums of at most a few hundred terms, so they agree to about 1e-6 (measured); a wrong rule is off
 * by O(1).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { Graph, type SymTensor } from "../src/engine/graph/graph";
import * as ops from "../src/engine/graph/ops";
import { gradients } from "../src/engine/graph/gradients";
import { convolutionAsProduct } from "../src/engine/graph/lower";
import { UpSampling3D } from "../src/keras/layers";
import { BFLOAT16_EPSILON, isBfloat16, roundToBfloat16 } from "../src/util/bfloat16";
import { runGraphOnce } from "./support/graph";

type Inputs = Record<string, Tensor>;

interface Case {
  shapes: Record<string, number[]>;
  /** Inputs that must be positive (variances, divisors). */
  positive?: string[];
  graph: (g: Graph, x: Record<string, SymTensor>) => SymTensor;
  eager: (x: Inputs) => Tensor;
  /** Inputs differentiated (default: all). */
  wrt?: string[];
}

let seed = 1;

async function check(name: string, c: Case): Promise<void> {
  const names = Object.keys(c.shapes);
  const wrt = c.wrt ?? names;
  const values: Inputs = {};
  for (const n of names) {
    values[n] = c.positive?.includes(n)
      ? tf.randomUniform(c.shapes[n], 0.5, 1.5, "float32", seed++)
      : tf.randomNormal(c.shapes[n], 0, 1, "float32", seed++);
  }
  const expectedOut = c.eager(values);
  const r = tf.randomNormal(expectedOut.shape, 0, 1, "float32", seed++);
  const loss = (...args: Tensor[]) => {
    const inputs = { ...values };
    wrt.forEach((n, i) => (inputs[n] = args[i]));
    return tf.sum(tf.mul(c.eager(inputs), r));
  };
  const expectedGrads = tf.grads(loss)(wrt.map((n) => values[n]));

  const got = await runGraphOnce(
    (g) => {
      // The first input's first axis is the batch: unknown in the graph, as in the compiled models.
      const inputs: Record<string, SymTensor> = {};
      names.forEach(
        (n, i) => (inputs[n] = g.placeholder(n, "float32", i === 0 ? [null, ...c.shapes[n].slice(1)] : c.shapes[n])),
      );
      const weighting = g.placeholder("r", "float32", expectedOut.shape);
      const out = c.graph(g, inputs);
      const total = ops.sum(
        g,
        ops.mul(g, out, weighting),
        out.shape.map((_, i) => i),
      );
      const grads = gradients(
        g,
        [total],
        [g.constant(1)],
        wrt.map((n) => inputs[n]),
      );
      grads.forEach((d, i) => assert.ok(d !== null, `${name}: no gradient for ${wrt[i]}`));
      return {
        inputs: [...names.map((n) => inputs[n]), weighting],
        outputs: [out, ...(grads as SymTensor[])],
      };
    },
    [...names.map((n) => values[n]), r],
  );
  try {
    const compare = (what: string, a: Tensor, b: Tensor) => {
      assert.deepEqual(a.shape, b.shape, `${name}: ${what} shape`);
      const scale = Math.max(1, tf.max(tf.abs(b)).dataSync()[0]);
      const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
      assert.ok(diff <= 1e-4 * scale, `${name}: ${what} differs by ${diff} (values up to ${scale})`);
    };
    compare("output", got[0], expectedOut);
    wrt.forEach((n, i) => compare(`d/d${n}`, got[i + 1], expectedGrads[i]));
  } finally {
    tf.dispose([...Object.values(values), expectedOut, r, ...expectedGrads, ...got]);
  }
}

test("Conv2D: gradients of input and filter equal TF.js's (VALID stride 2, SAME stride 1)", async () => {
  await check("conv valid/2", {
    shapes: { x: [3, 9, 9, 4], w: [3, 3, 4, 5] },
    graph: (g, { x, w }) => ops.conv2d(g, x, w, { strides: [2, 2], padding: "VALID" }),
    eager: ({ x, w }) => tf.conv2d(x as never, w as never, 2, "valid"),
  });
  await check("conv same/1 5x5", {
    shapes: { x: [2, 7, 7, 3], w: [5, 5, 3, 2] },
    graph: (g, { x, w }) => ops.conv2d(g, x, w, { strides: [1, 1], padding: "SAME" }),
    eager: ({ x, w }) => tf.conv2d(x as never, w as never, 1, "same"),
  });
  await check("conv 1x7 same", {
    shapes: { x: [2, 6, 8, 3], w: [1, 7, 3, 4] },
    graph: (g, { x, w }) => ops.conv2d(g, x, w, { strides: [1, 1], padding: "SAME" }),
    eager: ({ x, w }) => tf.conv2d(x as never, w as never, 1, "same"),
  });
});

test("A convolution that is one matrix product, written as that product (Reshape, MatMul, Slice of the one tap read): output and gradients equal TF.js's Conv2D", async () => {
  const cases: Array<[string, number[], number[], number, "same" | "valid"]> = [
    ["1x1 valid", [3, 5, 4, 6], [1, 1, 6, 7], 1, "valid"],
    ["1x1 same", [2, 3, 3, 5], [1, 1, 5, 4], 1, "same"],
    ["3x3 on a 1x1 map", [3, 1, 1, 6], [3, 3, 6, 5], 1, "same"],
    ["1x3 on a 1x1 map", [2, 1, 1, 4], [1, 3, 4, 3], 1, "same"],
    ["3x1 on a 1x1 map", [2, 1, 1, 4], [3, 1, 4, 3], 1, "same"],
    ["4x4 on a 1x1 map, stride 2", [2, 1, 1, 3], [4, 4, 3, 2], 2, "same"],
  ];
  for (const [name, xShape, wShape, stride, pad] of cases) {
    await check(name, {
      shapes: { x: xShape, w: wShape },
      graph: (g, { x, w }) => {
        const o: ops.ConvOptions = { strides: [stride, stride], padding: pad === "same" ? "SAME" : "VALID" };
        const y = convolutionAsProduct(g, x, w, o);
        assert.ok(y, `${name}: a product`);
        assert.ok(!g.nodes.some((n) => n.op === "Conv2D"), `${name}: no Conv2D emitted`);
        return y;
      },
      eager: ({ x, w }) => tf.conv2d(x as never, w as never, stride, pad),
    });
  }
  // Not products: a 3×3 filter on a 2×2 map, a 1×1 filter at stride 2, a dilated 3×3 filter on a 1×1 map.
  const g = new Graph();
  const none = (h: number, k: number, o: ops.ConvOptions) =>
    convolutionAsProduct(
      g,
      g.placeholder(`x${g.nodes.length}`, "float32", [null, h, h, 3]),
      g.placeholder(`w${g.nodes.length}`, "float32", [k, k, 3, 4]),
      o,
    );
  assert.equal(none(2, 3, { strides: [1, 1], padding: "SAME" }), null, "3x3 on a 2x2 map");
  assert.equal(none(4, 1, { strides: [2, 2], padding: "VALID" }), null, "1x1 at stride 2");
  assert.equal(none(1, 3, { strides: [1, 1], padding: "SAME", dilations: [2, 2] }), null, "dilated 3x3 on a 1x1 map");
});

test("DepthwiseConv2dNative and a separable convolution: gradients equal TF.js's", async () => {
  await check("depthwise", {
    shapes: { x: [2, 7, 7, 4], w: [3, 3, 4, 1] },
    graph: (g, { x, w }) => ops.depthwiseConv2d(g, x, w, { strides: [1, 1], padding: "SAME" }),
    eager: ({ x, w }) => tf.depthwiseConv2d(x as never, w as never, 1, "same"),
  });
  await check("separable", {
    shapes: { x: [2, 6, 6, 3], dw: [3, 3, 3, 1], pw: [1, 1, 3, 5] },
    graph: (g, { x, dw, pw }) =>
      ops.conv2d(g, ops.depthwiseConv2d(g, x, dw, { strides: [1, 1], padding: "SAME" }), pw, {
        strides: [1, 1],
        padding: "VALID",
      }),
    eager: ({ x, dw, pw }) => tf.separableConv2d(x as never, dw as never, pw as never, 1, "same"),
  });
});

test("FusedBatchNormV3: gradients of x, scale and offset equal TF.js's, in training (batch statistics) and inference", async () => {
  const eps = 1e-3;
  await check("batch norm, training", {
    shapes: { x: [3, 4, 4, 5], scale: [5], offset: [5] },
    graph: (g, { x, scale, offset }) => {
      const empty = g.constant([], [0]);
      return ops.fusedBatchNorm(g, x, scale, offset, empty, empty, { epsilon: eps, training: true }).y;
    },
    eager: ({ x, scale, offset }) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), scale), offset);
    },
  });
  await check("batch norm, inference", {
    shapes: { x: [3, 4, 4, 5], scale: [5], offset: [5], mean: [5], variance: [5] },
    positive: ["variance"],
    wrt: ["x", "scale", "offset"],
    graph: (g, { x, scale, offset, mean, variance }) =>
      ops.fusedBatchNorm(g, x, scale, offset, mean, variance, { epsilon: eps, training: false }).y,
    eager: ({ x, scale, offset, mean, variance }) =>
      tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), scale), offset),
  });
});

test("Relu, Softmax and softmax cross-entropy: gradients equal TF.js's", async () => {
  await check("relu", {
    shapes: { x: [4, 3, 3, 2] },
    graph: (g, { x }) => ops.relu(g, x),
    eager: ({ x }) => tf.relu(x),
  });
  await check("softmax", {
    shapes: { x: [5, 10] },
    graph: (g, { x }) => ops.softmax(g, x),
    eager: ({ x }) => tf.softmax(x),
  });
  const labels = tf.oneHot(tf.tensor1d([3, 1, 0, 9, 4], "int32"), 10).asType("float32");
  await check("softmax cross-entropy", {
    shapes: { logits: [5, 10] },
    graph: (g, { logits }) => ops.softmaxCrossEntropyWithLogits(g, logits, g.constant(labels.dataSync(), [5, 10])).loss,
    eager: ({ logits }) => tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1)),
  });
  labels.dispose();
});

test("MaxPool and AvgPool: gradients equal TF.js's", async () => {
  await check("max pool valid 3/2", {
    shapes: { x: [2, 9, 9, 3] },
    graph: (g, { x }) => ops.maxPool(g, x, { size: [3, 3], strides: [2, 2], padding: "VALID" }),
    eager: ({ x }) => tf.maxPool(x as never, 3, 2, "valid"),
  });
  await check("max pool same 3/2", {
    shapes: { x: [2, 8, 8, 3] },
    graph: (g, { x }) => ops.maxPool(g, x, { size: [3, 3], strides: [2, 2], padding: "SAME" }),
    eager: ({ x }) => tf.maxPool(x as never, 3, 2, "same"),
  });
  await check("avg pool same 3/1", {
    shapes: { x: [2, 5, 5, 3] },
    graph: (g, { x }) => ops.avgPool(g, x, { size: [3, 3], strides: [1, 1], padding: "SAME" }),
    eager: ({ x }) => tf.avgPool(x as never, 3, 1, "same"),
  });
});

test("Concatenation, global average pooling, sums, reshapes and the upsampling tile: gradients equal TF.js's", async () => {
  await check("concat", {
    shapes: { a: [2, 3, 3, 2], b: [2, 3, 3, 4], c: [2, 3, 3, 1] },
    graph: (g, { a, b, c }) => ops.concat(g, [a, b, c], 3),
    eager: ({ a, b, c }) => tf.concat([a, b, c], 3),
  });
  await check("global average pooling", {
    shapes: { x: [3, 4, 5, 6] },
    graph: (g, { x }) => ops.mean(g, x, [1, 2]),
    eager: ({ x }) => tf.mean(x, [1, 2]),
  });
  await check("sum keeping dims", {
    shapes: { x: [3, 4, 5] },
    graph: (g, { x }) => ops.sum(g, x, [2], true),
    eager: ({ x }) => tf.sum(x, [2], true),
  });
  await check("upsampling: reshape, tile, reshape", {
    shapes: { x: [2, 4, 4, 1] },
    graph: (g, { x }) =>
      ops.reshape(g, ops.tile(g, ops.reshape(g, x, [-1, 4, 1, 4, 1, 1]), [1, 1, 3, 1, 3, 3]), [-1, 12, 12, 3]),
    // The project's UpSampling3D layer (a gather), as the tutorial's front applies it.
    eager: ({ x }) =>
      tf.reshape(
        new UpSampling3D({ size: [3, 3, 3] }).apply(tf.reshape(x, [-1, 4, 4, 1, 1])) as Tensor,
        [-1, 12, 12, 3],
      ),
  });
});

test("MatMul (every transpose) and BiasAdd: gradients equal TF.js's", async () => {
  for (const [ta, tb] of [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ]) {
    await check(`matmul ${ta} ${tb}`, {
      shapes: { a: ta ? [4, 3] : [3, 4], b: tb ? [5, 4] : [4, 5] },
      graph: (g, { a, b }) => ops.matMul(g, a, b, { transposeA: ta, transposeB: tb }),
      eager: ({ a, b }) => tf.matMul(a as never, b as never, ta, tb),
    });
  }
  await check("dense", {
    shapes: { x: [3, 4], w: [4, 6], b: [6] },
    graph: (g, { x, w, b }) => ops.relu(g, ops.biasAdd(g, ops.matMul(g, x, w), b)),
    eager: ({ x, w, b }) => tf.relu(tf.add(tf.matMul(x as never, w as never), b)),
  });
});

test("Elementwise ops with broadcasting (add, sub, mul, div, square, sqrt, neg, AddN): gradients equal TF.js's", async () => {
  await check("broadcast arithmetic", {
    shapes: { a: [3, 4, 5], b: [5], c: [4, 1] },
    positive: ["c"],
    graph: (g, { a, b, c }) =>
      ops.addN(g, [
        ops.div(g, ops.mul(g, ops.sub(g, a, b), ops.add(g, a, b)), c),
        ops.square(g, a),
        ops.mul(g, a, ops.neg(g, ops.sqrt(g, ops.mul(g, c, c)))),
      ]),
    eager: ({ a, b, c }) =>
      tf.addN([tf.div(tf.mul(tf.sub(a, b), tf.add(a, b)), c), tf.square(a), tf.mul(a, tf.neg(tf.sqrt(tf.mul(c, c))))]),
  });
  await check("residual add", {
    shapes: { a: [2, 3, 3, 4], b: [2, 3, 3, 4] },
    graph: (g, { a, b }) => ops.relu(g, ops.add(g, a, b)),
    eager: ({ a, b }) => tf.relu(tf.add(a, b)),
  });
});

test("Only what is needed is differentiated: no gradient nodes for an input the loss does not depend on through differentiable paths", async () => {
  const g = new Graph();
  const x = g.placeholder("x", "float32", [null, 6, 6, 2]);
  const frozen = g.placeholder("frozen", "float32", [3, 3, 2, 3]);
  const w = g.placeholder("w", "float32", [1, 1, 3, 4]);
  const h = ops.relu(g, ops.conv2d(g, x, frozen, { strides: [1, 1], padding: "SAME" }));
  const y = ops.sum(g, ops.conv2d(g, h, w, { strides: [1, 1], padding: "SAME" }), [0, 1, 2, 3]);
  const before = g.nodes.length;
  const [dw] = gradients(g, [y], [g.constant(1)], [w]);
  assert.ok(dw !== null);
  const emitted = g.nodes.slice(before).map((n) => n.op);
  assert.ok(emitted.includes("Conv2DBackpropFilter"), emitted.join(", "));
  for (const op of ["Conv2DBackpropInput", "ReluGrad"])
    assert.ok(!emitted.includes(op), `${op} was emitted below the trainable layer: ${emitted.join(", ")}`);
});

/**
 * Under mixed_bfloat16 a Conv2D's filter gradient is Σ x · dy over every output position of every
 * example, from the bfloat16 input and output gradient: by taps, one bfloat16 matrix product each
 * (float32 accumulation, rounded to bfloat16 at the end, as Keras's bfloat16 filter gradients are),
 * for a 1×1 filter at stride 1 and for filters with at least 128 input and output channels; any other
 * filter by float32's Conv2DBackpropFilter. The cases by taps cover what the slicing must get right:
 * a tap that only ever reads padding (zero), strides with an input that is not a multiple of them
 * (padded at the end), and SAME's padding split with the odd zero after. With x and the output's
 * weighting r already bfloat16 values, TF.js's float32 gradient of Σ conv(x, w) · r is that sum to
 * float32's rounding. The bound per element: float32 accumulation of n = batch × output positions
 * terms on either side, 2n·2^-24 of A = Σ|x|·|r| (the same gradient in absolute values), plus, for
 * the bfloat16 products, their rounding. One rounding to bfloat16 (8 significant bits) is at most
 * U = 2^-8 of the value, and that bound is reached (0.85–0.93× of it measured here: an element just
 * above a power of two), so the test allows two (2U), for a CPU whose kernel splits the sum and
 * rounds a part on the way; it measured 0.38–0.50× of that. Where the bound is 0 (a tap that reads
 * only padding) the gradient must be exactly 0. A transposed, shifted or misordered product is off
 * by O(1).
 */
test("under mixed_bfloat16 a Conv2D's filter gradient is the sum float32 computes from the bfloat16 values (one bfloat16 matrix product per tap for 1×1 filters at stride 1 and wide filters, rounded once), within the derived rounding", async (t) => {
  const U = BFLOAT16_EPSILON / 2; // 2^-8, bfloat16's unit roundoff
  const conv = (stride: number, padding: ops.Padding): ops.ConvOptions => ({ strides: [stride, stride], padding });
  const cases: Array<[string, number[], number[], ops.ConvOptions, boolean]> = [
    ["1×1, stride 1", [3, 5, 6, 7], [1, 1, 7, 4], conv(1, "VALID"), true],
    ["1×1, stride 1, SAME", [2, 4, 4, 16], [1, 1, 16, 24], conv(1, "SAME"), true],
    ["1×1, stride 2", [2, 7, 7, 5], [1, 1, 5, 3], conv(2, "SAME"), false],
    ["3×3, SAME", [2, 6, 6, 5], [3, 3, 5, 4], conv(1, "SAME"), false],
    ["1×7, SAME", [2, 5, 8, 3], [1, 7, 3, 4], conv(1, "SAME"), false],
    ["3×3, SAME, wide, 5×6 input", [2, 5, 6, 128], [3, 3, 128, 130], conv(1, "SAME"), true],
    ["3×3, SAME, wide, 1×1 input (centre tap only)", [3, 1, 1, 136], [3, 3, 136, 128], conv(1, "SAME"), true],
    ["1×7, SAME, wide, 3×3 input (end taps zero)", [2, 3, 3, 128], [1, 7, 128, 132], conv(1, "SAME"), true],
    ["3×3, stride 2, VALID, wide, 7×8 input", [2, 7, 8, 128], [3, 3, 128, 128], conv(2, "VALID"), true],
    ["3×3, stride 2, SAME, wide, 5×5 input", [2, 5, 5, 128], [3, 3, 128, 136], conv(2, "SAME"), true],
    ["3×3, stride 2, SAME, wide, 6×6 input (odd padding)", [2, 6, 6, 128], [3, 3, 128, 128], conv(2, "SAME"), true],
    ["3×3, stride 2, VALID, wide, 3×3 input to 1×1", [4, 3, 3, 130], [3, 3, 130, 128], conv(2, "VALID"), true],
    ["1×1, stride 2, SAME, wide, 5×5 input", [2, 5, 5, 128], [1, 1, 128, 144], conv(2, "SAME"), true],
  ];
  for (const [name, xShape, wShape, o, product] of cases) {
    const eager = (xv: Tensor, wv: Tensor): Tensor =>
      tf.conv2d(xv as never, wv as never, o.strides, o.padding.toLowerCase() as "same" | "valid");
    const bfloat16Normal = (shape: number[]) =>
      tf.tidy(() =>
        tf.tensor(
          Float32Array.from(tf.randomNormal(shape, 0, 1, "float32", seed++).dataSync(), roundToBfloat16),
          shape,
        ),
      );
    const x = bfloat16Normal(xShape);
    const w = tf.randomNormal(wShape, 0, 1, "float32", seed++);
    const outShape = tf.tidy(() => eager(x, w).shape);
    const r = bfloat16Normal(outShape);
    const filterGradient = (xv: Tensor, rv: Tensor) => tf.grad((wv: Tensor) => tf.sum(tf.mul(eager(xv, wv), rv)))(w);
    const want = tf.tidy(() => filterGradient(x, r));
    const absolute = tf.tidy(() => filterGradient(tf.abs(x), tf.abs(r)));
    const [got] = await runGraphOnce(
      (g) => {
        const xs = g.placeholder("x", "float32", [null, ...xShape.slice(1)]);
        const ws = g.placeholder("w", "float32", wShape);
        const rs = g.placeholder("r", "float32", outShape);
        const out = ops.conv2d(g, ops.cast(g, xs, "bfloat16"), ops.cast(g, ws, "bfloat16"), o);
        const total = ops.sum(g, ops.mul(g, ops.cast(g, out, "float32"), rs), [0, 1, 2, 3]);
        const [dw] = gradients(g, [total], [g.constant(1)], [ws]);
        return { inputs: [xs, ws, rs], outputs: [dw!] };
      },
      [x, w, r],
    );
    const n = outShape[0]! * outShape[1]! * outShape[2]!;
    const excess = tf.tidy(() => {
      const bound = tf.add(tf.mul(product ? 2 * U : 0, tf.abs(want)), tf.mul(2 * n * 2 ** -24, absolute));
      // A zero bound (a tap that reads only padding) admits only an exact zero.
      return tf.max(tf.div(tf.abs(tf.sub(got, want)), tf.maximum(bound, 1e-30))).dataSync()[0];
    });
    t.diagnostic(`${name}: at most ${excess.toFixed(3)}× the bound`);
    assert.deepEqual(got.shape, wShape, `${name}: the gradient's shape`);
    assert.equal(got.dtype, "float32", `${name}: the float32 weight's gradient is float32`);
    assert.ok(excess <= 1, `${name}: the filter gradient is ${excess.toFixed(2)}× the rounding bound from float32's`);
    if (product) {
      assert.ok(got.dataSync().every(isBfloat16), `${name}: the matrix product's gradient is bfloat16, rounded once`);
    }
    tf.dispose([x, w, r, want, absolute, got]);
  }
});
