"""DICOM files written by the tests themselves with pydicom: radiographs from a grey image as it should be
displayed, and files that hold no image this toolkit can read."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_dicom(path: Path, grey: np.ndarray, *, bits: int = 12, photometric: str = "MONOCHROME2",
                window: bool = True, intercept: float = 0.0, syntax: str = "explicit", patient: str | None = "P1",
                preamble: bool = True, frames: int = 1) -> Path:
    """A digital X-ray DICOM file whose default display is `grey` (uint8, 2-D).

    The stored values are `grey` spread over `bits` bits (MONOCHROME1 inverted), shifted by `-intercept` so that
    the modality LUT (RescaleIntercept, at most 0) brings them back, with a window that maps them exactly onto 0..255
    (`window`), else none (then the display is the full range). `syntax`: "explicit", "implicit", "rle",
    "jpeg2000" (lossless; needs pylibjpeg-openjpeg).
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import (
        DigitalXRayImageStorageForPresentation,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        RLELossless,
        generate_uid,
    )

    # One displayed grey level in stored units; half the range when an intercept shifts the values up.
    step = 2 ** (bits - (9 if intercept else 8))
    shown = grey.astype(np.int64) if photometric == "MONOCHROME2" else 255 - grey.astype(np.int64)
    stored = (shown * step + step // 2 - int(intercept)).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if syntax == "implicit" else ExplicitVRLittleEndian
    dataset = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128 if preamble else None)
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "DX"
    if patient is not None:
        dataset.PatientID = patient
    dataset.PatientName = "Doe^Jane"
    dataset.PatientBirthDate = "20190101"
    dataset.Rows, dataset.Columns = grey.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, bits, bits - 1
    dataset.PixelRepresentation = 0
    dataset.RescaleSlope, dataset.RescaleIntercept = 1, intercept
    if window:
        # LINEAR: display = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, equal to `shown` for x = shown * step + step/2.
        dataset.WindowWidth = 255 * step + 1
        dataset.WindowCenter = step // 2 + 255 * step / 2 + 0.5
    if frames > 1:
        dataset.NumberOfFrames = frames
        stored = np.stack([stored] + [np.zeros_like(stored)] * (frames - 1))
    if syntax in ("rle", "jpeg2000"):
        dataset.compress(RLELossless if syntax == "rle" else JPEG2000Lossless, stored)
    else:
        dataset.PixelData = stored.tobytes()
    dataset.save_as(path, enforce_file_format=preamble)
    return path


def write_bad_files(folder: Path, grey: np.ndarray) -> None:
    """report.dcm (Basic Text SR, no pixel data), empty.dcm (no pixels), video.dcm (MPEG2: no decoder)."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = BasicTextSRStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    report = FileDataset(str(folder / "report.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    report.SOPClassUID, report.Modality = BasicTextSRStorage, "SR"
    report.save_as(folder / "report.dcm", enforce_file_format=True)

    empty = pydicom.dcmread(write_dicom(folder / "empty.dcm", grey))
    empty.PixelData, empty.Rows, empty.Columns = b"", 0, 0
    empty.save_as(folder / "empty.dcm")
    video = pydicom.dcmread(write_dicom(folder / "video.dcm", grey, syntax="rle"))
    video.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    video.save_as(folder / "video.dcm")
