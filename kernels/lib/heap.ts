// Where the JS-side arena may start: the end of this module's static data (AssemblyScript's
// __heap_base). Every entry module re-exports it as `heap_base`.
export function heap_base(): usize {
  return __heap_base;
}
