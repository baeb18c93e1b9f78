/**
 * The error of everything about `.keras` archives: a file that cannot be written or read, is not a
 * Keras archive, or holds another model than the one it is loaded as. Its message says what was
 * wrong and what to do; it prints as that message alone (../../util/errors.ts).
 */
import { MessageError } from "../../util/errors";

export class KerasArchiveError extends MessageError {
  /** The archive (or the path it was to be written to). */
  declare readonly file: string;
  constructor(file: string, message: string) {
    super("KerasArchiveError", message, { file });
  }
}
