/**
 * Reports on a model for the notebook: the numbered layer list and a Keras-style
 * parameter summary (HTML in a notebook, aligned text elsewhere).
 */
import type { LayerRow, ParamCounts } from "../keras/applications/table";
import { escapeHtml, thousands } from "../util/format";
import { tableHtml, tableText } from "./display";
import { inKernel, tslab } from "./tslab";

/** A row of a layer list: a row of `layerTable` (../keras/applications/table.ts); the numeric shape is not needed. */
type LayerListRow = Omit<LayerRow, "shape">;

/**
 * The numbered list of a model's layers (the tutorial's `for i, layer in enumerate(base_model.layers)`),
 * with class, output shape, parameters and whether the layer trains. In the notebook the table scrolls
 * inside a box of fixed height.
 */
export function showLayers(rows: readonly LayerListRow[]): void {
  const table = rows.map((r) => ({
    "#": r.index,
    layer: r.name,
    class: r.className,
    "output shape": r.outputShape,
    params: r.params,
    trainable: r.trainable ? "yes" : "no",
  }));
  if (inKernel()) {
    // The header row stays visible while the list scrolls.
    const sticky = tableHtml(table).replace(
      /<th style="/g,
      '<th style="position:sticky;top:0;background:var(--jp-layout-color1,#fff);',
    );
    tslab().display.html(`<div style="max-height:360px;overflow:auto;display:inline-block">${sticky}</div>`);
  } else {
    console.log(tableText(table));
  }
}

/** Parameter counts as Keras's `summary()` ends, and where the base is frozen. */
interface SummaryReport {
  counts: ParamCounts;
  rows?: readonly LayerListRow[];
}

/** Where the base is frozen (what `TransferModel.freeze` reports). */
export interface FreezeInfo {
  /** Number of base layers frozen. */
  depth: number;
  /** Name of the last frozen base layer (undefined for depth 0). */
  lastFrozen?: string;
  /** Name of the first trainable base layer (undefined when all are frozen). */
  firstTrainable?: string;
  /** How the base's batch normalisation runs in training ("training": the tutorial's; "inference": Keras's guide's). */
  batchNorm?: "training" | "inference";
}

/** Keras-style summary: the model's top-level layers, then total / trainable / non-trainable parameters and the freeze point. */
export function showSummary(summary: SummaryReport, freeze?: FreezeInfo): void {
  const lines = [
    `Total params: ${thousands(summary.counts.total)}`,
    `Trainable params: ${thousands(summary.counts.trainable)}`,
    `Non-trainable params: ${thousands(summary.counts.nonTrainable)}`,
  ];
  if (freeze) {
    lines.push(
      freeze.depth === 0
        ? "Frozen: nothing, every base layer trains"
        : `Frozen: the first ${freeze.depth} base layers, up to ${freeze.lastFrozen}` +
            (freeze.firstTrainable ? `; training from ${freeze.firstTrainable} on` : " (the whole base)"),
    );
    if (freeze.batchNorm === "inference") {
      lines.push(
        "Batch normalisation: inference mode in training (Keras's training=False): moving statistics kept, " +
          "gamma and beta train",
      );
    }
  }
  if (summary.rows) showLayers(summary.rows);
  if (inKernel()) {
    tslab().display.html(`<pre class="kt-summary" style="margin:4px 0">${lines.map(escapeHtml).join("\n")}</pre>`);
  } else {
    console.log(lines.join("\n"));
  }
}
