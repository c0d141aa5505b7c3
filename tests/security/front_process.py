"""The front door alone, as a process (for attack tests that measure it): ``FrontApp`` on a port.

``python front_process.py --port P --intake URL --webserver URL [--username U --password W]
[--webhook-body-bytes N] [--max-concurrent N] [--proxy-secret-stdin]``. Its ``/health`` reports
this process's PID as a component detail (what must stay behind auth).
"""

from __future__ import annotations

import argparse
import os
import sys


def main() -> None:
    import uvicorn

    from kestra_dagster.config import BasicAuthSettings
    from kestra_dagster.server.front import FrontApp, FrontLimits, Upstreams

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--intake")
    ap.add_argument("--webserver")
    ap.add_argument("--username", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--webhook-body-bytes", type=int, default=FrontLimits.webhook_body_bytes)
    ap.add_argument("--body-bytes", type=int, default=FrontLimits.body_bytes)
    ap.add_argument("--max-concurrent", type=int, default=FrontLimits.max_concurrent)
    ap.add_argument("--proxy-secret-stdin", action="store_true")
    args = ap.parse_args()
    secret = sys.stdin.readline().strip() if args.proxy_secret_stdin else None
    auth = BasicAuthSettings(enabled=bool(args.username), username=args.username, password=args.password)

    async def health():
        return True, {"status": "UP", "components": {"front": {"status": "UP", "pid": os.getpid()}}}

    limits = FrontLimits(webhook_body_bytes=args.webhook_body_bytes, body_bytes=args.body_bytes,
                         max_concurrent=args.max_concurrent)
    app = FrontApp(auth, Upstreams(webserver=args.webserver, intake=args.intake), health, limits=limits,
                   proxy_secret=secret)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on", access_log=False,
                ws="websockets-sansio", backlog=2048, timeout_keep_alive=30)


if __name__ == "__main__":
    main()
