/**
 * An experiment for bench/profile.ts: the input gradient of a stride-1 convolution computed as a
 * forward convolution.
 *
 * TensorFlow's CPU `Conv2DBackpropInput` is several times slower than a forward `Conv2D` of the
 * same size for the small feature maps these models reach at 84×84 (1×1, 3×3, 8×8 maps with
 * 3×3, 1×7, 7×1 kernels), in Keras (graph mode) as in TF.js (eager). For stride 1 and dilation 1,
 *
 *   dx = conv2d(pad(dy, k - 1 - forward padding), filter rotated by 180° with in/out channels swapped, "valid")
 *
 * is the same number (to float rounding). `installForwardConvInputGrad()` replaces the native
 * backend's `Conv2DBackpropInput` kernel by that (other strides keep TensorFlow's kernel) and
 * returns a function that puts the original back.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";

type Conv2DBackpropInputAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | TF.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  inputShape: [number, number, number, number];
};

export function installForwardConvInputGrad(): () => void {
  const backendName = tf.getBackend();
  const original = tf.getKernel("Conv2DBackpropInput", backendName);
  if (!original) throw new Error(`No Conv2DBackpropInput kernel for backend ${backendName}.`);
  const kernelFunc: TF.KernelFunc = (args) => {
    const { dy, filter } = args.inputs as { dy: TF.Tensor4D; filter: TF.Tensor4D };
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
    );
    if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.dataFormat !== "channelsLast") {
      return original.kernelFunc(args);
    }
    const kh = info.filterHeight;
    const kw = info.filterWidth;
    const p = info.padInfo;
    return tf.tidy(() => {
      const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as TF.Tensor4D;
      const pads: Array<[number, number]> = [
        [0, 0],
        [kh - 1 - p.top, kh - 1 - p.bottom],
        [kw - 1 - p.left, kw - 1 - p.right],
        [0, 0],
      ];
      const same =
        kh % 2 === 1 &&
        kw % 2 === 1 &&
        p.top === (kh - 1) / 2 &&
        p.bottom === p.top &&
        p.left === (kw - 1) / 2 &&
        p.right === p.left;
      return same ? tf.conv2d(dy, flipped, 1, "same") : tf.conv2d(tf.pad(dy, pads), flipped, 1, "valid");
    });
  };
  tf.unregisterKernel("Conv2DBackpropInput", backendName);
  tf.registerKernel({ kernelName: "Conv2DBackpropInput", backendName, kernelFunc });
  return () => {
    tf.unregisterKernel("Conv2DBackpropInput", backendName);
    tf.registerKernel(original);
  };
}
