/**
 * Input sanity: warnings (never errors) for a CT volume that the model will read but should not be
 * trusted on: intensities that are not CT in Hounsfield units, a resampling to the model's grid by
 * more than 2x along an axis, a field of view that is not a chest's. The thresholds are stated here
 * and in docs/INPUT.md; the checks read the volume once and change nothing.
 *
 *   inputWarnings(readNifti(bytes), preset)   // [] for a chest CT in HU, else one line per problem
 */
import type { PreprocessPreset } from "./presets.js";

/** A volume as preprocess takes it: [D, H, W] HU with its spacing in mm. */
export interface SanityInput {
  data: Float32Array;
  shape: readonly number[];
  spacing: readonly number[];
}

/**
 * Thresholds. CT in HU: air is about -1000 and fills the lungs and the space around the body, so a
 * chest CT always has voxels below -500; bone reaches 1000-2000 but is a few percent of a chest
 * (the shipped samples raise no warning: test/run-input.test.ts), so more than 20% above 1000 HU
 * means another modality (MRI, PET) or stored values without the rescale to HU. A chest field of
 * view is about 250-500 mm across and 150-700 mm long; outside [200, 650] mm across or [100, 900] mm
 * long it is another body part, a crop, or wrong voxel sizes.
 */
export const SANITY = {
  airHu: -500, boneHu: 1000, maxShareAboveBone: 0.2,
  maxResampleFactor: 2,
  acrossMm: [200, 650] as const, lengthMm: [100, 900] as const,
};

export function inputWarnings(vol: SanityInput, preset: PreprocessPreset): string[] {
  return [intensityWarning(vol), resampleWarning(vol, preset), fieldOfViewWarning(vol)].filter((w): w is string => w !== null);
}

function intensityWarning(vol: SanityInput): string | null {
  const x = vol.data;
  let below = 0, above = 0, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < SANITY.airHu) below++;
    else if (v > SANITY.boneHu) above++;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const share = above / x.length;
  if (share <= SANITY.maxShareAboveBone && below > 0) return null;
  const why = [
    ...(share > SANITY.maxShareAboveBone ? [`${pct(share)} of voxels above ${SANITY.boneHu} HU (bone is a few percent of a chest CT)`] : []),
    ...(below === 0 ? [`no voxel below ${SANITY.airHu} HU (air is about -1000 HU and fills the lungs)`] : []),
  ];
  return `intensities do not look like CT in Hounsfield units: ${why.join(", ")}; values span [${round(lo)}, ${round(hi)}]. ` +
    "Another modality (MRI, PET) or stored values without RescaleSlope/Intercept? The answer will be meaningless.";
}

function resampleWarning(vol: SanityInput, preset: PreprocessPreset): string | null {
  const names = ["d", "h", "w"], parts: string[] = [];
  for (let a = 0; a < 3; a++) {
    const n = vol.shape[a], s = vol.spacing[a];
    // input voxels per output voxel along axis a
    const factor = preset.resample.mode === "shape" ? n / preset.grid[a] : preset.resample.spacing[a] / s;
    const out = preset.resample.mode === "shape" ? preset.grid[a] : Math.max(1, Math.round((n * s) / preset.resample.spacing[a]));
    if (factor > SANITY.maxResampleFactor) parts.push(`${names[a]} ${n} -> ${out} (${round(factor)}x fewer voxels)`);
    else if (factor < 1 / SANITY.maxResampleFactor) parts.push(`${names[a]} ${n} -> ${out} (${round(1 / factor)}x more voxels)`);
  }
  if (parts.length === 0) return null;
  return `resampled by more than ${SANITY.maxResampleFactor}x to the model's grid [${preset.grid.join(", ")}] (preset ${preset.name}): ${parts.join(", ")}`;
}

function fieldOfViewWarning(vol: SanityInput): string | null {
  const mm = [0, 1, 2].map((a) => vol.shape[a] * vol.spacing[a]);
  const [minA, maxA] = SANITY.acrossMm, [minL, maxL] = SANITY.lengthMm;
  const across = mm[1] < minA || mm[1] > maxA || mm[2] < minA || mm[2] > maxA;
  const length = mm[0] < minL || mm[0] > maxL;
  if (!across && !length) return null;
  return `the field of view ${mm.map(round).join(" x ")} mm (d x h x w) does not look like a chest CT's ` +
    `(${minA}-${maxA} mm across, ${minL}-${maxL} mm long): another body part, a crop, or wrong voxel sizes?`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
function round(x: number): number {
  return Math.round(x * 10) / 10;
}
