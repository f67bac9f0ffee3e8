// Where the JS-side arena may start: the end of this module's static data (AssemblyScript's
// __heap_base), and where that static data begins (--memoryBase: the module's slot in the shared
// memory of a threaded backend). Every entry module re-exports both.

/** The end of this module's static data (__heap_base): the JS-side arena starts at or above it. */
export function heap_base(): usize {
  return __heap_base;
}
/** Where this module's static data begins (--memoryBase: its slot in the shared memory of a threaded backend; 0 otherwise). */
export function memory_base(): usize {
  return <usize>ASC_MEMORY_BASE;
}
