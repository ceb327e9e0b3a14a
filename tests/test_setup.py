"""scripts/setup.sh's install of captioner itself: the README's Python snippet, saved beside a clone
folder named "captioner", imports the package, not the folder.

setuptools' default editable install puts a finder hook after Python's path search, so the clone
folder (no __init__.py: a namespace package) answered `import captioner` first and the snippet
failed with "cannot import name 'Captioner' from 'captioner' (unknown location)". In compat mode the
checkout goes on sys.path, where the regular package inside it wins over the namespace folder.
"""

import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = "from captioner import Captioner\nprint('imported', Captioner.__module__)\n"


@pytest.mark.integration
def test_setup_installs_captioner_so_a_clone_folder_named_captioner_does_not_shadow_it(tmp_path):
    line = next(t for t in (ROOT / "scripts" / "setup.sh").read_text().splitlines() if re.search(r"install .*-e \.", t))
    mode = re.search(r"editable_mode=(\w+)", line)
    assert mode, f"setup.sh installs captioner without an editable mode: {line}"
    clone = tmp_path / "captioner"  # a clone of the repository, under the name git gives it
    clone.mkdir()
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(ROOT / name, clone / name)
    shutil.copytree(ROOT / "captioner", clone / "captioner", ignore=shutil.ignore_patterns("__pycache__", "pretrained"))
    venv = tmp_path / "venv"
    subprocess.run([Path(sys.base_prefix) / "bin" / "python3", "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    packages = next(venv.glob("lib/python3*/site-packages"))
    (packages / "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")  # pip, setuptools, torch ...
    python = venv / "bin" / "python"
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            ".",
            "--config-settings",
            f"editable_mode={mode.group(1)}",
        ],
        cwd=clone,
        check=True,
        timeout=300,
    )
    (tmp_path / "snippet.py").write_text(SNIPPET)
    done = subprocess.run([python, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "imported captioner.pipeline" in done.stdout, done.stderr[-2000:]
