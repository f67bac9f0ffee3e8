/**
 * NIfTI files a hostile user could hand us, each decided from the header before any large allocation
 * or inflation: vox_offset far past the header (plain, gzip padding bombs, NIfTI-2 int64), a header
 * asking for more data than the gzip can hold, files over 2 GiB; gzip members followed by padding,
 * garbage or further members read as gzip does; and the streamed reader (ByteSource, any chunking)
 * giving the same bits as the in-memory one.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { gzipSync } from "fflate";
import { gzipSync as zlibGzip } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { FormatError } from "../src/errors.js";
import { readNifti, readNiftiSource, DEFAULT_MAX_VOX_OFFSET } from "../src/io/nifti.js";
import { readNiftiFile } from "../src/io/node.js";
import { planCanonical, reorient } from "../src/io/orient.js";
import { bytesSource } from "../src/io/source.js";
import { assertSameBits } from "./util/close.js";
import { check, dataSeed, dim } from "./util/prop.js";
import { buildNifti, fileFromCanonical, signedPermutation } from "./nifti-fixtures.js";
import { Rng } from "../src/rng.js";

const dir = mkdtempSync(join(tmpdir(), "tgh-hostile-nifti-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const values = Float32Array.from({ length: 4 * 3 * 2 }, (_, i) => i - 7);
const small = (o: Parameters<typeof buildNifti>[0] extends infer F ? Partial<F> : never = {}) => buildNifti({ dims: [4, 3, 2], values, ...o });
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};
function formatError(f: () => unknown): FormatError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error("expected a FormatError, got a result");
}

/** The file with vox_offset set (NIfTI-1 float32 at 108, NIfTI-2 int64 at 168), nothing else changed. */
function withVoxOffset(bytes: Uint8Array, x: number | bigint, version: 1 | 2): Uint8Array {
  const out = bytes.slice();
  const v = new DataView(out.buffer);
  if (version === 1) v.setFloat32(108, Number(x), true);
  else v.setBigInt64(168, BigInt(x), true);
  return out;
}

describe("vox_offset is bounded from the header", () => {
  it("1e10, 1e20 (NIfTI-1) and 2^60 (NIfTI-2) are FormatErrors naming the field and the bound, plain or gzip", () => {
    const cases: [Uint8Array, string][] = [
      [withVoxOffset(small(), 1e10, 1), "10000000000"],
      [withVoxOffset(small(), 1e20, 1), "100000002004087730000"],
      [withVoxOffset(small({ version: 2 }), 2n ** 60n, 2), "1152921504606847000"],
    ];
    for (const [bytes, shown] of cases) {
      for (const b of [bytes, gzipSync(bytes)]) {
        const e = formatError(() => readNifti(b, { file: "x.nii" }));
        expect(e.message).toBe(`x.nii: vox_offset: ${shown} is beyond the bound of ${DEFAULT_MAX_VOX_OFFSET} bytes of header and extensions (option maxVoxOffset)`);
      }
    }
  });

  it("gzip padding of 32 MiB before the voxels is refused from the header, not inflated; under the bound it reads", () => {
    const pad = 32 << 20;
    const header = withVoxOffset(small(), 352 + pad, 1).subarray(0, 352);
    const bomb = concat(gzipSync(header), new Uint8Array(zlibGzip(new Uint8Array(pad), { level: 9 })), gzipSync(new Uint8Array(values.buffer)));
    expect(bomb.length).toBeLessThan(64 << 10); // 32 MiB of zeros, about 32 KiB of gzip
    expect(formatError(() => readNifti(bomb)).message).toMatch(/vox_offset: 33554784 is beyond the bound of 16777216/);
    const ok = readNifti(bomb, { maxVoxOffset: 2 ** 26 });
    assertSameBits("after 32 MiB of padding", ok.data, readNifti(small()).data);
  });

  it("a header needing more bytes than the gzip can inflate to is truncated before anything is allocated", () => {
    const big = buildNifti({ dims: [4, 3, 2], dim: [3, 512, 512, 64, 1, 1, 1, 1], values });
    expect(formatError(() => readNifti(gzipSync(big))).message).toMatch(/data: truncated: vox_offset 352 \+ 16777216 voxels x 4 bytes needs 67109216 bytes, more than \d+ gzip bytes can hold \(deflate expands at most 1032:1\)/);
  });
});

