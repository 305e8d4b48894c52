// A hand-written protobuf encoder for the subset of onnx.proto that training graphs need
// (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto with raw_data, ValueInfoProto).
// Writing the wire format ourselves keeps the kernel library free of a protobuf dependency; the
// field numbers below are those of onnx/onnx.proto (proto2), and repeated scalars are written
// unpacked, which every conforming parser accepts.

/** ONNX TensorProto.DataType codes for the element types we emit. */
export const DATA_TYPE = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11
} as const;

export type DType = keyof typeof DATA_TYPE;

/** AttributeProto.AttributeType codes. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

export interface ITensorData {
  name: string;
  dtype: DType;
  dims: readonly number[];
  /** Little-endian element bytes, as ONNX's raw_data wants them. */
  raw: Uint8Array;
}

export type Attribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'ints'; value: readonly number[] }
  | { type: 'strings'; value: readonly string[] }
  | { type: 'tensor'; value: ITensorData };

export interface INodeData {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Readonly<Record<string, Attribute>>;
}

export interface IValueInfo {
  name: string;
  dtype: DType;
  /** Static dimensions; a string is a symbolic dimension (dim_param). */
  shape: readonly (number | string)[];
}

export interface IModelData {
  graphName: string;
  nodes: readonly INodeData[];
  initializers: readonly ITensorData[];
  inputs: readonly IValueInfo[];
  outputs: readonly IValueInfo[];
  opset: number;
  irVersion: number;
  producer?: string;
  docString?: string;
}

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

/** Grows a byte buffer; messages are built inside-out, so nested messages are encoded first. */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) {
      return;
    }
    let size = this.buf.length * 2;
    while (size < this.len + extra) {
      size *= 2;
    }
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Varint of a non-negative or negative integer (negative int64 takes ten bytes, as protobuf says). */
  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function writeTensor(w: Writer, t: ITensorData): void {
  for (const d of t.dims) {
    w.int(1, d);
  }
  w.int(2, DATA_TYPE[t.dtype]);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

function writeAttribute(w: Writer, name: string, a: Attribute): void {
  w.string(1, name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'tensor':
      w.message(5, m => writeTensor(m, a.value));
      break;
    case 'floats':
      for (const f of a.value) {
        w.float(7, f);
      }
      break;
    case 'ints':
      for (const i of a.value) {
        w.int(8, i);
      }
      break;
    case 'strings':
      for (const s of a.value) {
        w.string(9, s);
      }
      break;
  }
  w.int(20, ATTRIBUTE_TYPE[a.type]);
}

function writeNode(w: Writer, n: INodeData): void {
  for (const i of n.inputs) {
    w.string(1, i);
  }
  for (const o of n.outputs) {
    w.string(2, o);
  }
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, a] of Object.entries(n.attributes)) {
    w.message(5, m => writeAttribute(m, name, a));
  }
}

function writeValueInfo(w: Writer, v: IValueInfo): void {
  w.string(1, v.name);
  // TypeProto { tensor_type = 1: { elem_type = 1, shape = 2: { dim = 1: { dim_value = 1 | dim_param = 2 } } } }
  w.message(2, type =>
    type.message(1, tensor => {
      tensor.int(1, DATA_TYPE[v.dtype]);
      tensor.message(2, shape => {
        for (const d of v.shape) {
          shape.message(1, dim => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    })
  );
}

/** Serialises a model to ONNX protobuf bytes that onnxruntime (any language) loads. */
export function encodeModel(model: IModelData): Uint8Array {
  const w = new Writer();
  w.int(1, model.irVersion);
  w.string(2, model.producer ?? 'changelab');
  w.message(7, g => {
    for (const n of model.nodes) {
      g.message(1, m => writeNode(m, n));
    }
    g.string(2, model.graphName);
    for (const t of model.initializers) {
      g.message(5, m => writeTensor(m, t));
    }
    for (const v of model.inputs) {
      g.message(11, m => writeValueInfo(m, v));
    }
    for (const v of model.outputs) {
      g.message(12, m => writeValueInfo(m, v));
    }
  });
  // Standard domain only: the models must run on any ONNX Runtime build, not just ORT-training.
  w.message(8, o => {
    o.string(1, '');
    o.int(2, model.opset);
  });
  if (model.docString) {
    w.string(6, model.docString);
  }
  return w.finish();
}
