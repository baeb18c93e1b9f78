/**
 * A Graph as a TensorFlow SavedModel, and running it from TF.js.
 *
 *  - `serializeSavedModel(graph, signatures)`: the `saved_model.pb` bytes: one MetaGraphDef tagged
 *    "serve", the graph as a GraphDef (attributes equal to their default left out, see
 *    ./op_defaults.ts), one SignatureDef per entry point (named inputs, named outputs). No variables: every weight and optimizer slot is an input and comes back as an
 *    output, so there is nothing to restore and the TF.js model keeps the only copy of the state.
 *    The protobuf classes are the ones tfjs-node ships (`dist/proto/api_pb.js`, generated from
 *    TensorFlow's own .proto files).
 *  - (writing it into the graph cache, verified and healed: ./cache.ts)
 *  - `GraphSession`: the folder loaded once through `tf.node.loadSavedModel` (one TensorFlow session,
 *    with TensorFlow's graph optimizer and, on the CPU, oneDNN), run with TF.js tensors in a fixed
 *    order; `dispose()` releases the session.
 *
 * tfjs-node-gpu is the same binding: there the session places the ops on the GPU; fed and fetched
 * tensors cross to and from host memory at each run (the binding resolves inputs to host tensors).
 */
import type * as TF from "@tensorflow/tfjs";
import { backendInfo, tf } from "../backend";
import { tensorName, type Attr, type ConstValue, type Dim, type DType, type Graph, type SymTensor } from "./graph";
import { OP_DEFAULTS } from "./op_defaults";
import { MessageError } from "../../util/errors";

/** An error of the graph engine at run time, with what to do. */
export class GraphEngineError extends MessageError {
  constructor(message: string) {
    super("GraphEngineError", message);
  }
}

/** The TensorFlow version whose GraphDef format we write (`versions.producer` of TF 2.21's GraphDefs). */
const GRAPH_DEF_PRODUCER = 2474;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Proto = any;

let protoModule: Proto | undefined;

