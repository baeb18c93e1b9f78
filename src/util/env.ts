/**
 * Switches read from the environment.
 *
 *   switchedOff(name)   whether the variable `name` turns something off ("0", "false", "off", "no")
 */

/** Whether the environment variable `name` says "off": 0, false, off or no, in any case and spacing. */
export function switchedOff(name: string): boolean {
  return ["0", "false", "off", "no"].includes((process.env[name] ?? "").trim().toLowerCase());
}
