"""A provider whose answers get lost: it takes an order, but the gateway never hears."""

from __future__ import annotations

from typing import Any

from hil.counterparty import CtsRefusal, SimulatedCounterparty


class LosesAnswers:
    """Put in front of ``createTransaction``: while ``losing``, the first ``limit`` orders
    are taken but answered with HTTP 503, and so is every retry of them ("id already
    used" would tell the truth); other orders are answered as usual."""

    def __init__(self, counterparty: SimulatedCounterparty, limit: int = 1) -> None:
        self.counterparty = counterparty
        self.real = counterparty.create_transaction
        self.limit = limit
        self.lost: list[str] = []
        self.losing = True

    async def install(self) -> None:
        """Restart the provider's HTTP server (same port, same book) with this in front:
        the server binds its handlers when it starts."""
        await self.counterparty.stop()
        self.counterparty.create_transaction = self  # type: ignore[method-assign]
        await self.counterparty.start()

    def __call__(self, request: Any) -> Any:
        tx_id = request.transaction.transaction_id
        lose = self.losing and (tx_id in self.lost or len(self.lost) < self.limit)
        try:
            answer = self.real(request)
        except CtsRefusal as refusal:
            if lose and tx_id in self.lost:
                raise CtsRefusal(503, "service", "answer lost") from refusal
            raise
        if lose:
            self.lost.append(tx_id)
            raise CtsRefusal(503, "service", "answer lost")
        return answer
