/**
 * InceptionV3 without its top (Keras's `InceptionV3(include_top=False)`), built
 * layer by layer like keras/src/applications/inception_v3.py, so that layer
 * names, `model.layers` order, classes, output shapes and parameter counts are
 * Keras 3's (311 layers, 21,802,784 parameters at 84x84x3).
 *
 * Reference: Szegedy et al., "Rethinking the Inception Architecture for
 * Computer Vision", CVPR 2016.
 */
import type { LayersModel, SymbolicTensor } from "@tensorflow/tfjs";
import { KerasLayers, KerasNames, obtainInputShape, type ImageShape } from "./common";

export interface InceptionV3BuildOptions {
  /** (height, width, channels), height and width at least 75. Default (None, None, 3), as Keras. */
  inputShape?: ImageShape;
  /** Continue these Keras automatic-name counters (default: fresh ones, i.e. a new Keras session). */
  names?: KerasNames;
  /** The model's name. Default "inception_v3". */
  name?: string;
}

/** @internal The weights that will be loaded decide whether non-RGB inputs are allowed. */
export function inceptionV3Graph(options: InceptionV3BuildOptions, weights: "imagenet" | null | string): LayersModel {
  const inputShape = obtainInputShape(options.inputShape, {
    modelName: "InceptionV3",
    defaultSize: 299,
    minSize: 75,
    weights,
  });
  const layers = new KerasLayers(options.names ?? new KerasNames());
  const channelAxis = 3;

  /** Conv2D (no bias) + BatchNormalization (scale=False) + ReLU. */
  function conv2dBn(
    x: SymbolicTensor,
    filters: number,
    numRow: number,
    numCol: number,
    padding: "same" | "valid" = "same",
    strides: [number, number] = [1, 1],
    name?: string,
  ): SymbolicTensor {
    const bnName = name !== undefined ? `${name}_bn` : undefined;
    const convName = name !== undefined ? `${name}_conv` : undefined;
    x = layers.conv2d({ filters, kernelSize: [numRow, numCol], strides, padding, useBias: false, name: convName })(x);
    x = layers.batchNormalization({ axis: channelAxis, scale: false, name: bnName })(x);
    x = layers.activation({ activation: "relu", name })(x);
    return x;
  }

  const imgInput = layers.input(inputShape);

  let x = conv2dBn(imgInput, 32, 3, 3, "valid", [2, 2]);
  x = conv2dBn(x, 32, 3, 3, "valid");
  x = conv2dBn(x, 64, 3, 3);
  x = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2] })(x);

  x = conv2dBn(x, 80, 1, 1, "valid");
  x = conv2dBn(x, 192, 3, 3, "valid");
  x = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2] })(x);

  // mixed 0: 35 x 35 x 256 (at 299x299)
  let branch1x1 = conv2dBn(x, 64, 1, 1);

  let branch5x5 = conv2dBn(x, 48, 1, 1);
  branch5x5 = conv2dBn(branch5x5, 64, 5, 5);

  let branch3x3dbl = conv2dBn(x, 64, 1, 1);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);

  let branchPool = layers.averagePooling2d({ poolSize: [3, 3], strides: [1, 1], padding: "same" })(x);
  branchPool = conv2dBn(branchPool, 32, 1, 1);
  x = layers.concatenate([branch1x1, branch5x5, branch3x3dbl, branchPool], { axis: channelAxis, name: "mixed0" });

  // mixed 1: 35 x 35 x 288
  branch1x1 = conv2dBn(x, 64, 1, 1);

  branch5x5 = conv2dBn(x, 48, 1, 1);
  branch5x5 = conv2dBn(branch5x5, 64, 5, 5);

  branch3x3dbl = conv2dBn(x, 64, 1, 1);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);

  branchPool = layers.averagePooling2d({ poolSize: [3, 3], strides: [1, 1], padding: "same" })(x);
  branchPool = conv2dBn(branchPool, 64, 1, 1);
  x = layers.concatenate([branch1x1, branch5x5, branch3x3dbl, branchPool], { axis: channelAxis, name: "mixed1" });

  // mixed 2: 35 x 35 x 288
  branch1x1 = conv2dBn(x, 64, 1, 1);

  branch5x5 = conv2dBn(x, 48, 1, 1);
  branch5x5 = conv2dBn(branch5x5, 64, 5, 5);

  branch3x3dbl = conv2dBn(x, 64, 1, 1);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);

  branchPool = layers.averagePooling2d({ poolSize: [3, 3], strides: [1, 1], padding: "same" })(x);
  branchPool = conv2dBn(branchPool, 64, 1, 1);
  x = layers.concatenate([branch1x1, branch5x5, branch3x3dbl, branchPool], { axis: channelAxis, name: "mixed2" });

  // mixed 3: 17 x 17 x 768
  let branch3x3 = conv2dBn(x, 384, 3, 3, "valid", [2, 2]);

  branch3x3dbl = conv2dBn(x, 64, 1, 1);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);
  branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3, "valid", [2, 2]);

  branchPool = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2] })(x);
  x = layers.concatenate([branch3x3, branch3x3dbl, branchPool], { axis: channelAxis, name: "mixed3" });

  // mixed 4: 17 x 17 x 768
  branch1x1 = conv2dBn(x, 192, 1, 1);

  let branch7x7 = conv2dBn(x, 128, 1, 1);
  branch7x7 = conv2dBn(branch7x7, 128, 1, 7);
  branch7x7 = conv2dBn(branch7x7, 192, 7, 1);

  let branch7x7dbl = conv2dBn(x, 128, 1, 1);
  branch7x7dbl = conv2dBn(branch7x7dbl, 128, 7, 1);
  branch7x7dbl = conv2dBn(branch7x7dbl, 128, 1, 7);
  branch7x7dbl = conv2dBn(branch7x7dbl, 128, 7, 1);
  branch7x7dbl = conv2dBn(branch7x7dbl, 192, 1, 7);

  branchPool = layers.averagePooling2d({ poolSize: [3, 3], strides: [1, 1], padding: "same" })(x);
  branchPool = conv2dBn(branchPool, 192, 1, 1);
  x = layers.concatenate([branch1x1, branch7x7, branch7x7dbl, branchPool], { axis: channelAxis, name: "mixed4" });

  // mixed 5, 6: 17 x 17 x 768
  for (let i = 0; i < 2; i++) {
    branch1x1 = conv2dBn(x, 192, 1, 1);

    branch7x7 = conv2dBn(x, 160, 1, 1);
    branch7x7 = conv2dBn(branch7x7, 160, 1, 7);
    branch7x7 = conv2dBn(branch7x7, 192, 7, 1);

    branch7x7dbl = conv2dBn(x, 160, 1, 1);
    branch7x7dbl = conv2dBn(branch7x7dbl, 160, 7, 1);
    branch7x7dbl = conv2dBn(branch7x7dbl, 160, 1, 7);
    branch7x7dbl = conv2dBn(branch7x7dbl, 160, 7, 1);
    branch7x7dbl = conv2dBn(branch7x7dbl, 192, 1, 7);

    branchPool = layers.averagePooling2d({ poolSize: [3, 3], strides: [1, 1], padding: "same" })(x);
    branchPool = conv2dBn(branchPool, 192, 1, 1);
    x = layers.concatenate([branch1x1, branch7x7, branch7x7dbl, branchPool], {
      axis: channelAxis,
      name: `mixed${5 + i}`,
    });
  }

  // mixed 7: 17 x 17 x 768
  branch1x1 = conv2dBn(x, 192, 1, 1);

  branch7x7 = conv2dBn(x, 192, 1, 1);
  branch7x7 = conv2dBn(branch7x7, 192, 1, 7);
  branch7x7 = conv2dBn(branch7x7, 192, 7, 1);

  branch7x7dbl = conv2dBn(x, 192, 1, 1);
  branch7x7dbl = conv2dBn(branch7x7dbl, 192, 7, 1);
  branch7x7dbl = conv2dBn(branch7x7dbl, 192, 1, 7);
  branch7x7dbl = conv2dBn(branch7x7dbl, 192, 7, 1);
  branch7x7dbl = conv2dBn(branch7x7dbl, 192, 1, 7);

  branchPool = layers.averagePooling2d({ poolSize: [3, 3], strides: [1, 1], padding: "same" })(x);
  branchPool = conv2dBn(branchPool, 192, 1, 1);
  x = layers.concatenate([branch1x1, branch7x7, branch7x7dbl, branchPool], { axis: channelAxis, name: "mixed7" });

  // mixed 8: 8 x 8 x 1280
  branch3x3 = conv2dBn(x, 192, 1, 1);
  branch3x3 = conv2dBn(branch3x3, 320, 3, 3, "valid", [2, 2]);

  let branch7x7x3 = conv2dBn(x, 192, 1, 1);
  branch7x7x3 = conv2dBn(branch7x7x3, 192, 1, 7);
  branch7x7x3 = conv2dBn(branch7x7x3, 192, 7, 1);
  branch7x7x3 = conv2dBn(branch7x7x3, 192, 3, 3, "valid", [2, 2]);

  branchPool = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2] })(x);
  x = layers.concatenate([branch3x3, branch7x7x3, branchPool], { axis: channelAxis, name: "mixed8" });

  // mixed 9: 8 x 8 x 2048
  for (let i = 0; i < 2; i++) {
    branch1x1 = conv2dBn(x, 320, 1, 1);

    branch3x3 = conv2dBn(x, 384, 1, 1);
    const branch3x3_1 = conv2dBn(branch3x3, 384, 1, 3);
    const branch3x3_2 = conv2dBn(branch3x3, 384, 3, 1);
    branch3x3 = layers.concatenate([branch3x3_1, branch3x3_2], { axis: channelAxis, name: `mixed9_${i}` });

    branch3x3dbl = conv2dBn(x, 448, 1, 1);
    branch3x3dbl = conv2dBn(branch3x3dbl, 384, 3, 3);
    const branch3x3dbl_1 = conv2dBn(branch3x3dbl, 384, 1, 3);
    const branch3x3dbl_2 = conv2dBn(branch3x3dbl, 384, 3, 1);
    branch3x3dbl = layers.concatenate([branch3x3dbl_1, branch3x3dbl_2], { axis: channelAxis });

    branchPool = layers.averagePooling2d({ poolSize: [3, 3], strides: [1, 1], padding: "same" })(x);
    branchPool = conv2dBn(branchPool, 192, 1, 1);
    x = layers.concatenate([branch1x1, branch3x3, branch3x3dbl, branchPool], {
      axis: channelAxis,
      name: `mixed${9 + i}`,
    });
  }

  return layers.model(imgInput, x, options.name ?? "inception_v3");
}
