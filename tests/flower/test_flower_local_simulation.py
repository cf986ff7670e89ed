"""How a failed Flower simulation reads: one line, "out of memory for Ray" when that is it."""

from __future__ import annotations

from fedarena.flower.local_simulation import OutOfMemoryForRay, failure

RAY_OOM = """\
\x1b[91mERROR \x1b[0m:     An exception occurred !! Task was killed due to the node running low
Traceback (most recent call last):
  File "ray/_private/worker.py", line 2771, in get
ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory.
Memory on the node (IP: 10.0.0.2) where the task was running was 3.80GB / 4.00GB (0.95).
RuntimeError: An error was encountered. Ending simulation.
"""

CLIENT_BUG = """\
\x1b[91mERROR \x1b[0m:     ClientApp raised an exception
Traceback (most recent call last):
ValueError: shapes (3,) and (4,) not aligned
RuntimeError: An error was encountered. Ending simulation.
"""


def test_ray_out_of_memory_says_so_in_one_line():
    error = failure(RAY_OOM, "engine flower")
    assert isinstance(error, OutOfMemoryForRay)
    assert "out of memory for Ray (raise --cell-memory" in str(error)
    assert "\n" not in str(error)


def test_another_failure_carries_the_clients_error_not_flowers_generic_line():
    error = failure(CLIENT_BUG, "engine flower")
    assert not isinstance(error, OutOfMemoryForRay)
    assert str(error).endswith("ValueError: shapes (3,) and (4,) not aligned")
    assert "\n" not in str(error) and "\x1b[" not in str(error)
