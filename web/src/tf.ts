/**
 * TensorFlow.js in the page: what src/tfjs/backend.ts (the one loader of the library, which picks
 * native TensorFlow through tfjs-node) is in Node. web/build.ts tells the bundler to resolve every
 * import of src/tfjs/backend to this module, so the project's own layer classes
 * (src/keras/layers.ts: `KerasBatchNormalization`, `UpSampling3D`), bundled as they are, extend and
 * register with the page's TF.js; `tf.loadLayersModel` then finds them by name.
 *
 * `@tensorflow/tfjs` brings the WebGL and CPU backends; the WASM backend is registered here too
 * (./backends.ts picks one of them).
 */
import * as tfjs from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";

/** The page's TF.js (the same name and type as src/tfjs/backend.ts exports). */
export const tf: typeof tfjs = tfjs;
