/**
 * The frozen-prefix cache of one fit: where the frozen layers' output is kept while the layers
 * after them train (./frozen_prefix.ts), and filling it.
 *
 *   cachePlace(bytes, budget, free)         "memory" when the features fit in the budget and in
 *                                           `MEMORY_SHARE` of the memory free now, else "disk"
 *   openFeatureStore(split, n, options)     an empty store there (./feature_store.ts): in memory,
 *                                           or a scratch file in the cache folder; or, when the
 *                                           disk cannot take them, why not (cachePrefix "auto":
 *                                           the fit trains the whole model) or an error (true)
 *   fillFeatureStore(store, split, x, …)    computes every example's features into it; on an
 *                                           interrupt or an error the store is closed (its file
 *                                           gone) before returning or throwing
 *   featureCacheDir()                       `.cache/features/` in the project, or KT_FEATURE_CACHE
 *
 * Why a file for large sets rather than memory: the tutorial's 60,000 digits make 4.1 GiB of
 * features (InceptionV3 at 64: 73,728 bytes each). Read back through the page cache, a batch costs
 * about what it costs from memory (docs/benchmarks.md, "The frozen-prefix cache at scale"), and the
 * pages are the system's to give back when memory runs short, where memory held by this process
 * would stay taken (and count in its peak memory) until the fit ends.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { MessageError } from "../util/errors";
import { PathError } from "../util/files";
import { formatBytes } from "../util/format";
import type { FileIo } from "../util/scratch_file";
import { FeatureStore, FLOAT32, storeBytes, type ElementType } from "./feature_store";
import { featureBatches, type FeatureOptions, type PrefixSplit } from "./frozen_prefix";

/** The frozen-prefix cache cannot be had: what was wrong and what to do. */
export class PrefixCacheError extends MessageError {
  constructor(message: string) {
    super("PrefixCacheError", message);
  }
}

/** The cache options of a fit, checked (./fit_plan.ts). */
export interface CachePlan {
  /** true: cache always (an error when it cannot); "auto": when it can; false: never. */
  mode: boolean | "auto";
  /** Most memory the features may take; more goes to disk. */
  budgetBytes: number;
  /** The folder of the scratch file. */
  dir: string;
}

/** Share of the memory free at the start of a fit that the features may take in memory. */
export const MEMORY_SHARE = 0.5;

/** Space a scratch file must leave free on its disk. */
const DISK_HEADROOM = 2 ** 30;

/** The folder of the features' scratch files: KT_FEATURE_CACHE, else `.cache/features/` in the project. */
export function featureCacheDir(): string {
  return process.env.KT_FEATURE_CACHE || path.resolve(__dirname, "..", "..", ".cache", "features");
}

/** Where features of `bytes` go: memory when they fit in the budget and in MEMORY_SHARE of `freeMemory`. */
export function cachePlace(bytes: number, budgetBytes: number, freeMemory: number): "memory" | "disk" {
  return bytes <= budgetBytes && bytes <= MEMORY_SHARE * freeMemory ? "memory" : "disk";
}

/** Bytes free for this process on the disk of `dir` (an existing folder), or undefined when unknown. */
function freeDiskBytes(dir: string): number | undefined {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

export interface StoreOptions {
  cache: CachePlan;
  /** Memory free now (default `os.freemem()`: what the system can give without swapping). */
  freeMemory: number;
  type?: ElementType;
  io?: FileIo;
}

/**
 * An empty store for the features of `n` examples, where `cachePlace` says; when the disk cannot
 * take them, why not (`cache.mode` "auto") or an error that says what to do (`cache.mode` true).
 */
export function openFeatureStore(
  split: PrefixSplit,
  n: number,
  options: StoreOptions,
): { store: FeatureStore } | { reason: string } {
  const type = options.type ?? FLOAT32;
  const bytes = storeBytes(split.featureShapes, n, type);
  if (cachePlace(bytes, options.cache.budgetBytes, options.freeMemory) === "memory") {
    try {
      return { store: FeatureStore.inMemory(split.featureShapes, n, type) };
    } catch (e) {
      // The memory could not be had after all: the disk.
      if (!(e instanceof RangeError)) throw e;
    }
  }
  const dir = options.cache.dir;
  let store: FeatureStore;
  try {
    store = FeatureStore.onDisk(dir, split.featureShapes, n, { type, io: options.io });
  } catch (e) {
    if (!(e instanceof PathError)) throw e;
    return cannot(options.cache, bytes, `${dir} cannot be written: ${e.reason}`);
  }
  const free = freeDiskBytes(dir);
  if (free !== undefined && free < bytes + DISK_HEADROOM) {
    store.close();
    return cannot(
      options.cache,
      bytes,
      `the disk of ${dir} has ${formatBytes(free)} free, and they would leave less than ${formatBytes(DISK_HEADROOM)}`,
    );
  }
  return { store };
}

/** Why the features cannot be cached (cachePrefix "auto"), or the error that says so (cachePrefix true). */
function cannot(cache: CachePlan, bytes: number, why: string): { reason: string } {
  if (cache.mode === true) {
    throw new PrefixCacheError(
      `fit: cachePrefix is true, but the frozen layers' output (${formatBytes(bytes)}) is more than the memory it may ` +
        `take and cannot go to disk: ${why}. Free space there, pass cacheDir (or set KT_FEATURE_CACHE) to a folder ` +
        `on a disk with room, or pass cachePrefix: "auto" (the default) or false to train the whole model at every step.`,
    );
  }
  return { reason: why };
}

/**
 * Computes the features of every example of x into `store`. True when complete; false when
 * `shouldStop` stopped it. On false or an error the store is closed first (on disk: its file is gone);
 * a write that fails (a full disk) is an error that says what to do.
 */
export async function fillFeatureStore(
  store: FeatureStore,
  split: PrefixSplit,
  x: TF.Tensor,
  options: FeatureOptions,
): Promise<boolean> {
  let complete = false;
  try {
    complete = await featureBatches(split, x, options, (start, features) => store.write(start, features));
    return complete;
  } catch (e) {
    if (e instanceof PathError) {
      throw new PrefixCacheError(
        `fit: the frozen layers' output (${formatBytes(store.bytes)} for ${x.shape[0]} digits) could not be written ` +
          `to disk: ${e.reason}. Nothing was left there. Free space on that disk, pass cacheDir (or set ` +
          `KT_FEATURE_CACHE) to a folder on a disk with room, or pass cachePrefix: false to train the whole ` +
          `model at every step.`,
      );
    }
    throw e;
  } finally {
    if (!complete) store.close();
  }
}
