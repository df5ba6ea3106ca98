"""Interpreter settings of a process whose only job is serving the registry.

``server start`` applies them to itself, and each of its ``--workers`` processes (spawned:
nothing of the parent's interpreter settings carries over) to itself once its app is
built. A library must not change them in the process it is imported into.
"""

from __future__ import annotations

import sys

#: Seconds between GIL switches in a serving process (Python's default: 0.005).
SWITCH_INTERVAL = 0.001


def tune_serving_process() -> None:
    """Switch the GIL every millisecond instead of every five.

    Requests run in worker threads: with short switches the event loop, and so every
    other client, keeps answering while a few requests burn CPU.

    Example:
        ```python
        app = create_app(registry)
        tune_serving_process()
        uvicorn.run(app)
        ```
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
