"""DSPy configured for a long-lived process."""

from __future__ import annotations

import os
import warnings


def configure_dspy() -> None:
    """No disk or memory cache, no history, no trace: a worker lives long, and what they keep
    would only grow. Imports DSPy (the first import is the slow part of a worker's start)."""
    # LiteLLM would fetch its model cost map over the network at import: DSPy is imported
    # here, after the variable is set, not at the top of the module.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import dspy

    # Said once per construction, to a log the user did not ask for.
    warnings.filterwarnings("ignore", message="ProgramOfThought is deprecated", category=DeprecationWarning)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    dspy.configure(disable_history=True, max_history_size=0, max_trace_size=0, trace=[])
