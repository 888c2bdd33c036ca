"""How the catalog moves an asset through its lifecycle, whatever order the events arrive in.

processing → ready | error, and a terminal asset never moves again: a late TaskStarted or a
redelivered outcome changes nothing. Captions are kept whenever they arrive.
"""

from aistudio_contracts import AssetStatus

TERMINAL = frozenset({AssetStatus.READY, AssetStatus.ERROR})


def may_finish(current: AssetStatus) -> bool:
    return current not in TERMINAL


def may_record_task(current: AssetStatus) -> bool:
    return current is AssetStatus.PROCESSING
