"""The first code run inside the bubblewrap jail: ``python -m fedarena.sandbox.jail FD``.

It reads one call, ``(entry, args)`` pickled by its parent (trusted: the
parent wrote it), from stdin and runs ``entry(connection, *args)`` with
``connection`` the write end ``FD`` of the parent's message pipe, the same
call a forked child makes (``fedarena.sandbox.launcher``), after a ``Ready``
message saying that its imports are done. The jail's limits
are the entry's to set, as in a forked child. It makes itself undumpable
first, so that a child it forks (a conformance check) can neither trace it nor
read its memory.
"""

from __future__ import annotations

import ctypes
import pickle
import sys
from multiprocessing.connection import Connection

from fedarena.sandbox.limits import Ready

PR_SET_DUMPABLE = 4


def main(fd: int) -> None:
    """Run the call on stdin, its messages to ``fd``."""
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0)
    entry, args = pickle.load(sys.stdin.buffer)
    sys.stdin.close()
    connection = Connection(fd, readable=False)
    connection.send(Ready())  # the imports are done: the time limit starts now
    entry(connection, *args)
    connection.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
