"""benchmarks/compare_remote_code.py, step 2 (the lab's side), offline: against a reference written by the tests'
independent forward pass on a fake checkpoint in the real format, the lab's converter agrees to 1e-5."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from jina_reference import JinaReference

from jclip_lab.offline import write_fake_checkpoint

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "compare_remote_code.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("compare_remote_code", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_pins_the_converters_revision(script) -> None:
    from jclip_lab.models.jina_clip_v2 import JINA_CLIP_V2_REPO, JINA_CLIP_V2_REVISION

    assert (script.REPO, script.REVISION) == (JINA_CLIP_V2_REPO, JINA_CLIP_V2_REVISION)


def test_the_lab_step_agrees_with_a_reference_and_catches_a_difference(script, tmp_path, capsys) -> None:
    folder = write_fake_checkpoint(tmp_path / "fake")
    reference = script.save_reference(tmp_path / "remote.npz", JinaReference(folder), dims=(None, 16, 8))
    texts, images, dims, arrays = script.load_reference(reference)
    assert (texts, dims) == (list(script.TEXTS), [None, 16, 8])
    assert [image.size for image in images] == list(script.IMAGE_SIZES) and images[-1].mode == "L"
    settings = [("text", None), ("text", "retrieval.query"), ("image", None)]
    assert sorted(arrays) == sorted(script.key(kind, task, dim) for kind, task in settings for dim in dims)

    status = script.main(["lab", "--reference", str(reference), "--checkpoint", str(folder), "--tolerance", "1e-5"])
    assert status == 0 and "the two implementations agree" in capsys.readouterr().out

    with np.load(reference) as data:
        changed = {name: data[name] for name in data.files}
    changed["image-none-16"] = changed["image-none-16"][::-1].copy()  # the images' embeddings in the wrong order
    np.savez(tmp_path / "wrong.npz", **changed)
    status = script.main(["lab", "--reference", str(tmp_path / "wrong.npz"), "--checkpoint", str(folder)])
    assert status == 1 and "DISAGREE" in capsys.readouterr().out
