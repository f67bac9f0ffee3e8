// PLACEHOLDER: attention kernels (to be written).
export { heap_base } from "./lib/heap";
