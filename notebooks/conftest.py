"""Notebook tests compare against outputs stored from the tiny profile on a CPU, so test with exactly that.

Kernels started by nbval inherit this environment; set the variables yourself to test another profile (the
stored outputs will then differ where they depend on the profile).
"""

import os

os.environ.setdefault("JCLIP_PROFILE", "tiny")
os.environ.setdefault("JCLIP_DEVICE", "cpu")
