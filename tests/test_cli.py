"""Behaviour of the jclip-lab command line: its sub-commands parse, and mistakes get a clear message."""

from __future__ import annotations

import pytest

from jclip_lab.cli import build_parser, main


def test_every_sub_command_parses():
    parser = build_parser()
    assert parser.parse_args(["train", "--profile", "tiny", "--out", "run", "--resume"]).resume
    assert parser.parse_args(["eval", "run", "--split", "val"]).split == "val"
    assert parser.parse_args(["world", "--seed", "3"]).seed == 3
    assert parser.parse_args(["lab"]).directory == "notebooks"


def test_lab_without_notebooks_folder_says_where_to_run_it(tmp_path, capsys):
    assert main(["lab", str(tmp_path / "nowhere")]) == 2
    assert "run this from a clone of jclip_lab" in capsys.readouterr().err


def test_train_needs_an_output_folder(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--profile", "tiny"])
    assert "--out" in capsys.readouterr().err


def test_eval_of_an_unfinished_run_suggests_resume_or_the_checkpoint(tmp_path, capsys):
    (tmp_path / "checkpoint-0000100" / "model").mkdir(parents=True)
    (tmp_path / "latest").write_text("checkpoint-0000100")
    with pytest.raises(SystemExit) as exit:
        main(["eval", str(tmp_path)])
    error = capsys.readouterr().err
    assert exit.value.code == 2 and "has not finished" in error
    assert f"--out {tmp_path} --resume" in error and f"jclip-lab eval {tmp_path}/checkpoint-0000100/model" in error


def test_eval_of_a_missing_folder_is_one_line_not_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["eval", str(tmp_path / "nowhere")])
    error = capsys.readouterr().err
    assert error.startswith("jclip-lab eval: error: No model at") and "Traceback" not in error
