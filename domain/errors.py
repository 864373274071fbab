"""Typed errors for operating mistakes (bad input, broken rules).

Every error names the rule it enforces (e.g. ``"F8"``) and, where one input is to blame,
the field. The entry points (CLI, HTTP) translate the kind into an exit code or a status;
the domain never knows about either.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused. Nothing was written."""

    kind = "rule_violated"

    def __init__(self, message: str, *, rule: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.field = field

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.rule}{where}: {self.message}"


class InvalidInput(DomainError):
    """A value is malformed (a date that does not parse, an amount with three decimals)."""

    kind = "invalid_input"


class RuleViolated(DomainError):
    """The input is well formed but a rule of docs/rules.md forbids it."""

    kind = "rule_violated"


class NotFound(DomainError):
    """The command names something the ledger does not hold."""

    kind = "not_found"


class Conflict(DomainError):
    """The command contradicts something already recorded (a reused bank reference)."""

    kind = "conflict"


class BatchRejected(DomainError):
    """A bank batch was refused as a whole because of one line."""

    kind = "invalid_input"

    def __init__(self, line: int, error: DomainError) -> None:
        super().__init__(
            f"line {line}: {error.message}", rule=error.rule, field=error.field
        )
        self.line = line
        self.error = error
        # A batch refused for a conflict is a conflict: the entry points map the kind.
        self.kind = error.kind
