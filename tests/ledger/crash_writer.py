"""Child process for the crash test: append rounds forever, print each acknowledged seq.

Usage: ``python crash_writer.py DIRECTORY``. Prints ``ready`` once the ledger is open,
then the last sequence number of every committed round, flushed, until killed.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from ledger_kit import T0, market_round, open_ledger


def main() -> None:
    ledger = open_ledger(Path(sys.argv[1]))
    print("ready", flush=True)
    number = 0
    while True:
        seqs = ledger.append_round(market_round(number, size=20), at=T0 + timedelta(seconds=number))
        print(seqs[-1], flush=True)
        number += 1


if __name__ == "__main__":
    main()
