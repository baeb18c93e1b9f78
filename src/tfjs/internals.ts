/**
 * The parts of TF.js that are not its public API and that the project relies on, typed once, each
 * with the TF.js version it was checked against (4.22.0, the version in package.json). When TF.js is
 * upgraded, this file is the list to check again; nothing else reaches into TF.js's internals.
 *
 *   Layers and models (tfjs-layers)
 *     isContainer(layer)              a model nested as a layer (`Container`)
 *     nodesByDepth(model)             a model's graph nodes, by depth (`Container.nodesByDepth`)
 *     containerNodeKeys(model)        which inbound nodes belong to a model (`Container.containerNodes`)
 *     layerWeightField(layer, name)   a layer's weight by the property it is kept in (`kernel`, `bias`)
 *     ownWeights(layer)               a layer's weights in creation order (`_trainableWeights` + `_nonTrainableWeights`)
 *     trainedWeights(model) / setTrainedWeights(model, weights)
 *                                     what `compile` collected for the optimizer (`collectedTrainableWeights`)
 *   tfjs-node
 *     nodeKernelBackend(backend)      the native backend's binding and kernels (`NodeJSKernelBackend`)
 *     nodeNamespace(tf)               `tf.node`: SavedModel loading and image codecs
 *     savedModelSessionId(model)      the TensorFlow session of a loaded SavedModel (`TFSavedModel.sessionId`)
 *     tensorFlowProtos(pkg)           TensorFlow's protobuf classes tfjs-node ships (`dist/proto/api_pb.js`)
 */
import type * as TF from "@tensorflow/tfjs";

type Layer = TF.layers.Layer;

// ---------------------------------------------------------------------------
// Layers and models (tfjs-layers 4.22.0)

/** One node of a model's graph: a layer applied to symbolic tensors (tfjs-layers `Node`, 4.22.0). */
export type GraphNode = Layer["inboundNodes"][number];

/** Whether `layer` is a model nested as a layer: a `Container` has `layers` (checked against TF.js 4.22.0). */
export function isContainer(layer: Layer): layer is TF.LayersModel {
  return Array.isArray((layer as unknown as { layers?: unknown }).layers);
}

/**
 * A model's nodes by depth, the order `Container.runInternalGraph` runs them in (`Container.nodesByDepth`,
 * public in TF.js 4.22.0's typings, not in its API).
 */
export function nodesByDepth(model: TF.LayersModel): Record<string, GraphNode[]> {
  return model.nodesByDepth;
}

/**
 * Keys `<layer name>_ib-<node index>` of the inbound nodes that belong to `model`
 * (`Container.containerNodes`, public in TF.js 4.22.0's typings, not in its API).
 */
export function containerNodeKeys(model: TF.LayersModel): Set<string> {
  return model.containerNodes;
}

/** A layer's weight by the property TF.js keeps it in (`kernel`, `bias`, `depthwiseKernel`, …; TF.js 4.22.0). */
export function layerWeightField(layer: Layer, name: string): TF.LayerVariable | null {
  const v = (layer as unknown as Record<string, TF.LayerVariable | null | undefined>)[name];
  return v ?? null;
}

/**
 * A plain layer's weights in creation order, trainable list first, whatever its trainable state
 * (`Layer._trainableWeights` and `_nonTrainableWeights`, TF.js 4.22.0; `layer.weights` otherwise).
 */
export function ownWeights(layer: Layer): TF.LayerVariable[] {
  const l = layer as unknown as { _trainableWeights?: TF.LayerVariable[]; _nonTrainableWeights?: TF.LayerVariable[] };
  if (Array.isArray(l._trainableWeights) && Array.isArray(l._nonTrainableWeights)) {
    return [...l._trainableWeights, ...l._nonTrainableWeights];
  }
  return layer.weights;
}

/**
 * The weights `compile` collected for the optimizer, in the order the optimizer keeps its state by
 * (`LayersModel.collectedTrainableWeights`, TF.js 4.22.0).
 */
export function trainedWeights(model: TF.LayersModel): TF.LayerVariable[] {
  return (model as unknown as { collectedTrainableWeights: TF.LayerVariable[] }).collectedTrainableWeights;
}

