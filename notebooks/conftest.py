"""Notebook tests compare against outputs stored from the tiny profile on a CPU, offline, so test with exactly that.

Kernels started by nbval inherit this environment; set the variables yourself to test another profile (the
stored outputs will then differ where they depend on the profile). ``JCLIP_OFFLINE=1`` makes notebook 10 run on
its offline stand-ins without probing the network, as its stored outputs were made.
"""

import os

os.environ.setdefault("JCLIP_PROFILE", "tiny")
os.environ.setdefault("JCLIP_DEVICE", "cpu")
os.environ.setdefault("JCLIP_OFFLINE", "1")
