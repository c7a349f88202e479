"""Which weights a run keeps (``train.select``) and when it stops early
(``train.early_stopping``): both read only the validation losses, so a resumed run rebuilds them
from its checkpoint's history and decides as the uninterrupted run would."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class BestVal:
    """The lowest validation loss so far, its step, and the validations since it (``stale``)."""

    step: int | None = None
    loss: float = math.inf
    stale: int = 0

    def update(self, step: int, loss: float) -> bool:
        """Record a validation; True when it is the new best (strictly lower)."""
        if loss < self.loss:
            self.step, self.loss, self.stale = step, loss, 0
            return True
        self.stale += 1
        return False

    @classmethod
    def from_history(cls, history: list[dict]) -> BestVal:
        """The state after the validation rows of a run's history (its checkpoint's)."""
        best = cls()
        for row in history:
            if row.get("val_loss") not in (None, ""):
                best.update(int(row["step"]), float(row["val_loss"]))
        return best

    def patience_spent(self, patience: int | None) -> bool:
        """``patience`` validations in a row without a new best (None: never)."""
        return patience is not None and self.stale >= patience
