"""DICOM read as a radiologist's default display shows it, and as the JPEG path reads the same picture."""

from __future__ import annotations

import numpy as np
import pytest
from dicom_files import write_bad_files, write_dicom
from PIL import Image

from tuner.data.dicom import UnreadableDicom, decoder_hint, is_dicom_file, patient_hash, read_dicom
from tuner.data.image_cache import decode
from tuner.demo import synthetic_image

pydicom = pytest.importorskip("pydicom")


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    """A synthetic radiograph of the repository's demo data, grey uint8."""
    return np.asarray(Image.fromarray(synthetic_image(np.random.default_rng(0), True)).convert("L"))


@pytest.mark.parametrize("bits", [12, 16])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
@pytest.mark.parametrize("syntax", ["explicit", "implicit", "rle"])
def test_the_display_is_the_picture_the_file_was_made_from(tmp_path, grey, bits, photometric, syntax):
    path = write_dicom(tmp_path / "x.dcm", grey, bits=bits, photometric=photometric, syntax=syntax, intercept=-1024)
    image = read_dicom(path.read_bytes())
    assert image.pixels.dtype == np.uint8 and image.pixels.shape == grey.shape
    assert np.abs(image.pixels.astype(int) - grey).max() <= 1


def test_without_a_window_the_full_range_is_shown(tmp_path, grey):
    image = read_dicom(write_dicom(tmp_path / "x.dcm", grey, window=False).read_bytes())
    stretched = (grey.astype(float) - grey.min()) / (grey.max() - grey.min()) * 255
    assert np.abs(image.pixels - stretched).max() <= 1


def test_a_jpeg2000_file_where_the_extra_is_installed(tmp_path, grey):
    pytest.importorskip("openjpeg", reason="the dicom extra (pylibjpeg-openjpeg) is not installed")
    image = read_dicom(write_dicom(tmp_path / "x.dcm", grey, syntax="jpeg2000").read_bytes())
    assert np.abs(image.pixels.astype(int) - grey).max() <= 1


def test_the_first_frame_of_a_multi_frame_file(tmp_path, grey):
    image = read_dicom(write_dicom(tmp_path / "x.dcm", grey, frames=3).read_bytes())
    assert np.abs(image.pixels.astype(int) - grey).max() <= 1


def test_decode_gives_what_the_jpeg_path_gives_for_a_real_radiograph(tmp_path, shared_dir):
    jpeg = shared_dir / "data" / "chest_xray" / "test" / "NORMAL" / "IM-0001-0001.jpeg"
    from_jpeg = decode(jpeg.read_bytes(), 128)
    as_shown = np.asarray(Image.open(jpeg).convert("L"))
    for photometric in ("MONOCHROME2", "MONOCHROME1"):
        dicom = write_dicom(tmp_path / f"{photometric}.dcm", as_shown, photometric=photometric)
        assert np.abs(decode(dicom.read_bytes(), 128).astype(int) - from_jpeg).max() <= 1


def test_the_patient_leaves_only_as_a_hash(tmp_path, grey):
    image = read_dicom(write_dicom(tmp_path / "x.dcm", grey, patient="12345").read_bytes())
    assert image.patient == patient_hash("12345") and "12345" not in image.patient
    assert read_dicom(write_dicom(tmp_path / "y.dcm", grey, patient=None).read_bytes()).patient is None


def test_files_are_recognised_by_suffix_or_by_their_magic(tmp_path, grey):
    assert is_dicom_file(write_dicom(tmp_path / "a.dcm", grey))
    assert is_dicom_file(write_dicom(tmp_path / "IMG0001", grey))  # no suffix, the preamble says it
    (tmp_path / "notes").write_bytes(b"just text")
    assert not is_dicom_file(tmp_path / "notes") and not is_dicom_file(tmp_path / "a.jpeg")
    headerless = write_dicom(tmp_path / "b.dcm", grey, preamble=False)
    assert np.abs(decode(headerless.read_bytes(), 32, dicom=True).astype(int)
                  - decode(write_dicom(tmp_path / "c.dcm", grey).read_bytes(), 32)).max() <= 1


def test_files_without_an_image_say_why_in_one_line(tmp_path, grey):
    write_bad_files(tmp_path, grey)
    with pytest.raises(UnreadableDicom, match=r"^no pixel data \(a Basic Text SR Storage\)$"):
        read_dicom((tmp_path / "report.dcm").read_bytes())
    with pytest.raises(UnreadableDicom, match="^empty pixel data$"):
        read_dicom((tmp_path / "empty.dcm").read_bytes())
    with pytest.raises(UnreadableDicom, match=r"^transfer syntax MPEG2 .* cannot be decoded here: no decoder"):
        read_dicom((tmp_path / "video.dcm").read_bytes())
    with pytest.raises(UnreadableDicom, match=r"^no pixel data \(no image\)$"):
        read_dicom(b"\0" * 128 + b"DICM" + b"\xff" * 40)


