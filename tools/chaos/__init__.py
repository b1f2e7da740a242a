"""The fault-injection run (`make chaos`; a short fixed-seed run in `make test`).

    python -m tools.chaos --seed 7 --operations 10000

See harness.py for how it runs, faults.py, runner.py and webhooks.py (the vendors' webhook
receivers) for what it injects, actors.py for what the simulated users do and invariants.py for
what must hold at the end.
"""
