/** Capturing what code prints: console.log and console.error, while `fn` runs (sync or async). */

export interface Captured {
  out: string[];
  err: string[];
}

/** Sends console.log and console.error to `captured` (each call one line); returns what puts them back. */
function redirect(captured: Captured): () => void {
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void captured.out.push(a.join(" "));
  console.error = (...a: unknown[]) => void captured.err.push(a.join(" "));
  return () => {
    console.log = log;
    console.error = error;
  };
}

/** Runs `fn` with console.log and console.error captured (each call one line); restores them after. */
export async function captureConsole(fn: () => unknown): Promise<Captured> {
  const captured: Captured = { out: [], err: [] };
  const restore = redirect(captured);
  try {
    await fn();
  } finally {
    restore();
  }
  return captured;
}

/** `captureConsole` for synchronous code: the capture ends when `fn` returns. */
export function captureConsoleSync(fn: () => void): Captured {
  const captured: Captured = { out: [], err: [] };
  const restore = redirect(captured);
  try {
    fn();
  } finally {
    restore();
  }
  return captured;
}
