"""`python -m sapstandin --port 8030 --capacity 50`: serve the SAP stand-in until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from sapstandin.standin import StandIn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sapstandin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--capacity", type=float, default=None, help="requests/s before 429 (default: unlimited)")
    parser.add_argument("--user", default="DATA_ENGINE")
    parser.add_argument("--password", default="Welcome1!")
    parser.add_argument("--csrf-lifetime", type=float, default=None, help="seconds a CSRF token stays valid")
    args = parser.parse_args(argv)
    standin = StandIn(
        args.host,
        args.port,
        capacity=args.capacity,
        user=args.user,
        password=args.password,
        csrf_lifetime=args.csrf_lifetime,
    ).start()
    print(
        f"SAP stand-in on {standin.url} (user {standin.user}); control endpoints under {standin.url}/_standin/",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    standin.stop()


if __name__ == "__main__":
    main()