/** Replaces what `trainedWeights(model)` returns (the same property, TF.js 4.22.0). */
export function setTrainedWeights(model: TF.LayersModel, weights: TF.LayerVariable[]): void {
  (model as unknown as { collectedTrainableWeights: TF.LayerVariable[] }).collectedTrainableWeights = weights;
}

// ---------------------------------------------------------------------------
// tfjs-node 4.22.0

/** The TF_* constants of tfjs-node's binding that the project uses (tfjs-node 4.22.0). */
interface NodeBinding {
  TF_Version: string;
  TF_ATTR_FLOAT: number;
  TF_ATTR_STRING: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_FLOAT: number;
  TF_INT32: number;
}

/** An op attribute as tfjs-node's binding takes it. */
export interface NodeOpAttr {
  name: string;
  type: number;
  value: unknown;
}

/** tfjs-node's `NodeJSKernelBackend`, the parts used here (tfjs-node 4.22.0). */
export interface NodeKernelBackend {
  binding: NodeBinding;
  isUsingGpuDevice: boolean;
  executeSingleOutput(name: string, attrs: NodeOpAttr[], inputs: TF.Tensor[]): TF.Tensor;
  executeMultipleOutputs(name: string, attrs: NodeOpAttr[], inputs: TF.Tensor[], numOutputs: number): TF.Tensor[];
  /** Runs a loaded SavedModel's session with inputs in a fixed order (`runSavedModel`). */
  runSavedModel(
    id: number,
    inputs: TF.Tensor[],
    inputInfos: Array<{ name: string; tfDtype: string }>,
    outputNames: string[],
  ): TF.Tensor[];
}

/** `backend` as tfjs-node's kernel backend, or null for another backend (cpu, wasm, webgl). */
export function nodeKernelBackend(backend: unknown): NodeKernelBackend | null {
  const b = backend as Partial<NodeKernelBackend> | null;
  return b && typeof b.executeMultipleOutputs === "function" && b.binding ? (b as NodeKernelBackend) : null;
}

/** What `tf.node.loadSavedModel` returns, the parts used here (tfjs-node 4.22.0 `TFSavedModel`). */
export interface LoadedSavedModel {
  dispose(): void;
}

/** tfjs-node's `tf.node`, the parts used here (tfjs-node 4.22.0). */
export interface NodeNamespace {
  loadSavedModel(path: string, tags: string[], signature: string): Promise<LoadedSavedModel>;
  /** PNG, JPEG, GIF (first frame) or BMP → int32 [height, width, channels]; `channels` 0 keeps the file's. */
  decodeImage(
    bytes: Uint8Array,
    channels?: number,
    dtype?: "int32",
    expandAnimations?: boolean,
  ): TF.Tensor3D | TF.Tensor4D;
  /** int32 [height, width, channels] with values 0–255 → PNG bytes. */
  encodePng(image: TF.Tensor3D, compression?: number): Promise<Uint8Array>;
  /** int32 [height, width, channels] with values 0–255 → JPEG bytes ("" format: from the channels). */
  encodeJpeg(image: TF.Tensor3D, format?: "" | "grayscale" | "rgb", quality?: number): Promise<Uint8Array>;
}

/** `tf.node` when a native package provides it (tfjs-node or -gpu 4.22.0), else null. */
export function nodeNamespace(tf: unknown): NodeNamespace | null {
  const node = (tf as { node?: Partial<NodeNamespace> }).node;
  return node && typeof node.loadSavedModel === "function" ? (node as NodeNamespace) : null;
}

/** The TensorFlow session id of a loaded SavedModel (`TFSavedModel.sessionId`, tfjs-node 4.22.0). */
export function savedModelSessionId(model: LoadedSavedModel): number {
  return (model as unknown as { sessionId: number }).sessionId;
}

// TensorFlow's protobuf classes, generated by google-protobuf from TensorFlow's .proto files and
// shipped in tfjs-node 4.22.0's dist/proto/api_pb.js: the messages and setters used to write a
// SavedModel, and the getters the tests read one back with.

