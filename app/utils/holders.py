"""Who holds a lease or claim: 'host:pid:random', and whether that process is gone."""
from __future__ import annotations

import os
import socket
import uuid


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_dead_local_holder(holder: str | None) -> bool:
    """True only for a holder on this machine whose process no longer exists (killed or crashed)."""
    if not holder:
        return False
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
