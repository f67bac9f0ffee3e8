/**
 * readVolumeFiles: the CT a user gives, as files, whatever its format: one NIfTI file (.nii or
 * .nii.gz, readNifti) or the DICOM files of one series (readDicomSeries), told apart by content,
 * not by name. Both give the same canonical LPS+ volume in HU. Bytes in (Node and browsers); the
 * CLI lists a folder, the web page takes a file list, a folder or a drop.
 *
 *   const vol = readVolumeFiles([{ name: "ct.nii.gz", bytes }]);   // vol.format "nifti" | "dicom"
 */
import { ValueError } from "../errors.js";
import { isDicom, readDicomSeries, type DicomVolume, type VolumeFile } from "./dicom.js";
import { readNifti, type NiftiVolume } from "./nifti.js";

export type { VolumeFile } from "./dicom.js";

export type CtVolume = (NiftiVolume & { format: "nifti" }) | (DicomVolume & { format: "dicom" });

export interface ReadVolumeOptions {
  /** 4D NIfTI: "refuse" (default), "first" or a volume index (readNifti's option). */
  volumes?: "refuse" | "first" | number;
  /** DICOM: the SeriesInstanceUID to read when the files hold several series. */
  series?: string;
  /** Largest number of voxels accepted (default 512^3). */
  maxVoxels?: number;
}

/** One NIfTI file, or the DICOM files of one series (other files among them are skipped with a warning). */
export function readVolumeFiles(files: readonly VolumeFile[], o: ReadVolumeOptions = {}): CtVolume {
  if (!Array.isArray(files) || files.length === 0) throw new ValueError("readVolumeFiles: files: expected one NIfTI file or the DICOM files of a series, got none");
  const bad = files.find((f) => !f || typeof f.name !== "string" || !(f.bytes instanceof Uint8Array));
  if (bad !== undefined) throw new ValueError(`readVolumeFiles: files: expected { name: string, bytes: Uint8Array } items, got ${JSON.stringify(bad)?.slice(0, 60)}`);
  if (files.some((f) => isDicom(f.bytes))) {
    return { ...readDicomSeries(files, { series: o.series, maxVoxels: o.maxVoxels }), format: "dicom" };
  }
  if (files.length > 1) {
    const names = files.slice(0, 4).map((f) => f.name).join(", ");
    throw new ValueError(`readVolumeFiles: files: ${files.length} files and none is DICOM (${names}${files.length > 4 ? ", ..." : ""}); give one NIfTI file or the DICOM files of one series`);
  }
  return { ...readNifti(files[0].bytes, { file: files[0].name, volumes: o.volumes, maxVoxels: o.maxVoxels }), format: "nifti" };
}
