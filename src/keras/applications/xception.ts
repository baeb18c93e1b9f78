/**
 * Xception without its top (Keras's `Xception(include_top=False)`), built layer
 * by layer like keras/src/applications/xception.py, so that layer names,
 * `model.layers` order, classes, output shapes and parameter counts are
 * Keras 3's (132 layers, 20,861,480 parameters at 84x84x3).
 *
 * Reference: Chollet, "Xception: Deep Learning with Depthwise Separable
 * Convolutions", CVPR 2017.
 */
import type { LayersModel, SymbolicTensor } from "@tensorflow/tfjs";
import { KerasLayers, KerasNames, obtainInputShape, type ImageShape } from "./common";

export interface XceptionBuildOptions {
  /** (height, width, channels), height and width at least 71. Default (None, None, 3), as Keras. */
  inputShape?: ImageShape;
  /** Continue these Keras automatic-name counters (default: fresh ones, i.e. a new Keras session). */
  names?: KerasNames;
  /** The model's name. Default "xception". */
  name?: string;
}

/** @internal The weights that will be loaded decide whether non-RGB inputs are allowed. */
export function xceptionGraph(options: XceptionBuildOptions, weights: "imagenet" | null | string): LayersModel {
  const inputShape = obtainInputShape(options.inputShape, {
    modelName: "Xception",
    defaultSize: 299,
    minSize: 71,
    weights,
  });
  const layers = new KerasLayers(options.names ?? new KerasNames());
  const channelAxis = -1;

  const imgInput = layers.input(inputShape);

  let x: SymbolicTensor = layers.conv2d({
    filters: 32,
    kernelSize: [3, 3],
    strides: [2, 2],
    useBias: false,
    name: "block1_conv1",
  })(imgInput);
  x = layers.batchNormalization({ axis: channelAxis, name: "block1_conv1_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block1_conv1_act" })(x);
  x = layers.conv2d({ filters: 64, kernelSize: [3, 3], useBias: false, name: "block1_conv2" })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block1_conv2_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block1_conv2_act" })(x);

  let residual = layers.conv2d({ filters: 128, kernelSize: [1, 1], strides: [2, 2], padding: "same", useBias: false })(
    x,
  );
  residual = layers.batchNormalization({ axis: channelAxis })(residual);

  x = layers.separableConv2d({
    filters: 128,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block2_sepconv1",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block2_sepconv1_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block2_sepconv2_act" })(x);
  x = layers.separableConv2d({
    filters: 128,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block2_sepconv2",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block2_sepconv2_bn" })(x);

  x = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2], padding: "same", name: "block2_pool" })(x);
  x = layers.add([x, residual]);

  residual = layers.conv2d({ filters: 256, kernelSize: [1, 1], strides: [2, 2], padding: "same", useBias: false })(x);
  residual = layers.batchNormalization({ axis: channelAxis })(residual);

  x = layers.activation({ activation: "relu", name: "block3_sepconv1_act" })(x);
  x = layers.separableConv2d({
    filters: 256,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block3_sepconv1",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block3_sepconv1_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block3_sepconv2_act" })(x);
  x = layers.separableConv2d({
    filters: 256,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block3_sepconv2",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block3_sepconv2_bn" })(x);

  x = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2], padding: "same", name: "block3_pool" })(x);
  x = layers.add([x, residual]);

  residual = layers.conv2d({ filters: 728, kernelSize: [1, 1], strides: [2, 2], padding: "same", useBias: false })(x);
  residual = layers.batchNormalization({ axis: channelAxis })(residual);

  x = layers.activation({ activation: "relu", name: "block4_sepconv1_act" })(x);
  x = layers.separableConv2d({
    filters: 728,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block4_sepconv1",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block4_sepconv1_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block4_sepconv2_act" })(x);
  x = layers.separableConv2d({
    filters: 728,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block4_sepconv2",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block4_sepconv2_bn" })(x);

  x = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2], padding: "same", name: "block4_pool" })(x);
  x = layers.add([x, residual]);

  for (let i = 0; i < 8; i++) {
    residual = x;
    const prefix = `block${i + 5}`;

    x = layers.activation({ activation: "relu", name: `${prefix}_sepconv1_act` })(x);
    x = layers.separableConv2d({
      filters: 728,
      kernelSize: [3, 3],
      padding: "same",
      useBias: false,
      name: `${prefix}_sepconv1`,
    })(x);
    x = layers.batchNormalization({ axis: channelAxis, name: `${prefix}_sepconv1_bn` })(x);
    x = layers.activation({ activation: "relu", name: `${prefix}_sepconv2_act` })(x);
    x = layers.separableConv2d({
      filters: 728,
      kernelSize: [3, 3],
      padding: "same",
      useBias: false,
      name: `${prefix}_sepconv2`,
    })(x);
    x = layers.batchNormalization({ axis: channelAxis, name: `${prefix}_sepconv2_bn` })(x);
    x = layers.activation({ activation: "relu", name: `${prefix}_sepconv3_act` })(x);
    x = layers.separableConv2d({
      filters: 728,
      kernelSize: [3, 3],
      padding: "same",
      useBias: false,
      name: `${prefix}_sepconv3`,
    })(x);
    x = layers.batchNormalization({ axis: channelAxis, name: `${prefix}_sepconv3_bn` })(x);

    x = layers.add([x, residual]);
  }

  residual = layers.conv2d({ filters: 1024, kernelSize: [1, 1], strides: [2, 2], padding: "same", useBias: false })(x);
  residual = layers.batchNormalization({ axis: channelAxis })(residual);

  x = layers.activation({ activation: "relu", name: "block13_sepconv1_act" })(x);
  x = layers.separableConv2d({
    filters: 728,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block13_sepconv1",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block13_sepconv1_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block13_sepconv2_act" })(x);
  x = layers.separableConv2d({
    filters: 1024,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block13_sepconv2",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block13_sepconv2_bn" })(x);

  x = layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2], padding: "same", name: "block13_pool" })(x);
  x = layers.add([x, residual]);

  x = layers.separableConv2d({
    filters: 1536,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block14_sepconv1",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block14_sepconv1_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block14_sepconv1_act" })(x);

  x = layers.separableConv2d({
    filters: 2048,
    kernelSize: [3, 3],
    padding: "same",
    useBias: false,
    name: "block14_sepconv2",
  })(x);
  x = layers.batchNormalization({ axis: channelAxis, name: "block14_sepconv2_bn" })(x);
  x = layers.activation({ activation: "relu", name: "block14_sepconv2_act" })(x);

  return layers.model(imgInput, x, options.name ?? "xception");
}
