"""The ``jclip-lab`` command: open the lab, or build the offline world from a terminal.

Example:
    $ jclip-lab lab                             # JupyterLab on the notebooks
    $ jclip-lab lab --no-browser --port 8890    # Jupyter's own options pass through
    $ jclip-lab world --profile tiny            # generate (or load) the world and print its counts
    $ jclip-lab train --profile tiny --out run  # the canonical recipe, checkpointed (add --resume to carry on)
    $ jclip-lab train --profile small --out run --nproc 2   # on 2 GPUs (torchrun; or torchrun ... -m jclip_lab train)
    $ jclip-lab eval run                        # every benchmark of the world, as a table
    $ jclip-lab finetune --captions my/captions.csv --out tuned    # your images, without forgetting text
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

LAB_HELP = """\
DIRECTORY (default: ./notebooks), if given, must come first. Every other argument goes to `jupyter lab`
unchanged, for example --no-browser, --port 8890 or --ServerApp.ip=127.0.0.1 (`jupyter lab --help` lists them).
"""


def lab_command(arguments: Sequence[str]) -> list[str]:
    """The command that ``jclip-lab lab ARGUMENTS`` runs: JupyterLab on the notebooks, with Jupyter's own options.

    Args:
        arguments: what followed ``lab`` on the command line: an optional notebooks folder first (default
            ``notebooks``), then any options of ``jupyter lab``, passed on unchanged.

    Returns:
        The command line, starting with this Python (so that the notebooks' kernel can import jclip_lab).

    Example:
        >>> lab_command(["--no-browser", "--port", "8890"])[1:]
        ['-m', 'jupyterlab', 'notebooks', '--no-browser', '--port', '8890']
        >>> lab_command(["my_notebooks", "--port=8890"])[3:]
        ['my_notebooks', '--port=8890']
    """
    arguments = list(arguments)
    directory = arguments.pop(0) if arguments and not arguments[0].startswith("-") else "notebooks"
    return [sys.executable, "-m", "jupyterlab", directory, *arguments]


def _lab(args: argparse.Namespace) -> int:
    command = lab_command(args.arguments)
    notebooks = Path(command[3])
    if not notebooks.is_dir():
        print(f"No notebooks folder at {notebooks.resolve()}: run this from a clone of jclip_lab.", file=sys.stderr)
        return 2
    return subprocess.call(command)


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


def torchrun_command(argv: Sequence[str], nproc: int) -> list[str]:
    """The command that ``jclip-lab train --nproc N ...`` runs: ``torchrun`` starting N copies of it without --nproc.

    Example:
        >>> torchrun_command(["train", "--out", "run", "--nproc", "2"], 2)[1:]
        ['-m', 'torch.distributed.run', '--nproc_per_node', '2', '-m', 'jclip_lab', 'train', '--out', 'run']
    """
    rest, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--nproc":
            skip = True
        elif not argument.startswith("--nproc="):
            rest.append(argument)
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "-m", "jclip_lab", *rest]


def _train(args: argparse.Namespace) -> int:
    import os

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:  # start the processes; each runs this command again
        return subprocess.call(torchrun_command(args.argv, args.nproc))
    from jclip_lab.distributed import barrier, init_distributed, is_main_process
    from jclip_lab.models import JClipModel
    from jclip_lab.profiles import get_profile, seed_everything
    from jclip_lab.tokenizer import load_world_tokenizer
    from jclip_lab.train import three_stage_recipe, train
    from jclip_lab.world import load_world

    init_distributed()
    profile = get_profile(args.profile)
    if not is_main_process():
        barrier()  # process 0 builds the world and the tokenizer first; the others then read them from the cache
    world = load_world(profile, seed=args.seed)
    tokenizer = load_world_tokenizer(world)
    if is_main_process():
        barrier()
    seed_everything(args.seed)
    model = JClipModel.from_preset(profile.model, tokenizer=tokenizer)
    start = time.perf_counter()
    stages = three_stage_recipe(profile)
    train(model, world, stages, seed=args.seed, out_dir=args.out, resume=args.resume, chunk_size=args.chunk_size,
          precision=args.precision, compile=args.compile)  # fmt: skip
    model.config.image_size = stages[-1].image_size  # encode_image's default: the resolution it was trained at
    if is_main_process():
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


def _load_model(name: str, profile):
    """A model by name: ``zoo`` (the trained tiny/small/base model of the profile), ``jina-clip-v2`` (the real one,
    converted), or a folder (``save_pretrained``'s, or a training run's)."""
    from jclip_lab import zoo
    from jclip_lab.models import JClipModel

    if name == "zoo":
        return zoo.load(profile)
    if name == "jina-clip-v2":
        return JClipModel.from_jina_clip_v2()
    return JClipModel.from_pretrained(_model_folder(Path(name)))


def _finetune(args: argparse.Namespace) -> int:
    from jclip_lab.finetune import FinetuneConfig, finetune, read_captioned_images, read_text_pairs
    from jclip_lab.profiles import get_profile
    from jclip_lab.world import load_world

    data = read_captioned_images(args.captions, args.images, skip_bad_rows=args.skip_bad_rows)
    if data.report.problems:
        print(f"skipped: {data.report.summary()}")
    profile = get_profile(args.profile)
    world = load_world(profile)  # the lab's text pairs, and what fine-tuning may make the model forget
    pairs = {"lab": "lab", "none": None}.get(args.pairs) or read_text_pairs(args.pairs, args.skip_bad_rows)
    config = FinetuneConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, pair_ratio=args.pair_ratio, freeze=args.freeze,
        lora_rank=args.lora, gradient_checkpointing=args.gradient_checkpointing, chunk_size=args.chunk_size,
        precision=args.precision, held_out=args.held_out, seed=args.seed,
    )  # fmt: skip
    result = finetune(_load_model(args.model, profile), data, config, pairs=pairs, world=world)
    print(result.table())
    result.model.save_pretrained(args.out)
    print(f"fine-tuned model saved in {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jclip-lab`` (one sub-command per job)."""
    parser = argparse.ArgumentParser(prog="jclip-lab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser(
        "lab",
        help="open JupyterLab on the notebooks (Jupyter's own options pass through, e.g. --no-browser --port 8890)",
        usage="jclip-lab lab [-h] [DIRECTORY] [JUPYTER_OPTION ...]",
        description="Open JupyterLab on the notebooks folder.",
        epilog=LAB_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # --h, --he ... belong to Jupyter, not to this parser's --help
    )
    lab.set_defaults(run=_lab, arguments=[])  # main() puts the arguments argparse does not know here
    world = commands.add_parser("world", help="generate (or load) the offline world and print its counts")
    world.add_argument("--profile", default=None, help="tiny, small or base (default: $JCLIP_PROFILE, else tiny)")
    world.add_argument("--seed", type=int, default=0)
    world.set_defaults(run=_world)
    train = commands.add_parser("train", help="train the canonical three-stage recipe, with checkpoints")
    train.add_argument("--profile", default=None, help="tiny, small or base (default: $JCLIP_PROFILE, else tiny)")
    train.add_argument("--out", required=True, help="folder for checkpoints and the final model")
    train.add_argument("--resume", action="store_true", help="carry on from the last checkpoint in --out")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--nproc", type=int, default=1, help="processes (one per GPU), started with torchrun")
    precisions = ["auto", "fp32", "bf16", "fp16"]
    train.add_argument("--precision", default="auto", choices=precisions, help="auto: bf16 on GPUs that have it, "
                       "fp16 with loss scaling on other GPUs, fp32 on a CPU")  # fmt: skip
    train.add_argument("--chunk-size", type=int, default=None, help="gradient caching: rows per forward pass")
    train.add_argument("--compile", action="store_true", help="torch.compile the towers")
    train.set_defaults(run=_train)
    evaluate = commands.add_parser("eval", help="evaluate a trained model on the world's test split")
    evaluate.add_argument("model", help="a folder written by `jclip-lab train` or save_pretrained")
    evaluate.add_argument("--profile", default=None, help="the world to evaluate on (default: current profile)")
    evaluate.add_argument("--split", default="test", choices=["val", "test"])
    evaluate.add_argument("--per-language", action="store_true", help="one row per language too")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(run=_eval)
    tune = commands.add_parser("finetune", help="fine-tune a model on your own captioned images (and text pairs)")
    tune.add_argument("--model", default="zoo", help="zoo (the profile's trained model), jina-clip-v2, or a folder")
    tune.add_argument("--captions", required=True, help="CSV or JSONL of image,caption[,language] rows")
    tune.add_argument("--images", default=None, help="the folder the image paths are relative to (default: the "
                      "captions file's)")  # fmt: skip
    tune.add_argument("--pairs", default="lab", help="text pairs mixed in: lab (the world's), none, or a CSV/JSONL "
                      "of a,b rows")  # fmt: skip
    tune.add_argument("--pair-ratio", type=float, default=1.0, help="text pairs per image-caption pair per step")
    tune.add_argument("--freeze", choices=["text", "vision"], default=None, help="keep this tower as it is")
    tune.add_argument("--lora", type=int, default=None, help="train a LoRA adapter of this rank on the text tower")
    tune.add_argument("--steps", type=int, default=100)
    tune.add_argument("--batch-size", type=int, default=32)
    tune.add_argument("--lr", type=float, default=1e-4)
    tune.add_argument("--gradient-checkpointing", action="store_true", help="less memory, a third more compute")
    tune.add_argument("--chunk-size", type=int, default=None, help="gradient caching: rows per forward pass")
    tune.add_argument("--precision", default="auto", choices=precisions)
    tune.add_argument("--held-out", type=float, default=0.2, help="fraction of your images measured, not trained")
    tune.add_argument("--skip-bad-rows", action="store_true", help="train without the rows that have problems")
    tune.add_argument("--profile", default=None, help="the lab world measured before and after (default: current)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--out", required=True, help="where the fine-tuned model is saved")
    tune.set_defaults(run=_finetune)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jclip-lab`` console script."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # argparse cannot pass options it does not know through (a REMAINDER positional refuses a leading --option),
    # so `lab` takes whatever is left over: its folder and Jupyter's options; the other sub-commands refuse it.
    args, unknown = parser.parse_known_args(argv)
    if args.command == "lab":
        args.arguments = unknown
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = argv  # `train --nproc N` hands its own command line to torchrun
    import transformers

    transformers.utils.logging.disable_progress_bar()  # keep the terminal to the training bars and the results
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError, MemoryError) as error:  # bad input: the message says what to do
        parser.exit(2, f"jclip-lab {args.command}: error: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())
