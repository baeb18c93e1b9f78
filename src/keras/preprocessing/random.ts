/**
 * Random numbers as Keras's augmentation layers draw them:
 *
 *   SeedGenerator        keras/src/random/seed_generator.py: a state [seed, n] that is the seed of the
 *                        next draw and counts up by [0, 1] after each; a layer made with a seed draws
 *                        the same numbers as Keras's layer made with it, draw for draw
 *   uniform(shape, ...)  `keras.random.uniform(shape, minval, maxval, seed)` on TensorFlow
 *                        (keras/src/backend/tensorflow/random.py → `tf.random.stateless_uniform`):
 *                        u * (maxval - minval) + minval in float32, u from StatelessRandomUniform
 *
 * On native TensorFlow, u is TensorFlow's own (../../tfjs/native_image.ts), the same numbers as
 * Keras's for the same seed; elsewhere TF.js's seeded generator, another stream of the same law.
 */
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";
import { statelessUniform } from "../../tfjs/native_image";

/** TensorFlow's backend casts int64 seeds to int32 as `floormod(seed, int32.max - 1)` (random.py, _cast_seed). */
const SEED_MODULUS = 2 ** 31 - 2;

/** A seed pair as TensorFlow's stateless ops take it (two int32s). */
function seedPair(seed: number, counter: number): [number, number] {
  const mod = (x: number) => ((x % SEED_MODULUS) + SEED_MODULUS) % SEED_MODULUS;
  return [mod(seed), mod(counter)];
}

/** Keras's `make_default_seed()`: a random integer in [1, 1e9]. */
function defaultSeed(): number {
  return 1 + Math.floor(Math.random() * 1e9);
}

/** Keras 3's SeedGenerator (see the module comment). */
export class SeedGenerator {
  /** The seed the generator started from (given, or drawn when none was). */
  readonly seed: number;
  private counter = 0;

  constructor(seed: number | null = null) {
    this.seed = seed ?? defaultSeed();
  }

  /** The seed of the next draw; the state moves on by [0, 1]. */
  next(): [number, number] {
    const s = seedPair(this.seed, this.counter);
    this.counter += 1;
    return s;
  }

  /** The state: the seed of the next draw. */
  get state(): [number, number] {
    return seedPair(this.seed, this.counter);
  }
}

/**
 * Uniform float32 values in [minval, maxval) of `shape`, from `seed`: u * (maxval - minval) + minval
 * with the bounds and their difference in float32, as `tf.random.stateless_uniform` computes it.
 */
export function uniform(shape: number[], minval: number, maxval: number, seed: [number, number]): Tensor {
  return tf.tidy(() => {
    const u = statelessUniform(shape, seed) ?? tf.randomUniform(shape, 0, 1, "float32", seed[0] * 1000003 + seed[1]);
    const lo = tf.scalar(minval, "float32");
    const range = tf.sub(tf.scalar(maxval, "float32"), lo);
    return tf.add(tf.mul(u, range), lo);
  });
}
