"""Who holds a lease: names for the processes that take jobs and open streams.

Render and export jobs (`app.services.renders`) and open audio streams (`app.core.limits`)
are rows that name the process holding them (`lease_owner`, `owner`). The name starts with the
app server's replica name (OWNVOICE_REPLICA_ID, by default `host:port`), which is one
process's at a time: only one process can listen on a host's port. So when an app server
starts, every row whose name starts with its replica name but is not its own was left by an
earlier process of the same replica, which crashed: `left_by_earlier_process` selects them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from typing import Any

REPLICA_CHARS = 40  # of the replica's name in an owner (the columns hold 64)


def replica_prefix(replica: str) -> str:
    """The start of every owner name made for `replica` (the host's name when it has none). A
    longer name keeps its start and a hash of the whole: pod names differ at their end."""
    name = replica or socket.gethostname()
    if len(name) > REPLICA_CHARS:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: REPLICA_CHARS - 9]}~{digest}"
    return f"{name}/"


def renewal_interval(lease_s: float) -> float:
    """How often a holder renews its leases: every third of their length, so that a lease
    outlives two renewals missed in a row (a busy event loop, the database away a moment)."""
    return lease_s / 3


def new_owner(replica: str = "") -> str:
    """A process's name in the lease columns: its replica's name, then what makes it unique to
    this process (its pid and a random part)."""
    return f"{replica_prefix(replica)}{os.getpid()}/{secrets.token_hex(4)}"


def left_by_earlier_process(column: Any, replica: str, owner: str) -> Any:
    """A WHERE clause: `column` names another process of `replica` than `owner`."""
    return column.startswith(replica_prefix(replica), autoescape=True) & (column != owner)
