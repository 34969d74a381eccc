"""What `pip install .` installs: the package and the `xray-tuner` command, no top-level `cli` module."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest
from helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # builds a wheel and starts processes


def test_the_wheel_holds_no_top_level_cli_and_points_the_command_into_the_package(tmp_path):
    source = tmp_path / "source"  # a copy: setuptools builds in the source folder
    for folder in ("tuner", "search_spaces"):
        shutil.copytree(REPO_ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "cli.py"):
        shutil.copy(REPO_ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"no build backend here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "wheel").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "cli.py" not in names and "tuner/cli.py" in names
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"tuner", "search_spaces"}
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "xray-tuner = tuner.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.parametrize("command", [[sys.executable, "cli.py"], [sys.executable, "-m", "tuner.cli"], ["xray-tuner"]])
def test_every_documented_way_to_start_the_command_line_works(command):
    if command == ["xray-tuner"] and shutil.which("xray-tuner") is None:
        pytest.skip("the package is not installed in this environment (pip install -e .)")
    done = subprocess.run([*command, "spaces"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "mobilenet_head" in done.stdout
    refused = subprocess.run([*command, "serch"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    expected = {"cli.py": "python cli.py", "tuner.cli": "python -m tuner.cli", "xray-tuner": "xray-tuner"}
    assert refused.returncode == 2 and f"`{expected[command[-1]]} --help`" in refused.stderr
