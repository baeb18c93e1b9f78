/**
 * Mixed precision against float32 on this machine, our side: the tutorial's fit (graph engine,
 * frozen-prefix cache, batch 64, validation split 0.2) and prediction, with random weights, in each
 * precision. Each precision first fits once on a few digits (compiling its graphs), then times a fit
 * of `--epochs` epochs on `--digits` digits (wall time, the frozen layers' features included) and a
 * prediction of the test digits. Keras's side: `bench/keras_bench.py --precision mixed_bfloat16`.
 *
 *   node --import tsx bench/precision.ts [--model inception_v3|xception] [--digits 3200] [--epochs 1]
 *
 * Prints one JSON object per precision. Run it alone on the machine (`flock /work/bench.lock …` where
 * the machine is shared).
 */
import { loadMnist, take } from "../src/data";
import { describeBackend } from "../src/engine/select";
import { PRECISIONS } from "../src/keras/dtype_policy";
import type { BaseName } from "../src/model";
import { buildTransferModel } from "../src/model_build";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const base = flag("model", "inception_v3") as BaseName;
  const digits = Number(flag("digits", "3200"));
  const epochs = Number(flag("epochs", "1"));
  console.error(describeBackend());
  const mnist = await loadMnist({ trainLimit: digits, testLimit: 1000 });
  for (const precision of PRECISIONS) {
    const tm = await buildTransferModel({ base, weights: null, key: "bench-precision", precision });
    try {
      await tm.fit(take(mnist.train, 256), { epochs: 1, progress: false });
      let t = Date.now();
      await tm.fit(mnist.train, { epochs, progress: false });
      const fitSeconds = (Date.now() - t) / 1000;
      await tm.predict(take(mnist.test, 128), { progress: false });
      t = Date.now();
      await tm.predict(mnist.test, { progress: false });
      const predictSeconds = (Date.now() - t) / 1000;
      console.log(
        JSON.stringify({
          model: base,
          precision,
          digits,
          epochs,
          fitSecondsPerEpoch: fitSeconds / epochs,
          predictImagesPerSecond: mnist.test.count / predictSeconds,
        }),
      );
    } finally {
      tm.dispose();
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
