"""Who can reach a run: the local cluster on loopback only, an external scheduler over TLS (issue: nothing silently wrong)."""

from __future__ import annotations

import psutil
import pytest

from conftest import TINY_SWEEP
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.run.cluster import ClusterSpec, connect, loopback_dashboard


def _listening(pid: int) -> dict[int, list[str]]:
    """Listening addresses of a process and of its children (the nannies and workers)."""
    me = psutil.Process(pid)
    return {p.pid: [c.laddr.ip for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
            for p in [me, *me.children(recursive=True)]}


def test_a_bare_port_means_loopback_and_the_cluster_section_is_no_part_of_identity(write_sweep):
    assert loopback_dashboard(":8787") == "127.0.0.1:8787"
    assert loopback_dashboard("0.0.0.0:8787") == "0.0.0.0:8787"
    default = load_sweep(write_sweep())
    assert default.model.cluster.dashboard_address == "127.0.0.1:8787"
    # an older sweep file (or an output's sweep.toml) that spells the old default stays valid
    old = load_sweep(write_sweep(TINY_SWEEP.replace("workers = 2", 'workers = 2\ndashboard_address = ":8787"'),
                                 name="old.toml"))
    opened = load_sweep(write_sweep(TINY_SWEEP.replace("workers = 2", 'workers = 7\nmemory_limit = "3GiB"\n'
                                                       'dashboard_address = "0.0.0.0:8787"'), name="open.toml"))
    fingerprints = [[j.fingerprint for j in plan_sweep(s).jobs] for s in (default, old, opened)]
    assert fingerprints[0] == fingerprints[1] == fingerprints[2]


@pytest.mark.slow
@pytest.mark.parametrize("dashboard, where", [("127.0.0.1:0", "127.0.0.1"), (":0", "127.0.0.1"),
                                              ("0.0.0.0:0", "0.0.0.0")])
def test_local_cluster_listens_on_loopback_unless_opened(dashboard, where):
    import os

    with connect(ClusterSpec(workers=1, dashboard_address=dashboard)) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(w.startswith("tcp://127.0.0.1:") for w in client.scheduler_info()["workers"])
        port = client.cluster.scheduler.http_server.port
        listening = _listening(os.getpid())
        dashboard_ips = {c.laddr.ip for c in psutil.Process().net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert dashboard_ips == {where}
    ours = [ip for ips in listening.values() for ip in ips]
    assert len(listening) >= 3 and ours  # this process (scheduler, dashboard), the nanny, the worker
    assert set(ours) - {where} <= {"127.0.0.1"}


def _certificates(folder) -> dict[str, str]:
    """A self-signed CA and one certificate it signed (for 127.0.0.1), as PEM files; their paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name("dask")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return {k: str(v) for k, v in files.items()}


@pytest.fixture
def tls_scheduler(tmp_path):
    """A real ``dask scheduler`` and one ``dask worker`` that speak TLS only; yields (address, certificate files)."""
    import json
    import subprocess
    import sys
    import time
    from pathlib import Path

    certs = _certificates(tmp_path)
    tls = ["--tls-ca-file", certs["ca"], "--tls-cert", certs["cert"], "--tls-key", certs["key"]]
    bin_dir = Path(sys.executable).parent
    dask = [str(bin_dir / "dask")] if (bin_dir / "dask").exists() else [sys.executable, "-m", "dask"]
    scheduler_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(dask + ["scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0",
                                      "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file),
                                      *tls], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        procs.append(subprocess.Popen(dask + ["worker", address, "--nworkers", "1", "--nthreads", "1",
                                              "--no-dashboard", *tls],
                                      cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address, certs
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _tls_env(certs: dict[str, str]) -> dict[str, str]:
    """The client's TLS settings, as the README tells users to give them."""
    return {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": certs["ca"],
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": certs["cert"],
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": certs["key"]}


def _run(path, output, scheduler, env):
    from conftest import run_module

    return run_module("run", path, "--output", output, "--scheduler", scheduler, cwd=path.parent, env=env)


@pytest.mark.slow
def test_run_on_a_tls_scheduler(tmp_path, write_sweep, tls_scheduler):
    from conftest import reference_movie, status_of, stored_movie

    address, certs = tls_scheduler
    path = write_sweep()
    proc = _run(path, tmp_path / "out", address, _tls_env(certs))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert status_of(tmp_path / "out")["state"] == "done"
    for job in plan_sweep(load_sweep(path)).jobs:
        frames, truth = stored_movie(tmp_path / "out", job.name)
        expected, expected_truth = reference_movie(job)
        assert frames.tobytes() == expected.tobytes() and truth.tobytes() == expected_truth.tobytes()

    # the same scheduler over plain tcp://, over tls:// without the client's certificates or with
    # those of another CA: refused before anything is written, one line, exit 2
    (tmp_path / "other").mkdir()
    for scheduler, env, words in [(address.replace("tls://", "tcp://"), _tls_env(certs), "refused the connection"),
                                  (address, {}, "needs the client's TLS settings"),
                                  (address, _tls_env(_certificates(tmp_path / "other")), "TLS certificate")]:
        proc = _run(path, tmp_path / "refused", scheduler, env)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / "refused").exists()


def test_a_tls_scheduler_that_does_not_answer_is_one_line(tmp_path, write_sweep):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _run(write_sweep(), tmp_path / "out", f"tls://127.0.0.1:{port}", {})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: scheduler tls://127.0.0.1:{port} does not answer ([Errno 111] Connection refused); "
        "start it or fix --scheduler/cluster.address"]
