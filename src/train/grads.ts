/**
 * Gradients by parameter name, accumulated over the backward of one step (all its micro-batches),
 * and the context every backward function receives. A parameter gets an entry only when a gradient
 * reaches it (as in PyTorch, where an unused expert keeps `grad = None`); a frozen parameter never
 * gets one, and its weight gradient is never computed.
 */
import type { Backend } from "../backend/backend.js";
import { ValueError, fmtShape } from "../errors.js";
import { getParam, type Params } from "../model/params.js";
import type { Tape } from "../model/tape.js";
import { Tensor, type F32Tensor } from "../tensor.js";

export class Grads {
  private readonly map = new Map<string, F32Tensor>();
  private readonly trainableSet: ReadonlySet<string>;

  /** `trainable`: which parameters may receive gradients (every other name is frozen). */
  constructor(readonly params: Params, trainable: (name: string) => boolean) {
    this.trainableSet = new Set([...params.keys()].filter(trainable));
  }

  /** Does `name` train? (A frozen or unknown name does not.) */
  wants(name: string): boolean {
    return this.trainableSet.has(name);
  }

  /** Does any trainable parameter start with `prefix` ("vision.blocks.3.")? */
  any(prefix: string): boolean {
    for (const n of this.trainableSet) if (n.startsWith(prefix)) return true;
    return false;
  }

  /** The accumulator of `name` (created as zeros on first use), to add into in place (matmul `accumulate`). */
  slot(name: string): F32Tensor {
    if (!this.wants(name)) throw new ValueError(`grads: ${name}: not a trainable parameter`);
    let g = this.map.get(name);
    if (!g) {
      g = new Tensor("f32", getParam(this.params, name).shape);
      this.map.set(name, g);
    }
    return g;
  }

  /** grad[name] += t (t has the parameter's size). No-op for a frozen name. */
  add(be: Backend, name: string, t: F32Tensor): void {
    if (!this.wants(name)) return;
    const shape = getParam(this.params, name).shape;
    if (t.size !== shape.reduce((a, b) => a * b, 1)) throw new ValueError(`grads: ${name}: expected ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
    const g = this.map.get(name);
    this.map.set(name, g ? be.add(g, t.reshape(shape)) : new Tensor("f32", shape, t.data.slice()));
  }

  get(name: string): F32Tensor | undefined {
    return this.map.get(name);
  }

  /** Names that received a gradient, in parameter order. */
  names(): string[] {
    return [...this.params.keys()].filter((n) => this.map.has(n));
  }

  /** (name, gradient) pairs that received a gradient, in parameter order. */
  entries(): [string, F32Tensor][] {
    return this.names().map((n) => [n, this.map.get(n)!]);
  }

  /**
   * Adds one micro-batch's gradients (computed into their own Grads, from zero) into these: a
   * gradient this has not got yet is taken as it is (not copied), else added element by element
   * (f32: correctly rounded, so the same bits as any other f32 add). The trainer merges the
   * micro-batches of an update in their index order, whichever thread computed them.
   */
  merge(entries: Iterable<readonly [string, F32Tensor]>): void {
    for (const [name, t] of entries) {
      if (!this.wants(name)) throw new ValueError(`grads: ${name}: not a trainable parameter`);
      const g = this.map.get(name);
      if (!g) {
        this.map.set(name, t);
        continue;
      }
      if (g.size !== t.size) throw new ValueError(`grads: ${name}: expected ${fmtShape(g.shape)}, got ${fmtShape(t.shape)}`);
      const a = g.data, b = t.data;
      for (let i = 0; i < a.length; i++) a[i] += b[i];
    }
  }

  /** Drops every gradient (start of a step). */
  clear(): void {
    this.map.clear();
  }
}

/** What every backward function works with: the backend, the weights, the gradients, the tape. */
export interface Ctx {
  be: Backend;
  params: Params;
  grads: Grads;
  tape: Tape;
}