describe("header values that underflow or overflow in float64 (found by the fuzzer)", () => {
  it("a voxel size that vanishes in mm, or an sform that overflows, is a FormatError naming the fields, not a ValueError", () => {
    const tiny = buildNifti({ version: 2, dims: [2, 2, 2], values: new Float32Array(8), pixdim: [1, 5e-324, 1, 1, 1, 1, 1, 1], xyztUnits: 3 });
    expect(formatError(() => readNifti(tiny)).message).toMatch(/^nifti: pixdim\[1\.\.3\]: the pixdim affine in mm has a zero or non-finite voxel axis or offset/);
    const huge = buildNifti({ version: 2, dims: [2, 2, 2], values: new Float32Array(8), sformCode: 1, srow: [[1e308, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], xyztUnits: 1 });
    expect(formatError(() => readNifti(huge)).message).toMatch(/^nifti: srow_x\/srow_y\/srow_z: the sform affine in mm has a zero or non-finite/);
  });
});

describe("gzip: members, padding and garbage after the data", () => {
  const gz = gzipSync(small());
  it("NUL padding, garbage or another member after the stream: read as gzip reads them", () => {
    const want = readNifti(small()).data;
    for (const tail of [new Uint8Array(512), new Uint8Array(3), new TextEncoder().encode("trailing garbage"), gz]) {
      assertSameBits(`tail of ${tail.length}`, readNifti(concat(gz, tail)).data, want);
    }
  });
  it("padding before the voxels are complete is a truncation, not a read", () => {
    const cut = gzipSync(small().subarray(0, 380));
    expect(formatError(() => readNifti(concat(cut, new Uint8Array(64)))).message).toMatch(/gzip: corrupt or truncated|data: truncated/);
  });
});

describe("the streamed reader equals the in-memory reader and the scalar reorient oracle", () => {
  it("every signed axis permutation, datatype and byte order; plain and gzip; from a ByteSource", async () => {
    const arb = fc.record({ k: fc.integer({ min: 0, max: 47 }), nx: dim(5), ny: dim(4), nz: dim(3), code: fc.constantFrom(2, 4, 16, 64, 512), le: fc.boolean(), gz: fc.boolean(), seed: dataSeed });
    const cases = fc.sample(arb, { seed: 11, numRuns: 60 });
    for (const c of cases) {
      const shape = [c.nz, c.ny, c.nx];
      const canon = Float32Array.from(new Rng(c.seed).fill(c.nx * c.ny * c.nz, 0, 200), Math.round);
      const { perm, flip } = signedPermutation(c.k);
      const lps = [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
      const f = fileFromCanonical(canon, shape, lps, perm, flip);
      let bytes = buildNifti({ dims: f.dims, values: f.values, datatype: c.code, littleEndian: c.le, sformCode: 1, srow: f.affine.slice(0, 3) });
      if (c.gz) bytes = gzipSync(bytes);
      const a = readNifti(bytes), b = await readNiftiSource(bytesSource(bytes));
      assertSameBits(`case ${JSON.stringify(c)} bytes`, a.data, canon);
      assertSameBits(`case ${JSON.stringify(c)} source`, b.data, canon);
      // the fused decoder equals decode-then-reorient (src/io/orient.ts reorient, the scalar oracle)
      const plan = planCanonical(f.affine, f.dims);
      assertSameBits("oracle", reorient(Float32Array.from(f.values), f.dims, plan), a.data);
    }
  });

  it("chunk boundaries inside a voxel (gzip inflate hands out arbitrary pieces) keep the bits", () => {
    check(fc.record({ n: dim(17), seed: dataSeed }), ({ n, seed }) => {
      const vals = new Rng(seed).fill(n * 37 * 11, -1e6, 1e6);
      const bytes = buildNifti({ dims: [n, 37, 11], values: vals, datatype: 64, littleEndian: false });
      assertSameBits("f64 big-endian via gzip", readNifti(gzipSync(bytes, { level: 0 })).data, readNifti(bytes).data);
    }, 30);
  });
});

describe("files over 2 GiB", () => {
  it("readNiftiFile reads the header and the voxels only: a 2 GiB + 10 byte file with an 8^3 volume reads", async () => {
    const vals = Float32Array.from({ length: 512 }, (_, i) => i);
    const head = buildNifti({ dims: [8, 8, 8], values: vals });
    const path = join(dir, "big.nii");
    const fd = openSync(path, "w");
    writeSync(fd, head);
    ftruncateSync(fd, 2 ** 31 + 10); // sparse: costs no disk
    closeSync(fd);
    const v = await readNiftiFile(path);
    assertSameBits("2 GiB file", v.data, readNifti(head).data);
  });
});
