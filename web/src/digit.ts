/**
 * From the pad's pixels to what the model takes, with the library's own code: the canvas's RGBA
 * pixels → grey (src/images/mnist_style.ts `luminance`) → an MNIST-style 28×28 digit (`mnistStyle`:
 * inverted to white on black, cropped to the ink, scaled so that its strokes fit 20×20, centred by
 * its centre of mass), exactly what `readDigit` does to a photo in the notebooks; then the classes
 * ranked by probability.
 *
 * No TensorFlow here.
 */
import { BlankImageError, luminance, mnistStyle, type MnistStyleDigit } from "../../src/images/mnist_style";

/** The digit drawn on a canvas of `width`×`height` RGBA pixels, MNIST-style; undefined when the pad is blank. */
export function canvasDigit(rgba: ArrayLike<number>, width: number, height: number): MnistStyleDigit | undefined {
  try {
    return mnistStyle(luminance(rgba, width, height, 4), { name: "The drawing" });
  } catch (e) {
    if (e instanceof BlankImageError) return undefined;
    throw e;
  }
}

export interface RankedClass {
  label: string;
  probability: number;
}

/** The `k` most probable classes, most probable first (ties: the lower class first). */
export function topClasses(probabilities: ArrayLike<number>, labels: readonly string[], k = 3): RankedClass[] {
  return Array.from(probabilities, (probability, i) => ({ label: labels[i] ?? String(i), probability, i }))
    .sort((a, b) => b.probability - a.probability || a.i - b.i)
    .slice(0, k)
    .map(({ label, probability }) => ({ label, probability }));
}
