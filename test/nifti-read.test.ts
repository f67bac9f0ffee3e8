/**
 * readNifti on files built byte by byte (test/nifti-fixtures.ts): every datatype in both byte orders
 * and both versions, plain and gzip (fflate and node:zlib, multi-member), scl_slope / scl_inter, 4D,
 * and one constructed bad file per FormatError. Values are exact: the expected voxel is
 * Math.fround(raw * slope + inter) computed in float64, compared bit for bit.
 */
import fc from "fast-check";
import { gzipSync as fflateGzip } from "fflate";
import { gzipSync as zlibGzip } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FormatError, ValueError } from "../src/errors.js";
import { readNifti } from "../src/io/nifti.js";
import { Rng } from "../src/rng.js";
import { assertSameBits } from "./util/close.js";
import { check, dataSeed, dim } from "./util/prop.js";
import { buildNifti, type FixtureFields } from "./nifti-fixtures.js";

/** A canonical (LPS) sform with spacing (sw, sh, sd) = (0.75, 1.25, 2.5): files read in file order. */
const LPS_SROW = [[-0.75, 0, 0, 10], [0, -1.25, 0, -20], [0, 0, 2.5, 30]];
const lps = (f: FixtureFields): FixtureFields => ({ sformCode: 1, srow: LPS_SROW, ...f });

const TYPES = [
  { code: 2, lo: 0, hi: 255 }, { code: 256, lo: -128, hi: 127 },
  { code: 4, lo: -32768, hi: 32767 }, { code: 512, lo: 0, hi: 65535 },
  { code: 8, lo: -(2 ** 31), hi: 2 ** 31 - 1 }, { code: 768, lo: 0, hi: 2 ** 32 - 1 },
  { code: 16, lo: -3.4028234663852886e38, hi: 3.4028234663852886e38 }, { code: 64, lo: -1e38, hi: 1e38 },
];

/** n raw values of a datatype: both extremes first, then integers (or floats) spread over the range. */
function rawValues(code: number, n: number, seed: number): number[] {
  const t = TYPES.find((x) => x.code === code)!;
  const r = new Rng(seed);
  const out = [t.lo, t.hi];
  const float = code === 16 || code === 64;
  while (out.length < n) {
    const u = r.uniform();
    if (float) out.push(r.uniform() < 0.5 ? (u - 0.5) * 2000 : (u - 0.5) * 2 * t.hi);
    else out.push(Math.min(t.hi, t.lo + Math.floor(u * (t.hi - t.lo + 1))));
  }
  if (float && n > 2) out[2] = -0; // sign of zero survives
  return out.slice(0, n);
}

