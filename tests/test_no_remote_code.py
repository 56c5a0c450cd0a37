"""The lab never executes code from the hub: the flag that would allow it appears nowhere in the library.

(The one place that runs the hub's own code is benchmarks/compare_remote_code.py, in a separate environment.)
"""

from __future__ import annotations

from pathlib import Path

import jclip_lab

FLAG = "trust_" + "remote_code"  # spelled in two pieces so that this file does not match its own search


def test_no_file_of_the_library_mentions_remote_code() -> None:
    library = Path(jclip_lab.__file__).parent
    files = [path for path in library.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    assert len(files) > 40  # the whole library was searched
    offending = [str(path.relative_to(library)) for path in files if FLAG in path.read_text(errors="ignore")]
    assert not offending, f"{FLAG} appears in {offending}"
