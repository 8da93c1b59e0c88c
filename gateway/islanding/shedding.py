"""Which loads the island sheds and restores, by the site's shed order.

The shed order lists sheddable loads, first shed first; critical loads are never listed,
so they are never shed. Restoring goes the other way: the load shed last (the most
important sheddable one) comes back first. A load whose demand is unknown is assumed not
to fit, and unknown supply or critical demand means nothing fits: when in doubt, shed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def served_demand_kw(
    critical_kw: float, demand_kw: Mapping[str, float], shed: Sequence[str]
) -> float:
    """Critical demand plus every sheddable load still switched on."""
    return critical_kw + sum(kw for device, kw in demand_kw.items() if device not in shed)


def _fits(
    order: Sequence[str],
    shed: Sequence[str],
    demand_kw: Mapping[str, float],
    critical_kw: float | None,
    supply_kw: float | None,
) -> bool:
    if critical_kw is None or supply_kw is None:
        return False
    if any(device not in demand_kw for device in order if device not in shed):
        return False
    return served_demand_kw(critical_kw, demand_kw, shed) <= supply_kw


def loads_to_shed(
    order: Sequence[str],
    shed: Sequence[str],
    demand_kw: Mapping[str, float],
    critical_kw: float | None,
    supply_kw: float | None,
) -> list[str]:
    """The loads to shed now, in order, so that the island's demand fits its supply."""
    chosen: list[str] = []
    for device in order:
        if device in shed:
            continue
        if _fits(order, [*shed, *chosen], demand_kw, critical_kw, supply_kw):
            break
        chosen.append(device)
    return chosen


def next_to_shed(order: Sequence[str], shed: Sequence[str]) -> str | None:
    """The next load in shed order that is still on."""
    return next((device for device in order if device not in shed), None)


def restore_candidate(order: Sequence[str], shed: Sequence[str]) -> str | None:
    """The shed load that comes back first: the one latest in the shed order."""
    return next((device for device in reversed(order) if device in shed), None)


def fits_after_restore(
    candidate: str,
    shed: Sequence[str],
    demand_kw: Mapping[str, float],
    remembered_kw: Mapping[str, float],
    critical_kw: float | None,
    supply_kw: float | None,
) -> bool:
    """Whether switching ``candidate`` back on keeps the island within its supply.

    A shed load usually reads 0 kW, so its demand is the larger of what it reads now and
    what it drew when it was shed.
    """
    if critical_kw is None or supply_kw is None:
        return False
    known = [
        kw for kw in (demand_kw.get(candidate), remembered_kw.get(candidate)) if kw is not None
    ]
    if not known:
        return False
    return served_demand_kw(critical_kw, demand_kw, shed) + max(known) <= supply_kw
