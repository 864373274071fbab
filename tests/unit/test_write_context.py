"""Every command that writes takes the caller's ``WriteContext`` and hands it on.

The idempotency key and the position written travel as this explicit argument from the
HTTP edge down to the save (``ledger/write_context.py``); a command that dropped it would
save without the key, and a repeat of its request would write again. Checked on the source,
so a new command cannot forget it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from ledger.write_context import IDEMPOTENCY_KEY_CHARS_MAX, WriteContext

LEDGER = Path(__file__).resolve().parents[2] / "ledger"
COMMAND_MODULES = ("funds.py", "governance.py", "enterprises.py")
# What saves, directly or through a helper of the command modules.
SAVING = {"_retrying", "_update", "_save", "_save_aggregates", "_unit_command", "_vote_step",
          "_committee_step", "_contract_step", "cast_ballots"}


def public_commands() -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for module in COMMAND_MODULES:
        tree = ast.parse((LEDGER / module).read_text(encoding="utf-8"))
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            found += [(f"{module}:{f.name}", f) for f in cls.body
                      if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")]
    return found


def calls_a_save(function: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in SAVING
               and isinstance(n.value, ast.Name) and n.value.id == "self"
               for n in ast.walk(function))


WRITERS = [(name, f) for name, f in public_commands() if calls_a_save(f)]


def test_the_check_finds_the_commands() -> None:
    names = {name for name, _ in WRITERS}
    assert {"funds.py:post_deposit", "governance.py:cast_ballot",
            "enterprises.py:start_service_contract"} <= names
    assert len(names) >= 30


@pytest.mark.parametrize(("name", "function"), WRITERS, ids=[name for name, _ in WRITERS])
def test_a_command_that_saves_takes_the_write_context_and_uses_it(
    name: str, function: ast.FunctionDef
) -> None:
    parameters = [a.arg for a in function.args.kwonlyargs]
    assert "write" in parameters, f"{name} takes no write="
    used = any(isinstance(n, ast.Name) and n.id == "write" and isinstance(n.ctx, ast.Load)
               for n in ast.walk(function))
    assert used, f"{name} never hands its write context on"


@pytest.mark.parametrize("key", ["", "k" * (IDEMPOTENCY_KEY_CHARS_MAX + 1)])
def test_an_idempotency_key_has_a_bounded_length(key: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        WriteContext.idempotent(key, "digest")
    assert refused.value.field == "Idempotency-Key"


def test_a_context_keeps_the_highest_position_written() -> None:
    write = WriteContext()
    for position in (None, 7, 3, None, 12):
        write.wrote(position)
    assert write.position == 12
    assert not write.key_recorded
