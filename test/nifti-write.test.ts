/**
 * writeNifti: exact round trips through readNifti (bits of float32 and int16 voxels, affine,
 * spacing), header fields as nifti-reader-js decodes them, a qform equal to the sform, gzip bytes
 * that node:zlib inflates to the plain file, deterministic output, and every refused input.
 */
import fc from "fast-check";
import { NIFTI1 } from "nifti-reader-js";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ShapeError, ValueError } from "../src/errors.js";
import { readNifti } from "../src/io/nifti.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { assertClose, assertSameBits } from "./util/close.js";
import { check, data, dataSeed, dim, ints } from "./util/prop.js";

/** A canonical affine with float32-exact entries: spacing from a small set, integer origin. */
const spacingArb = fc.tuple(...[0, 1, 2].map(() => fc.constantFrom(0.5, 0.75, 1, 1.25, 2.5, 5)));
const canon = (s: number[], o: number[]) => [[-s[2], 0, 0, o[0]], [0, -s[1], 0, o[1]], [0, 0, s[0], o[2]], [0, 0, 0, 1]];

function header(bytes: Uint8Array): NIFTI1 {
  const h = new NIFTI1();
  h.readHeader(bytes.slice(0, 352).buffer);
  return h;
}

describe("writeNifti -> readNifti round trip", () => {
  it("float32 and int16 volumes, plain and gzip: same bits, shape, affine, spacing", () => {
    // exact (bits), spacing exact: the canonical affine's columns are axis-aligned
    const arb = fc.record({
      D: dim(5), H: dim(6), W: dim(7), s: spacingArb, o: fc.tuple(...[0, 1, 2].map(() => fc.integer({ min: -300, max: 300 }))),
      int16: fc.boolean(), gzip: fc.boolean(), seed: dataSeed,
    });
    check(arb, ({ D, H, W, s, o, int16, gzip, seed }) => {
      const n = D * H * W;
      const values = int16 ? Int16Array.from(ints(seed, n, -32768, 32768)) : data(seed, n, -3000, 3000);
      if (!int16 && n >= 4) values.set([3.4028234663852886e38, -0, 1.4e-45, -1.1754942e-38]); // extremes keep their bits
      const affine = canon(s, o);
      const vol = readNifti(writeNifti({ data: values, shape: [D, H, W], affine }, { gzip }));
      expect(vol.shape).toEqual([D, H, W]);
      expect(vol.affine).toEqual(affine);
      expect(vol.spacing).toEqual(s);
      expect(vol.meta).toMatchObject({ datatype: int16 ? "int16" : "float32", gzip, orientationSource: "sform", version: 1 });
      assertSameBits("round trip", vol.data, Float32Array.from(values));
    }, 60);
  });

  it("a NiftiVolume written back reads back identical (the reader's output is canonical)", () => {
    const v1 = readNifti(writeNifti({ data: data(1, 60), shape: [3, 4, 5], affine: [[0.5, 0, 0, 1], [0, 0.5, 0, 2], [0, 0, 2, 3], [0, 0, 0, 1]] }));
    const v2 = readNifti(writeNifti(v1));
    assertSameBits("twice", v2.data, v1.data);
    expect(v2.affine).toEqual(v1.affine);
    expect(v1.meta.sourceAxcodes).toBe("RAS");
    expect(v2.meta.sourceAxcodes).toBe("LPS");
  });

  it("datatype override: Float32Array of integers stored as int16, Int16Array stored as float32", () => {
    const a = writeNifti({ data: Float32Array.from([1, -2, 300]), shape: [1, 1, 3], affine: canon([1, 1, 1], [0, 0, 0]), datatype: "int16" });
    expect(header(a).datatypeCode).toBe(4);
    expect(Array.from(readNifti(a).data)).toEqual([1, -2, 300]);
    const b = writeNifti({ data: Int16Array.from([7, -8]), shape: [1, 1, 2], affine: canon([1, 1, 1], [0, 0, 0]), datatype: "float32" });
    expect(header(b).datatypeCode).toBe(16);
    expect(Array.from(readNifti(b).data)).toEqual([7, -8]);
  });
});

