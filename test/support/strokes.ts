/**
 * Handwritten digits as pen strokes, for replaying on the demo page's pad: each stroke a polyline in
 * pad units (0–1 across the pad), sampled densely along simple curves, drawn as a person would draw
 * the digit (a 3 as two bows, a 7 as a bar and a slanted stem); and the distance from a point to
 * the nearest stroke, to check where a canvas put its ink.
 */
import type { Point } from "../../web/src/drawing";

/** Points along `f(t)` for t from 0 to 1, `n` + 1 of them. */
function curve(n: number, f: (t: number) => Point): Point[] {
  return Array.from({ length: n + 1 }, (_, i) => f(i / n));
}

/** A line from `a` to `b`. */
function line(a: Point, b: Point, n = 24): Point[] {
  return curve(n, (t) => ({ x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t }));
}

/** An arc of the ellipse centred at (cx, cy) with radii (rx, ry), from angle a0 to a1 (radians, y down). */
function arc(cx: number, cy: number, rx: number, ry: number, a0: number, a1: number, n = 40): Point[] {
  return curve(n, (t) => {
    const a = a0 + (a1 - a0) * t;
    return { x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a) };
  });
}

/** Strokes of the digits the test draws. */
export const DIGIT_STROKES: Record<string, Point[][]> = {
  // Two bows, top then bottom, each from the left round to the middle.
  "3": [
    [
      ...arc(0.47, 0.33, 0.16, 0.13, -Math.PI * 0.85, Math.PI * 0.5),
      ...arc(0.47, 0.63, 0.18, 0.16, -Math.PI * 0.5, Math.PI * 0.8).slice(1),
    ],
  ],
  // A bar, then the stem from its right end down and to the left.
  "7": [line({ x: 0.3, y: 0.25 }, { x: 0.7, y: 0.25 }), line({ x: 0.7, y: 0.25 }, { x: 0.42, y: 0.8 })],
  // One more stroke, to undo: a stray line.
  stray: [line({ x: 0.15, y: 0.85 }, { x: 0.85, y: 0.9 })],
};

/** Distance from p to the segment ab. */
function segmentDistance(p: Point, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

/** Distance from p to the nearest point of any stroke (all in the same units). */
export function strokeDistance(p: Point, strokes: Point[][]): number {
  let best = Infinity;
  for (const s of strokes) {
    if (s.length === 1) best = Math.min(best, Math.hypot(p.x - s[0].x, p.y - s[0].y));
    for (let i = 1; i < s.length; i++) best = Math.min(best, segmentDistance(p, s[i - 1], s[i]));
  }
  return best;
}
