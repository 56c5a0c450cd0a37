"""The small world the tests generate: a tiny profile with fewer records of each source (a few seconds to make)."""

import dataclasses

from jclip_lab.profiles import get_profile

SMALL = dataclasses.replace(
    get_profile("tiny"), name="test-small", scenes=150, emoji=10, flags=12, charts=12, digits=40
)
