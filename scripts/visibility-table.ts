/**
 * The visibility table of docs/DATA.md: every finding of the first N training studies rendered with
 * and without it on a grid, grouped by type and size bin: count, smallest and median core (voxels
 * covered at least half) and contrast-to-clutter ratio, against the floors the tests check.
 *   npx tsx scripts/visibility-table.ts [--count 100] [--grid small]
 */
import { parseArgs } from "node:util";
import { parseGrid, splitOf } from "../src/data/index.js";
import { findingVisibility, sizeBin, VISIBILITY_FLOORS, type Visibility } from "../src/data/visibility.js";

const { values: a } = parseArgs({ options: { count: { type: "string", default: "100" }, grid: { type: "string", default: "small" } } });
const grid = a.grid === "small" ? "small" : parseGrid(a.grid!);
const SEED = 2026;


const bins = new Map<string, Visibility[]>();
for (let index = 0, n = 0; n < Number(a.count); index++) {
  if (splitOf(SEED, index) !== "train") continue;
  n++;
  for (const v of findingVisibility(SEED, index, grid)) {
    if (!bins.has(sizeBin(v.finding))) bins.set(sizeBin(v.finding), []);
    bins.get(sizeBin(v.finding))!.push(v);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
console.log(`floors: core >= ${VISIBILITY_FLOORS.core} voxels, contrast-to-clutter >= ${VISIBILITY_FLOORS.ccr}; ${a.count} training studies of seed ${SEED}, grid ${a.grid}\n`);
console.log("| finding, size | n | core min | core median | contrast median (HU) | clutter median (HU) | CCR min | CCR median |");
console.log("| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [bin, vs] of [...bins.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
  const core = vs.map((v) => v.core), ccr = vs.map((v) => v.ccr);
  console.log(`| ${bin} | ${vs.length} | ${Math.min(...core)} | ${median(core)} | ${median(vs.map((v) => v.contrast)).toFixed(0)} | ${median(vs.map((v) => v.clutter)).toFixed(0)} | ${Math.min(...ccr).toFixed(2)} | ${median(ccr).toFixed(2)} |`);
}
