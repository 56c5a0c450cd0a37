"""The offline multilingual multimodal world the lab trains and evaluates on.

Made on the fly from what Python packages ship - CLDR names (``emoji``, ``babel``, ``unicode-rbnf``), OpenMoji
artwork, scikit-learn's handwritten digits, matplotlib charts - so it needs no network. One module per source
(``scenes``, ``emoji_art``, ``digits``, ``charts``), names in ``cldr``, languages in ``languages``; ``build``
turns them into records with splits; ``world`` caches them; ``datasets`` feeds them to torch.

Example:
    >>> from jclip_lab.world import SOURCES
    >>> SOURCES
    ('scenes', 'emoji', 'flags', 'digits', 'charts')
"""

from jclip_lab.world.build import SOURCES, SPLITS
from jclip_lab.world.languages import CAPTION_LANGUAGES, SCRIPTS, TEXT_LANGUAGES, TRANSFER_LANGUAGES
from jclip_lab.world.world import World, generate_world, load_world, time_world

__all__ = [
    "CAPTION_LANGUAGES",
    "SCRIPTS",
    "SOURCES",
    "SPLITS",
    "TEXT_LANGUAGES",
    "TRANSFER_LANGUAGES",
    "World",
    "generate_world",
    "load_world",
    "time_world",
]
