"""What a restore run did with each decision of its plan: what the restorer returns and the reports show."""
from __future__ import annotations

from dataclasses import dataclass, field

from policies.recovery import Decision


@dataclass
class Outcome:
    decision: Decision
    result: str                  # restored | already-restored | failed | not-attempted
    detail: str = ""
    journal_id: int | None = None
    upload_timestamp: str | None = None


@dataclass
class RestoreResult:
    run: int
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.result in ("restored", "already-restored", "not-attempted") for o in self.outcomes) and \
            all(o.decision.restorable for o in self.outcomes)