describe("writeNifti: the header", () => {
  const affine = canon([2.5, 0.75, 1.25], [10, -20, 30]);
  const bytes = writeNifti({ data: data(3, 2 * 3 * 4), shape: [2, 3, 4], affine });
  it("fields as nifti-reader-js decodes them", () => {
    const h = header(bytes);
    expect(h.littleEndian).toBe(true);
    expect(h.magic).toBe("n+1");
    expect(h.dims).toEqual([3, 4, 3, 2, 1, 1, 1, 1]);
    expect(h.datatypeCode).toBe(16);
    expect(h.numBitsPerVoxel).toBe(32);
    expect(h.vox_offset).toBe(352);
    expect(h.pixDims.slice(0, 4)).toEqual([1, 1.25, 0.75, 2.5]); // qfac 1: det(diag(-1.25, -0.75, 2.5)) > 0
    expect(h.xyzt_units).toBe(2);
    expect([h.qform_code, h.sform_code]).toEqual([1, 1]);
    expect([h.scl_slope, h.scl_inter]).toEqual([0, 0]); // no scaling
    expect(h.affine).toEqual(affine); // its choice when the codes tie: the sform
    expect(bytes.length).toBe(352 + 4 * 24);
  });
  it("the qform describes the same affine: with sform_code 0 the file reads the same", () => {
    // 1e-6 relative: the quaternion is float32
    for (const A of [affine, canon([1, 1, 1], [0, 0, 0]), [[0, 0, 2, 5], [-1, 0, 0, 6], [0, 1.5, 0, 7], [0, 0, 0, 1]], rotated(33)]) {
      const b = writeNifti({ data: data(4, 24), shape: [2, 3, 4], affine: A });
      const withSform = readNifti(b);
      b[254] = 0; // sform_code -> 0 (little-endian int16)
      const h = header(b);
      expect(h.qform_code).toBe(1);
      assertClose("library qform", h.affine.flat(), A.flat(), { atol: 1e-5, rtol: 1e-6 });
      const viaQform = readNifti(b);
      expect(viaQform.meta.orientationSource).toBe("qform");
      assertSameBits("qform data", viaQform.data, withSform.data);
      assertClose("qform affine", viaQform.affine.flat(), withSform.affine.flat(), { atol: 1e-5, rtol: 1e-6 });
    }
  });
  it("a sheared affine is written as sform only (qform_code 0)", () => {
    const A = [[1, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    const b = writeNifti({ data: data(5, 8), shape: [2, 2, 2], affine: A });
    expect([header(b).qform_code, header(b).sform_code]).toEqual([0, 1]);
    expect(readNifti(b).meta.orientationSource).toBe("sform");
  });
});

function rotated(deg: number): number[][] {
  const c = Math.cos((deg * Math.PI) / 180), s = Math.sin((deg * Math.PI) / 180);
  return [[-c, s, 0, 1], [-s, -c, 0, 2], [0, 0, 3, 4], [0, 0, 0, 1]];
}

describe("writeNifti: gzip and determinism", () => {
  it("the same volume gives the same bytes; gzip inflates (node:zlib) to the plain file", () => {
    const vol = { data: data(6, 5 * 17 * 3, -1000, 1000), shape: [5, 17, 3], affine: canon([1, 2, 3], [4, 5, 6]) };
    const plain = writeNifti(vol), gz = writeNifti(vol, { gzip: true });
    expect(writeNifti(vol)).toEqual(plain);
    expect(writeNifti(vol, { gzip: true })).toEqual(gz);
    expect(new Uint8Array(gunzipSync(gz))).toEqual(plain);
    expect([gz[0], gz[1], gz[4], gz[5], gz[6], gz[7]]).toEqual([0x1f, 0x8b, 0, 0, 0, 0]); // magic, mtime 0
  });
});

describe("writeNifti: refused inputs", () => {
  const A = canon([1, 1, 1], [0, 0, 0]);
  it("shape, data, datatype, affine", () => {
    expect(() => writeNifti({ data: new Float32Array(6), shape: [2, 3], affine: A })).toThrow(ShapeError);
    expect(() => writeNifti({ data: new Float32Array(5), shape: [1, 2, 3], affine: A })).toThrow(/expected a Float32Array or Int16Array of 6 elements/);
    expect(() => writeNifti({ data: new Float64Array(6) as unknown as Float32Array, shape: [1, 2, 3], affine: A })).toThrow(ShapeError);
    expect(() => writeNifti({ data: new Float32Array(1), shape: [1, 1, 40000], affine: A })).toThrow(/\[1, 32767\]/);
    expect(() => writeNifti({ data: Float32Array.from([1, NaN]), shape: [1, 1, 2], affine: A })).toThrow(/data\[1\]: expected a finite value/);
    expect(() => writeNifti({ data: Float32Array.from([1.5]), shape: [1, 1, 1], affine: A, datatype: "int16" })).toThrow(/int16 needs integers/);
    expect(() => writeNifti({ data: Float32Array.from([40000]), shape: [1, 1, 1], affine: A, datatype: "int16" })).toThrow(ValueError);
    expect(() => writeNifti({ data: new Float32Array(1), shape: [1, 1, 1], affine: A, datatype: "uint8" as "int16" })).toThrow(/datatype/);
    expect(() => writeNifti({ data: new Float32Array(1), shape: [1, 1, 1], affine: A.slice(0, 3) })).toThrow(/affine: expected 4x4/);
    expect(() => writeNifti({ data: new Float32Array(1), shape: [1, 1, 1], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]] })).toThrow(/affine/);
    expect(() => writeNifti({ data: new Float32Array(1), shape: [1, 1, 1], affine: [[1, 0, 0, 0], [2, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] })).toThrow(/singular/);
  });
});
