/**
 * Helpers for the tests of `.keras` archives: Python Keras on the archives (through
 * scripts/keras_small_models.py: write Keras's own, load with `keras.saving.load_model`, describe as
 * zipfile and h5py see them), archives made broken on purpose, and snapshots of a model's state.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import type { KerasAdam } from "../../src/keras/optimizers/adam";
import { ZipReader, writeZip } from "../../src/keras/saving/zip_archive";
import { trainableVariables } from "../../src/keras/saving/keras_archive";
import type { TransferModel } from "../../src/model";
import { PYTHON, ROOT } from "./helpers";

const SCRIPT = path.join(ROOT, "scripts", "keras_small_models.py");

/** Runs a command of scripts/keras_small_models.py on a JSON spec (written to `dir`) and parses what it prints. */
export function kerasScript<T>(dir: string, command: string, spec: unknown): T {
  const specFile = path.join(dir, `${command}.spec.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  return runScript<T>([command, specFile]);
}

function runScript<T>(args: string[]): T {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3" },
    maxBuffer: 256 << 20,
  });
  assert.equal(r.status, 0, `keras_small_models.py ${args[0]} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** What Keras reports of a model it saved or loaded (scripts/keras_small_models.py, archive_report). */
export interface KerasReport {
  output: number[];
  optimizer: {
    iterations: number;
    learningRate: number;
    variables: number;
    moments: Array<[string, number, number]>;
  } | null;
  trainable: boolean[];
  trainableParams: number;
  warnings?: string[];
}

export interface ArchiveDescription {
  members: Array<{ name: string; size: number; compressed: number }>;
  config: Record<string, unknown>;
  metadata: Record<string, unknown>;
  h5: Array<{
    path: string;
    kind: "group" | "dataset";
    shape?: number[];
    dtype?: string;
    attrs: Record<string, unknown>;
  }>;
}

/** Archives as Python's zipfile and h5py read them. */
export function describeArchives(...files: string[]): ArchiveDescription[] {
  return runScript<{ archives: ArchiveDescription[] }>(["describe-archive", ...files]).archives;
}

/** A copy of a JSON value without Keras's `shared_object_id`s (identity hints of the writing process). */
export function withoutSharedIds(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutSharedIds);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== "shared_object_id")
        .map(([k, x]) => [k, withoutSharedIds(x)]),
    );
  }
  return v;
}

/**
 * A copy of archive `src` at `dest` with changes: `config` edits the parsed config.json, `drop` leaves
 * members out, `replace` swaps a member's bytes.
 */
export function rewriteArchive(
  src: string,
  dest: string,
  change: { config?: (c: Record<string, unknown>) => void; drop?: string[]; replace?: Record<string, Buffer> },
): void {
  const zip = ZipReader.open(src);
  try {
    const members = zip.members
      .filter((m) => !(change.drop ?? []).includes(m.name))
      .map((m) => {
        let data = change.replace?.[m.name] ?? zip.read(m.name);
        if (m.name === "config.json" && change.config) {
          const c = JSON.parse(data.toString("utf8")) as Record<string, unknown>;
          change.config(c);
          data = Buffer.from(JSON.stringify(c));
        }
        return { name: m.name, data };
      });
    writeZip(dest, members);
  } finally {
    zip.close();
  }
}

/** The layer configs of a functional config.json object, and of its nested base. */
export function configLayers(config: Record<string, unknown>): {
  outer: Array<Record<string, any>>;
  base: Array<Record<string, any>>;
} {
  const outer = (config.config as { layers: Array<Record<string, any>> }).layers;
  const nested = outer.find((l) => l.class_name === "Functional")!;
  return { outer, base: nested.config.layers };
}

export const sha256 = (file: string): string => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** Every weight of the model by variable name, copied. */
export function weightValues(model: TF.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, (w.read().dataSync() as Float32Array).slice()]));
}

/** Adam's state: the step count and, per trainable variable in Keras's order, the moments (copied), or null without moments. */
export function adamState(tm: TransferModel): {
  iterations: number;
  moments: Array<{ name: string; m: Float32Array; v: Float32Array } | null>;
} {
  const opt = tm.model.optimizer as unknown as KerasAdam;
  return {
    iterations: opt.iterations,
    moments: trainableVariables(tm.model).map((variable) => {
      const v = variable.read() as TF.Variable;
      if (!opt.hasSlots(v)) return null;
      const s = opt.slotsFor(v);
      return {
        name: variable.originalName,
        m: (s.m.dataSync() as Float32Array).slice(),
        v: (s.v.dataSync() as Float32Array).slice(),
      };
    }),
  };
}

/** Sum of |x| in float64, as the Keras script reports moments. */
export function l1(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]);
  return s;
}

/** Files in `dir` whose names start with a dot (the temporary names of an atomic write). */
export function hiddenFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith("."));
}
