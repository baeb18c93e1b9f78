/**
 * The drawing pad's strokes, kept as data and drawn from it, so that undo is "forget the last
 * stroke and draw again" and the same strokes can be drawn at any canvas size:
 *
 * - `Stroke`            the points of one pen, finger or mouse stroke, in pad units (0–1 across
 *                       the pad, whatever its size in pixels), and what drew it
 * - `STROKE_WIDTH`      the pen's width in pad units: about what MNIST's strokes are to their field
 *                       once a digit fills most of the pad
 * - `drawStrokes`       ink (near black) on paper (white): every stroke as one path with round caps
 *                       and joins, a single point as a dot
 * - `Pad`               the strokes with `begin` / `extend` / `end`, `undo` and `clear`; its
 *                       `version` counts changes, so that a prediction can say what it is of
 *
 * No TensorFlow here.
 */

/** A point in pad units: (0, 0) the top left corner, (1, 1) the bottom right one. */
export interface Point {
  x: number;
  y: number;
}

export interface Stroke {
  points: Point[];
  /** The pointer that drew it: "pen", "touch" or "mouse" (Pointer Events' `pointerType`). */
  pointerType: string;
}

/** The pen's width, in pad units. */
export const STROKE_WIDTH = 0.06;
const INK = "#111111";
export const PAPER = "#ffffff";

/** The part of a 2-D canvas context the drawing uses (so tests can stand in for it). */
export type DrawingContext = Pick<
  CanvasRenderingContext2D,
  | "fillStyle"
  | "strokeStyle"
  | "lineWidth"
  | "lineCap"
  | "lineJoin"
  | "fillRect"
  | "beginPath"
  | "moveTo"
  | "lineTo"
  | "arc"
  | "stroke"
  | "fill"
>;

/** Paints the paper and then every stroke, on a canvas of `width`×`height` pixels. */
export function drawStrokes(ctx: DrawingContext, strokes: readonly Stroke[], width: number, height: number): void {
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, width, height);
  const w = STROKE_WIDTH * Math.min(width, height);
  ctx.strokeStyle = INK;
  ctx.fillStyle = INK;
  ctx.lineWidth = w;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    if (s.points.length === 0) continue;
    ctx.beginPath();
    const [first, ...rest] = s.points;
    if (rest.length === 0) {
      ctx.arc(first.x * width, first.y * height, w / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.moveTo(first.x * width, first.y * height);
    for (const p of rest) ctx.lineTo(p.x * width, p.y * height);
    ctx.stroke();
  }
}

/** The strokes on the pad, and the one being drawn. */
export class Pad {
  private readonly list: Stroke[] = [];
  private current: Stroke | undefined;
  /** Counts every change (a point added, a stroke undone, the pad cleared). */
  version = 0;

  get strokes(): readonly Stroke[] {
    return this.list;
  }

  /** Whether a stroke is being drawn. */
  get drawing(): boolean {
    return this.current !== undefined;
  }

  begin(p: Point, pointerType: string): void {
    this.current = { points: [clampPoint(p)], pointerType };
    this.list.push(this.current);
    this.version++;
  }

  extend(points: readonly Point[]): void {
    if (!this.current || points.length === 0) return;
    for (const p of points) this.current.points.push(clampPoint(p));
    this.version++;
  }

  end(): void {
    this.current = undefined;
  }

  /** Forgets the last stroke; false when there was none. */
  undo(): boolean {
    this.current = undefined;
    if (this.list.length === 0) return false;
    this.list.pop();
    this.version++;
    return true;
  }

  clear(): void {
    this.current = undefined;
    if (this.list.length === 0) return;
    this.list.length = 0;
    this.version++;
  }
}

function clampPoint(p: Point): Point {
  return { x: Math.min(1, Math.max(0, p.x)), y: Math.min(1, Math.max(0, p.y)) };
}
