"""The load tester: many simulated players speaking ``protocol/`` over trio-websocket.

``run_load(LoadSettings(...))`` runs one scenario (``games``, ``idle``, ``churn`` or ``echo``)
and returns its ``Summary``; ``c4actors loadtest`` is the command-line front end.
"""

from c4actors.loadtest.figures import Summary
from c4actors.loadtest.referee import GameReferee, RefereeError
from c4actors.loadtest.runner import run_load
from c4actors.loadtest.settings import LoadSettings

__all__ = ["GameReferee", "LoadSettings", "RefereeError", "Summary", "run_load"]
