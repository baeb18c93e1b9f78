/**
 * The files a `fit` will write, checked before anything is trained or allocated, by trying
 * (util/files.ts's `checkWritable`: the missing folders made, a probe file written and removed, the
 * folders the check made removed again), so that a path that cannot work fails at once with the
 * weights unchanged, not after an epoch:
 *
 *   checkOutputFile(file, what)       one file, e.g. a checkpoint (its `{epoch}` template filled in
 *                                     for the first epoch: the template's folder)
 *   checkTensorBoardFolders(callbacks) the event-file folders of each `tf.node.tensorBoard(logdir)`
 *                                     callback (`<logdir>/train`, `<logdir>/val`, as TF.js's
 *                                     TensorBoardCallback writes them)
 *
 * Errors say which option the path came from, why it cannot be written, and that nothing was trained.
 */
import * as path from "node:path";
import { checkWritable, PathError } from "../util/files";

/** Throws unless `file` can be written; `what` names the option it came from (e.g. "checkpoint"). */
export function checkOutputFile(file: string, what: string): void {
  try {
    checkWritable(file);
  } catch (e) {
    if (!(e instanceof PathError)) throw e;
    const message = `${what}: cannot write ${file}: ${e.reason}. Choose another path; nothing was trained.`;
    throw new PathError(file, e.reason, message);
  }
}

/** TF.js's TensorBoardCallback (tfjs-node's callbacks.ts), as far as its folder goes. */
interface TensorBoardLike {
  logdir: string;
  ensureTrainWriterCreated(): void;
}

function isTensorBoard(c: unknown): c is TensorBoardLike {
  const t = c as Partial<TensorBoardLike> | null;
  return (
    typeof t === "object" &&
    t !== null &&
    typeof t.logdir === "string" &&
    typeof t.ensureTrainWriterCreated === "function"
  );
}

/** Throws unless every TensorBoard callback among `callbacks` can write its event files. */
export function checkTensorBoardFolders(callbacks: readonly unknown[]): void {
  for (const c of callbacks.filter(isTensorBoard)) {
    for (const part of ["train", "val"]) {
      // The summary writer's file name is TensorFlow's; any name in the folder tells the same.
      const file = path.join(c.logdir, part, "events.out.tfevents");
      try {
        checkWritable(file);
      } catch (e) {
        if (!(e instanceof PathError)) throw e;
        throw new PathError(
          file,
          e.reason,
          `tf.node.tensorBoard(${JSON.stringify(c.logdir)}): cannot write its event files in ${path.dirname(file)}: ` +
            `${e.reason}. Choose another log folder; nothing was trained.`,
        );
      }
    }
  }
}
