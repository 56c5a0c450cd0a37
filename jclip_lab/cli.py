"""The ``jclip-lab`` command: open the lab, or build the offline world from a terminal.

Example:
    $ jclip-lab lab                 # JupyterLab on the notebooks
    $ jclip-lab world --profile tiny  # generate (or load) the world and print its counts
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jclip-lab`` console script."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
