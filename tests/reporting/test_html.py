"""`test --explain`, `predict --explain` and `report --html` on a small searched run; the page in a browser."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import cli
from tuner.demo import make_synthetic_dataset

pytestmark = pytest.mark.slow  # every test uses a searched and tested run (or starts a browser)


@pytest.fixture(scope="module")
def tested_run(tmp_path_factory) -> Path:
    """A searched run, tested with an error gallery of up to 2 + 2 pictures."""
    data = make_synthetic_dataset(tmp_path_factory.mktemp("data") / "chest_xray",
                                  patients_per_class={"train": 14, "test": 6})
    results, cache = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("cache")
    common = ["--results-dir", str(results)]
    assert cli.main(["search", "--space", "cnn_depth", "--data", str(data), "--image-size", "32", "--max-epochs", "3",
                     "--batch-size", "16", "--run", "page", "--cache-dir", str(cache), "--quiet",
                     "--precision-floor", "0.5", *common]) == 0
    assert cli.main(["test", "--explain", "2", *common]) == 0
    return results / "page"


class _Page(HTMLParser):
    """What the page shows: the trials table's rows, its images, and its script."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, int] = {}
        self.images: list[str] = []
        self._table: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = 0
        elif tag == "tr" and self._table:
            self.tables[self._table] += 1
        elif tag == "img":
            self.images.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None


def test_the_error_gallery_is_recorded_with_the_test(tested_run):
    metrics = json.loads((tested_run / "test" / "metrics.json").read_text())
    predictions = pd.read_csv(tested_run / "test" / "predictions.csv")
    wrong = predictions[predictions["label"] != predictions["prediction"]]
    false_positives = wrong[wrong["label"] == 0].sort_values("probability", ascending=False)["file"].tolist()
    false_negatives = wrong[wrong["label"] == 1].sort_values("probability")["file"].tolist()
    gallery = metrics["error_gallery"]
    assert [item["file"] for item in gallery] == false_positives[:2] + false_negatives[:2]
    for item in gallery:
        assert item["kind"] == ("false positive" if item["file"] in false_positives else "false negative")
        assert (tested_run / "test" / item["picture"]).is_file() and item["picture"].endswith(".gradcam.png")


def test_predict_explain_writes_one_picture_per_image(tested_run, tmp_path, capsys):
    data_dir = Path(json.loads((tested_run / "settings.json").read_text())["data_dir"])
    images = sorted(path for path in (data_dir / "test").rglob("*") if path.is_file())[:2]
    assert len(images) == 2
    out = tmp_path / "pictures"
    assert cli.main(["predict", *map(str, images), "--results-dir", str(tested_run.parent), "--explain",
                     "--explain-dir", str(out), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    assert [Path(row["explanation"]).name for row in rows] == [f"{image.stem}.gradcam.png" for image in images]
    assert all(Image.open(row["explanation"]).size[0] > 300 for row in rows)


def test_the_page_holds_the_trials_the_test_card_and_every_picture(tested_run):
    assert cli.main(["report", "--html", "--results-dir", str(tested_run.parent)]) == 0
    text = (tested_run / "report.html").read_text()
    page = _Page()
    page.feed(text)
    trials = json.loads((tested_run / "trials.json").read_text())
    assert page.tables["trials"] == len(trials) + 1  # a header row and one row a trial
    assert page.tables["test"] == 1 + 7  # the seven test metrics
    gallery = json.loads((tested_run / "test" / "metrics.json").read_text())["error_gallery"]
    plots = list((tested_run / "plots").glob("*.png"))
    assert len(page.images) == len(plots) + len(gallery)
    for source in page.images:  # every picture inside the page, a PNG that decodes
        assert source.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).verify()
    assert "evaluated 1 time(s)" in text
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)  # nothing fetched from elsewhere


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return found


def test_the_page_renders_in_a_browser_without_errors(tested_run, tmp_path):
    assert cli.main(["report", "--html", "--output", str(tmp_path / "page.html"),
                     "--results-dir", str(tested_run.parent)]) == 0
    browser = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
               "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000"]
    # A click on the "trial_id" header sorts the rows; the DOM after the script ran is what is dumped.
    (tmp_path / "click.html").write_text(
        (tmp_path / "page.html").read_text().replace(
            "</body>", "<script>document.querySelectorAll('#trials th')[1].click();"
                       "document.querySelectorAll('#trials th')[1].click();"
                       "document.body.dataset.sorted = document.querySelector('#trials th[data-order]')"
                       ".dataset.order;</script></body>"))
    rendered = subprocess.run([*browser, "--dump-dom", (tmp_path / "click.html").as_uri()],
                              capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert 'data-sorted="descending"' in rendered.stdout  # the script ran: clicked twice, sorted descending
    ids = re.findall(r'<tr class="[^"]*"><td>[^<]*</td><td class="text">([^<]+)</td>', rendered.stdout)
    assert ids == sorted(ids, reverse=True) and len(ids) >= 2
    console_errors = [line for line in rendered.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert console_errors == []
    shot = tmp_path / "page.png"
    subprocess.run([*browser, "--window-size=1280,1600", f"--screenshot={shot}", (tmp_path / "page.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    colours = Image.open(shot).convert("L").getextrema()
    assert colours[0] < 100 < colours[1]  # text and pictures on a white page, not a blank one
