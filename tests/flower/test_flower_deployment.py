"""A real Flower deployment on 127.0.0.1: SuperLink, SuperNodes, `flwr run` of the fedarena App.

The SuperLink is the documented one (``python -m fedarena.flower.superlink``): the
operator's port serves every API, the SuperNodes' port only the Fleet API. Slow (Flower
starts a process per message and polls every 3 s): about a minute for the insecure run,
45 s for the authentication check. Every process a test starts, and everything those
spawn, is stopped by PID at the end.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flower_processes import (
    BIN,
    CONNECTION,
    Processes,
    flower_env,
    free_port,
    port_open,
    wait_for,
    write_connection,
)

from fedarena.metrics import METRIC_KEYS
from fedarena.scenario.run import run_scenario
from tiny import TINY

APP = Path(__file__).parents[2] / "flower-app"
SCENARIO = replace(TINY, seed=3, shoppers=40, clients_per_round=2)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads /proc to stop processes"
    ),
    pytest.mark.skipif(not (BIN / "flower-superlink").exists(), reason="flower-superlink missing"),
]


@pytest.fixture()
def processes(tmp_path):
    started = Processes(flower_env(tmp_path / "flower"), tmp_path / "logs")
    yield started
    started.stop()
    assert started.still_alive() == [], "a Flower process outlived the test"


def _superlink(processes: Processes, control: int, fleet: int, *security: str) -> None:
    """The documented SuperLink: fedarena's wrapper of Flower's, every API on loopback port
    ``control`` and the SuperNodes' port ``fleet`` serving the Fleet API only."""
    processes.start(
        "superlink",
        [
            sys.executable,
            "-m",
            "fedarena.flower.superlink",
            "--fleet-host",
            "127.0.0.1",
            "--fleet-port",
            str(fleet),
            "--host",
            "127.0.0.1",
            "--port",
            str(control),
            *security,
            "--disable-runtime-dependency-installation",
        ],
    )
    wait_for(lambda: port_open(control) and port_open(fleet), 60, "the SuperLink to listen")


def _supernode(processes: Processes, name: str, superlink: int, partition: int, *extra: str):
    return processes.start(
        name,
        [
            str(BIN / "flower-supernode"),
            "--superlink",
            f"127.0.0.1:{superlink}",
            "--port",
            str(free_port()),
            "--node-config",
            f"partition-id={partition} num-partitions=2",
            *extra,
        ],
    )


def test_two_supernodes_run_a_two_round_scenario_like_the_in_process_engine(processes, tmp_path):
    control, fleet = free_port(), free_port()
    write_connection(processes.env, f"127.0.0.1:{control}", None)
    _superlink(processes, control, fleet, "--insecure")
    for k in range(2):
        _supernode(processes, f"supernode-{k}", fleet, k, "--insecure")
    out = tmp_path / "run.json"
    overrides = " ".join(
        f"{key}={json.dumps(value)}"
        for key, value in {**SCENARIO.to_dict(), "out": str(out)}.items()
    )
    done = processes.run(
        "flwr-run",
        [str(BIN / "flwr"), "run", str(APP), CONNECTION, "--run-config", overrides, "--stream"],
        timeout=300,
    )
    assert done.returncode == 0, done.stdout
    assert out.exists(), processes.log("flwr-run")
    assert "fedarena done" in done.stdout
    result = json.loads(out.read_text())
    assert [r["round"] for r in result["rounds"]] == [0, 1]
    assert all(r["n_sampled"] == 2 and r["n_rejected"] == 0 for r in result["rounds"])
    in_process = run_scenario(SCENARIO)
    for key in METRIC_KEYS:
        assert result["final"][key] == pytest.approx(in_process["final"][key], abs=1e-6)


