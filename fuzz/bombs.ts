/**
 * Decompression bombs for the fuzzer: gzip members of N zero bytes (a member concatenates with others
 * into one .nii.gz) and zlib streams of N zero bytes (a PNG IDAT whose rows are filter 0, pixels 0).
 * Built once per process by node:zlib from a stream of zero chunks (never holding what they inflate
 * to; fflate, which the library reads with, deflates zeros about 50x slower), before any case runs.
 */
import { createDeflate, createGzip, constants } from "node:zlib";

const cache = new Map<string, Uint8Array>();
const ZEROS = new Uint8Array(1 << 20);
/** gzip members are at most this big; larger sizes are several members. */
const MEMBER = 1 << 28;

async function build(kind: "gzip" | "zlib", n: number): Promise<Uint8Array> {
  const z = kind === "gzip" ? createGzip({ level: constants.Z_BEST_COMPRESSION }) : createDeflate({ level: constants.Z_BEST_COMPRESSION });
  const parts: Uint8Array[] = [];
  z.on("data", (c: Buffer) => parts.push(new Uint8Array(c)));
  const done = new Promise<void>((resolve, reject) => (z.on("end", resolve), z.on("error", reject)));
  for (let left = n; left > 0; left -= ZEROS.length) {
    if (!z.write(ZEROS.subarray(0, Math.min(left, ZEROS.length)))) await new Promise((r) => z.once("drain", r));
  }
  z.end();
  await done;
  return concat(parts);
}

/** Builds (once) every bomb the given sizes need; gzipZeros / zlibZeros then return them at once. */
export async function prepareBombs(sizes: { gzip: readonly number[]; zlib: readonly number[] }): Promise<void> {
  const want: [("gzip" | "zlib"), number][] = [];
  for (const n of sizes.gzip) {
    for (let left = n; left > 0; left -= MEMBER) want.push(["gzip", Math.min(left, MEMBER)]);
  }
  for (const n of sizes.zlib) want.push(["zlib", n]);
  for (const [kind, n] of want) if (!cache.has(`${kind}:${n}`)) cache.set(`${kind}:${n}`, await build(kind, n));
}

function get(kind: "gzip" | "zlib", n: number): Uint8Array {
  const hit = cache.get(`${kind}:${n}`);
  if (!hit) throw new Error(`fuzz: the ${kind} bomb of ${n} bytes was not prepared (prepareBombs)`);
  return hit;
}

/** Gzip members that inflate to n zero bytes. */
export function gzipZeros(n: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let left = n; left > 0; left -= MEMBER) parts.push(get("gzip", Math.min(left, MEMBER)));
  return concat(parts);
}

/** A zlib stream that inflates to n zero bytes. */
export function zlibZeros(n: number): Uint8Array {
  return get("zlib", n);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
