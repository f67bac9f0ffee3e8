// Patch embedding: wasm kernel vs reference vs a direct strided convolution written here, channel
// replication (cv = 1), one-hot exactness, depth inflation (src/model/inflate.ts), determinism.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { ShapeError, ValueError } from "../src/errors.js";
import { inflateDepth } from "../src/model/inflate.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { assertClose, assertSameBits, shaped, type Shaped } from "./util/close.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

/**
 * Tolerance for a contraction of length K with |v|, |w| <= 1: the kernel sums K f32 products in
 * order (error ~ sqrt(K) eps typical, K eps worst over |terms| <= 1 each), the references in f64.
 */
const tolK = (K: number) => ({ atol: 1e-6 + 2e-7 * K, rtol: 1e-5 });

const shape = fc.record({
  batch: dim(2),
  cin: dim(4),
  replicate: fc.boolean(), // cv = 1
  t: dim(3),
  nz: dim(3),
  p: dim(5),
  nh: dim(4),
  nw: dim(5),
  C: dim(20), // channel panels of 8 plus tails
  seed: dataSeed,
});
type Shape = typeof shape extends fc.Arbitrary<infer S> ? S : never;

function makeCase(s: Shape): { vol: F32Tensor; w: F32Tensor; K: number } {
  const cv = s.replicate ? 1 : s.cin;
  const [D, H, W] = [s.nz * s.t, s.nh * s.p, s.nw * s.p];
  const vol = new Tensor("f32", [s.batch, cv, D, H, W], data(s.seed, s.batch * cv * D * H * W));
  const w = new Tensor("f32", [s.C, s.cin, s.t, s.p, s.p], data(s.seed + 1, s.C * s.cin * s.t * s.p * s.p));
  return { vol, w, K: s.cin * s.t * s.p * s.p };
}

/**
 * The oracle: a plain strided 3D convolution, one loop per output axis and per kernel axis, in
 * float64, read from the definition (stride = kernel, no padding, no bias), then laid out as
 * [B, D/t, n_h*n_w, C].
 */
/** The direct strided convolution, [B, oz, oy*ox, C] (patchEmbed's layout). */
function conv3d(vol: F32Tensor, w: F32Tensor): Shaped {
  const [B, cv, D, H, W] = vol.shape;
  const [C, cin, kt, kh, kw] = w.shape;
  const [oz, oy, ox] = [D / kt, H / kh, W / kw];
  const out = new Float64Array(B * oz * oy * ox * C);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < C; o++)
      for (let z = 0; z < oz; z++)
        for (let y = 0; y < oy; y++)
          for (let x = 0; x < ox; x++) {
            let acc = 0;
            for (let i = 0; i < cin; i++)
              for (let dz = 0; dz < kt; dz++)
                for (let dy = 0; dy < kh; dy++)
                  for (let dx = 0; dx < kw; dx++) {
                    const zi = z * kt + dz, yi = y * kh + dy, xi = x * kw + dx;
                    const v = vol.data[(((b * cv + (cv === 1 ? 0 : i)) * D + zi) * H + yi) * W + xi];
                    acc += v * w.data[(((o * cin + i) * kt + dz) * kh + dy) * kw + dx];
                  }
            out[(((b * oz + z) * oy + y) * ox + x) * C + o] = acc;
          }
  return shaped([B, oz, oy * ox, C], out);
}

