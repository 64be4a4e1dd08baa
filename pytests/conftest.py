"""Shared settings for gort's Python tests.

Hypothesis profiles: "ci" (selected when CI is set in the environment,
and the default) keeps each state machine within a fixed budget on a
small machine; "thorough" (HYPOTHESIS_PROFILE=thorough) runs far more
examples for a hunt. Every failure a profile finds becomes an explicit
example test beside its machine.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
    derandomize=False, print_blob=True)
settings.register_profile(
    "thorough", max_examples=1000, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
    print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
