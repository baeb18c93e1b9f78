// The layers of src/, bottom up, and what each may import (README, "Development"):
//
//   util/       shared helpers                      imports nothing of the project
//   tfjs/       the TF.js loader, native kernels,   util/
//               TF.js's internals
//   keras/      the Keras port                      util/, tfjs/
//   engine/     how models run and train            util/, tfjs/, keras/
//   notebook/   what a notebook shows               util/, tfjs/, keras/, engine/
//   images/, model*.ts, data.ts, interpret.ts, index.ts: the top, which may import any layer
//
// `npm run lint:deps` checks it; a wrong import fails CI with the rule's name and comment.
/** @type {import("dependency-cruiser").IConfiguration} */
const layer = (name, below, comment) => ({
  name,
  comment,
  severity: "error",
  from: { path: `^src/${name.replace(/-.*/, "")}/` },
  to: { path: "^src/", pathNot: [`^src/(${name.replace(/-.*/, "")}|${below.join("|")})/`] },
});

module.exports = {
  forbidden: [
    layer("util-imports-nothing", [], "util/ is the bottom layer: it imports nothing of the project."),
    layer("tfjs-imports-util-only", ["util"], "tfjs/ (the TF.js loader and native kernels) imports only util/."),
    layer(
      "keras-below-engine",
      ["util", "tfjs"],
      "keras/ (the Keras port) imports only util/ and tfjs/: never engine/, notebook/, images/ or the top-level modules.",
    ),
    layer(
      "engine-below-notebook",
      ["util", "tfjs", "keras"],
      "engine/ imports only util/, tfjs/ and keras/: never notebook/, images/ or the top-level modules (progress reaches it as a sink, util/progress.ts).",
    ),
    layer(
      "notebook-below-top",
      ["util", "tfjs", "keras", "engine"],
      "notebook/ imports only the layers below it: never images/ or the top-level modules.",
    ),
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycles: a module and what it imports must not import each other, directly or through others.",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    includeOnly: "^src/",
  },
};
