/**
 * Errors meant for people. A `MessageError` prints as its message alone: its `stack` is
 * "Name: message", so a notebook shows what went wrong and what to do, not a trace of the library's
 * internals; the details it carries for code (a file, a URL, a kind) are not enumerable, so that
 * printing the error does not list them either.
 *
 *   class DownloadError extends MessageError {
 *     constructor(kind, url, message) { super("DownloadError", message, { kind, url }); }
 *   }
 */

/** An error that prints as its message alone, with details for code that are not printed. */
export class MessageError extends Error {
  /**
   * `name` is given explicitly (a class's own name can change when the code is bundled);
   * `details` become read-only, non-enumerable properties of the error.
   */
  constructor(name: string, message: string, details: Readonly<Record<string, unknown>> = {}) {
    super(message);
    this.name = name;
    for (const [key, value] of Object.entries(details)) Object.defineProperty(this, key, { value, enumerable: false });
    this.stack = `${name}: ${message}`;
  }
}
