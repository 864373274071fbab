"""The fund ledger application: one eventsourcing Application, one event log for the city.

Commands check their rules through the aggregates, then save every aggregate they touched
in one ``save`` — one transaction — together with the bank references they consumed. A
concurrent writer that got there first makes the save fail on a version or a reference;
the command then re-reads and decides again, so nothing is lost or doubled.
"""

from __future__ import annotations

from ledger.base import BatchResult, Posted, RegistrationResult
from ledger.credit_scheme import load_credit_scheme
from ledger.enterprises import EnterpriseCommands
from ledger.funds import FundCommands
from ledger.governance import GovernanceCommands
from ledger.resolutions import Resolutions
from ledger.settings import Settings

__all__ = ["BatchResult", "FundLedger", "Posted", "RegistrationResult"]


class FundLedger(FundCommands, GovernanceCommands, EnterpriseCommands):
    """Every command of the ledger, on one log.

    The command mixins define disjoint names (``tests/unit/test_command_wiring.py``), so
    their order decides nothing; what one area asks of another is wired in here.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.credit_scheme = load_credit_scheme(self.settings.credit_scheme_file)
        self.resolutions = Resolutions(find_vote=self.vote)
