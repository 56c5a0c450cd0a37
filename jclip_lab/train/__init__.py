"""Training: stages and the three-stage recipe, the tasks and their losses, gradients, checkpoints and the loop.

- ``stages``: :class:`Stage`, :func:`three_stage_recipe`, the learning-rate schedule.
- ``tasks``: one :class:`~jclip_lab.train.tasks.Task` per training task (dataset, towers, loss): ``TASKS``.
- ``gradients``: one batch forward and backward, plainly or with gradient caching.
- ``checkpoints``: atomic, pickle-free checkpoints and exact resume.
- ``loop``: :func:`train`, :class:`History`.

Example:
    >>> from jclip_lab.profiles import get_profile
    >>> [stage.name for stage in three_stage_recipe(get_profile("tiny"))]
    ['1-short-captions', '2-long-captions', '3-triplets-charts']
"""

from jclip_lab.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from jclip_lab.train.gradients import cached_gradients, compute_gradients, full_batch_gradients
from jclip_lab.train.loop import History, make_optimizer, train, training_step
from jclip_lab.train.stages import Stage, lr_factor, three_stage_recipe
from jclip_lab.train.tasks import TASKS, Task

__all__ = [
    "TASKS",
    "History",
    "Stage",
    "Task",
    "cached_gradients",
    "compute_gradients",
    "full_batch_gradients",
    "latest_checkpoint",
    "load_checkpoint",
    "lr_factor",
    "make_optimizer",
    "save_checkpoint",
    "three_stage_recipe",
    "train",
    "training_step",
]
