"""``python -m jclip_lab ...`` is ``jclip-lab ...``; torchrun starts training this way:
``torchrun --nproc_per_node 2 -m jclip_lab train --profile small --out run``."""

from jclip_lab.cli import main

raise SystemExit(main())
