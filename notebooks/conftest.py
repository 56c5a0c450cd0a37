"""Notebook tests compare against outputs stored from the tiny profile on a CPU, so test with exactly that.

Kernels started by nbval inherit this environment; set the variables yourself to test another profile (the
stored outputs will then differ where they depend on the profile).
"""

import os

collect_ignore = ["build.py"]  # the authors' tool that executes notebooks, not a test

os.environ.setdefault("JCLIP_PROFILE", "tiny")
os.environ.setdefault("JCLIP_DEVICE", "cpu")
