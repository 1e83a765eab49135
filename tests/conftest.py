"""Test-wide settings.

Under CI (CI=true) Hypothesis runs derandomized, so a green main stays green; local runs
keep exploring new examples (and keep failures in .hypothesis/ to replay).
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")
