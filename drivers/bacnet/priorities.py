"""Which BACnet command priority the gateway may use (no bacpypes3 here: the site loader
checks it without loading the protocol stack)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DEFAULT_PRIORITY = 12
FORBIDDEN_PRIORITIES = {1: "manual life safety", 2: "automatic life safety",
                        5: "critical equipment control", 6: "minimum on/off"}


def check_priority(priority: int) -> int:
    """The command priority a site may use; 1, 2, 5 and 6 belong to safety functions."""
    if not 1 <= priority <= 16:
        raise ValueError(f"BACnet priority must be 1-16, got {priority}")
    if priority in FORBIDDEN_PRIORITIES:
        raise ValueError(
            f"BACnet priority {priority} ({FORBIDDEN_PRIORITIES[priority]}) is reserved; "
            f"choose a priority such as {DEFAULT_PRIORITY} (the default), 9-16 or 3, 4, 7"
        )
    if priority == 8:
        log.warning("BACnet priority 8 is the manual-operator slot; the gateway's commands "
                    "will override operators at 9-16 and fight them at 8")
    return priority
