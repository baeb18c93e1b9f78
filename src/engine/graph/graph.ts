/**
 * A TensorFlow graph under construction, in plain TypeScript: nodes (one TensorFlow op each, with
 * its attributes), the symbolic tensors they produce (with their static shapes, `null` for a size
 * known only when the graph runs, such as the batch), and, per node, what reverse-mode
 * differentiation needs (see ./gradients.ts).
 *
 *   const g = new Graph();
 *   const x = g.placeholder("x", "float32", [null, 84, 84, 3]);
 *   const y = ops.relu(g, ops.conv2d(g, x, w, { strides: [2, 2], padding: "VALID" }));
 *
 * Nodes are kept in creation order, which is a topological order (a node's inputs exist before it).
 * Names are unique: `g.scope("mixed0", () => ...)` prefixes them like TensorFlow's name scopes.
 * ./savedmodel.ts turns a Graph into a `GraphDef` inside a SavedModel.
 */

export type DType = "float32" | "int32" | "bool";
/** A static dimension: a size, or null when it is known only at run time (the batch). */
export type Dim = number | null;

/** An attribute value, as TensorFlow's `AttrValue` holds it. */
export type Attr =
  | { kind: "type"; value: DType }
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "bool"; value: boolean }
  | { kind: "string"; value: string }
  | { kind: "ints"; value: number[] }
  | { kind: "shape"; value: Dim[] | null }
  | { kind: "tensor"; value: ConstValue };

/** A constant's value: float32, int32 or bool data with its shape. */
export interface ConstValue {
  dtype: DType;
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
}

/** One output of a node: a symbolic tensor. */
export interface SymTensor {
  readonly node: GraphNode;
  readonly index: number;
  readonly dtype: DType;
  readonly shape: Dim[];
}

export interface GraphNode {
  readonly id: number;
  readonly name: string;
  readonly op: string;
  readonly inputs: SymTensor[];
  readonly attrs: Record<string, Attr>;
  readonly outputs: SymTensor[];
  /** Nodes that must run before this one without passing data (TensorFlow's `^name` inputs). */
  readonly controlInputs: GraphNode[];
}

/** The name TensorFlow gives a node's output: "name" for output 0, "name:1" for the next. */
export function tensorName(t: SymTensor): string {
  return t.index === 0 ? t.node.name : `${t.node.name}:${t.index}`;
}

/** Number of elements of a static shape, or null when a dimension is unknown. */
export function staticSize(shape: Dim[]): number | null {
  let n = 1;
  for (const d of shape) {
    if (d === null) return null;
    n *= d;
  }
  return n;
}

export function formatDims(shape: Dim[]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

export class Graph {
  readonly nodes: GraphNode[] = [];
  private readonly names = new Set<string>();
  private readonly prefix: string[] = [];
  private readonly constants = new Map<string, SymTensor>();

  /** Runs `body` with node names prefixed by `name/` (nested scopes join with "/"). */
  scope<T>(name: string, body: () => T): T {
    this.prefix.push(name.replace(/[^A-Za-z0-9_.\-/]/g, "_"));
    try {
      return body();
    } finally {
      this.prefix.pop();
    }
  }

  /** A unique node name under the current scope: "scope/base", then "scope/base_1", ... */
  uniqueName(base: string): string {
    const full = [...this.prefix, base.replace(/[^A-Za-z0-9_.\-/]/g, "_")].join("/");
    let name = full;
    for (let i = 1; this.names.has(name); i++) name = `${full}_${i}`;
    this.names.add(name);
    return name;
  }

  /**
   * Adds a node. `outputs` gives each output's dtype and static shape (the op wrappers in ./ops.ts
   * compute them); `name` defaults to the op's type.
   */
  addNode(
    op: string,
    inputs: SymTensor[],
    attrs: Record<string, Attr>,
    outputs: Array<{ dtype: DType; shape: Dim[] }>,
    name?: string,
  ): GraphNode {
    for (const t of inputs) {
      if (this.nodes[t.node.id] !== t.node)
        throw new Error(`Graph: input ${tensorName(t)} of a new ${op} node belongs to another graph.`);
    }
    const node: GraphNode = {
      id: this.nodes.length,
      name: this.uniqueName(name ?? op),
      op,
      inputs,
      attrs,
      outputs: [],
      controlInputs: [],
    };
    outputs.forEach((o, index) =>
      (node.outputs as SymTensor[]).push({ node, index, dtype: o.dtype, shape: o.shape.slice() }),
    );
    this.nodes.push(node);
    return node;
  }

  /** Runs `body` outside every scope (graph inputs and shared constants have top-level names). */
  private atTopLevel<T>(body: () => T): T {
    const saved = this.prefix.splice(0, this.prefix.length);
    try {
      return body();
    } finally {
      this.prefix.push(...saved);
    }
  }

  /** A graph input, fed when the graph runs; its name is exactly `name`, at the top level. */
  placeholder(name: string, dtype: DType, shape: Dim[] | null): SymTensor {
    const node = this.atTopLevel(() =>
      this.addNode(
        "Placeholder",
        [],
        { dtype: { kind: "type", value: dtype }, shape: { kind: "shape", value: shape } },
        [{ dtype, shape: shape ?? [] }],
        name,
      ),
    );
    if (node.name !== name) throw new Error(`Graph: the input name "${name}" is taken.`);
    return node.outputs[0];
  }

  /** A constant; equal small constants (scalars, shapes, axes) are made once and shared. */
  constant(values: ArrayLike<number> | number, shape: number[] = [], dtype: DType = "float32"): SymTensor {
    const data = typeof values === "number" ? [values] : Array.from(values);
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size)
      throw new Error(`Graph: a constant of shape [${shape.join(", ")}] needs ${size} values, got ${data.length}.`);
    const key = data.length <= 16 ? `${dtype}|${shape.join(",")}|${data.join(",")}` : undefined;
    const known = key === undefined ? undefined : this.constants.get(key);
    if (known) return known;
    const typed =
      dtype === "float32" ? Float32Array.from(data) : dtype === "int32" ? Int32Array.from(data) : Uint8Array.from(data);
    const value: ConstValue = { dtype, shape: shape.slice(), values: typed };
    // Shared constants live outside any scope: every user reaches them by the same name.
    const node = this.atTopLevel(() =>
      this.addNode(
        "Const",
        [],
        { value: { kind: "tensor", value }, dtype: { kind: "type", value: dtype } },
        [{ dtype, shape }],
        "Const",
      ),
    );
    const t = node.outputs[0];
    if (key !== undefined) this.constants.set(key, t);
    return t;
  }
}

/** Shorthand for attribute values. */
export const attr = {
  type: (value: DType): Attr => ({ kind: "type", value }),
  int: (value: number): Attr => ({ kind: "int", value }),
  float: (value: number): Attr => ({ kind: "float", value }),
  bool: (value: boolean): Attr => ({ kind: "bool", value }),
  string: (value: string): Attr => ({ kind: "string", value }),
  ints: (value: number[]): Attr => ({ kind: "ints", value: value.slice() }),
};
