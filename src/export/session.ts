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

/** The onnxruntime-web package name: imported by name at run time, so bundles of this library do not pull it in. */
const ORT_PACKAGE = "onnxruntime-web";
let ortModule: Promise<Ort> | null = null;
/** onnxruntime-web, no proxy worker; a ValueError naming the package when it is not installed. */
async function loadOrt(): Promise<Ort> {
  ortModule ??= (import(/* @vite-ignore */ ORT_PACKAGE) as Promise<Ort>).then((ort) => {
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
    return ort;
  }, () => {
    ortModule = null;
    throw new ValueError(`onnx: ${ORT_PACKAGE}: expected the package to be installed (npm install ${ORT_PACKAGE}) or passed as the ort option, got nothing`);
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
  /** The onnxruntime-web module to use (a page's own import); default: imported by name. */
  ort?: unknown;
}

/** The KV cache of lm.onnx: per layer keys and values [B, KV, P, dh]. */
export type OnnxCache = { key: OrtTensor; value: OrtTensor }[];

export class OnnxSessions {
  private constructor(private readonly ort: Ort, readonly cfg: ModelConfig, readonly encoder: OrtSession, readonly lm: OrtSession) {}

  /** Opens both graphs; `cfg` is the model's (its shapes size the empty cache). */
  static async open(cfg: ModelConfig, files: { encoder: GraphBytes; lm: GraphBytes }, o: SessionOptions = {}): Promise<OnnxSessions> {
    const ort = (o.ort as Ort | undefined) ?? await loadOrt();
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

  /** volume [B, 1, D, H, W], ids [B, L] -> the outputs of encoder.onnx by name (act.*; all, or those asked), as our Tensors. */
  async encode(volume: F32Tensor, ids: I32Tensor, outputs?: string[]): Promise<Map<string, Tensor>> {
    const feeds = { volume: this.f32(volume), ids: this.i64(ids) };
    const res = outputs ? await this.encoder.run(feeds, outputs) : await this.encoder.run(feeds);
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