/** A protobuf map field (`jspb.Map`). */
export interface ProtoMap<V> {
  set(key: string, value: V): void;
  get(key: string): V | undefined;
  keys(): Iterable<string>;
}

interface Message {
  serializeBinary(): Uint8Array;
}

interface TensorShapeDimProto extends Message {
  setSize(size: number): void;
}
export interface TensorShapeProto extends Message {
  setUnknownRank(unknown: boolean): void;
  addDim(dim: TensorShapeDimProto): void;
}
export interface TensorProto extends Message {
  setDtype(dtype: number): void;
  setTensorShape(shape: TensorShapeProto): void;
  addFloatVal(v: number): void;
  addIntVal(v: number): void;
  addBoolVal(v: boolean): void;
  setTensorContent(bytes: Uint8Array): void;
}
interface ListValueProto extends Message {
  setIList(values: number[]): void;
}
export interface AttrValueProto extends Message {
  setType(t: number): void;
  setI(i: number): void;
  setF(f: number): void;
  setB(b: boolean): void;
  setS(s: Uint8Array): void;
  setList(l: ListValueProto): void;
  setShape(s: TensorShapeProto): void;
  setTensor(t: TensorProto): void;
}
interface NodeDefProto extends Message {
  setName(name: string): void;
  setOp(op: string): void;
  addInput(input: string): void;
  getAttrMap(): ProtoMap<AttrValueProto>;
  getName(): string;
  getOp(): string;
  getInputList(): string[];
}
interface VersionDefProto extends Message {
  setProducer(producer: number): void;
}
interface GraphDefProto extends Message {
  addNode(node: NodeDefProto): void;
  setVersions(v: VersionDefProto): void;
  getNodeList(): NodeDefProto[];
}
export interface TensorInfoProto extends Message {
  setName(name: string): void;
  setDtype(dtype: number): void;
  setTensorShape(shape: TensorShapeProto): void;
  getName(): string;
}
interface SignatureDefProto extends Message {
  getInputsMap(): ProtoMap<TensorInfoProto>;
  getOutputsMap(): ProtoMap<TensorInfoProto>;
  setMethodName(name: string): void;
}
interface MetaInfoDefProto extends Message {
  addTags(tag: string): void;
  setTensorflowVersion(version: string): void;
  getTagsList(): string[];
}
interface MetaGraphDefProto extends Message {
  setMetaInfoDef(info: MetaInfoDefProto): void;
  setGraphDef(graph: GraphDefProto): void;
  getSignatureDefMap(): ProtoMap<SignatureDefProto>;
  getMetaInfoDef(): MetaInfoDefProto;
  getGraphDef(): GraphDefProto;
}
interface SavedModelProto extends Message {
  setSavedModelSchemaVersion(v: number): void;
  addMetaGraphs(meta: MetaGraphDefProto): void;
  getMetaGraphsList(): MetaGraphDefProto[];
}

/** The classes of tfjs-node's `api_pb.js` that the project uses. */
export interface TensorFlowProtos {
  DataType: { DT_FLOAT: number; DT_INT32: number; DT_BOOL: number };
  TensorShape: (new () => TensorShapeProto) & { Dim: new () => TensorShapeDimProto };
  Tensor: new () => TensorProto;
  AttrValue: (new () => AttrValueProto) & { ListValue: new () => ListValueProto };
  NodeDef: new () => NodeDefProto;
  VersionDef: new () => VersionDefProto;
  GraphDef: new () => GraphDefProto;
  TensorInfo: new () => TensorInfoProto;
  SignatureDef: new () => SignatureDefProto;
  MetaGraphDef: (new () => MetaGraphDefProto) & { MetaInfoDef: new () => MetaInfoDefProto };
  SavedModel: (new () => SavedModelProto) & { deserializeBinary(bytes: Uint8Array): SavedModelProto };
}

/** TensorFlow's protobuf classes shipped by the native package `pkg` (tfjs-node or tfjs-node-gpu 4.22.0). */
export function tensorFlowProtos(pkg: string): TensorFlowProtos {
  // A CommonJS file inside the package, not one of its exports: required by path.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(`${pkg}/dist/proto/api_pb.js`) as TensorFlowProtos;
}
