/** Colours, font and spacing of the figures: the card is white, with dark text, whatever the notebook theme. */

export const SVG_NS = "http://www.w3.org/2000/svg";
export const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
export const INK = "#1f2328";
export const MUTED = "#57606a";
export const BORDER = "#d0d7de";
export const CARD = "#ffffff";
export const RED = "#cf222e";
/** The best of several (run, class) and the others, with darker edges. */
export const BEST = "#0969da";
export const BEST_EDGE = "#0550ae";
export const OTHERS = "#8cb4e8";
export const OTHERS_EDGE = "#5a8fd6";
/** matplotlib's first two colours, as in the tutorial's figures. */
export const TRAIN = "#1f77b4";
export const VALIDATION = "#ff7f0e";
export const PAD = 16;
/** matplotlib's third to fifth colours, for the learning-rate finder's suggestions (fastai's order after the curve's). */
export const GREEN = "#2ca02c";
export const MPL_RED = "#d62728";
export const PURPLE = "#9467bd";

/** The frame of a line chart card (history, learning-rate finder): its size and margins, room for the y label. */
export function lineChartFrame(width: number, height: number) {
  return { width, height, marginLeft: 72, marginRight: 20, marginTop: 12, marginBottom: 44 };
}

/** A line chart's y axis: the label centred beside it, no arrow, a grid, a small inset. */
export const LINE_CHART_Y = {
  labelAnchor: "center",
  labelArrow: "none",
  labelOffset: 60,
  grid: true,
  inset: 6,
} as const;
