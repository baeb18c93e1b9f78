/**
 * Formatting numbers and text for people: the one place for it, used by the figures, the tables,
 * the progress displays, the reports and the error messages.
 *
 * - `thousands`      12345 → "12,345"
 * - `fixed`, `percent`, `compactCount`   figure labels: "0.9612", "96.1%", "1.2M"
 * - `formatDuration` 125 → "2 min 5 s" (figures, tables)
 * - `formatClock`    75 → "1:15" (live progress)
 * - `formatSeconds`  544.66 → "544.7 s"; `secondsSince(Date.now() value)` the same for the time since
 *                    (closing lines: "Trained … in 544.7 s", an epoch's line)
 * - `formatBytes`    1536 → "1.5 KB", 4.4e9 → "4.1 GB" (binary units: downloads, the frozen layers' output)
 * - `formatShape`    [null, 84, 84, 3] → "(None, 84, 84, 3)", as Python prints a tuple
 * - `escapeHtml`     text into HTML
 */

/** An integer with comma thousands separators (rounded first): 21802784 → "21,802,784". */
export function thousands(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `x.toFixed(digits)`, or "NaN" / "Infinity" as they are. */
export function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** A fraction as a percentage: 0.9612 → "96.1%"; "—" when not finite. */
export function percent(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : "—";
}

/** A count in few characters: 1234 → "1.2k", 21802784 → "21.8M". */
export function compactCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 1 : 2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

/** 42 → "42 s", 125 → "2 min 5 s", 3725 → "1 h 2 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 10) return formatSeconds(seconds);
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Seconds to a tenth: 544.66 → "544.7 s". */
export function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(1)} s`;
}

/** The seconds since `started` (a `Date.now()` value), to a tenth, for closing lines: "14.7 s". */
export function secondsSince(started: number): string {
  return formatSeconds((Date.now() - started) / 1000);
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** 512 → "512 B", 1536 → "1.5 KB", 92 MB as "92.0 MB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

/** A shape as Python prints a tuple: `(None, 84, 84, 3)`, `(3,)`; `null` and `undefined` are "None". */
export function formatShape(shape: ReadonlyArray<number | null | undefined>): string {
  const parts = shape.map((d) => (d === null || d === undefined ? "None" : String(d)));
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(", ")})`;
}

/** Text safe to put in HTML (element content or a quoted attribute). */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}
