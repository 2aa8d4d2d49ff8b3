"""The build command's pieces that need no componentize-py."""

import json
from pathlib import Path

import pytest

from wasync_job import build


def test_custom_section_encoding():
    section = build.custom_section("wasync-functions", b'["a"]')
    assert section[0] == 0
    body = section[2:]
    assert section[1] == len(body)
    assert body[0] == len("wasync-functions") and body[1:17] == b"wasync-functions"
    assert body[17:] == b'["a"]'
    # Sizes over 127 take two LEB128 bytes.
    big = build.custom_section("x", b"y" * 200)
    assert big[1:3] == bytes([(202 & 0x7F) | 0x80, 202 >> 7])


def test_job_names_are_read_by_importing_the_folder(tmp_path: Path):
    (tmp_path / "app.py").write_text(
        "from wasync_job import job\n@job\ndef one(): pass\n@job(name='two')\ndef f(): pass\n"
    )
    (tmp_path / "test_app.py").write_text("raise SystemExit('tests are not job modules')\n")
    assert build.default_modules(tmp_path) == ["app"]
    assert build.job_names(tmp_path, ["app"]) == ["one", "two"]


def test_a_folder_without_jobs_is_refused(tmp_path: Path):
    (tmp_path / "app.py").write_text("x = 1\n")
    with pytest.raises(build.BuildError, match="no @job function"):
        build.job_names(tmp_path, ["app"])
    (tmp_path / "app.py").write_text("import not_a_module\n")
    with pytest.raises(build.BuildError, match="not_a_module"):
        build.job_names(tmp_path, ["app"])


def test_wit_is_shipped():
    text = (build.wit_dir() / "job.wit").read_text()
    assert "world job" in text and json.dumps("run")