function expectFormatError(bytes: Uint8Array, re: RegExp, opts = {}): void {
  let err: unknown;
  try {
    readNifti(bytes, opts);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  expect((err as Error).message).toMatch(re);
}

describe("readNifti: datatypes, byte order, versions, gzip", () => {
  it("every datatype in both byte orders and versions, plain and gzip, reads exactly", () => {
    // exact: expected = Math.fround(raw), compared bit for bit
    const arb = fc.record({
      nx: dim(7), ny: dim(5), nz: dim(5), t: fc.integer({ min: 0, max: 7 }), le: fc.boolean(),
      version: fc.constantFrom(1 as const, 2 as const), gzip: fc.boolean(), seed: dataSeed,
    });
    check(arb, ({ nx, ny, nz, t, le, version, gzip, seed }) => {
      const code = TYPES[t].code;
      const values = rawValues(code, nx * ny * nz, seed);
      let bytes = buildNifti(lps({ version, littleEndian: le, datatype: code, dims: [nx, ny, nz], values }));
      if (gzip) bytes = fflateGzip(bytes);
      const vol = readNifti(bytes);
      expect(vol.shape).toEqual([nz, ny, nx]);
      expect(vol.meta).toMatchObject({ version, littleEndian: le, gzip, orientationSource: "sform", sourceAxcodes: "LPS", scaling: null });
      assertSameBits("datatype " + code, vol.data, Float32Array.from(values));
    }, 80);
  });

  it("uint32 and int32 beyond 2^24 round to nearest float32; float64 beyond float32 is an error", () => {
    const vol = readNifti(buildNifti(lps({ datatype: 768, values: [2 ** 32 - 1, 2 ** 24 + 1, 16777219] })));
    expect(Array.from(vol.data)).toEqual([2 ** 32, 2 ** 24, 16777220]);
    expectFormatError(buildNifti(lps({ datatype: 64, dims: [2, 1, 1], values: [1, 1e39] })), /voxel \(i, j, k\) = \(1, 0, 0\) is Infinity after float32 rounding/);
  });

  it("gzip from node:zlib, a multi-member stream and the fflate stream all read the same", () => {
    const values = rawValues(4, 5 * 3 * 17, 7);
    const plain = buildNifti(lps({ datatype: 4, dims: [5, 3, 17], values }));
    const want = readNifti(plain).data;
    const members = new Uint8Array([...zlibGzip(plain.subarray(0, 400)), ...zlibGzip(plain.subarray(400))]);
    for (const gz of [zlibGzip(plain), fflateGzip(plain, { level: 9 }), members]) {
      const vol = readNifti(gz);
      expect(vol.meta.gzip).toBe(true);
      assertSameBits("gzip", vol.data, want);
    }
  });

  it("an ArrayBuffer, a Uint8Array at an odd offset and trailing bytes after the data are fine", () => {
    const bytes = buildNifti(lps({ datatype: 16, dims: [3, 1, 1], values: [1.5, -2, 3] }));
    const odd = new Uint8Array(bytes.length + 5);
    odd.set(bytes, 1);
    for (const input of [bytes.slice().buffer, odd.subarray(1, 1 + bytes.length), odd.subarray(1)]) {
      expect(Array.from(readNifti(input).data)).toEqual([1.5, -2, 3]);
    }
  });

  it("vox_offset past the header (an extension block in between) is honoured in both versions", () => {
    for (const version of [1, 2] as const) {
      const bytes = buildNifti(lps({ version, voxOffset: 1024, datatype: 4, dims: [2, 2, 1], values: [1, 2, 3, 4] }));
      bytes.fill(0xab, version === 1 ? 352 : 544, 1024); // junk where extensions would be
      bytes[version === 1 ? 348 : 540] = 1; // extension flag set
      expect(Array.from(readNifti(bytes).data)).toEqual([1, 2, 3, 4]);
    }
  });
});

describe("readNifti: scl_slope / scl_inter", () => {
  it("valid scaling is applied once: fround(raw * slope + inter), in both versions", () => {
    // exact; the NIfTI-2 case uses float64 slope/intercept that float32 cannot hold
    const raw = [-32768, -1024, 0, 1, 7, 32767];
    for (const [version, slope, inter] of [[1, 0.5, -1024], [1, -2, 3.25], [2, 0.1, -1000.3], [1, 1, 0]] as const) {
      const vol = readNifti(buildNifti(lps({ version, datatype: 4, values: raw, sclSlope: slope, sclInter: inter })));
      const s = version === 1 ? Math.fround(slope) : slope, b = version === 1 ? Math.fround(inter) : inter;
      expect(vol.meta.scaling).toEqual({ slope: s, inter: b });
      assertSameBits("scl", vol.data, Float32Array.from(raw, (x) => x * s + b));
    }
  });

  it("slope 0, NaN or infinite means no scaling (the intercept is then ignored too)", () => {
    for (const slope of [0, NaN, Infinity, -Infinity]) {
      const vol = readNifti(buildNifti(lps({ datatype: 4, values: [5, -7], sclSlope: slope, sclInter: 100 })));
      expect(vol.meta.scaling).toBeNull();
      expect(Array.from(vol.data)).toEqual([5, -7]);
    }
  });

  it("a valid slope with a non-finite intercept, or a scaled value beyond float32, is an error", () => {
    expectFormatError(buildNifti(lps({ datatype: 4, values: [1], sclSlope: 2, sclInter: NaN })), /scl_inter/);
    expectFormatError(buildNifti(lps({ datatype: 4, dims: [2, 1, 1], values: [1, 30000], sclSlope: 1e36 })), /after scl_slope \/ scl_inter/);
  });
});

describe("readNifti: 4D", () => {
  const vols = (n: number) => buildNifti(lps({ datatype: 4, dim: [4, 2, 2, 1, n, 1, 1, 1], values: Array.from({ length: 4 * n }, (_, i) => i) }));
  it("dim[0] = 4 with dim[4] = 1 is a 3D volume", () => {
    const vol = readNifti(vols(1));
    expect(vol.shape).toEqual([1, 2, 2]);
    expect(vol.meta.warnings).toEqual([]);
  });
  it("dim[4] > 1 is refused by default; volumes: 'first' reads volume 0 with a warning", () => {
    expectFormatError(vols(3), /dim\[4\]: 3 volumes/);
    const vol = readNifti(vols(3), { volumes: "first" });
    expect(Array.from(vol.data)).toEqual([0, 1, 2, 3]);
    expect(vol.meta.volumes).toBe(3);
    expect(vol.meta.warnings).toEqual(["dim[4] = 3 volumes: only volume 0 was read"]);
    // only the first volume has to be present, also in a gzip stream
    const cut = vols(3).subarray(0, 352 + 8);
    expect(Array.from(readNifti(fflateGzip(cut), { volumes: "first" }).data)).toEqual([0, 1, 2, 3]);
  });
  it("the refusal names options that exist; volumes: N reads volume N, an index past dim[4] is a ValueError", () => {
    expectFormatError(vols(3), /pick one \(option volumes: "first" or an index; CLI --volumes first\|N\)$/);
    const vol = readNifti(vols(3), { volumes: 2 });
    expect(Array.from(vol.data)).toEqual([8, 9, 10, 11]);
    expect(vol.meta.warnings).toEqual(["dim[4] = 3 volumes: only volume 2 was read"]);
    expect(() => readNifti(vols(3), { volumes: 3 })).toThrow(/volumes: expected a volume index in \[0, 2\] \(dim\[4\] = 3\), got 3/);
    expect(() => readNifti(vols(3), { volumes: -1 })).toThrow(ValueError);
    // volume 2 of a stream cut after volume 1 is truncated
    expectFormatError(vols(3).subarray(0, 352 + 16), /data: truncated/, { volumes: 2 });
  });
});

describe("readNifti: every FormatError names its field", () => {
  const good = () => buildNifti(lps({ datatype: 4, dims: [3, 2, 2], values: Array.from({ length: 12 }, (_, i) => i) }));
  it("not NIfTI, wrong magic, a .hdr/.img pair", () => {
    expectFormatError(new TextEncoder().encode("hello, this is not a NIfTI file at all"), /sizeof_hdr: expected 348 .* or 540/);
    expectFormatError(buildNifti(lps({ values: [1], magic: [0x61, 0x62, 0x63, 0] })), /magic: expected "n\+1\\u0000", got "abc\\u0000"/);
    expectFormatError(buildNifti(lps({ values: [1], magic: [0x6e, 0x69, 0x31, 0] })), /magic: .*\.hdr\/\.img pair/);
    expectFormatError(buildNifti(lps({ version: 2, values: [1], magic: [0x6e, 0x2b, 0x32, 0, 0, 0, 0, 0] })), /magic/);
  });
  it("truncated header, truncated data, truncated or corrupt gzip", () => {
    expectFormatError(good().subarray(0, 2), /header: truncated/);
    expectFormatError(good().subarray(0, 300), /header: truncated: NIfTI-1 needs 348 bytes, got 300/);
    expectFormatError(buildNifti(lps({ version: 2, values: [1] })).subarray(0, 500), /NIfTI-2 needs 540/);
    expectFormatError(good().subarray(0, good().length - 1), /data: truncated: .* needs 376 bytes, got 375/);
    const gz = fflateGzip(good());
    expectFormatError(gz.subarray(0, gz.length - 12), /gzip|data: truncated/);
    const bad = gz.slice();
    bad.fill(0xff, 10, 40);
    expectFormatError(bad, /gzip: corrupt or truncated/);
  });
  it("dim[0], zero and negative extents", () => {
    for (const d0 of [0, 2, 5, 7, -1]) expectFormatError(buildNifti(lps({ dim: [d0, 1, 1, 1, 1, 1, 1, 1], values: [1] })), /dim\[0\]: expected 3 .* or 4/);
    expectFormatError(buildNifti(lps({ dim: [3, 1, 0, 1, 1, 1, 1, 1], values: [1] })), /dim\[2\]: expected a positive extent, got 0/);
    expectFormatError(buildNifti(lps({ dim: [3, 1, 1, -4, 1, 1, 1, 1], values: [1] })), /dim\[3\]: .* got -4/);
    expectFormatError(buildNifti(lps({ version: 2, dim: [4, 1, 1, 1, 0, 1, 1, 1], values: [1] })), /dim\[4\]/);
  });
  it("unsupported datatypes: RGB, complex, 64-bit integers, unknown codes", () => {
    expectFormatError(buildNifti(lps({ datatype: 128, values: [0] })), /datatype: RGB24 \(128\) is not supported/);
    expectFormatError(buildNifti(lps({ datatype: 32, values: [0] })), /datatype: complex64 \(32\)/);
    expectFormatError(buildNifti(lps({ datatype: 1024, values: [0] })), /datatype: int64 \(1024\)/);
    expectFormatError(buildNifti(lps({ datatype: 3, values: [0] })), /datatype: unknown code 3/);
  });
  it("non-finite voxels name the voxel (i, j, k) in file order", () => {
    const values = Array.from({ length: 12 }, (_, i) => (i === 7 ? NaN : i));
    expectFormatError(buildNifti(lps({ dims: [3, 2, 2], values })), /voxel \(i, j, k\) = \(1, 0, 1\) is NaN/);
    expectFormatError(buildNifti(lps({ datatype: 64, values: [-Infinity] })), /is -Infinity/);
  });
  it("image larger than the limit: refused from the header, before any allocation or gunzip", () => {
    const huge = buildNifti(lps({ dim: [3, 1024, 1024, 1024, 1, 1, 1, 1], values: [1] }));
    expectFormatError(huge, /dim\[1\.\.3\]: 1024 x 1024 x 1024 = 1073741824 voxels, more than the limit 134217728/);
    expectFormatError(fflateGzip(huge), /more than the limit/);
    expectFormatError(good(), /limit 11 \(option maxVoxels\)/, { maxVoxels: 11 });
    expect(readNifti(good(), { maxVoxels: 12 }).shape).toEqual([2, 2, 3]);
  });
  it("vox_offset, sform, qform pixdim", () => {
    expectFormatError(buildNifti(lps({ voxOffset: 348, values: [1] })), /vox_offset: expected an integer >= 352/);
    expectFormatError(buildNifti(lps({ voxOffset: 352.5, values: [1] })), /vox_offset/);
    expectFormatError(buildNifti(lps({ version: 2, voxOffset: 540, values: [1] })), /vox_offset: expected an integer >= 544/);
    expectFormatError(buildNifti({ sformCode: 2, srow: [[1, 0, 0, 0], [0, NaN, 0, 0], [0, 0, 1, 0]], values: [1] }), /srow_y: expected finite/);
    expectFormatError(buildNifti({ sformCode: 1, srow: [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]], values: [1] }), /srow_x\/srow_y\/srow_z: .* singular/);
    expectFormatError(buildNifti({ qformCode: 1, pixdim: [1, 1, 0, 1, 1, 1, 1, 1], values: [1] }), /pixdim\[2\]: expected a positive voxel size/);
    expectFormatError(buildNifti({ pixdim: [1, 1, 1, -3, 1, 1, 1, 1], values: [1] }), /pixdim\[3\]/);
    expectFormatError(buildNifti({ qformCode: 1, quatern: [0, NaN, 0], values: [1] }), /quatern_c/);
  });
  it("bad options are ValueErrors; a bitpix mismatch is only a warning", () => {
    expect(() => readNifti(good(), { maxVoxels: 0 })).toThrow(ValueError);
    expect(() => readNifti(good(), { maxVoxels: 2 ** 31 })).toThrow(ValueError);
    expect(() => readNifti(good(), { volumes: "all" as "first" })).toThrow(ValueError);
    const vol = readNifti(buildNifti(lps({ datatype: 4, bitpix: 8, values: [3] })));
    expect(vol.meta.warnings.join()).toMatch(/bitpix 8 disagrees with datatype int16/);
  });
  it("errors carry the file label", () => {
    expect(() => readNifti(good().subarray(0, 10), { file: "ct_042.nii" })).toThrow(/^ct_042\.nii: /);
  });
});

describe("readNifti: determinism", () => {
  it("the same bytes give the same bits, plain and gzip", () => {
    const bytes = buildNifti(lps({ datatype: 64, dims: [5, 3, 1], values: rawValues(64, 15, 3), sclSlope: 0.3, sclInter: 0.1 }));
    assertSameBits("read twice", readNifti(bytes).data, readNifti(fflateGzip(bytes)).data);
  });
});
