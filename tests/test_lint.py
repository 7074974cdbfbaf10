"""`make lint`'s checkers, clean: ruff (pyproject.toml's [tool.ruff]) and snakefmt on the Snakefile and
rule files. (`snakemake --lint`, the third part of `make lint`, is tests/test_workflow.py's.) A failure
shows the tool's own report; `make fix-lint` applies every automatic fix."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True)


def test_ruff_is_clean():
    result = _run(str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check (make fix-lint fixes what it can):\n{result.stdout}{result.stderr}"
    assert "All checks passed!" in result.stdout


def test_snakefmt_is_clean():
    result = _run(str(BIN / "snakefmt"), "--check", "--diff", "Snakefile", "workflow")
    assert result.returncode == 0, f"snakefmt --check (make fix-lint formats):\n{result.stdout}{result.stderr}"


def test_ruff_would_catch_a_real_problem(tmp_path):
    """The rule set is switched on: an undefined name and an unused import in a new file fail."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    result = _run(str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", str(bad))
    assert result.returncode == 1
    assert "F401" in result.stdout and "F821" in result.stdout
