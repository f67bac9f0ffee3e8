/**
 * DICOM series input (src/io/dicom.ts): a volume written as one DICOM file per slice by the
 * independent test writer (test/fixtures/dicom-writer.ts), in any of the 48 axis orders, four
 * transfer syntaxes and any file order, reads back to readNifti's array (exact) and affine; and
 * every refused input (mixed series, missing slices, uneven spacing, compressed pixels, non-CT,
 * no DICOM at all) is a typed error naming the file or tag.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FormatError, ValueError } from "../src/errors.js";
import { readDicomSeries } from "../src/io/dicom.js";
import { readNifti } from "../src/io/nifti.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { makeSample } from "../src/data/index.js";
import { matmul4, type Mat4 } from "../src/io/orient.js";
import { Rng } from "../src/rng.js";
import { assertClose, assertSameBits } from "./util/close.js";
import { check, dataSeed, dim } from "./util/prop.js";
import { signedPermutation } from "./nifti-fixtures.js";
import { TS, writeDicomSeries, type WrittenFile } from "./fixtures/dicom-writer.js";

// a synthetic chest CT of 16 slices of 64 x 64 (20 x 6 x 6 mm): the geometry the messages below name
const study = makeSample(2026, 0, [16, 64, 64]);
const nifti = readNifti(writeNifti({ data: Int16Array.from(study.volumeHU), shape: study.shape, affine: study.affine }, { gzip: true }), { file: study.id });

/** A seeded shuffle (Fisher-Yates over Rng), so file order never matters and failures replay. */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs], r = new Rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** An integer-valued HU volume (int16 CT as scanners store it) with an oblique affine: rotation about z by `deg`. */
function volume(D: number, H: number, W: number, seed: number, deg: number) {
  const r = new Rng(seed), data = new Float32Array(D * H * W);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r.uniform() * 3000) - 1024;
  const c = Math.cos((deg * Math.PI) / 180), s = Math.sin((deg * Math.PI) / 180);
  const rot: Mat4 = [[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  const affine = matmul4(rot, [[-0.75, 0, 0, 120.5], [0, -0.8, 0, -31.25], [0, 0, 2.5, -400], [0, 0, 0, 1]]);
  return { data, shape: [D, H, W] as [number, number, number], affine };
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

describe("a series written from a NIfTI volume reads back to the same array and affine", () => {
  it(`a synthetic chest CT (${study.id}, 16 x 64 x 64): every transfer syntax, files in reverse order, SliceThickness ignored`, () => {
    for (const ts of [TS.explicit, TS.implicit, TS.bigEndian, TS.deflate]) {
      const vol = readDicomSeries(writeDicomSeries(nifti, { transferSyntax: ts, sliceThickness: 99 }).reverse());
      assertSameBits(ts, vol.data, nifti.data);
      expect(vol.shape).toEqual(nifti.shape);
      expect(vol.affine).toEqual(nifti.affine); // integer affine: DS strings are exact
      expect(vol.spacing).toEqual(nifti.spacing); // from positions, not the 99 mm SliceThickness
      expect(vol.meta.sliceSpacing).toBe(nifti.spacing[0]);
      expect(vol.meta.warnings).toEqual([]);
    }
  });

  it("any of the 48 file axis orders, any file order, oblique: same canonical array (exact) and affine (DS precision)", () => {
    const arb = fc.record({ D: dim(5), H: dim(6), W: dim(7), k: fc.integer({ min: 0, max: 47 }), seed: dataSeed, deg: fc.integer({ min: -25, max: 25 }) });
    check(arb, ({ D, H, W, k, seed, deg }) => {
      const v = volume(Math.max(D, 2), H, W, seed, deg);
      const { perm, flip } = signedPermutation(k);
      const files = writeDicomSeries(v, { axes: perm as [number, number, number], flip: flip as [boolean, boolean, boolean] });
      if (files.length < 2) return; // a one-slice file grid is refused (tested below)
      const vol = readDicomSeries(shuffled(files, seed));
      expect(vol.shape).toEqual(v.shape);
      assertSameBits(`perm ${perm} flip ${flip}`, vol.data, v.data);
      assertClose("affine", vol.affine.flat(), v.affine.flat(), { atol: 1e-9, rtol: 1e-13 });
      const names = files.map((f) => f.name); // ordered along the normal (either way), whatever the input order
      expect([names, [...names].reverse()]).toContainEqual(vol.meta.files);
    }, 64);
  });

  it("rescale slope / intercept and 12-bit signed pixels map to the same HU", () => {
    const v = volume(3, 4, 5, 7, 0);
    const a = readDicomSeries(writeDicomSeries(v, { slope: 1, intercept: 0, signed: true, bitsStored: 12 }));
    const b = readDicomSeries(writeDicomSeries({ ...v, data: v.data.map((x) => x * 2) }, { slope: 2, intercept: -1024, signed: true }));
    assertSameBits("signed 12 bit", a.data, v.data);
    assertSameBits("slope 2", b.data, v.data.map((x) => x * 2));
  });
});

/** Writes the sample's series and lets `edit` spoil it; returns the reader's error. */
function errorOf(files: WrittenFile[], opts = {}): unknown {
  try {
    readDicomSeries(files, opts);
  } catch (e) {
    return e;
  }
  throw new Error("expected readDicomSeries to throw");
}

describe("refused inputs: typed errors that name the problem", () => {
  const base = () => writeDicomSeries(nifti);
  const shifted = (mm: number) => writeDicomSeries({ ...nifti, affine: nifti.affine.map((r, i) => (i === 2 ? [r[0], r[1], r[2], r[3] + mm] : r)) });

  it("mixed series: two SeriesInstanceUIDs; the series option picks one", () => {
    const other = writeDicomSeries(nifti, { seriesUid: "1.2.3.4", prefix: "B" });
    const e = errorOf([...base(), ...other]);
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).toMatch(/^mixed series: the files hold 2 series \(SeriesInstanceUID\): .*\(16 files\).*1\.2\.3\.4 "test series" \(16 files\); read one at a time \(option series, CLI --series UID\)$/);
    assertSameBits("picked", readDicomSeries([...base(), ...other], { series: "1.2.3.4" }).data, nifti.data);
    expect(() => readDicomSeries(base(), { series: "9.9" })).toThrow(ValueError);
  });

  it("mixed series: slices of another grid, or two slices at one position", () => {
    const small = writeDicomSeries({ ...nifti, data: nifti.data.subarray(0, 16 * 64 * 32), shape: [16, 64, 32] });
    expect(errorOf([...base().slice(0, 8), ...small.slice(8)])).toMatchObject({ name: "FormatError", message: expect.stringMatching(/^mixed series: \(0028,0010\/0011\) Rows x Columns differs within series .*: IM0001\.dcm has "64 x 64", IM0009\.dcm has "64 x 32"$/) });
    const dup = [...base(), { ...base()[3], name: "copy.dcm" }];
    expect(errorOf(dup)).toMatchObject({ name: "FormatError", message: expect.stringMatching(/^mixed series: two slices at the same position between .* several acquisitions or echoes/) });
  });

  it("missing slices: a gap of whole spacings", () => {
    const files = base();
    files.splice(5, 2);
    expect(errorOf(files)).toMatchObject({ name: "FormatError", message: expect.stringMatching(/^missing slices: 2 slice\(s\) missing between IM0005\.dcm \(.* mm along the normal\) and IM0008\.dcm .*gap 60\.00 mm, spacing 20\.00 mm$/) });
  });

  it("uneven spacing: one slice 7 mm off, or positions off a line", () => {
    const files = base();
    files[9] = shifted(7)[9];
    expect(errorOf(files)).toMatchObject({ name: "FormatError", message: expect.stringMatching(/^uneven spacing: gap 27\.00 mm between IM0009\.dcm .* and IM0010\.dcm .*, while the spacing is 20\.00 mm/) });
    const bent = base();
    bent[4] = writeDicomSeries({ ...nifti, affine: nifti.affine.map((r, i) => (i === 0 ? [r[0], r[1], r[2], r[3] + 3] : r)) })[4];
    expect(errorOf(bent)).toMatchObject({ name: "FormatError", message: expect.stringMatching(/^uneven spacing: IM0005\.dcm lies 3\.000 mm off the line/) });
  });

  it("compressed transfer syntaxes are refused by name, before any pixel is read", () => {
    const e = errorOf(writeDicomSeries(nifti, { transferSyntax: TS.jpegLossless }));
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).toMatch(/^IM0001\.dcm: \(0002,0010\) TransferSyntaxUID: JPEG Lossless SV1 \(1\.2\.840\.10008\.1\.2\.4\.70\) cannot be decoded here; expected uncompressed pixels/);
  });

  it("non-CT modalities are refused; a missing Modality is read as CT with a warning", () => {
    expect(errorOf(writeDicomSeries(nifti, { modality: "MR" }))).toMatchObject({ name: "FormatError", message: "IM0001.dcm: (0008,0060) Modality: expected CT, got MR (the model reads CT in Hounsfield units)" });
  });

  it("no DICOM image at all, a missing position, one slice, too many voxels; other files are skipped with a warning", () => {
    const text = { name: "README.txt", bytes: new TextEncoder().encode("not an image") };
    expect(errorOf([text])).toMatchObject({ name: "FormatError", message: expect.stringMatching(/^README\.txt: no DICOM image among them/) });
    expect(errorOf(writeDicomSeries(nifti, { noPosition: true }))).toMatchObject({ name: "FormatError", message: "IM0001.dcm: (0020,0032) ImagePositionPatient: expected 3 numbers, got null" });
    expect(errorOf(base().slice(0, 1))).toMatchObject({ name: "FormatError", message: expect.stringMatching(/1 slice \(IM0001\.dcm\); a CT volume needs at least 2$/) });
    expect(errorOf(base(), { maxVoxels: 1000 })).toMatchObject({ name: "FormatError", message: expect.stringMatching(/64 x 64 x 16 slices = 65536 voxels, more than the limit 1000/) });
    const vol = readDicomSeries([text, ...base()]);
    expect(vol.meta.warnings).toEqual(["1 file(s) without a DICOM image ignored: README.txt"]);
    expect(same(vol.data, nifti.data)).toBe(true);
    expect(() => readDicomSeries([])).toThrow(ValueError);
  });
});