def _certificates(folder: Path) -> dict[str, Path]:
    """A throw-away CA, a SuperLink certificate for 127.0.0.1 and two SuperNode key pairs."""
    folder.mkdir()
    now = datetime.datetime.now(datetime.UTC)
    pem = serialization.Encoding.PEM

    def certificate(subject, issuer, public_key, signing_key, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedarena test CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    server_key = ec.generate_private_key(ec.SECP384R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    server = certificate(server_name, ca_name, server_key.public_key(), ca_key, False)
    paths = {name: folder / name for name in ("ca.crt", "server.pem", "server.key")}
    paths["ca.crt"].write_bytes(ca.public_bytes(pem))
    paths["server.pem"].write_bytes(server.public_bytes(pem))
    paths["server.key"].write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    for node in ("registered", "stranger"):
        key = ec.generate_private_key(ec.SECP384R1())
        paths[node] = folder / node
        paths[node].write_bytes(
            key.private_bytes(
                pem, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            )
        )
        paths[f"{node}.pub"] = folder / f"{node}.pub"
        paths[f"{node}.pub"].write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
        )
    return paths


ATTACKER = "attacker"


def _flwr_json(processes: Processes, name: str, *args: str) -> dict:
    """What ``flwr ... --format json`` printed (it exits 0 and says ``success`` either way)."""
    done = processes.run(name, [str(BIN / "flwr"), *args, "--format", "json"], timeout=60)
    assert "{" in done.stdout, done.stdout
    return json.loads(done.stdout[done.stdout.index("{") :])


def test_only_keys_the_operator_registered_join_and_a_stranger_exits_with_status_1(
    processes, tmp_path
):
    keys = _certificates(tmp_path / "keys")
    control, fleet = free_port(), free_port()
    write_connection(processes.env, f"127.0.0.1:{control}", keys["ca.crt"])
    # What a node-side machine can reach: the SuperNodes' port, with the public CA certificate.
    write_connection(processes.env, f"127.0.0.1:{fleet}", keys["ca.crt"], name=ATTACKER)
    _superlink(
        processes,
        control,
        fleet,
        "--ssl-ca-certfile",
        str(keys["ca.crt"]),
        "--ssl-certfile",
        str(keys["server.pem"]),
        "--ssl-keyfile",
        str(keys["server.key"]),
        "--enable-supernode-auth",
    )

    registered = _flwr_json(
        processes, "register", "supernode", "register", str(keys["registered.pub"]), CONNECTION
    )
    assert registered["success"], registered
    node_id = str(registered["node-id"])
    # Self-registration, the bypass: a stranger registers its own key through the nodes' port.
    for name, command in {
        "self-register": ("supernode", "register", str(keys["stranger.pub"]), ATTACKER),
        "attacker-ls": ("supernode", "ls", ATTACKER),
        "attacker-run": ("run", str(APP), ATTACKER),
    }.items():
        refused = _flwr_json(processes, name, *command)
        assert not refused["success"] and "403 Forbidden" in refused["error-message"], refused

    def nodes(status: str | None = None) -> list[str]:
        listed = _flwr_json(processes, "list", "supernode", "ls", CONNECTION)
        assert listed["success"], listed
        return [str(n["node-id"]) for n in listed["nodes"] if status in (None, n["status"])]

    assert nodes() == [node_id]
    tls = ("--root-certificates", str(keys["ca.crt"]))
    _supernode(
        processes,
        "registered",
        fleet,
        0,
        *tls,
        "--auth-supernode-private-key",
        str(keys["registered"]),
    )
    wait_for(lambda: nodes("online") == [node_id], 60, "the registered SuperNode to come online")
    stranger = _supernode(
        processes,
        "stranger",
        fleet,
        1,
        *tls,
        "--auth-supernode-private-key",
        str(keys["stranger"]),
        "--max-retries",
        "1",
        "--max-wait-time",
        "20",
    )
    # Flower logs its own code 305; the process exits with status 1 (flwr_exit maps every
    # error code to 1).
    assert stranger.wait(timeout=90) == 1, processes.log("stranger")
    assert "Exit Code: 305" in processes.log("stranger")
    assert nodes() == [node_id]
