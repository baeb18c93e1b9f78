/** Test helpers for the graph compiler: build a graph, run it once in a TensorFlow session, release it. */
import type { Tensor } from "@tensorflow/tfjs";
import { Graph, type SymTensor } from "../../src/engine/graph/graph";
import { writeSavedModel } from "../../src/engine/graph/cache";
import { GraphSession, serializeSavedModel } from "../../src/engine/graph/savedmodel";
import { tmpDir } from "./helpers";

/** Builds a graph with `build`, runs it on `feeds` (in the order of the returned inputs) and returns the outputs. */
export async function runGraphOnce(
  build: (g: Graph) => { inputs: SymTensor[]; outputs: SymTensor[] },
  feeds: Tensor[],
): Promise<Tensor[]> {
  const g = new Graph();
  const { inputs, outputs } = build(g);
  const signature = {
    inputs: inputs.map((t, i) => ({ name: `in${i}`, tensor: t })),
    outputs: outputs.map((t, i) => ({ name: `out${i}`, tensor: t })),
  };
  const dir = `${tmpDir("graph")}/model`;
  writeSavedModel(dir, serializeSavedModel(g, { run: signature }));
  const session = await GraphSession.load(dir, { run: signature });
  try {
    return session.run("run", feeds);
  } finally {
    session.dispose();
  }
}
