"""``dagster-daemon run`` with a shorter sensor loop, for low webhook latency.

Dagster's sensor daemon waits at least ``MIN_INTERVAL_LOOP_TIME`` (5 s, hard-coded in
``dagster._daemon.sensor``) between passes over the sensors, whatever a sensor's
``minimum_interval_seconds`` says, so a webhook delivery would wait 2.5 s on average before its
sensor even looks. This entry point lowers that floor (``KESTRA_SENSOR_LOOP_SECONDS``, default
1) and then runs the stock daemon CLI::

    python -m kestra_dagster.triggers.daemon run -w workspace.yaml

It patches one private module constant, read at each loop (reached through
``kestra_dagster.compat``); if a Dagster upgrade removes it, the daemon still runs, with the 5 s
floor. docs/dagster-upstream.md has a reproduction of the floor for an upstream report.
"""

from __future__ import annotations

import logging
import os
import sys

DEFAULT_LOOP_SECONDS = 1.0


def shorten_sensor_loop(seconds: float | None = None) -> bool:
    seconds = float(os.environ.get("KESTRA_SENSOR_LOOP_SECONDS", DEFAULT_LOOP_SECONDS) if seconds is None else seconds)
    from kestra_dagster.compat import sensor_daemon_module

    sensor_daemon = sensor_daemon_module()
    if sensor_daemon is None:  # pragma: no cover
        return False
    if not hasattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME"):
        logging.getLogger("kestra_dagster").warning("dagster has no MIN_INTERVAL_LOOP_TIME; sensor loop unchanged")
        return False
    sensor_daemon.MIN_INTERVAL_LOOP_TIME = max(0.2, seconds)
    return True


def main(argv: list[str] | None = None) -> None:
    from kestra_dagster.compat import daemon_cli, sensor_daemon_module

    if shorten_sensor_loop():  # said once at start, so a deployment's log shows which loop it runs
        print(f"kestra-dagster: sensor loop every {sensor_daemon_module().MIN_INTERVAL_LOOP_TIME:g}s "
              "(dagster-daemon's own floor is 5s)", file=sys.stderr, flush=True)
    cli = daemon_cli()
    cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="kestra-dagster-daemon")


if __name__ == "__main__":  # pragma: no cover
    main()
