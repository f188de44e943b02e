"""Each class of hostile or odd submission file found in issue 17 is refused on one line.

Every case runs through the command line (`viprepro validate` and `viprepro score` in both
modes): exit code 1, one line on stderr naming the file, the member or position and the
problem, no traceback, no scores written.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from hostile_helpers import patch_zip, zip_bomb, zip_bytes

from viprepro.cli import main
from viprepro.errors import ValidationFailed
from viprepro.files.submission_io import ProblemList

COMMANDS = (["validate"], ["score", "--mode", "strict"], ["score", "--mode", "official"])


def refused(capsys, task: str, gt: Path, submission: Path, tmp_path: Path, *expected: str, extra: tuple = ()) -> list[str]:
    """Run every command on `submission`; each must exit 1 with one line holding `expected`."""
    errors = []
    for number, command in enumerate(COMMANDS):
        out = tmp_path / f"scores_{number}"
        argv = [command[0], "--task", task, "--gt", str(gt), "--submission", str(submission), *command[1:], *extra]
        if command[0] == "score":
            argv += ["--out", str(out)]
        assert main(argv) == 1, f"{command} accepted {submission}"
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and "Traceback" not in error, error
        assert error.startswith(f"viprepro {command[0]}: error: {submission}"), error
        for text in expected:
            assert text.lower() in error.lower(), f"{command}: {text!r} not in {error!r}"
        assert not out.exists()
        errors.append(error)
    return errors


# --- zip members the reader cannot open -----------------------------------------------------


def _segmentation_zip(datasets, tmp_path, name: str, data: bytes) -> tuple[Path, Path]:
    path = tmp_path / name
    path.write_bytes(data)
    return datasets["segmentation"]["gt"], path


def _valid_members(datasets) -> dict[str, bytes]:
    with zipfile.ZipFile(datasets["segmentation"]["valid"]) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _first(datasets) -> str:
    return sorted(_valid_members(datasets))[0]


def test_encrypted_member(datasets, tmp_path, capsys):
    gt, path = _segmentation_zip(datasets, tmp_path, "encrypted.zip", patch_zip(zip_bytes(_valid_members(datasets)), flag=0x1))
    with pytest.raises(RuntimeError, match="password required"):  # what zipfile itself does with it
        zipfile.ZipFile(path).read(_first(datasets))
    refused(capsys, "segmentation", gt, path, tmp_path, ".png", "encrypted (password-protected) member")


def test_ppmd_member(datasets, tmp_path, capsys):
    gt, path = _segmentation_zip(datasets, tmp_path, "ppmd.zip", patch_zip(zip_bytes(_valid_members(datasets)), method=98))
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(path).read(_first(datasets))
    refused(capsys, "segmentation", gt, path, tmp_path, ".png", "compressed with PPMd")


@pytest.mark.parametrize("method, name", [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")])
def test_members_decompressed_without_bound_are_refused(datasets, tmp_path, capsys, method, name):
    gt, path = _segmentation_zip(datasets, tmp_path, f"{name}.zip", zip_bytes(_valid_members(datasets), method=method))
    refused(capsys, "segmentation", gt, path, tmp_path, ".png", f"compressed with {name}")


def test_zip_bomb_is_refused_by_its_declared_size(datasets, tmp_path, capsys):
    path = zip_bomb(tmp_path / "bomb.zip", name=_first(datasets), megabytes=100)
    assert path.stat().st_size < 1 << 20
    refused(
        capsys,
        "segmentation",
        datasets["segmentation"]["gt"],
        path,
        tmp_path,
        _first(datasets),
        "declares 100 MB uncompressed",
        "above the 64 MB limit per member",
        extra=(),
    )


def test_zip_bomb_lying_about_its_size_is_stopped_at_the_declared_size(datasets, tmp_path, capsys):
    name = _first(datasets)
    zip_bomb(tmp_path / "lying.zip", name=name, megabytes=100)
    with zipfile.ZipFile(tmp_path / "lying.zip", "a") as archive:
        for other, data in _valid_members(datasets).items():
            if other != name:
                archive.writestr(other, data)
    # declares a PNG's size, inflates to 100 MB
    lying = patch_zip((tmp_path / "lying.zip").read_bytes(), size=len(_valid_members(datasets)[name]), only=name)
    gt, path = _segmentation_zip(datasets, tmp_path, "lying.zip", lying)
    errors = refused(capsys, "segmentation", gt, path, tmp_path, name)
    assert any("Bad CRC-32" in e or "cannot be read" in e for e in errors), errors


def test_too_many_members_and_too_many_bytes_are_options(datasets, tmp_path, capsys):
    gt, path = datasets["segmentation"]["gt"], datasets["segmentation"]["valid"]
    refused(
        capsys,
        "segmentation",
        gt,
        path,
        tmp_path,
        "the zip declares 4 members, above the limit of 3",
        "--max-members",
        extra=("--max-members", "3"),
    )
    refused(capsys, "segmentation", gt, path, tmp_path, "above the 0.001 MB limit", "--max-total-mb", extra=("--max-total-mb", "0.001"))


def test_a_huge_central_directory_is_refused_before_it_is_read(datasets, tmp_path, capsys):
    import struct

    data = bytearray(datasets["segmentation"]["valid"].read_bytes())
    struct.pack_into("<I", data, data.rfind(b"PK\x05\x06") + 12, 100 << 20)  # the end record's directory size
    gt, path = _segmentation_zip(datasets, tmp_path, "directory.zip", bytes(data))
    refused(capsys, "segmentation", gt, path, tmp_path, "central directory is 100 MB")


def test_png_decompression_bomb(datasets, tmp_path, capsys):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (10000, 10000)).save(buffer, format="PNG")  # 100 megapixels in about 100 KB
    members = _valid_members(datasets)
    members[_first(datasets)] = buffer.getvalue()
    gt, path = _segmentation_zip(datasets, tmp_path, "pngbomb.zip", zip_bytes(members))
    refused(capsys, "segmentation", gt, path, tmp_path, ".png", "megapixel limit")


# --- text encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_detection_json_in_utf16(datasets, tmp_path, capsys, encoding):
    valid = datasets["detection"]["valid"]
    path = tmp_path / f"{encoding}.json"
    path.write_bytes(valid.read_text().encode(encoding))
    refused(capsys, "detection", datasets["detection"]["gt"], path, tmp_path, "UTF-", "save it as UTF-8")


def test_detection_json_with_a_stray_latin1_byte(datasets, tmp_path, capsys):
    text = datasets["detection"]["valid"].read_text().replace('"score": 0.9}', '"score": 0.9, "note": "caf\u00e9"}', 1)
    path = tmp_path / "latin1.json"
    path.write_bytes(text.encode("latin-1"))
    refused(capsys, "detection", datasets["detection"]["gt"], path, tmp_path, "not UTF-8 text: byte 0xe9", "line 2, column")


@pytest.mark.parametrize("task", ["classification", "action_recognition"])
def test_text_submissions_in_utf16_and_latin1(datasets, tmp_path, capsys, task):
    data = datasets[task]
    path = tmp_path / f"utf16{data['valid'].suffix}"
    path.write_bytes(data["valid"].read_text().encode("utf-16"))
    refused(capsys, task, data["gt"], path, tmp_path, "UTF-")
    path = tmp_path / f"latin1{data['valid'].suffix}"
    path.write_bytes(data["valid"].read_bytes().replace(b"\n", b"\xe9\n", 1))
    refused(capsys, task, data["gt"], path, tmp_path, "UTF-8")


# --- structure -----------------------------------------------------------------------------------


def test_deeply_nested_json(datasets, tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    refused(capsys, "detection", datasets["detection"]["gt"], path, tmp_path, "nested deeper than 64 levels", "line 1, column 65")
    path.write_text("[" + '{"image_id": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    refused(capsys, "detection", datasets["detection"]["gt"], path, tmp_path, "nested deeper than 64 levels")


@pytest.mark.parametrize("task", ["classification", "detection", "segmentation", "action_recognition"])
def test_a_folder_or_a_pipe_as_the_submission(datasets, tmp_path, capsys, task):
    folder = tmp_path / "folder"
    folder.mkdir()
    refused(capsys, task, datasets[task]["gt"], folder, tmp_path, "is a folder")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    refused(capsys, task, datasets[task]["gt"], pipe, tmp_path, "not a regular file")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the file is empty"),
        ("[1, 2", "ends inside an unclosed list"),
        ('[{"a": "b]', "unterminated string"),
        ("[1}", "unbalanced '}'"),
        ("[1] x", "extra data after the list"),
        ("[1,]", "not valid JSON"),
        ('{"a": 1}', "found a JSON dict"),
        ("[" + "1" * 5000 + "]", "not readable JSON"),
    ],
)
def test_broken_json_structure(datasets, tmp_path, capsys, text, expected):
    path = tmp_path / "broken.json"
    path.write_text(text)
    refused(capsys, "detection", datasets["detection"]["gt"], path, tmp_path, expected)


def test_an_item_far_longer_than_a_detection_is_not_parsed(datasets, tmp_path, capsys):
    path = tmp_path / "long.json"
    path.write_text('[{"image_id": 1, "pad": "' + "x" * 2_000_000 + '"}]')
    refused(capsys, "detection", datasets["detection"]["gt"], path, tmp_path, "far longer than a detection", "--max-item-kb")


# --- memory proportional to the problems -----------------------------------------------------


def test_problems_are_counted_not_all_stored(datasets, tmp_path, capsys):
    path = tmp_path / "ints.json"
    path.write_text("[" + ",".join(["1"] * 50_000) + "]")
    task, gt = datasets["detection"]["task"], datasets["detection"]["gt"]
    problems = task.validate(gt, path, {})
    assert isinstance(problems, ProblemList) and problems.total == 50_000 and len(problems) == problems.keep
    error = ValidationFailed(path, problems)
    assert error.total == 50_000 and "50000 problem(s)" in error.message and "... and 49980 more" in error.message
    refused(capsys, "detection", gt, path, tmp_path, "detection 0")


@pytest.mark.parametrize("task", ["classification", "action_recognition", "segmentation"])
def test_long_problem_lists_are_capped_in_every_task(datasets, tmp_path, task):
    data = datasets[task]
    if task == "segmentation":
        path = tmp_path / "many.zip"
        path.write_bytes(zip_bytes({f"extra_{i}.txt": b"" for i in range(500)}))
    else:
        path = tmp_path / f"many{data['valid'].suffix}"
        path.write_text(data["valid"].read_text().splitlines()[0] + "\n" + "x\n" * 500)
    problems = data["task"].validate(data["gt"], path, {})
    assert problems.total > 500 > len(problems)


def test_strict_mode_accepts_what_coco_eval_accepts(datasets, tmp_path):
    """Documented: more than 100 detections per image and duplicates are valid (COCOeval keeps the
    100 best per image and category; a duplicate is a false positive)."""
    data = datasets["detection"]
    detections = json.loads(data["valid"].read_text())
    image = detections[0]["image_id"]
    extra = [{**detections[0], "score": 0.01}] * 150
    path = tmp_path / "many.json"
    path.write_text(json.dumps(detections + extra))
    assert sum(d["image_id"] == image for d in detections + extra) > 100
    assert data["task"].validate(data["gt"], path, {}) == []
    dup = data["task"].score(data["gt"], path, tmp_path / "dup", mode="strict", options={})
    base = data["task"].score(data["gt"], data["valid"], tmp_path / "base", mode="strict", options={})
    assert dup["ap"] <= base["ap"]