describe("patchEmbed", () => {
  it("kernel and reference equal a direct strided convolution", () => {
    check(shape, (s) => {
      const { vol, w, K } = makeCase(s);
      const want = conv3d(vol, w);
      const shapeOut = [s.batch, s.nz, s.nh * s.nw, s.C];
      const got = wasm.patchEmbed(vol, w);
      expect(got.shape).toEqual(shapeOut);
      assertClose("patchEmbed wasm", got, want, tolK(K));
      assertClose("patchEmbed reference", ref.patchEmbed(vol, w), want, { atol: 1e-6, rtol: 1e-6 });
    }, 40);
  });

  it("contractions longer than one k-chunk of the kernel (K = 486 and 1125 > 256)", () => {
    for (const s of [
      { batch: 1, cin: 3, replicate: false, t: 2, nz: 2, p: 9, nh: 2, nw: 3, C: 13, seed: 21 },
      { batch: 2, cin: 5, replicate: false, t: 1, nz: 1, p: 15, nh: 1, nw: 2, C: 9, seed: 22 },
    ]) {
      const { vol, w, K } = makeCase(s);
      const want = conv3d(vol, w);
      assertClose("patchEmbed long K", wasm.patchEmbed(vol, w), want, tolK(K));
      assertClose("patchEmbed long K reference", ref.patchEmbed(vol, w), want, { atol: 1e-6, rtol: 1e-6 });
    }
  });

  it("cv = 1 equals the channel explicitly replicated cin times", () => {
    check(shape, (s) => {
      const { vol, w, K } = makeCase({ ...s, replicate: true });
      const [B, , D, H, W] = vol.shape, n = D * H * W;
      const rep = new Tensor("f32", [B, s.cin, D, H, W]);
      for (let b = 0; b < B; b++) for (let i = 0; i < s.cin; i++) rep.data.set(vol.data.subarray(b * n, (b + 1) * n), (b * s.cin + i) * n);
      // reference: the same products in the same order, so the same bits
      assertSameBits("patchEmbed ref cv=1", ref.patchEmbed(vol, w).data, ref.patchEmbed(rep, w).data);
      // kernel: cv = 1 folds the weights over cin first (another rounding order)
      assertClose("patchEmbed wasm cv=1", wasm.patchEmbed(vol, w), wasm.patchEmbed(rep, w), tolK(K));
    }, 30);
  });

  it("a one-hot volume picks out its weight column exactly (both backends)", () => {
    check(fc.tuple(shape, fc.nat(), fc.nat()), ([s0, where, which]) => {
      const s = { ...s0, replicate: false };
      const { vol, w } = makeCase(s);
      vol.data.fill(0);
      const at = where % vol.size;
      vol.data[at] = 1;
      let r = at;
      const xx = r % vol.dim(4); r = (r - xx) / vol.dim(4);
      const yy = r % vol.dim(3); r = (r - yy) / vol.dim(3);
      const zz = r % vol.dim(2); r = (r - zz) / vol.dim(2);
      const i = r % s.cin, b = (r - i) / s.cin;
      const patch = Math.floor(yy / s.p) * s.nw + Math.floor(xx / s.p);
      const z = Math.floor(zz / s.t);
      for (const be of [wasm, ref]) {
        const out = be.patchEmbed(vol, w).data;
        const o = which % s.C;
        const hit = (((b * s.nz + z) * s.nh * s.nw + patch) * s.C) + o;
        const wi = ((((o * s.cin + i) * s.t + (zz % s.t)) * s.p + (yy % s.p)) * s.p) + (xx % s.p);
        expect(out[hit]).toBe(w.data[wi]);
        let nonzero = 0;
        for (const v of out) if (v !== 0) nonzero++;
        expect(nonzero).toBeLessThanOrEqual(s.C);
      }
    }, 40);
  });

  it("propagates NaN and infinities like the reference when cv = cin", () => {
    const s: Shape = { batch: 1, cin: 2, replicate: false, t: 1, nz: 1, p: 3, nh: 2, nw: 3, C: 11, seed: 3 };
    const { vol, w, K } = makeCase(s);
    vol.data[0] = NaN;
    vol.data[4] = Infinity; // patch 1 sees +inf times weights of both signs: +-inf per channel
    vol.data[vol.size - 1] = -Infinity;
    assertClose("patchEmbed nonfinite", wasm.patchEmbed(vol, w), ref.patchEmbed(vol, w), tolK(K));
  });

  it("same input gives the same bits, and a batch entry embeds as it does alone", () => {
    const s: Shape = { batch: 2, cin: 3, replicate: true, t: 2, nz: 2, p: 4, nh: 3, nw: 5, C: 19, seed: 8 };
    const { vol, w } = makeCase(s);
    const a = wasm.patchEmbed(vol, w), b = wasm.patchEmbed(vol, w);
    assertSameBits("patchEmbed determinism", a.data, b.data);
    const n = vol.size / 2;
    const second = wasm.patchEmbed(new Tensor("f32", [1, ...vol.shape.slice(1)], vol.data.slice(n)), w);
    assertSameBits("patchEmbed batch entry", a.data.subarray(a.size / 2), second.data);
  });
});

describe("inflateDepth", () => {
  it("W3[:, :, tau] = W2 / t", () => {
    const w2 = new Tensor("f32", [3, 2, 4, 4], data(1, 96));
    const w3 = inflateDepth(w2, 3);
    expect(w3.shape).toEqual([3, 2, 3, 4, 4]);
    for (let oc = 0; oc < 6; oc++)
      for (let tau = 0; tau < 3; tau++)
        for (let e = 0; e < 16; e++) expect(w3.data[(oc * 3 + tau) * 16 + e]).toBe(Math.fround(w2.data[oc * 16 + e] / 3));
    expect(() => inflateDepth(w2, 0)).toThrow(ValueError);
    expect(() => inflateDepth(w3, 2)).toThrow(ShapeError);
  });

  it("a volume constant along depth embeds like its 2D slice (both backends)", () => {
    check(fc.record({ t: dim(4), nz: dim(3), cin: dim(3), p: dim(4), n: dim(3), C: dim(9), seed: dataSeed }), (s) => {
      const [H, W, D] = [s.n * s.p, s.n * s.p, s.nz * s.t];
      const slice = data(s.seed, H * W);
      const vol = new Tensor("f32", [1, 1, D, H, W]);
      for (let d = 0; d < D; d++) vol.data.set(slice, d * H * W);
      const w2 = new Tensor("f32", [s.C, s.cin, s.p, s.p], data(s.seed + 1, s.C * s.cin * s.p * s.p));
      const w3 = inflateDepth(w2, s.t);
      for (const be of [wasm, ref]) {
        const flat = be.patchEmbed(new Tensor("f32", [1, 1, 1, H, W], slice), w2.reshape([s.C, s.cin, 1, s.p, s.p]));
        const deep = be.patchEmbed(vol, w3);
        const per = flat.size;
        // W2/t is rounded to f32 and summed t times: a few ulp of each product, K = cin*t*p*p terms
        for (let z = 0; z < s.nz; z++) {
          assertClose(`${be.name} inflated z=${z}`, shaped([1, 1, ...flat.shape.slice(2)], deep.data.subarray(z * per, (z + 1) * per)), flat, tolK(s.cin * s.t * s.p * s.p));
        }
      }
    }, 30);
  });
});
