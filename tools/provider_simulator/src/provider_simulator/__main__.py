"""`python -m provider_simulator --host 127.0.0.1 --port 8900`; everything else from SIMULATOR_* variables."""

import argparse

import uvicorn

from .app import create_app
from .config import SimulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="provider_simulator", description=__doc__)
    parser.add_argument("--host", help="interface to listen on (SIMULATOR_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (SIMULATOR_PORT, default 8900)")
    parser.add_argument("--public-url", help="base of the URLs handed out (SIMULATOR_PUBLIC_URL)")
    parser.add_argument("--time-scale", type=float, help="multiplies every task duration (SIMULATOR_TIME_SCALE)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "public_url": args.public_url,
            "time_scale": args.time_scale,
        }.items()
        if value is not None
    }
    config = SimulatorConfig(**overrides)
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
