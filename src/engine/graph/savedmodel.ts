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
import { backendInfo, tf } from "../../tfjs/backend";
import {
  nodeKernelBackend,
  nodeNamespace,
  savedModelSessionId,
  tensorFlowProtos,
  type AttrValueProto,
  type LoadedSavedModel,
  type ProtoMap,
  type TensorFlowProtos,
  type TensorInfoProto,
  type TensorProto,
  type TensorShapeProto,
} from "../../tfjs/internals";
import { MessageError } from "../../util/errors";
import { tensorName, type Attr, type ConstValue, type Dim, type DType, type Graph, type SymTensor } from "./graph";
import { OP_DEFAULTS } from "./op_defaults";

/** An error of the graph engine at run time, with what to do. */
export class GraphEngineError extends MessageError {
  constructor(message: string) {
    super("GraphEngineError", message);
  }
}

/** The TensorFlow version whose GraphDef format we write (`versions.producer` of TF 2.21's GraphDefs). */
const GRAPH_DEF_PRODUCER = 2474;

let protoModule: TensorFlowProtos | undefined;

/** The protobuf classes of the native package in use (tfjs-node or tfjs-node-gpu). */
function proto(): TensorFlowProtos {
  if (protoModule) return protoModule;
  const info = backendInfo();
  if (info.kind === "cpu") {
    throw new Error(
      "The graph engine needs native TensorFlow (@tensorflow/tfjs-node or -gpu); run `npm run setup`, " +
        'or train with engine: "eager".',
    );
  }
  protoModule = tensorFlowProtos(info.package);
  return protoModule;
}

function dtypeEnum(p: TensorFlowProtos, dtype: DType): number {
  return dtype === "float32" ? p.DataType.DT_FLOAT : dtype === "int32" ? p.DataType.DT_INT32 : p.DataType.DT_BOOL;
}

/** TensorFlow's name of a dtype, as tfjs-node's session runner takes it. */
function tfDtypeName(dtype: DType): string {
  return dtype === "float32" ? "DT_FLOAT" : dtype === "int32" ? "DT_INT32" : "DT_BOOL";
}

function shapeProto(p: TensorFlowProtos, shape: Dim[] | null): TensorShapeProto {
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

function tensorProto(p: TensorFlowProtos, c: ConstValue): TensorProto {
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

function attrProto(p: TensorFlowProtos, a: Attr): AttrValueProto {
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

function graphDefProto(p: TensorFlowProtos, graph: Graph) {
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

/**
 * An entry point of a SavedModel: which graph tensors are fed and which are fetched, by name, in
 * the order `GraphSession.run` takes and returns them (./signatures.ts's bindings are ones).
 */
export interface SignatureTensors {
  inputs: ReadonlyArray<{ name: string; tensor: SymTensor }>;
  outputs: ReadonlyArray<{ name: string; tensor: SymTensor }>;
}

/** The `saved_model.pb` of `graph` with the given signatures (tag "serve"). */
export function serializeSavedModel(graph: Graph, signatures: Record<string, SignatureTensors>): Uint8Array {
  const p = proto();
  const meta = new p.MetaGraphDef();
  const info = new p.MetaGraphDef.MetaInfoDef();
  info.addTags("serve");
  info.setTensorflowVersion(backendInfo().tensorflowVersion ?? "");
  meta.setMetaInfoDef(info);
  meta.setGraphDef(graphDefProto(p, graph));
  const sigs = meta.getSignatureDefMap();
  const put = (map: ProtoMap<TensorInfoProto>, list: SignatureTensors["inputs"]) => {
    for (const { name, tensor } of list) {
      const ti = new p.TensorInfo();
      ti.setName(tensorName0(tensor));
      ti.setDtype(dtypeEnum(p, tensor.dtype));
      ti.setTensorShape(shapeProto(p, tensor.shape));
      map.set(name, ti);
    }
  };
  for (const [key, s] of Object.entries(signatures)) {
    const sd = new p.SignatureDef();
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

/** What tfjs-node's session runner needs of a signature: its inputs' names and dtypes, its outputs' names. */
interface SessionSignature {
  inputs: Array<{ name: string; tfDtype: string }>;
  outputs: string[];
}

/** A loaded SavedModel: one TensorFlow session; each signature runs with inputs in its declared order. */
export class GraphSession {
  private disposed = false;

  private constructor(
    private readonly model: LoadedSavedModel,
    private readonly signatures: Record<string, SessionSignature>,
  ) {}

  /** Loads the SavedModel in `dir` (written from these signatures). */
  static async load(dir: string, signatures: Record<string, SignatureTensors>): Promise<GraphSession> {
    const node = nodeNamespace(tf);
    if (!node) throw new Error("The graph engine needs tfjs-node's SavedModel support (tf.node.loadSavedModel).");
    const model = await node.loadSavedModel(dir, ["serve"], Object.keys(signatures)[0]);
    const forSession: Record<string, SessionSignature> = {};
    for (const [key, s] of Object.entries(signatures)) {
      forSession[key] = {
        inputs: s.inputs.map((i) => ({ name: tensorName0(i.tensor), tfDtype: tfDtypeName(i.tensor.dtype) })),
        outputs: s.outputs.map((o) => tensorName0(o.tensor)),
      };
    }
    return new GraphSession(model, forSession);
  }

  /** Runs a signature: `inputs` in the signature's input order; new tensors in its output order. */
  run(signature: string, inputs: TF.Tensor[]): TF.Tensor[] {
    if (this.disposed)
      throw new Error("This compiled graph was released (its model was disposed or re-frozen); compile it again.");
    const s = this.signatures[signature];
    if (!s) {
      const known = Object.keys(this.signatures).join(", ");
      throw new Error(`The compiled graph has no signature "${signature}" (it has ${known}).`);
    }
    if (inputs.length !== s.inputs.length) {
      throw new Error(`Graph signature "${signature}" takes ${s.inputs.length} inputs, got ${inputs.length}.`);
    }
    const backend = nodeKernelBackend(tf.backend());
    if (!backend) throw new Error("The graph engine needs the native TensorFlow backend (tfjs-node).");
    try {
      return backend.runSavedModel(savedModelSessionId(this.model), inputs, s.inputs, s.outputs);
    } catch (e) {
      // The binding's message starts "Session fail to run with error: " and then TensorFlow's.
      const reason = ((e as Error).message ?? String(e))
        .replace(/^Session fail to run with error:\s*/, "")
        .split("\n")[0];
      throw new GraphEngineError(
        `TensorFlow could not run the compiled graph ("${signature}"): ${reason}. Nothing was changed: the model holds ` +
          `the weights of its last completed step. Check the input's shape, or run with engine: "eager" to see where it fails.`,
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
}

/** A tensor's name with its output index always written ("name:0"), as the session runner takes it. */
function tensorName0(t: SymTensor): string {
  return `${t.node.name}:${t.index}`;
}
