/**
 * What the fuzzer runs on each input, per format: the library's readers, each on bytes and on a
 * ByteSource (the file path), which must agree (same bits, or the same error). A case passes when
 * it returns or throws a TghError; anything else is a finding. Limits are set so that the largest
 * legal input fits the budget of 2 s and 256 MB, both reads included: volumes of 2^22 voxels (16 MiB as
 * float32; a .nii.gz of that many zeros inflates in about 0.3 s with fflate), PNGs of 2^24 bytes.
 * The selftest-* targets misbehave on purpose, so a test can check that the harness catches each kind.
 */
import { parseModel, parseModelSource } from "../src/api.js";
import { TghError } from "../src/errors.js";
import { readNifti, readNiftiSource } from "../src/io/nifti.js";
import { readSafetensors, readSafetensorsSource } from "../src/io/safetensors.js";
import { bytesSource } from "../src/io/source.js";
import { preprocess } from "../src/preprocess/index.js";
import { decodePng } from "../src/viz/png.js";

export const FUZZ_MAX_VOXELS = 2 ** 22;
export const FUZZ_MAX_PNG_BYTES = 2 ** 24;
export const SELFTESTS = ["selftest-hang", "selftest-memory", "selftest-crash", "selftest-untyped"] as const;

/** FNV-1a over the bytes of typed arrays: a digest to compare two reads. */
function digest(...arrays: ArrayBufferView[]): string {
  let h = 0x811c9dc5;
  for (const a of arrays) {
    const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  }
  return (h >>> 0).toString(16);
}

type Outcome = { ok: true; digest: string } | { ok: false; error: unknown };

async function outcome(f: () => string | Promise<string>): Promise<Outcome> {
  try {
    return { ok: true, digest: await f() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Both ways must give the same result; returns it (a typed error rethrown), or throws a plain Error on disagreement. */
async function agree(what: string, a: () => string, b: () => Promise<string>): Promise<string> {
  const [x, y] = [await outcome(a), await outcome(b)];
  if (x.ok && y.ok && x.digest === y.digest) return x.digest;
  if (!x.ok && !(x.error instanceof TghError)) throw x.error;
  if (!y.ok && !(y.error instanceof TghError)) throw y.error;
  if (!x.ok && !y.ok && (x.error as Error).message === (y.error as Error).message) throw x.error;
  const show = (o: Outcome) => (o.ok ? `ok ${o.digest}` : `${(o.error as Error).name}: ${(o.error as Error).message}`);
  throw new Error(`differential: ${what}: bytes gave ${show(x)}; ByteSource gave ${show(y)}`);
}

/** A CT-like volume for a checkpoint's preset: 8 x 16 x 16 voxels of 2.5 x 1 x 1 mm. */
const VOLUME = {
  data: Float32Array.from({ length: 8 * 16 * 16 }, (_, i) => ((i * 37) % 2000) - 1000),
  shape: [8, 16, 16], spacing: [2.5, 1, 1],
  affine: [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]],
};

export async function runTarget(format: string, bytes: Uint8Array): Promise<string> {
  switch (format) {
    case "nii":
    case "niigz":
    case "nifti2": {
      const o = { maxVoxels: FUZZ_MAX_VOXELS, file: "case" };
      const read = (v: ReturnType<typeof readNifti>) => `${v.shape.join("x")}:${digest(v.data)}:${v.affine.flat().join(",")}`;
      return agree("readNifti", () => read(readNifti(bytes, o)), async () => read(await readNiftiSource(bytesSource(bytes, "case"), o)));
    }
    case "safetensors": {
      const read = (c: ReturnType<typeof readSafetensors>) => [...c.tensors].map(([n, t]) => `${n}${t.shape.join("x")}:${digest(t.data)}`).join(";");
      return agree("readSafetensors", () => read(readSafetensors(bytes, { file: "case" })), async () => read(await readSafetensorsSource(bytesSource(bytes, "case"))));
    }
    case "checkpoint": {
      const read = (c: ReturnType<typeof parseModel>) => {
        const input = c.preprocess ? preprocess(VOLUME, c.preprocess).data : null;
        return `${c.params.size}:${digest(...[...c.params.values()].map((t) => t.data))}:${input ? digest(input.data) : "-"}`;
      };
      return agree("parseModel", () => read(parseModel(bytes, "case")), async () => read(await parseModelSource(bytesSource(bytes, "case"))));
    }
    case "png": {
      const img = decodePng(bytes, { maxBytes: FUZZ_MAX_PNG_BYTES });
      return `${img.width}x${img.height}x${img.channels}:${digest(img.data)}`;
    }
    case "selftest-hang":
      for (;;) {
        // spins until the harness kills the worker
      }
    case "selftest-memory": {
      const a = new Uint8Array(300 << 20).fill(1);
      return String(a[123]);
    }
    case "selftest-crash":
      process.exit(7);
    case "selftest-untyped":
      throw new RangeError("selftest: an untyped error");
    default:
      throw new Error(`unknown fuzz format ${format}`);
  }
}