def test_the_hint_names_the_package_that_reads_the_syntax():
    assert "pylibjpeg-libjpeg" in decoder_hint("1.2.840.10008.1.2.4.50")  # JPEG baseline
    assert "pylibjpeg-libjpeg" in decoder_hint("1.2.840.10008.1.2.4.80")  # JPEG-LS
    assert "pylibjpeg-openjpeg" in decoder_hint("1.2.840.10008.1.2.4.90")  # JPEG 2000
    assert "python-gdcm" in decoder_hint("1.2.840.10008.1.2.4.100")


def _plain(tmp_path, grey, **options):
    """A 12-bit MONOCHROME2 file without a window, read back as a pydicom dataset to change."""
    return pydicom.dcmread(write_dicom(tmp_path / "plain.dcm", grey, window=False, **options))


def _shown(tmp_path, dataset) -> np.ndarray:
    dataset.save_as(tmp_path / "changed.dcm")
    return read_dicom((tmp_path / "changed.dcm").read_bytes()).pixels.astype(int)


def test_a_voi_lut_with_more_entries_than_its_bits_hold(tmp_path, grey):
    from pydicom.dataset import Dataset

    dataset = _plain(tmp_path, grey)  # stored = grey * 16 + 8, 0..4095
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 8]
    lut.LUTData = (np.arange(4096) // 16).astype("<u2").tobytes()  # 8-bit output: stored // 16 is grey again
    dataset.VOILUTSequence = [lut]
    assert np.abs(_shown(tmp_path, dataset) - grey).max() <= 1


@pytest.mark.parametrize("function", ["LINEAR_EXACT", "SIGMOID"])
def test_the_other_window_functions(tmp_path, grey, function):
    dataset = _plain(tmp_path, grey)
    dataset.WindowCenter, dataset.WindowWidth, dataset.VOILUTFunction = 2048, 4096, function
    stored = grey.astype(float) * 16 + 8
    if function == "LINEAR_EXACT":
        expected = np.clip((stored - 2048) / 4096 + 0.5, 0, 1) * 255
    else:
        expected = 255 / (1 + np.exp(-4 * (stored - 2048) / 4096))
    assert np.abs(_shown(tmp_path, dataset) - expected).max() <= 1


def test_signed_pixels_and_a_malformed_window_fall_back_to_what_the_values_give(tmp_path, grey):
    dataset = _plain(tmp_path, grey)
    signed = (grey.astype(np.int16) * 16 - 2048)
    dataset.PixelRepresentation, dataset.PixelData = 1, signed.tobytes()
    dataset.WindowCenter, dataset.WindowWidth = 0, 0  # a width of 0 is not a window: the full range
    stretched = (grey.astype(float) - grey.min()) / (grey.max() - grey.min()) * 255
    assert np.abs(_shown(tmp_path, dataset) - stretched).max() <= 1


def test_an_inverse_presentation_lut_inverts_once(tmp_path, grey):
    dataset = pydicom.dcmread(write_dicom(tmp_path / "m2.dcm", grey))
    dataset.PresentationLUTShape = "INVERSE"
    assert np.abs(_shown(tmp_path, dataset) - (255 - grey.astype(int))).max() <= 1
    dataset = pydicom.dcmread(write_dicom(tmp_path / "m1.dcm", grey, photometric="MONOCHROME1"))
    dataset.PresentationLUTShape = "INVERSE"  # MONOCHROME1 shown inverted once more: as stored
    assert np.abs(_shown(tmp_path, dataset) - (255 - grey.astype(int))).max() <= 1


def test_the_patient_hash_is_keyed_by_this_machine_s_secret(tmp_path, monkeypatch):
    import hashlib

    from tuner.data import dicom

    first = patient_hash("12345")
    assert first != "dicom-" + hashlib.sha256(b"12345").hexdigest()[:16]  # not reversible by trying IDs
    monkeypatch.setenv("XRAY_TUNER_CACHE", str(tmp_path / "elsewhere"))
    other = patient_hash("12345")
    assert other != first and other == patient_hash("12345")  # stable under one secret
    assert (tmp_path / "elsewhere" / "dicom-patient-key").stat().st_mode & 0o077 == 0
    assert len(dicom.patient_key()) == 32


def test_a_file_named_by_its_uid_is_recognised_by_its_magic(tmp_path, grey):
    assert is_dicom_file(write_dicom(tmp_path / "1.2.840.113619.2.55.3.604688119", grey))
