"""DICOM radiographs as the rest of the toolkit reads images: 8-bit grey as a default display shows them.

Pixels go through the modality LUT (rescale slope and intercept), then the file's VOI LUT or its first window
(else the full range of the values), MONOCHROME1 is inverted, and the first frame of a multi-frame file is taken.
The patient comes from the header's PatientID and leaves this module only as a keyed hash (HMAC-SHA-256 with a
secret kept in the cache folder, so it cannot be reversed by trying IDs). pydicom reads the files
(`pip install "xray-tuner[dicom]"`, which adds the pylibjpeg decoders of JPEG, JPEG-LS and JPEG 2000 pixel data).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.core.settings import default_cache_dir

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
        patient: the header's PatientID as `patient_hash` gives it, None without one.
    """

    pixels: np.ndarray
    patient: str | None


def has_dicom_magic(head: bytes) -> bool:
    """Whether bytes start as a DICOM file does (a 128-byte preamble, then "DICM")."""
    return head[_MAGIC] == b"DICM"


def is_dicom_file(path: Path) -> bool:
    """Whether `path` is named as DICOM (.dcm, .dicom) or starts as a DICOM file does (PACS exports name files
    without a suffix, or by their UID, "1.2.840….7")."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as file:
            return has_dicom_magic(file.read(_MAGIC.stop))
    except OSError:
        return False


_KEY_LOCK = threading.Lock()
_KEYS: dict[Path, bytes] = {}
_QUIET_DONE = threading.Event()


def patient_hash(patient_id: str) -> str:
    """What stands for a PatientID outside the file: "dicom-" and 16 hex digits of its HMAC-SHA-256 under this
    machine's secret (`patient_key`), the same for the same ID on this machine, meaningless elsewhere."""
    return "dicom-" + hmac.new(patient_key(), patient_id.encode(), hashlib.sha256).hexdigest()[:16]


def patient_key() -> bytes:
    """The secret of `patient_hash`: 32 random bytes in `<default cache folder>/dicom-patient-key`, made once
    (published atomically, so concurrent processes agree on one) and readable by the user only."""
    path = default_cache_dir() / "dicom-patient-key"
    if path in _KEYS:
        return _KEYS[path]
    with _KEY_LOCK:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(os.urandom(32))
            try:
                os.link(temporary, path)  # fails if another process published its key first: that one holds
            except FileExistsError:
                pass
            finally:
                temporary.unlink(missing_ok=True)
        _KEYS[path] = path.read_bytes()
        return _KEYS[path]


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
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(pixels, dataset)
    if pixels.ndim == 3:  # colour: its grey, shown over its full range (VOI transforms are for grey images)
        grey = _full_range(np.asarray(pixels, np.float64).mean(axis=-1))
    else:
        grey = _displayed(np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64), dataset)
    inverse = str(dataset.get("PresentationLUTShape", "")).upper() == "INVERSE"
    if (photometric == "MONOCHROME1") != inverse:
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
    """Modality values to display values in [0, 1]: the VOI LUT, else the first window, else the full range (also
    when the file's VOI values cannot be used)."""
    try:
        if "VOILUTSequence" in dataset and len(dataset.VOILUTSequence):
            return _voi_lut(values, dataset.VOILUTSequence[0])
        if "WindowCenter" in dataset and "WindowWidth" in dataset:
            shown = _window(values, _first(dataset.WindowCenter), _first(dataset.WindowWidth),
                            str(dataset.get("VOILUTFunction", "LINEAR")).upper())
            if np.isfinite(shown).all():
                return shown
    except (TypeError, ValueError, IndexError, AttributeError, KeyError):
        pass  # an empty or malformed VOI element: the full range, as for a file without one
    return _full_range(values)


def _voi_lut(values: np.ndarray, lut) -> np.ndarray:
    """A VOI LUT (PS3.3 C.11.2.1.1): values below the first mapped one take the first entry, above the last the last."""
    entries, first, bits = (int(number) for number in lut.LUTDescriptor)
    entries = entries or 65536
    data = lut.LUTData
    # OW data: one 16-bit word an entry, whatever its bits (big-endian files are rare and not read here).
    table = (np.frombuffer(data[: len(data) // 2 * 2], "<u2") if isinstance(data, bytes)
             else np.asarray(data, dtype=np.float64).ravel())[:entries]
    if table.size == 0 or not 8 <= bits <= 16:
        raise ValueError("unusable VOI LUT")
    index = np.clip(np.round(values).astype(np.int64) - first, 0, table.size - 1)
    return np.clip(table[index].astype(np.float64) / (2**bits - 1), 0, 1)


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """A window (PS3.3 C.11.2.1.2, C.11.2.1.3): LINEAR, LINEAR_EXACT or SIGMOID."""
    if width <= 0 or (function != "LINEAR_EXACT" and width < 1):
        raise ValueError("window width out of range")
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0, 1)
    # LINEAR (a width of 1 is a step at center - 0.5).
    return np.clip((values - (center - 0.5)) / max(width - 1, 1e-9) + 0.5, 0, 1)


def _full_range(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values) if high == low else (values - low) / (high - low)


def _quiet_pydicom() -> None:
    """pydicom's warnings about files it reads anyway (a missing delimiter, a non-standard value) are not the
    user's to act on: a file is read or skipped with its reason. Set once per process."""
    if _QUIET_DONE.is_set():
        return
    with _KEY_LOCK:
        if not _QUIET_DONE.is_set():
            warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
            logging.getLogger("pydicom").setLevel(logging.ERROR)
            _QUIET_DONE.set()


def _first(value) -> float:
    """A window's centre or width: the first of several (a multi-valued element) or the only one."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)
