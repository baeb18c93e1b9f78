/**
 * Switches read from the environment.
 *
 *   switchedOff(value)   whether a variable's value turns something off ("0", "false", "off", "no")
 *
 * Callers read their variable themselves (`switchedOff(process.env.KT_FUSED_KERNELS)`): the web
 * page's bundle (web/build.ts) replaces such a literal access, and has no `process` to look up a name in.
 */

/** Whether an environment variable's value says "off": 0, false, off or no, in any case and spacing. */
export function switchedOff(value: string | undefined): boolean {
  return ["0", "false", "off", "no"].includes((value ?? "").trim().toLowerCase());
}
