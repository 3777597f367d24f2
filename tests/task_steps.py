"""Counting Trio's task steps in tests of the hot paths.

Why steps and not time: each step is a return from a yield to Trio, a pass of its run loop
with every instrument called around it, and on a shared machine a count is exact where a
duration is noise.  The move path's costs (the core's, an edge's, the bus's) are asserted
as the steps they take."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator

import trio


class TaskSteps(trio.abc.Instrument):
    """Counts the steps of the tasks ``counted`` picks, in all and by task name."""

    def __init__(self, counted: Callable[[trio.lowlevel.Task], bool]) -> None:
        self.counted = counted
        self.steps = 0
        self.by_name: collections.Counter[str] = collections.Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.counted(task):
            self.steps += 1
            self.by_name[task.name] += 1

    def of(self, suffix: str) -> int:
        """The steps of the tasks whose name ends with ``suffix``."""
        return sum(n for name, n in self.by_name.items() if name.endswith(suffix))


@contextlib.contextmanager
def counting_steps(counted: Callable[[trio.lowlevel.Task], bool]) -> Iterator[TaskSteps]:
    """A ``TaskSteps`` instrument installed for the ``with`` block."""
    steps = TaskSteps(counted)
    trio.lowlevel.add_instrument(steps)
    try:
        yield steps
    finally:
        trio.lowlevel.remove_instrument(steps)


def this_task() -> Callable[[trio.lowlevel.Task], bool]:
    """The calling task alone."""
    own = trio.lowlevel.current_task()
    return lambda task: task is own


def every_other_task() -> Callable[[trio.lowlevel.Task], bool]:
    """Every task but the calling one (the steps a call costs the tasks it wakes)."""
    own = trio.lowlevel.current_task()
    return lambda task: task is not own
