"""Fair shares of KIE's account limit: weighted fair queuing across users, decided without I/O.

KIE admits 20 new tasks per 10 s for the whole account, so the jobs waiting for it form one
queue. Served first come, first served, one user's batch of 500 makes everyone else wait minutes.
Instead each waiting job carries a virtual finish tag, stamped once when it is taken in:

    tag = max(the user's last tag, the queue's virtual clock) + 1 / weight

and the scheduler always sends the due job with the smallest tag. The virtual clock is the
largest tag served so far, so a user who was idle starts level with the others (never behind a
heavy user's backlog, never owed a burst for the time away), a pro user's tags advance half as
fast (weight 2) and free users are served at their share however much pro work waits: no one
starves. Tags and the clock live in Postgres, so every generator replica serves the same order.
"""

from dataclasses import dataclass

from aistudio_contracts import Plan


@dataclass(frozen=True, slots=True)
class FairShares:
    pro_weight: float = 2.0

    def weight(self, plan: Plan | None) -> float:
        return self.pro_weight if plan is Plan.PRO else 1.0

    def increment(self, plan: Plan | None) -> float:
        """How far one job moves its user's tag: a heavier weight moves it less, so more are served."""
        return 1.0 / self.weight(plan)


def next_tag(last_tag: float | None, virtual_clock: float, increment: float) -> float:
    """The finish tag of a user's new job (the SQL in jobs.py computes the same, under the user's row lock)."""
    start = virtual_clock if last_tag is None else max(last_tag, virtual_clock)
    return start + increment
