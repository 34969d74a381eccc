"""DICOM where images are read: `data` (patients from headers, DICOM and JPEG mixed), `predict` and
`calibrate --images` end to end, bad DICOM files skipped with their reason, no patient data in the outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from dicom_files import write_bad_files, write_dicom
from helpers import run_cli
from PIL import Image

from tuner.demo import make_synthetic_dataset

pydicom = pytest.importorskip("pydicom")


def _as_dicom(jpeg: Path, target: Path, **options) -> Path:
    return write_dicom(target, np.asarray(Image.open(jpeg).convert("L")), **options)


@pytest.fixture(scope="module")
def jpeg_data(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 14, "test": 6})


def test_data_reads_dicom_and_jpeg_mixed_and_counts_patients_from_headers(jpeg_data, tmp_path, capsys):
    data = Path(shutil.copytree(jpeg_data, tmp_path / "mixed"))
    converted = 0
    for index, jpeg in enumerate(sorted(data.rglob("*.jpeg"))):
        if index % 2 == 0:  # every other image as DICOM, named by an archive's numbering, its patient in the header
            patient = jpeg.stem.split("_")[0] if "person" in jpeg.stem else jpeg.stem.rsplit("-", 1)[0]
            _as_dicom(jpeg, jpeg.with_name(f"IMG{index:05d}.dcm"), patient=f"{jpeg.parts[-3]}-{patient}",
                      photometric="MONOCHROME1" if index % 4 else "MONOCHROME2")
            jpeg.unlink()
            converted += 1
    code, out, err = run_cli(capsys, "data", "--data", data, "--cache-dir", tmp_path / "cache", "--image-size", "32",
                             "--format", "json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["patients_from_dicom_headers"] == converted
    assert summary["unparsed_patient_names"] == 0 and summary["skipped_files"] == []
    total = sum(summary["counts"][side]["total"]["images"] for side in ("train", "validation", "test"))
    assert total == len(list(jpeg_data.rglob("*.jpeg")))


@pytest.mark.slow  # searches, then predicts and calibrates
def test_predict_and_calibrate_on_a_folder_of_dicom_files(jpeg_data, tmp_path, capsys):
    results = tmp_path / "results"
    code, _, err = run_cli(capsys, "search", "--space", "cnn_depth", "--data", jpeg_data, "--image-size", "32",
                           "--max-epochs", "2", "--batch-size", "16", "--run", "tiny", "--results-dir", results,
                           "--cache-dir", tmp_path / "cache", "--quiet", "--precision-floor", "0.5")
    assert code == 0, err
    site = tmp_path / "archive" / "export"  # a PACS export: numbered files, some without a suffix
    site.mkdir(parents=True)
    jpegs = sorted((jpeg_data / "test").rglob("*.jpeg"))
    for index, jpeg in enumerate(jpegs):
        _as_dicom(jpeg, site / f"{index:04d}-m2.dcm", patient=f"PAT{index // 2}")
        _as_dicom(jpeg, site / f"{index:04d}-m1", photometric="MONOCHROME1", bits=16, syntax="rle",
                  patient=f"PAT{index // 2}")
    write_bad_files(site, np.asarray(Image.open(jpegs[0]).convert("L")))

    code, out, err = run_cli(capsys, "predict", site, "--results-dir", results, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    by_name = {row["file"]: row["probability"] for row in result["predictions"]}
    assert len(by_name) == 2 * len(jpegs)
    for index in range(len(jpegs)):  # a MONOCHROME1 file and its MONOCHROME2 twin: the same prediction
        assert by_name[f"{index:04d}-m1"] == pytest.approx(by_name[f"{index:04d}-m2.dcm"], abs=1e-6)
    reasons = {row["file"]: row["reason"] for row in result["skipped"]}
    assert reasons == {"report.dcm": "DICOM: no pixel data (a Basic Text SR Storage)",
                       "empty.dcm": "DICOM: empty pixel data",
                       "video.dcm": reasons["video.dcm"]}
    assert reasons["video.dcm"].startswith("DICOM: transfer syntax MPEG2")
    for line in ("skipped report.dcm: DICOM: no pixel data", "skipped empty.dcm: DICOM: empty pixel data",
                 "skipped video.dcm: DICOM: transfer syntax MPEG2"):
        assert line in err
    assert "Doe" not in out + err and "20190101" not in out + err and "PAT" not in out + err  # no patient data

    code, out, err = run_cli(capsys, "calibrate", "--results-dir", results, "--images", site, "--prevalence", "0.5",
                             "--name", "pacs", "--format", "json")
    assert code == 0, err
    point = json.loads(out)
    assert point["method"] == "unlabelled" and point["n_images"] == 2 * len(jpegs)
    stored = (results / "tiny" / "sites" / "pacs.json").read_text()
    assert "Doe" not in stored and "PAT" not in stored


def test_one_patient_id_on_every_file_is_taken_for_a_placeholder(jpeg_data, tmp_path, capsys):
    data = Path(shutil.copytree(jpeg_data, tmp_path / "anonymised"))
    for jpeg in sorted(data.rglob("*.jpeg")):  # the Kaggle names kept, every header's PatientID the same
        _as_dicom(jpeg, jpeg.with_suffix(".dcm"), patient="ANONYMOUS")
        jpeg.unlink()
    code, out, err = run_cli(capsys, "data", "--data", data, "--cache-dir", tmp_path / "cache", "--image-size", "32",
                             "--format", "json")
    assert code == 0, err
    assert "carry the same PatientID (an anonymised export?): their patients are taken from their file names" in err
    summary = json.loads(out)
    assert summary["patients_from_dicom_headers"] == 0 and summary["unparsed_patient_names"] == 0
    assert summary["counts"]["validation"]["total"]["patients"] > 1
