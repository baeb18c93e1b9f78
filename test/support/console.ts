/** Capturing what code prints: console.log and console.error, while `fn` runs (sync or async). */

export interface Captured {
  out: string[];
  err: string[];
}

/** Runs `fn` with console.log and console.error captured (each call one line); restores them after. */
export async function captureConsole(fn: () => unknown): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    await fn();
  } finally {
    console.log = log;
    console.error = error;
  }
  return { out, err };
}
