"""A throwaway 3-master Redis Cluster of local `redis-server` processes, for the tests.

Ports are free loopback ports asked of the kernel (never the shared 6379); the cluster keeps no
data on disk (no RDB, no AOF; its node files live in a temp dir removed at the end). Slots are
assigned with CLUSTER ADDSLOTSRANGE and the nodes joined with CLUSTER MEET, which takes well under
a second, unlike `redis-cli --cluster create` and its fixed waits.
"""

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import redis as redis_sync

MASTERS = 3
SLOTS = 16384


def _free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait(predicate, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis_sync.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"Redis Cluster: timed out waiting for {what}")


@dataclass
class LocalCluster:
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)  # type: ignore[type-arg]
    workdir: str = ""

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self) -> "LocalCluster":
        if shutil.which("redis-server") is None:
            raise FileNotFoundError("redis-server is not installed")
        self.workdir = tempfile.mkdtemp(prefix="geo-redis-cluster-")
        ports = _free_ports(2 * MASTERS)
        self.ports, bus_ports = ports[:MASTERS], ports[MASTERS:]
        for port, bus in zip(self.ports, bus_ports, strict=True):
            self.processes.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-port",
                        str(bus),
                        "--cluster-config-file",
                        f"nodes-{port}.conf",
                        "--cluster-node-timeout",
                        "3000",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        self.workdir,
                        "--logfile",
                        f"redis-{port}.log",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        clients = [redis_sync.Redis(port=p, socket_timeout=5) for p in self.ports]
        try:
            for client in clients:
                _wait(client.ping, "a node to answer")
            self._assign_and_join(clients, bus_ports)
        finally:
            for client in clients:
                client.close()
        return self

    def _assign_and_join(self, clients: list[redis_sync.Redis], bus_ports: list[int]) -> None:
        share = SLOTS // MASTERS
        for i, client in enumerate(clients):
            last = SLOTS - 1 if i == MASTERS - 1 else (i + 1) * share - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        for port, bus in zip(self.ports[1:], bus_ports[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus)

        def ready() -> bool:
            return all(
                c.cluster("info")["cluster_state"] == "ok"
                and int(c.cluster("info")["cluster_known_nodes"]) == MASTERS
                for c in clients
            )

        _wait(ready, "the cluster to agree on its slots")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
