/**
 * Keras's ImageNet weights for the applications: `imagenetWeights(name)` is the path of Keras's
 * "notop" weight file for InceptionV3 or Xception, from Keras's cache (`<cache>/models/`, Keras's
 * file names) or downloaded from Keras's URL with its md5 checked, as
 * `keras.applications.InceptionV3(weights="imagenet")` does.
 */
import * as path from "node:path";
import { kerasCacheDir, kerasHome } from "../cache";
import type { DownloadProgress } from "../../util/progress";
import { DownloadError, cachedFile, terminalProgress } from "../download";

export type KerasApplicationName = "inception_v3" | "xception";

interface WeightsSpec {
  fileName: string;
  md5: string;
  /** Keras's download folder for the file (the URL minus the file name). */
  baseUrl: string;
}

/** Keras's "notop" ImageNet weights (keras/src/applications/*.py: WEIGHTS_PATH_NO_TOP and file_hash). */
export const IMAGENET_WEIGHTS: Readonly<Record<KerasApplicationName, Readonly<WeightsSpec>>> = {
  inception_v3: {
    fileName: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: "bcbd6486424b2319ff4ef7d526e38f63",
    baseUrl: "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/",
  },
  xception: {
    fileName: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: "b0042744bf5b25fce3cb969f33bebb97",
    baseUrl: "https://storage.googleapis.com/tensorflow/keras-applications/xception/",
  },
};

/** Environment variable that replaces Keras's download folder (e.g. a local mirror): the file name is appended. */
const WEIGHTS_BASE_URL_ENV = "KT_WEIGHTS_BASE_URL";

export interface ImagenetWeightsOptions {
  /** Folder holding `models/` (default: `kerasCacheDir()`, the same as Python Keras). */
  cacheDir?: string;
  /** Download folder instead of Keras's (the file name is appended); also `$KT_WEIGHTS_BASE_URL`. */
  baseUrl?: string;
  /** Download progress (default: a line per 10 %; notebook/progress.ts's `downloadProgress` shows a bar); `false`: silent. */
  onProgress?: DownloadProgress | false;
  /** Messages ("Downloading data from …"); default console.log. */
  log?: (message: string) => void;
}

/**
 * The path of Keras's ImageNet "notop" weights for `name`: the copy in Keras's
 * cache (`<cache>/models/<Keras's file name>`) when its md5 is right, else a
 * fresh download from Keras's URL (md5 checked, written atomically). A cached
 * copy with a wrong md5 is downloaded again. Offline with no cached copy, the
 * error says which file to put where, and its URL.
 */
export async function imagenetWeights(
  name: KerasApplicationName,
  options: ImagenetWeightsOptions = {},
): Promise<string> {
  const spec = IMAGENET_WEIGHTS[name];
  if (!spec)
    throw new Error(
      `Unknown Keras application "${String(name)}"; expected one of ${Object.keys(IMAGENET_WEIGHTS).join(", ")}.`,
    );
  let base = options.baseUrl ?? process.env[WEIGHTS_BASE_URL_ENV] ?? spec.baseUrl;
  if (!base.endsWith("/")) base += "/";
  const url = base + spec.fileName;
  const dirs: string[] = [];
  if (options.cacheDir !== undefined) {
    dirs.push(path.join(options.cacheDir, "models"));
  } else {
    // Where Keras downloads to, then where it would have read from if that differs (e.g. a read-only ~/.keras).
    dirs.push(path.join(kerasCacheDir(), "models"));
    const home = path.join(kerasHome(), "models");
    if (!dirs.includes(home)) dirs.push(home);
  }
  try {
    return await cachedFile({
      fileName: spec.fileName,
      url,
      hash: spec.md5,
      hashAlgorithm: "md5",
      cacheDirs: dirs,
      onProgress: options.onProgress ?? terminalProgress(spec.fileName),
      log: options.log,
    });
  } catch (e) {
    if (e instanceof DownloadError && (e.kind === "network" || e.kind === "http" || e.kind === "io")) {
      const msg =
        `No valid copy of the ImageNet weights of ${name} is in Keras's cache, and they could not be downloaded.\n` +
        `  ${e.message}\n` +
        `Put the file ${spec.fileName} (${url}, md5 ${spec.md5}) in ${dirs[0]}` +
        ` — the folder Python Keras uses too ($KERAS_HOME/models or ~/.keras/models).`;
      throw new DownloadError(e.kind, e.url, e.dest, msg, e.status);
    }
    throw e;
  }
}
