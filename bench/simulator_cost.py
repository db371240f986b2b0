"""CPU the simulator spends per message: Messages create plus its status callbacks.

The simulator runs as its own process with the end-to-end benchmark's SIM_* settings; creates
arrive open loop at a fixed rate over raw keep-alive connections (bench/loadgen.py), each with
a StatusCallback to a small receiver in this process that answers 200 and checks a sample of
signatures with the twilio SDK's RequestValidator. The figure is the simulator process's
CPU-seconds (psutil, user + system) from the first create until the last callback arrived,
divided by the messages created. A count, not a rate, so other work on the machine moves it
little.

    uv run python -m bench.simulator_cost --rate 100 --count 2000 [--pyspy out.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time
from urllib.parse import parse_qsl

import psutil
from twilio.request_validator import RequestValidator

from bench import loadgen
from bench.processes import Cluster
from smsrelay.settings import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.support.ports import free_port

SIM_ENV = dict(SIM_API_LATENCY="lognormal:100:300", SIM_RANDOM_429_RATE="0.01", SIM_RANDOM_5XX_RATE="0.005",
               SIM_SPEED_LONG_CODE="100000", SIM_MAX_CONCURRENCY="2000", SIM_SEED="9")
CHECKED_SIGNATURES = 50


class Receiver:
    """Status callbacks in, 200 out; keep-alive; counts them and checks a sample's signature."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.count = 0
        self.bad_signatures = 0
        self.checked = 0
        self.validator = RequestValidator(DEFAULT_AUTH_TOKEN)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.count += 1
                if self.checked < CHECKED_SIGNATURES:
                    self.checked += 1
                    url = f"http://127.0.0.1:{self.port}{target}"
                    if not self.validator.validate(url, dict(parse_qsl(body.decode())),
                                                   headers.get("x-twilio-signature", "")):
                        self.bad_signatures += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the simulator closed the connection, or the run is over
        finally:
            writer.close()


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def drive(sim_port: int, receiver: Receiver, *, rate: float, count: int) -> dict:
    auth = base64.b64encode(f"{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}".encode()).decode()
    path = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"
    callback = f"http://127.0.0.1:{receiver.port}/webhooks/twilio/status?messageId="
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded",
               "User-Agent": "twilio-python/9 (bench)", "Accept": "application/json"}
    raws = [loadgen.request_bytes("POST", path, headers=headers, body=loadgen.form_body(
        {"To": f"+1415{2000000 + i % 5000:07d}", "From": f"+1650200{i % 10:04d}",
         "Body": "Your table for 2 is ready.", "StatusCallback": f"{callback}{i:032x}"}))
        for i in range(count)]
    res = await loadgen.open_loop(sim_port, lambda i: raws[i], rate=rate, duration=count / rate,
                                  ok_statuses=(201,))
    created = res.ok
    deadline = time.monotonic() + 60
    # Each message reports 'sent' and 'delivered'; wait for both, then for stragglers to settle.
    while receiver.count < 2 * created and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return {"created": created, "statuses": res.statuses, "errors": res.errors}


async def main_async(args) -> None:
    receiver = Receiver(free_port())
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    sim_port = free_port()
    env = dict(os.environ, SIMULATOR_HOST="127.0.0.1", SIMULATOR_PORT=str(sim_port), **SIM_ENV)
    if args.src:  # another checkout's simulator, for A/B runs: its src/ ahead of ours
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.abspath(args.src), env.get("PYTHONPATH")]))
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        env.pop(key, None)
    cluster = Cluster(env)
    spy = None
    try:
        sim = cluster.start("simulator", ["sim", "--host", "127.0.0.1", "--port", str(sim_port)], port=sim_port)
        await asyncio.to_thread(cluster.wait_http, sim, "/_sim/health")
        proc = psutil.Process(sim.popen.pid)
        # Warm up imports, caches and connections outside the measurement.
        await drive(sim_port, receiver, rate=args.rate, count=min(200, args.count))
        receiver.count = 0
        if args.pyspy:
            spy = subprocess.Popen(["uvx", "py-spy", "record", "-r", "100", "-f", "raw", "-o", args.pyspy,
                                    *(["--gil"] if args.gil else []), "--pid", str(sim.popen.pid)],
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
            await asyncio.sleep(2)
        before = cpu_seconds(proc)
        t0 = time.monotonic()
        out = await drive(sim_port, receiver, rate=args.rate, count=args.count)
        cpu = cpu_seconds(proc) - before
        wall = time.monotonic() - t0
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=30)
        created = out["created"]
        print(f"simulator: {created} created ({out['statuses']}, {out['errors']} errors), "
              f"{receiver.count} callbacks, {receiver.bad_signatures}/{receiver.checked} bad signatures; "
              f"{cpu:.2f} CPU-s in {wall:.1f} s = {cpu * 1000 / max(created, 1):.3f} ms CPU per message")
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        cluster.stop_all()
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--pyspy", metavar="OUT", help="py-spy record -f raw the simulator into OUT")
    parser.add_argument("--gil", action="store_true", help="py-spy samples only the thread holding the GIL")
    parser.add_argument("--src", metavar="DIR", help="run the simulator from this src/ directory instead")
    args = parser.parse_args()
    asyncio.run(main_async(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
