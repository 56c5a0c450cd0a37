"""Behaviour of the jclip-lab command line: its sub-commands parse, and mistakes get a clear message."""

from __future__ import annotations

import pytest

from jclip_lab.cli import build_parser, lab_command, main


def test_every_sub_command_parses():
    parser = build_parser()
    assert parser.parse_args(["train", "--profile", "tiny", "--out", "run", "--resume"]).resume
    assert parser.parse_args(["eval", "run", "--split", "val"]).split == "val"
    assert parser.parse_args(["world", "--seed", "3"]).seed == 3
    assert parser.parse_args(["lab"]).arguments == []


def test_lab_without_notebooks_folder_says_where_to_run_it(tmp_path, capsys):
    assert main(["lab", str(tmp_path / "nowhere")]) == 2
    assert "run this from a clone of jclip_lab" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], ["notebooks"]),
        (["--no-browser"], ["notebooks", "--no-browser"]),
        (["--port", "8890"], ["notebooks", "--port", "8890"]),
        (["lessons", "--port=8890", "--no-browser"], ["lessons", "--port=8890", "--no-browser"]),
    ],
)
def test_lab_passes_jupyters_own_options_through(arguments, expected, monkeypatch, tmp_path):
    commands = []
    monkeypatch.setattr("subprocess.call", lambda command: commands.append(command) or 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / expected[0]).mkdir()
    assert main(["lab", *arguments]) == 0
    assert commands == [lab_command(arguments)]
    assert commands[0][1:] == ["-m", "jupyterlab", *expected]


def test_lab_help_says_jupyter_options_pass_through(capsys):
    with pytest.raises(SystemExit):
        main(["lab", "--help"])
    assert "goes to `jupyter lab`" in capsys.readouterr().out


def test_other_sub_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit):
        main(["world", "--no-browser"])
    assert "unrecognized arguments: --no-browser" in capsys.readouterr().err


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
