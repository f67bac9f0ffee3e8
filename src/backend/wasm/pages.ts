/** The caller thread's share of a split: mapping the pages of a fresh output array (runtime.ts `meanwhile`). */
/**
 * Writes a zero into every 4 KiB page of `a`, which a kernel's result overwrites next. A fresh
 * output array (the backend allocates one per call) gets its pages from the OS at its first write:
 * the page faults cost about 3 ms per 6 MiB, on the caller's thread. Run as a split's `meanwhile`,
 * while the workers compute, they no longer add to the copy out that follows.
 */
export function touchPages(a: Float32Array): void {
  for (let i = 0; i < a.length; i += 1024) a[i] = 0;
  if (a.length > 0) a[a.length - 1] = 0;
}
