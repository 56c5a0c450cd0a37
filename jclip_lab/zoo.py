"""The model zoo: trained models on demand, trained once with a named recipe and cached on disk.

Later notebooks start from a trained model instead of training their own: ``zoo.load("tiny")`` returns the
canonical three-stage model of the tiny profile, training it the first time (a few minutes on a CPU) and loading
it from the cache afterwards. Variants leave one ingredient out, for the ablations of notebooks 05-08:

===========================  ====================================================================================
``canonical``                stage 1 (short captions + pairs), 2 (long captions + pairs), 3 (triplets + charts)
``stage-1``                  the canonical stage 1 alone
``image-text-only``          stage 1 without text pairs
``no-matryoshka``            stage 1 with the loss at full width only
``stage-2-long``             the showcase's stage 1, then a study-length stage 2 (long captions)
``stage-2-short``            the same with short captions instead of long ones (the fair control)
``stage-3-triplets``         the showcase's stages 1-2, then a study-length stage 3 (triplets + charts)
``stage-3-anchor-positive``  the same with the triplets' (anchor, positive) pairs, negatives left out
``stage-3-no-triplets``      the same without the triplets
===========================  ====================================================================================

The comparisons of notebooks 05-09 run these with the seeds of :data:`jclip_lab.studies.SEEDS`. The stage-1
variants train from scratch on :func:`jclip_lab.studies.study_profile`'s short schedule:
``zoo.load(study_profile(profile), "image-text-only", seed=1)``. The ``stage-2-*`` and ``stage-3-*`` variants
start from the *showcase* (the canonical model of ``profile``, seed 0) after the stage before, and train one
stage of the study schedule with their own seed (its data order and patch dropout):
``zoo.load(profile, "stage-2-short", seed=1)``. From scratch, the study schedule is too short to learn images;
from a model that has learned them, it can test what one stage does to them.

Models are cached after every stage, keyed by the recipe, the profile, the seed and the code version. Two
processes asking at once take turns (a file lock): one trains, the other then loads.

Example:
    >>> from jclip_lab import zoo
    >>> list(zoo.VARIANTS)[:3]
    ['canonical', 'stage-1', 'image-text-only']

    ``zoo.load("tiny")`` then gives the canonical model (``model.encode_text("红色圆").shape == (128,)``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from filelock import FileLock

from jclip_lab import __version__
from jclip_lab.cache import (
    cache_root,
    is_intact,
    remove_stale_temporaries,
    write_checksum,
    write_directory_atomically,
)
from jclip_lab.models import JClipModel
from jclip_lab.profiles import Profile, get_profile, seed_everything
from jclip_lab.studies import study_profile
from jclip_lab.tokenizer import TOKENIZER_VERSION, load_world_tokenizer
from jclip_lab.train import History, Stage, three_stage_recipe, train
from jclip_lab.world import load_world
from jclip_lab.world.world import WORLD_VERSION

ZOO_VERSION = 4  # bump when a change to training code changes what a recipe produces


@dataclass(frozen=True)
class Variant:
    """A recipe: the stages to run, optionally after the first stages of another variant.

    Attributes:
        description: one line for people.
        stages: the stages to run, for a profile.
        start_from: ``(variant, stage)``: start from that variant's model after that stage (None: from scratch).
        start_seed: the seed of the model it starts from (None: the run's own seed).
    """

    description: str
    stages: Callable[[Profile], list[Stage]]
    start_from: tuple[str, int] | None = None
    start_seed: int | None = None

    def seed_of_start(self, seed: int) -> int:
        """The seed of the model a run with ``seed`` starts from."""
        return seed if self.start_seed is None else self.start_seed


def _without(stage: Stage, task: str) -> Stage:
    return replace(stage, tasks={t: w for t, w in stage.tasks.items() if t != task})


def _replace_task(stage: Stage, task: str, by: str) -> Stage:
    return replace(stage, tasks={(by if t == task else t): w for t, w in stage.tasks.items()})


def _study_stage(
    number: int, change: Callable[[Stage], Stage] = lambda stage: stage
) -> Callable[[Profile], list[Stage]]:
    """Stage ``number`` of the study schedule of a profile, changed by ``change``."""
    return lambda profile: [change(three_stage_recipe(study_profile(profile))[number - 1])]


VARIANTS: dict[str, Variant] = {
    "canonical": Variant(
        "three stages: short captions + pairs, long captions + pairs, triplets + charts", three_stage_recipe
    ),
    "stage-1": Variant("the canonical stage 1 alone", lambda p: three_stage_recipe(p)[:1]),
    "image-text-only": Variant("stage 1 without text pairs", lambda p: [_without(three_stage_recipe(p)[0], "pairs")]),
    "no-matryoshka": Variant(
        "stage 1 with the loss at full width only", lambda p: [replace(three_stage_recipe(p)[0], matryoshka_dims=())]
    ),
    "stage-2-long": Variant(
        "the showcase's stage 1, then stage 2 (long captions) on the study schedule",
        _study_stage(2), ("canonical", 1), start_seed=0,
    ),
    "stage-2-short": Variant(
        "the showcase's stage 1, then stage 2 on the study schedule with short captions instead of long ones",
        _study_stage(2, lambda stage: _replace_task(stage, "long", "short")), ("canonical", 1), start_seed=0,
    ),
    "stage-3-triplets": Variant(
        "the showcase's stages 1-2, then stage 3 (triplets + charts) on the study schedule",
        _study_stage(3), ("canonical", 2), start_seed=0,
    ),
    "stage-3-anchor-positive": Variant(
        "the showcase's stages 1-2, then stage 3 on the study schedule with the triplets' (anchor, positive) pairs, "
        "without their hard negatives",
        _study_stage(3, lambda stage: _replace_task(stage, "triplets", "anchor-positive")), ("canonical", 2),
        start_seed=0,
    ),
    "stage-3-no-triplets": Variant(
        "the showcase's stages 1-2, then stage 3 on the study schedule without the triplets",
        _study_stage(3, lambda stage: _without(stage, "triplets")), ("canonical", 2), start_seed=0,
    ),
}  # fmt: skip


def _check_variant(variant: str) -> Variant:
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; valid variants: {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def variant_directory(profile: Profile, variant: str, seed: int = 0) -> Path:
    """Where a variant's models are cached: ``<cache>/zoo/<profile>-<variant>-<hash of recipe and code>``."""
    recipe = _check_variant(variant)
    start = None
    if recipe.start_from:
        start = str(variant_directory(profile, recipe.start_from[0], recipe.seed_of_start(seed)))
    key = {
        "version": [__version__, ZOO_VERSION, WORLD_VERSION, TOKENIZER_VERSION],
        "profile": dataclasses.asdict(profile),
        "stages": [dataclasses.asdict(stage) for stage in recipe.stages(profile)],
        "start_from": start,
        "after": recipe.start_from[1] if recipe.start_from else None,
        "seed": seed,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return cache_root() / "zoo" / f"{profile.name}-{variant}-{digest}"


def _stage_directory(directory: Path, stage: int | None, variant: str, profile: Profile) -> Path:
    numbers = _stage_numbers(variant, profile)
    stage = numbers[-1] if stage is None else stage
    if stage not in numbers:
        raise ValueError(f"Variant {variant!r} has stages {numbers[0]}..{numbers[-1]}; got stage={stage}.")
    return directory / f"stage-{stage}"


def load(
    profile: Profile | str | None = None,
    variant: str = "canonical",
    stage: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> JClipModel:
    """A trained model (with its tokenizer), from the cache or trained now and cached.

    Args:
        profile: a profile or its name (default: the current profile).
        variant: which recipe (see the module docstring).
        stage: the model after this stage (default: after the last).
        seed: the run's seed (model initialisation and data order).
        progress: show training progress bars if the model has to be trained.

    Raises:
        ValueError: an unknown variant, or a stage the variant does not have.
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    stage_dir = _stage_directory(variant_directory(profile, variant, seed), stage, variant, profile)  # checks first
    _trained(profile, variant, seed, progress)
    return JClipModel.from_pretrained(stage_dir)


def load_history(profile: Profile | str | None = None, variant: str = "canonical", seed: int = 0) -> History:
    """The training history of a zoo model (training it first if needed), for loss curves."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    directory = _trained(profile, variant, seed, progress=False)
    return History(**json.loads((directory / "history.json").read_text()))


def _stage_numbers(variant: str, profile: Profile) -> range:
    offset = VARIANTS[variant].start_from[1] if VARIANTS[variant].start_from else 0
    return range(offset + 1, offset + len(VARIANTS[variant].stages(profile)) + 1)


def _complete(directory: Path, variant: str, profile: Profile) -> bool:
    """Whether a cached variant holds its history and every stage's model, each weights file intact."""
    stages = [directory / f"stage-{number}" for number in _stage_numbers(variant, profile)]
    return (directory / "history.json").is_file() and all(is_intact(stage / "model.safetensors") for stage in stages)


def _trained(profile: Profile, variant: str, seed: int, progress: bool) -> Path:
    """The variant's cache folder, after training it there if it is not yet (one process at a time).

    A cached variant with a stage deleted or damaged is trained again, with a warning; temporary folders of
    trainings killed mid-write are removed.
    """
    directory = variant_directory(profile, variant, seed)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        remove_stale_temporaries(directory.parent)
        if directory.exists() and not _complete(directory, variant, profile):
            warnings.warn(f"The cached model {directory} is incomplete or damaged: training it again.", stacklevel=3)
            shutil.rmtree(directory)
        if not directory.exists():
            write_directory_atomically(directory, lambda tmp: _train_variant(tmp, profile, variant, seed, progress))
    return directory


def _train_variant(out: Path, profile: Profile, variant: str, seed: int, progress: bool) -> None:
    """Train ``variant`` and save the model after each stage into ``out/stage-<n>``, and the history."""
    recipe = VARIANTS[variant]
    world = load_world(profile, progress=progress)
    if recipe.start_from:
        model = load(profile, recipe.start_from[0], recipe.start_from[1], recipe.seed_of_start(seed), progress)
        first = recipe.start_from[1] + 1
    else:
        seed_everything(seed)
        model = JClipModel.from_preset(profile.model, tokenizer=load_world_tokenizer(world))
        first = 1
    history = History()
    for number, stage in enumerate(recipe.stages(profile), start=first):
        part = train(model, world, [stage], seed=seed + number, progress=progress)
        history.steps += [{**row, "step": row["step"] + len(history.steps)} for row in part.steps]
        model.config.image_size = stage.image_size  # encode_image's default: the resolution it was trained at
        model.save_pretrained(out / f"stage-{number}")
        write_checksum(out / f"stage-{number}" / "model.safetensors")
    (out / "history.json").write_text(json.dumps(dataclasses.asdict(history)))
