"""``python -m ledger`` hands over to the CLI, which lives in the outer ring (api/)."""

from api.cli import main

main()
