"""Helpers of the hostile-input tests (issue 13): crafted files, the surroundings' fingerprint,
one-sentence errors, and a really read-only output folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from refmatte.testing.crafted import folder_source, png_bomb, soft_alpha  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[1]


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> sha1 of its bytes: equal before and after means untouched."""
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def surroundings(base: Path) -> Path:
    """A folder of a user's files next to the output: a secret, a file of the old temp pattern, a notes file."""
    victim = base / "victim"
    victim.mkdir(parents=True, exist_ok=True)
    (victim / "secret.txt").write_text("do not delete")
    (victim / ".notes.123.tmp").write_text("a user's file that looks like a temporary")
    (victim / "TRAVERSAL.json").write_text("{}")
    return victim


def one_sentence(result, code: int = 2) -> str:
    """The error of a CliRunner result: exit ``code``, no exception but the exit, one ``error:`` line."""
    output = result.output
    assert result.exit_code == code, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return " ".join(output[output.index("error:"):].split())


def cli(program: str, *args: str, read_only: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m <program>.cli ARGS`` in a subprocess; with ``read_only``, that folder is
    mounted read-only for the process (a private mount namespace when root, chmod otherwise)."""
    argv = [sys.executable, "-m", f"{program}.cli", *args]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    if read_only is None:
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=full_env)
    if os.geteuid() == 0:  # root ignores permissions: a read-only bind mount in a private namespace
        if not shutil.which("unshare"):
            pytest.skip("root without unshare cannot make a folder read-only")
        argv = ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(read_only), *argv]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=full_env)
        if r.returncode != 0 and ("unshare:" in r.stderr or "mount:" in r.stderr):
            pytest.skip(f"cannot mount read-only here: {r.stderr.strip()}")
        return r
    os.chmod(read_only, 0o555)
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=full_env)
    finally:
        os.chmod(read_only, 0o755)


def sentence(r: subprocess.CompletedProcess, code: int = 2) -> str:
    """The one-sentence error of a subprocess run (exit ``code``, no traceback, one ``error:`` line)."""
    output = r.stdout + r.stderr
    assert r.returncode == code, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return " ".join(output[output.index("error:"):].split())
