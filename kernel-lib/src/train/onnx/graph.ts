// The graph builder: symbolic tensors with static shapes, the nodes that produce them, and the
// parameters and constants they read. Training code builds one Graph holding forward, loss,
// gradients and optimizer update, then exports whichever outputs a model needs (pruned to them).

import { ChangelabError } from '../../errors';
import { encodeModel, type Attribute, type DType, type ITensorData } from './proto';

export type { DType, Attribute } from './proto';
export type Shape = readonly number[];

/** The opset we emit: ORT 1.30 implements all of opset 17 on the CPU EP. */
export const OPSET = 17;
/** IR version 8 is what opset 17 was released with. */
export const IR_VERSION = 8;

/** A graph that cannot be built: a shape mismatch, an unsupported attribute, a missing gradient rule. */
export class GraphError extends ChangelabError {}

export type TensorRole = 'input' | 'parameter' | 'constant' | 'value';

/** A symbolic tensor: a name in the graph with a static shape and element type. */
export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly role: TensorRole,
    /** The node that computes it, for role 'value'. */
    readonly producer?: Node
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape.join(', ')}]`;
  }
}

interface IAttributeValues {
  float: number;
  int: number;
  string: string;
  floats: readonly number[];
  ints: readonly number[];
  strings: readonly string[];
  tensor: ITensorData;
}

export class Node {
  constructor(
    readonly name: string,
    readonly opType: string,
    /** `undefined` is an omitted optional input (written as '' in ONNX). */
    readonly inputs: readonly (Tensor | undefined)[],
    /** Mutable so autodiff can ask for an optional output (MaxPool's indices) after the fact. */
    readonly outputs: (Tensor | undefined)[],
    readonly attributes: Record<string, Attribute>,
    readonly index: number
  ) {}

  attr<T extends keyof IAttributeValues>(name: string, type: T): IAttributeValues[T] | undefined {
    const a = this.attributes[name];
    if (a === undefined) {
      return undefined;
    }
    if (a.type !== type) {
      throw new GraphError(`attribute ${name} of ${this.name} is ${a.type}, not ${type}`);
    }
    return a.value as IAttributeValues[T];
  }
}

/**
 * A composite op: a contiguous run of primitive nodes that autodiff treats as one unit with a
 * hand-written backward (batch norm in training mode), because differentiating the primitives
 * one by one is slower and less accurate than the closed form.
 */
export interface IComposite {
  readonly kind: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** Node index range [first, end). */
  readonly first: number;
  readonly end: number;
  readonly info: Readonly<Record<string, unknown>>;
}

export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface IParameter {
  tensor: Tensor;
  /** The initial (or current) value. */
  value: TypedArray;
}

export interface IExportOptions {
  /** Graph outputs, by output name (a name differing from the tensor's adds an Identity). */
  outputs: readonly Tensor[] | Readonly<Record<string, Tensor>>;
  /** Parameters become graph inputs (training) or initializers carrying their value (inference). */
  parameters?: 'inputs' | 'initializers';
  name?: string;
  docString?: string;
}

export interface IExportedModel {
  bytes: Uint8Array;
  /** Graph input names in order: inputs and (with parameters: 'inputs') parameters that the outputs need. */
  inputNames: string[];
  outputNames: string[];
}

export function arrayFor(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'bool':
    case 'uint8':
      return new Uint8Array(size);
    default:
      throw new GraphError(`no array type for ${dtype}`);
  }
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly parameters: IParameter[] = [];
  readonly composites: IComposite[] = [];
  private readonly constants = new Map<string, { tensor: Tensor; value: TypedArray }>();
  private readonly scalarCache = new Map<string, Tensor>();
  private readonly names = new Set<string>();
  private counter = 0;

  /** A fresh unique name; `hint` keeps generated graphs readable in Netron. */
  uniqueName(hint: string): string {
    let name = hint;
    while (this.names.has(name)) {
      name = `${hint}_${++this.counter}`;
    }
    this.names.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.names.has(name)) {
      throw new GraphError(`the name ${name} is already used in this graph`, { name });
    }
    this.names.add(name);
    return name;
  }

  /** A value fed at run time (images, labels, a learning rate). */
  input(name: string, shape: Shape, dtype: DType = 'float32'): Tensor {
    checkShape(shape);
    const t = new Tensor(this, this.claim(name), shape, dtype, 'input');
    this.inputs.push(t);
    return t;
  }

  /** A trainable parameter with its initial value. */
  parameter(name: string, shape: Shape, value: TypedArray, dtype: DType = 'float32'): Tensor {
    checkShape(shape);
    const size = shape.reduce((a, b) => a * b, 1);
    if (value.length !== size) {
      throw new GraphError(`parameter ${name} has ${value.length} values for shape [${shape}]`, { name });
    }
    const t = new Tensor(this, this.claim(name), shape, dtype, 'parameter');
    this.parameters.push({ tensor: t, value });
    return t;
  }

  /** A constant (an initializer that is never fed). */
  constant(value: TypedArray | readonly number[], shape: Shape, dtype: DType, hint = 'const'): Tensor {
    checkShape(shape);
    const size = shape.reduce((a, b) => a * b, 1);
    let data: TypedArray;
    if (Array.isArray(value)) {
      data = arrayFor(dtype, size);
      value.forEach((v, i) => {
        if (data instanceof BigInt64Array) {
          data[i] = BigInt(v);
        } else {
          data[i] = v;
        }
      });
    } else {
      data = value as TypedArray;
    }
    if (data.length !== size) {
      throw new GraphError(`constant has ${data.length} values for shape [${shape}]`);
    }
    const t = new Tensor(this, this.uniqueName(hint), shape, dtype, 'constant');
    this.constants.set(t.name, { tensor: t, value: data });
    return t;
  }

  /** A cached scalar constant (shape []), broadcastable against anything. */
  scalar(value: number, dtype: DType = 'float32'): Tensor {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      t = this.constant([value], [], dtype, 'scalar');
      this.scalarCache.set(key, t);
    }
    return t;
  }

  /** A cached int64 vector constant (shapes, axes, starts). */
  ints(values: readonly number[]): Tensor {
    const key = `ints:${values.join(',')}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      t = this.constant(values, [values.length], 'int64', 'ints');
      this.scalarCache.set(key, t);
    }
    return t;
  }

  constantValue(t: Tensor): TypedArray | undefined {
    return this.constants.get(t.name)?.value;
  }

  /** Appends a node. Output shapes come from the op helper's shape inference. */
  node(
    opType: string,
    inputs: readonly (Tensor | undefined)[],
    outputs: readonly { shape: Shape; dtype: DType; name?: string }[],
    attributes: Record<string, Attribute> = {}
  ): Tensor[] {
    for (const i of inputs) {
      if (i && i.graph !== this) {
        throw new GraphError(`${i.name} belongs to another graph`);
      }
    }
    const name = this.uniqueName(opType);
    const outs: Tensor[] = [];
    const node = new Node(name, opType, inputs, [], attributes, this.nodes.length);
    for (const [k, o] of outputs.entries()) {
      checkShape(o.shape);
      const oname = o.name ? this.claim(o.name) : this.uniqueName(`${name}_${k}`);
      outs.push(new Tensor(this, oname, o.shape, o.dtype, 'value', node));
    }
    node.outputs.push(...outs);
    this.nodes.push(node);
    return outs;
  }

  /** Adds an output to an existing node (used for optional outputs that only backward needs). */
  addOutput(node: Node, slot: number, shape: Shape, dtype: DType): Tensor {
    const existing = node.outputs[slot];
    if (existing) {
      return existing;
    }
    const t = new Tensor(this, this.uniqueName(`${node.name}_${slot}`), shape, dtype, 'value', node);
    node.outputs[slot] = t;
    return t;
  }

  /**
   * Records the nodes that `build` emits as one composite op (see IComposite). `build` returns the
   * composite's outputs.
   */
  composite(
    kind: string,
    inputs: readonly Tensor[],
    info: Record<string, unknown>,
    build: () => Tensor[]
  ): Tensor[] {
    const first = this.nodes.length;
    const outputs = build();
    this.composites.push({ kind, inputs, outputs, first, end: this.nodes.length, info });
    return outputs;
  }

  /** Serialises the part of the graph that `outputs` need as an ONNX model. */
  export(options: IExportOptions): IExportedModel {
    const named: [string, Tensor][] = Array.isArray(options.outputs)
      ? (options.outputs as readonly Tensor[]).map(t => [t.name, t])
      : Object.entries(options.outputs as Record<string, Tensor>);
    const asInputs = (options.parameters ?? 'inputs') === 'inputs';

    // Keep only the nodes the outputs depend on, so a forward model exported from a graph that
    // also holds gradients does not ask for labels it never reads.
    const needed = new Set<string>();
    const keep = new Array<boolean>(this.nodes.length).fill(false);
    for (const [, t] of named) {
      needed.add(t.name);
    }
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (n.outputs.some(o => o && needed.has(o.name))) {
        keep[i] = true;
        for (const inp of n.inputs) {
          if (inp) {
            needed.add(inp.name);
          }
        }
      }
    }
    const nodes = this.nodes.filter((_, i) => keep[i]);
    const extra: { name: string; opType: string; inputs: string[]; outputs: string[]; attributes: {} }[] = [];
    const outputInfos = named.map(([name, t]) => {
      if (name !== t.name) {
        extra.push({ name: this.uniqueName(`out_${name}`), opType: 'Identity', inputs: [t.name], outputs: [name], attributes: {} });
      }
      return { name, dtype: t.dtype, shape: t.shape };
    });

    const graphInputs = this.inputs.filter(t => needed.has(t.name));
    const params = this.parameters.filter(p => needed.has(p.tensor.name));
    const initializers: ITensorData[] = [];
    for (const { tensor, value } of this.constants.values()) {
      if (needed.has(tensor.name)) {
        initializers.push(tensorData(tensor, value));
      }
    }
    if (asInputs) {
      graphInputs.push(...params.map(p => p.tensor));
    } else {
      initializers.push(...params.map(p => tensorData(p.tensor, p.value)));
    }

    const bytes = encodeModel({
      graphName: options.name ?? 'changelab',
      docString: options.docString,
      opset: OPSET,
      irVersion: IR_VERSION,
      nodes: [
        ...nodes.map(n => ({
          name: n.name,
          opType: n.opType,
          inputs: n.inputs.map(i => i?.name ?? ''),
          // Trailing optional outputs nobody asked for are dropped; inner gaps stay as ''.
          outputs: trimTrailing(n.outputs.map((o, k) => (o && (k === 0 || needed.has(o.name)) ? o.name : ''))),
          attributes: n.attributes
        })),
        ...extra
      ],
      initializers,
      inputs: graphInputs.map(t => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
      outputs: outputInfos
    });
    return { bytes, inputNames: graphInputs.map(t => t.name), outputNames: named.map(([n]) => n) };
  }
}

function trimTrailing(names: string[]): string[] {
  let end = names.length;
  while (end > 1 && names[end - 1] === '') {
    end--;
  }
  return names.slice(0, end);
}

function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new GraphError(`bad dimension ${d} in shape [${shape}]`, { shape });
    }
  }
}

function tensorData(t: Tensor, value: TypedArray): ITensorData {
  // raw_data is little-endian; typed arrays are in platform order, which is little-endian on
  // every platform Node supports (x64, arm64).
  const raw = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return { name: t.name, dtype: t.dtype, dims: t.shape, raw };
}