/** The protobuf classes of the native package in use (tfjs-node or tfjs-node-gpu). */
function proto(): Proto {
  if (protoModule) return protoModule;
  const info = backendInfo();
  if (info.kind === "cpu") {
    throw new Error(
      'The graph engine needs native TensorFlow (@tensorflow/tfjs-node or -gpu); run `npm run setup`, or train with engine: "eager".',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  protoModule = require(`${info.package}/dist/proto/api_pb.js`);
  return protoModule;
}

function dtypeEnum(p: Proto, dtype: DType): number {
  return dtype === "float32" ? p.DataType.DT_FLOAT : dtype === "int32" ? p.DataType.DT_INT32 : p.DataType.DT_BOOL;
}

function shapeProto(p: Proto, shape: Dim[] | null): Proto {
  const s = new p.TensorShape();
  if (shape === null) {
    s.setUnknownRank(true);
    return s;
  }
  for (const d of shape) {
    const dim = new p.TensorShape.Dim();
    dim.setSize(d === null ? -1 : d);
    s.addDim(dim);
  }
  return s;
}

function tensorProto(p: Proto, c: ConstValue): Proto {
  const t = new p.Tensor();
  t.setDtype(dtypeEnum(p, c.dtype));
  t.setTensorShape(shapeProto(p, c.shape));
  if (c.values.length === 1) {
    // One value: the scalar fields (TensorFlow broadcasts a single value to the shape).
    if (c.dtype === "float32") t.addFloatVal(c.values[0]);
    else if (c.dtype === "int32") t.addIntVal(c.values[0]);
    else t.addBoolVal(c.values[0] !== 0);
  } else if (c.values.length > 0) {
    // Raw little-endian bytes, as TensorFlow writes tensor_content.
    t.setTensorContent(new Uint8Array(c.values.buffer, c.values.byteOffset, c.values.byteLength));
  }
  return t;
}

function attrProto(p: Proto, a: Attr): Proto {
  const v = new p.AttrValue();
  switch (a.kind) {
    case "type":
      v.setType(dtypeEnum(p, a.value));
      break;
    case "int":
      v.setI(a.value);
      break;
    case "float":
      v.setF(a.value);
      break;
    case "bool":
      v.setB(a.value);
      break;
    case "string":
      v.setS(new TextEncoder().encode(a.value));
      break;
    case "ints": {
      const list = new p.AttrValue.ListValue();
      list.setIList(a.value);
      v.setList(list);
      break;
    }
    case "shape":
      v.setShape(shapeProto(p, a.value));
      break;
    case "tensor":
      v.setTensor(tensorProto(p, a.value));
      break;
  }
  return v;
}

/** Whether an attribute's value is the op's default (then it is left out, as TensorFlow's export does). */
export function isDefaultAttr(op: string, name: string, a: Attr): boolean {
  const defaults = OP_DEFAULTS[op];
  if (!defaults)
    throw new Error(
      `The graph serialiser does not know TensorFlow op ${op}: add its defaults to src/engine/graph/op_defaults.ts (scripts/tf_op_defaults.py prints them).`,
    );
  const d = defaults[name];
  if (!d || d.kind !== a.kind) return false;
  switch (a.kind) {
    case "float":
      return Math.fround(a.value) === Math.fround(d.value as number);
    case "ints":
      return JSON.stringify(a.value) === JSON.stringify(d.value);
    case "shape":
      return a.value === null && d.value === null;
    case "tensor":
      return false;
    default:
      return a.value === d.value;
  }
}

function graphDefProto(p: Proto, graph: Graph): Proto {
  const gd = new p.GraphDef();
  for (const node of graph.nodes) {
    const nd = new p.NodeDef();
    nd.setName(node.name);
    nd.setOp(node.op);
    for (const t of node.inputs) nd.addInput(tensorName(t));
    for (const c of node.controlInputs) nd.addInput(`^${c.name}`);
    const attrs = nd.getAttrMap();
    for (const key of Object.keys(node.attrs).sort()) {
      if (!isDefaultAttr(node.op, key, node.attrs[key])) attrs.set(key, attrProto(p, node.attrs[key]));
    }
    gd.addNode(nd);
  }
  const versions = new p.VersionDef();
  versions.setProducer(GRAPH_DEF_PRODUCER);
  gd.setVersions(versions);
  return gd;
}

/** An entry point of a SavedModel: which graph tensors are fed and which are fetched, by name. */
export interface Signature {
  inputs: Array<{ name: string; tensor: SymTensor }>;
  outputs: Array<{ name: string; tensor: SymTensor }>;
}

/** The `saved_model.pb` of `graph` with the given signatures (tag "serve"). */
export function serializeSavedModel(graph: Graph, signatures: Record<string, Signature>): Uint8Array {
  const p = proto();
  const meta = new p.MetaGraphDef();
  const info = new p.MetaGraphDef.MetaInfoDef();
  info.addTags("serve");
  info.setTensorflowVersion(backendInfo().tensorflowVersion ?? "");
  meta.setMetaInfoDef(info);
  meta.setGraphDef(graphDefProto(p, graph));
  const sigs = meta.getSignatureDefMap();
  for (const [key, s] of Object.entries(signatures)) {
    const sd = new p.SignatureDef();
    const put = (map: Proto, list: Signature["inputs"]) => {
      for (const { name, tensor } of list) {
        const ti = new p.TensorInfo();
        ti.setName(`${tensor.node.name}:${tensor.index}`);
        ti.setDtype(dtypeEnum(p, tensor.dtype));
        ti.setTensorShape(shapeProto(p, tensor.shape));
        map.set(name, ti);
      }
    };
    put(sd.getInputsMap(), s.inputs);
    put(sd.getOutputsMap(), s.outputs);
    sd.setMethodName("tensorflow/serving/predict");
    sigs.set(key, sd);
  }
  const model = new p.SavedModel();
  model.setSavedModelSchemaVersion(1);
  model.addMetaGraphs(meta);
  return model.serializeBinary();
}

/** The parts of tfjs-node's backend used to run a session with inputs in a fixed order. */
interface SessionBackend {
  runSavedModel(
    id: number,
    inputs: TF.Tensor[],
    infos: Array<{ name: string; tfDtype: string }>,
    outputNames: string[],
  ): TF.Tensor[];
}

/** What tfjs-node's `tf.node.loadSavedModel` returns, as far as it is used here. */
interface TFSavedModel {
  dispose(): void;
}

interface NodeNamespace {
  loadSavedModel(path: string, tags: string[], signature: string): Promise<TFSavedModel>;
}

/** A loaded SavedModel: one TensorFlow session; each signature runs with inputs in its declared order. */
export class GraphSession {
  private disposed = false;
  private readonly plans: Record<
    string,
    { infos: Array<{ name: string; tfDtype: string }>; outputs: string[]; inputNames: string[]; outputNames: string[] }
  >;

  private constructor(
    private readonly model: TFSavedModel,
    signatures: Record<
      string,
      {
        inputs: Array<{ name: string; dtype: DType; tensor: string }>;
        outputs: Array<{ name: string; tensor: string }>;
      }
    >,
  ) {
    this.plans = {};
    for (const [key, s] of Object.entries(signatures)) {
      this.plans[key] = {
        infos: s.inputs.map((i) => ({
          name: i.tensor,
          tfDtype: i.dtype === "float32" ? "DT_FLOAT" : i.dtype === "int32" ? "DT_INT32" : "DT_BOOL",
        })),
        outputs: s.outputs.map((o) => o.tensor),
        inputNames: s.inputs.map((i) => i.name),
        outputNames: s.outputs.map((o) => o.name),
      };
    }
  }

  /** Loads the SavedModel in `dir` (written from these signatures). */
  static async load(dir: string, signatures: Record<string, Signature>): Promise<GraphSession> {
    const node = (tf as unknown as { node?: NodeNamespace }).node;
    if (!node?.loadSavedModel)
      throw new Error("The graph engine needs tfjs-node's SavedModel support (tf.node.loadSavedModel).");
    const first = Object.keys(signatures)[0];
    const model = await node.loadSavedModel(dir, ["serve"], first);
    const plain: Record<
      string,
      {
        inputs: Array<{ name: string; dtype: DType; tensor: string }>;
        outputs: Array<{ name: string; tensor: string }>;
      }
    > = {};
    for (const [key, s] of Object.entries(signatures)) {
      plain[key] = {
        inputs: s.inputs.map((i) => ({
          name: i.name,
          dtype: i.tensor.dtype,
          tensor: `${i.tensor.node.name}:${i.tensor.index}`,
        })),
        outputs: s.outputs.map((o) => ({ name: o.name, tensor: `${o.tensor.node.name}:${o.tensor.index}` })),
      };
    }
    return new GraphSession(model, plain);
  }

  /** Names of a signature's inputs, in the order `run` takes them. */
  inputNames(signature: string): string[] {
    return this.plan(signature).inputNames.slice();
  }

  /** Names of a signature's outputs, in the order `run` returns them. */
  outputNames(signature: string): string[] {
    return this.plan(signature).outputNames.slice();
  }

  /** Runs a signature: `inputs` in `inputNames(signature)` order; new tensors in `outputNames` order. */
  run(signature: string, inputs: TF.Tensor[]): TF.Tensor[] {
    if (this.disposed)
      throw new Error("This compiled graph was released (its model was disposed or re-frozen); compile it again.");
    const plan = this.plan(signature);
    if (inputs.length !== plan.infos.length) {
      throw new Error(`Graph signature "${signature}" takes ${plan.infos.length} inputs, got ${inputs.length}.`);
    }
    const backend = tf.backend() as unknown as SessionBackend;
    const sessionId = (this.model as unknown as { sessionId: number }).sessionId;
    try {
      return backend.runSavedModel(sessionId, inputs, plan.infos, plan.outputs);
    } catch (e) {
      // The binding's message starts "Session fail to run with error: " and then TensorFlow's.
      const reason = ((e as Error).message ?? String(e))
        .replace(/^Session fail to run with error:\s*/, "")
        .split("\n")[0];
      throw new GraphEngineError(
        `TensorFlow could not run the compiled graph ("${signature}"): ${reason}. Nothing was changed: the model holds the weights ` +
          `of its last completed step. Check the input's shape, or run with engine: "eager" to see where it fails.`,
      );
    }
  }

  /** Releases the TensorFlow session. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private plan(signature: string) {
    const p = this.plans[signature];
    if (!p)
      throw new Error(
        `The compiled graph has no signature "${signature}" (it has ${Object.keys(this.plans).join(", ")}).`,
      );
    return p;
  }
}
