/**
 * Running the exported graphs with onnxruntime-web (an optional peer dependency, imported when first
 * needed): `OnnxSessions` opens encoder.onnx and lm.onnx (with their external data) and runs the
 * encoder (act.* out) and the language model (logits and the KV cache). CPU by default (the WASM
 * execution provider, in Node and browsers); other providers are a session option.
 * Legend: B batch · D,H,W volume · L text tokens · d lm width · KV kv heads · dh head size · V vocab.
 */
import { FormatError, ValueError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../tensor.js";
import { ONNX_FILES } from "./build.js";
import { pastKey, pastValue, presentKey, presentValue } from "./lm.js";

type Ort = typeof import("onnxruntime-web");
type OrtSession = Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;
type OrtTensor = InstanceType<Ort["Tensor"]>;

let ortModule: Promise<Ort> | null = null;
/** onnxruntime-web, one thread, no proxy worker; a FormatError-free ValueError when it is not installed. */
async function loadOrt(): Promise<Ort> {
  ortModule ??= import("onnxruntime-web").then((ort) => {
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
    return ort;
  }, () => {
    ortModule = null;
    throw new ValueError("onnx: onnxruntime-web: expected the package to be installed (npm install onnxruntime-web), got nothing");
  });
  return ortModule;
}

/** The bytes of one graph file and its external data file (null when inline). */
export interface GraphBytes {
  model: Uint8Array;
  data: Uint8Array | null;
}
export interface SessionOptions {
  /** onnxruntime execution providers, default ["wasm"] (CPU). */
  executionProviders?: string[];
  /** Threads of the WASM provider (fixed by onnxruntime when its wasm starts; default 1). */
  threads?: number;
}

/** The KV cache of lm.onnx: per layer keys and values [B, KV, P, dh]. */
export type OnnxCache = { key: OrtTensor; value: OrtTensor }[];

export class OnnxSessions {
  private constructor(private readonly ort: Ort, readonly cfg: ModelConfig, readonly encoder: OrtSession, readonly lm: OrtSession) {}

  /** Opens both graphs; `cfg` is the model's (its shapes size the empty cache). */
  static async open(cfg: ModelConfig, files: { encoder: GraphBytes; lm: GraphBytes }, o: SessionOptions = {}): Promise<OnnxSessions> {
    const ort = await loadOrt();
    if (o.threads !== undefined) ort.env.wasm.numThreads = o.threads;
    else if (!ort.env.wasm.numThreads) ort.env.wasm.numThreads = 1;
    const open = async (name: string, f: GraphBytes) => {
      try {
        return await ort.InferenceSession.create(f.model, {
          executionProviders: o.executionProviders ?? ["wasm"], graphOptimizationLevel: "all",
          ...(f.data ? { externalData: [{ path: `${name}.data`, data: f.data }] } : {}),
        });
      } catch (e) {
        throw new FormatError(`${name}: onnxruntime could not load the graph: ${(e as Error).message}`);
      }
    };
    return new OnnxSessions(ort, cfg, await open(ONNX_FILES.encoder, files.encoder), await open(ONNX_FILES.lm, files.lm));
  }

  /** volume [B, 1, D, H, W], ids [B, L] -> every output of encoder.onnx by name (act.*), as our Tensors. */
  async encode(volume: F32Tensor, ids: I32Tensor): Promise<Map<string, Tensor>> {
    const res = await this.encoder.run({ volume: this.f32(volume), ids: this.i64(ids) });
    return new Map(Object.entries(res).map(([name, t]) => [name, fromOrt(t)]));
  }

  /** An empty cache (P = 0) for B sequences. */
  emptyCache(B: number): OnnxCache {
    const lm = this.cfg.lm, dims = [B, lm.kvHeads, 0, lm.width / lm.heads];
    return Array.from({ length: lm.layers }, () => ({ key: new this.ort.Tensor("float32", new Float32Array(0), dims), value: new this.ort.Tensor("float32", new Float32Array(0), dims) }));
  }

  /** ids [B, n] appended after the cache (z [B, m, d] fills the <image> positions) -> logits [B, n, V] and the longer cache. */
  async extend(ids: I32Tensor, z: F32Tensor, cache: OnnxCache): Promise<{ logits: F32Tensor; cache: OnnxCache }> {
    const feeds: Record<string, OrtTensor> = { ids: this.i64(ids), image: this.f32(z) };
    cache.forEach((c, l) => {
      feeds[pastKey(l)] = c.key;
      feeds[pastValue(l)] = c.value;
    });
    const res = await this.lm.run(feeds);
    const next = cache.map((_, l) => ({ key: res[presentKey(l)], value: res[presentValue(l)] }));
    return { logits: fromOrt(res.logits) as F32Tensor, cache: next };
  }

  async release(): Promise<void> {
    await this.encoder.release();
    await this.lm.release();
  }

  private f32(t: F32Tensor): OrtTensor {
    return new this.ort.Tensor("float32", t.data, [...t.shape]);
  }
  private i64(t: I32Tensor): OrtTensor {
    return new this.ort.Tensor("int64", BigInt64Array.from(t.data, (x) => BigInt(x)), [...t.shape]);
  }
}

/** An onnxruntime tensor as ours: float32 as f32, int32 as i32 (the graphs output no other type). */
function fromOrt(t: OrtTensor): Tensor {
  const dims = [...t.dims];
  if (t.type === "float32") return new Tensor("f32", dims, Float32Array.from(t.data as Float32Array));
  if (t.type === "int32") return new Tensor("i32", dims, Int32Array.from(t.data as Int32Array));
  throw new FormatError(`onnx: output: expected float32 or int32, got ${t.type}`);
}
