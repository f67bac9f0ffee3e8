/**
 * When generation stops: `<eos>`, the token budget, or an AbortSignal checked at token boundaries
 * (between tokens the loop yields to the event loop, so a signal aborted from a timer, a UI event
 * or another task is seen before the next token). Not the sampler, not the loop.
 */
import { AbortError } from "../errors.js";

/**
 * "eos": the model produced `<eos>` (not included in the tokens); "max_tokens": maxNewTokens reached;
 * "context": the sequence filled the context (CONTEXT_TOKENS, src/model/limits.ts) first.
 */
export type StopReason = "eos" | "max_tokens" | "context";

/** Throws AbortError (name "AbortError", with the signal's reason) when the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new AbortError(`generate: aborted ${where}`, signal.reason);
}

type Immediate = (fn: () => void) => unknown;

/**
 * Resolves after pending events have run: setImmediate in Node, a MessageChannel message in
 * browsers (not clamped to 4 ms as nested setTimeout is), setTimeout elsewhere.
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: Immediate; MessageChannel?: typeof MessageChannel };
  return new Promise((resolve) => {
    if (typeof g.setImmediate === "function") {
      g.setImmediate(resolve);
    } else if (typeof g.MessageChannel === "function") {
      const ch = new g.MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        resolve();
      };
      ch.port2.postMessage(null);
    } else {
      setTimeout(resolve, 0);
    }
  });
}
