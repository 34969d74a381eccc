"""DICOM radiographs as the rest of the toolkit reads images: 8-bit grey as a default display shows them.

Pixels go through the modality LUT (rescale slope and intercept), then the file's VOI LUT or its first window
(else the full range of the values), MONOCHROME1 is inverted, and the first frame of a multi-frame file is taken.
The patient comes from the header's PatientID and leaves this module only as a hash. pydicom reads the files
(`pip install "xray-tuner[dicom]"`, which adds the pylibjpeg decoders of JPEG, JPEG-LS and JPEG 2000 pixel data).
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DICOM_SUFFIXES = (".dcm", ".dicom")
_MAGIC = slice(128, 132)  # "DICM" after the 128-byte preamble of a DICOM file
INSTALL_HINT = 'pip install "xray-tuner[dicom]"'


class UnreadableDicom(Exception):
    """A DICOM file that holds no image this toolkit can read; the message says why, in one line."""


@dataclass(frozen=True)
class DicomImage:
    """A radiograph read from DICOM.

    Attributes:
        pixels: uint8 (rows, columns): 0 black, 255 white, as displayed.
        patient: a hash of the header's PatientID ("dicom-" and 12 hex digits), None without one.
    """

    pixels: np.ndarray
    patient: str | None


def has_dicom_magic(head: bytes) -> bool:
    """Whether bytes start as a DICOM file does (a 128-byte preamble, then "DICM")."""
    return head[_MAGIC] == b"DICM"


def is_dicom_file(path: Path) -> bool:
    """Whether `path` is named as DICOM (.dcm, .dicom) or, without a suffix, starts as a DICOM file does."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:
        with open(path, "rb") as file:
            return has_dicom_magic(file.read(_MAGIC.stop))
    except OSError:
        return False


def patient_hash(patient_id: str) -> str:
    """What stands for a PatientID outside the file: "dicom-" and the first 12 hex digits of its SHA-256."""
    return "dicom-" + hashlib.sha256(patient_id.encode()).hexdigest()[:12]


def read_dicom(data: bytes) -> DicomImage:
    """The displayed image and the (hashed) patient of a DICOM file's bytes.

    Args:
        data: the file's bytes (with or without the preamble).

    Returns:
        The image.

    Raises:
        UnreadableDicom: pydicom is not installed; not a DICOM file; no pixel data (e.g. a structured report);
            an empty pixel array; a transfer syntax no installed decoder reads (the message names the package).
    """
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut
    except ImportError:
        raise UnreadableDicom(f"DICOM needs pydicom: {INSTALL_HINT}") from None
    _quiet_pydicom()
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as error:  # noqa: BLE001 - any malformed file is a reason to skip it, never a crash
        raise UnreadableDicom(f"not a readable DICOM file ({type(error).__name__})") from None
    if "PixelData" not in dataset:
        sop = dataset.get("SOPClassUID")
        what = f"a {sop.name}" if sop is not None else "no image"
        raise UnreadableDicom(f"no pixel data ({what})")
    if not dataset.PixelData or not dataset.get("Rows") or not dataset.get("Columns"):
        raise UnreadableDicom("empty pixel data")
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # noqa: BLE001 - pydicom raises several types for an undecodable syntax
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        if syntax is not None and syntax.is_compressed:
            raise UnreadableDicom(f"transfer syntax {syntax.name} ({syntax}) cannot be decoded here: "
                                  f"{decoder_hint(str(syntax))}") from None
        raise UnreadableDicom(f"pixel data cannot be read ({type(error).__name__})") from None
    if pixels.size == 0:
        raise UnreadableDicom("empty pixel data")
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[0]
    if pixels.ndim == 3:  # colour (SamplesPerPixel 3): its grey
        pixels = pixels.mean(axis=-1)
    values = np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64)
    grey = _displayed(values, dataset)
    if dataset.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        grey = 1.0 - grey
    patient_id = str(dataset.get("PatientID", "") or "").strip()
    return DicomImage(np.round(grey * 255).astype(np.uint8), patient_hash(patient_id) if patient_id else None)


def decoder_hint(syntax: str) -> str:
    """What to install to decode pixel data of a transfer syntax UID."""
    if syntax.startswith("1.2.840.10008.1.2.4.") and int(syntax.rsplit(".", 1)[1]) in range(50, 82):
        return f"{INSTALL_HINT} (pylibjpeg-libjpeg reads JPEG and JPEG-LS)"
    if syntax.startswith("1.2.840.10008.1.2.4.") and int(syntax.rsplit(".", 1)[1]) in range(90, 100) or (
            syntax.startswith("1.2.840.10008.1.2.4.20")):
        return f"{INSTALL_HINT} (pylibjpeg-openjpeg reads JPEG 2000)"
    return "no decoder of it is installed; python-gdcm reads many more (pip install python-gdcm)"


def dicom_patient(path: Path) -> str | None:
    """The hashed PatientID of a DICOM file's header (None without one, or for an unreadable file)."""
    try:
        import pydicom

        _quiet_pydicom()
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=["PatientID"])
    except Exception:  # noqa: BLE001 - read_dicom says why such a file is skipped
        return None
    patient_id = str(dataset.get("PatientID", "") or "").strip()
    return patient_hash(patient_id) if patient_id else None


def _displayed(values: np.ndarray, dataset) -> np.ndarray:
    """Modality values to display values in [0, 1]: the VOI LUT, else the first window, else the full range."""
    if "VOILUTSequence" in dataset:
        from pydicom.pixels import apply_voi_lut

        lut = dataset.VOILUTSequence[0]
        bits = int(lut.LUTDescriptor[2])
        return np.clip(np.asarray(apply_voi_lut(values, dataset, prefer_lut=True), np.float64) / (2**bits - 1), 0, 1)
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        center, width = (_first(dataset.WindowCenter), _first(dataset.WindowWidth))
        function = str(dataset.get("VOILUTFunction", "LINEAR")).upper()
        if function == "SIGMOID":
            return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
        if function == "LINEAR_EXACT":
            return np.clip((values - center) / width + 0.5, 0, 1)
        # DICOM PS3.3 C.11.2.1.2.1, the LINEAR function (a width of 1 is a step at center - 0.5).
        return np.clip((values - (center - 0.5)) / max(width - 1, 1e-9) + 0.5, 0, 1)
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values) if high == low else (values - low) / (high - low)


def _quiet_pydicom() -> None:
    """pydicom's warnings about files it reads anyway (a missing delimiter, a non-standard value) are not the
    user's to act on: a file is read or skipped with its reason."""
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    logging.getLogger("pydicom").setLevel(logging.ERROR)


def _first(value) -> float:
    """A window's centre or width: the first of several (a multi-valued element) or the only one."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)
