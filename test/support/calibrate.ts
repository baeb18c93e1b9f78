/** The batch-normalisation calibration the tests use in place of pre-trained weights: src/engine/calibrate.ts. */
export { calibrateBatchNorm } from "../../src/engine/calibrate";
