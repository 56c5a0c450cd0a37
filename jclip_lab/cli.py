"""The ``jclip-lab`` command: open the lab, or build the offline world from a terminal.

Example:
    $ jclip-lab lab                             # JupyterLab on the notebooks
    $ jclip-lab world --profile tiny            # generate (or load) the world and print its counts
    $ jclip-lab train --profile tiny --out run  # the canonical recipe, checkpointed (add --resume to carry on)
    $ jclip-lab eval run                        # every benchmark of the world, as a table
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def _lab(args: argparse.Namespace) -> int:
    notebooks = Path(args.directory)
    if not notebooks.is_dir():
        print(f"No notebooks folder at {notebooks.resolve()}: run this from a clone of jclip_lab.", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "jupyterlab", str(notebooks), *args.jupyter_args])


def _world(args: argparse.Namespace) -> int:
    from jclip_lab.world import load_world

    start = time.perf_counter()
    world = load_world(args.profile, seed=args.seed)
    print(f"world: profile {world.profile.name}, seed {world.seed}, {time.perf_counter() - start:.1f} s")
    print(f"cached in {world.directory}")
    for (source, split), count in world.counts().items():
        print(f"  {source:7s} {split:13s} {count:6d} images")
    print(f"  {len(world.text_pairs)} text pairs, {len(world.triplets)} triplets, {len(world.sts)} STS pairs")
    return 0


def _train(args: argparse.Namespace) -> int:
    from jclip_lab.models import JClipModel
    from jclip_lab.profiles import get_profile, seed_everything
    from jclip_lab.tokenizer import load_world_tokenizer
    from jclip_lab.train import three_stage_recipe, train
    from jclip_lab.world import load_world

    profile = get_profile(args.profile)
    world = load_world(profile, seed=args.seed)
    seed_everything(args.seed)
    model = JClipModel.from_preset(profile.model, tokenizer=load_world_tokenizer(world))
    start = time.perf_counter()
    stages = three_stage_recipe(profile)
    train(model, world, stages, seed=args.seed, out_dir=args.out, resume=args.resume)
    model.config.image_size = stages[-1].image_size  # encode_image's default: the resolution it was trained at
    model.save_pretrained(Path(args.out) / "final")
    print(f"trained in {time.perf_counter() - start:.0f} s; model saved in {Path(args.out) / 'final'}")
    return 0


def _model_folder(folder: Path) -> Path:
    """The model to evaluate in ``folder``: its ``final`` model, the folder itself, or an error that says what to do.

    Raises:
        FileNotFoundError: no such folder, or an unfinished run (it names the checkpoint to evaluate and how to
            resume).
    """
    from jclip_lab.train import latest_checkpoint
    from jclip_lab.train.checkpoints import checkpoints

    if (folder / "final").is_dir():
        return folder / "final"
    if (folder / "config.json").is_file() or not folder.is_dir():
        return folder
    checkpoint = latest_checkpoint(folder) or next(iter(checkpoints(folder)), None)
    if checkpoint is not None:
        raise FileNotFoundError(
            f"{folder} is a training run that has not finished (no {folder / 'final'} yet). Carry it on with "
            f"`jclip-lab train --out {folder} --resume`, or evaluate its last checkpoint with "
            f"`jclip-lab eval {checkpoint / 'model'}`."
        )
    return folder


def _eval(args: argparse.Namespace) -> int:
    from jclip_lab.evaluate import evaluate_world
    from jclip_lab.models import JClipModel
    from jclip_lab.world import load_world

    model = JClipModel.from_pretrained(_model_folder(Path(args.model)))
    report = evaluate_world(model, load_world(args.profile, seed=args.seed), split=args.split)
    summary = ("all", "seen", "transfer", "en", "scenes", "emoji", "flags", "digits", "country", "language", "currency")
    print(report.table(subsets=None if args.per_language else summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jclip-lab`` (one sub-command per job)."""
    parser = argparse.ArgumentParser(prog="jclip-lab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser("lab", help="open JupyterLab on the notebooks")
    lab.add_argument("directory", nargs="?", default="notebooks", help="the notebooks folder (default: ./notebooks)")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    lab.set_defaults(run=_lab)
    world = commands.add_parser("world", help="generate (or load) the offline world and print its counts")
    world.add_argument("--profile", default=None, help="tiny, small or base (default: $JCLIP_PROFILE or hardware)")
    world.add_argument("--seed", type=int, default=0)
    world.set_defaults(run=_world)
    train = commands.add_parser("train", help="train the canonical three-stage recipe, with checkpoints")
    train.add_argument("--profile", default=None, help="tiny, small or base (default: $JCLIP_PROFILE or hardware)")
    train.add_argument("--out", required=True, help="folder for checkpoints and the final model")
    train.add_argument("--resume", action="store_true", help="carry on from the last checkpoint in --out")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=_train)
    evaluate = commands.add_parser("eval", help="evaluate a trained model on the world's test split")
    evaluate.add_argument("model", help="a folder written by `jclip-lab train` or save_pretrained")
    evaluate.add_argument("--profile", default=None, help="the world to evaluate on (default: current profile)")
    evaluate.add_argument("--split", default="test", choices=["val", "test"])
    evaluate.add_argument("--per-language", action="store_true", help="one row per language too")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(run=_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jclip-lab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    import transformers

    transformers.utils.logging.disable_progress_bar()  # keep the terminal to the training bars and the results
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as error:  # bad input: the message says what to do, no traceback
        parser.exit(2, f"jclip-lab {args.command}: error: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())
