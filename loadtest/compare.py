#!/usr/bin/env python3
"""Side by side: roomcast, the Bun (uWebSockets) peer and the Socket.IO peer under the
same neutral load generator (wsload, from ../shared/bench), in one run.

Every (scenario, server) pair gets a fresh server, alone, pinned to CPU 1 (`taskset -c 1`);
wsload runs pinned to CPU 0. Before each pair the script waits (bounded by --quiet-wait)
until the machine is idle, and each JSON line carries wsload's `foreign_cpu_s` (CPU that
other processes used during the measurement).

    loadtest/compare.sh                                    # everything, ~15 min on a quiet machine
    loadtest/compare.sh --servers roomcast,bun --scenarios fan2000,idle19000
    loadtest/compare.sh --quick --scenarios fan2000        # a smoke test of the script (numbers meaningless)

Prints one Markdown row per (scenario, server); every raw wsload JSON line (plus `server`,
`case`, `quick`, `quiet_wait_s`, `machine_busy_before`) is appended to
loadtest/results/side-<date>.jsonl (side-quick-<date>.jsonl with --quick).
Python 3 standard library only.
"""
import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

LOADTEST = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(LOADTEST)
SHARED_BENCH = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))
SERVERS = ["roomcast", "bun", "socketio"]
SERVER_CPU, CLIENT_CPU = "1", "0"


def fanout(rooms, viewers, rate, duration):
    return ["fanout", "--rooms", str(rooms), "--viewers", str(viewers), "--rate", str(rate),
            "--duration", str(duration)]


def idle(conns, hold, procs):
    return ["idle", "--conns", str(conns), "--rooms", "100", "--hold", str(hold), "--procs", str(procs)]


# name: (what it is, wsload arguments, the same for --quick, roomcast-only cluster run?)
SCENARIOS = {
    "fan2000": ("1 room x 2000 viewers, 20 msg/s, 20 s",
                fanout(1, 2000, 20, 20), fanout(1, 200, 20, 3), False),
    "fan100x100": ("100 rooms x 100 viewers, 5 msg/s per room, 20 s",
                   fanout(100, 100, 5, 20), fanout(10, 20, 5, 3), False),
    "fan10000": ("1 room x 10000 viewers, 20 msg/s, 20 s",
                 fanout(1, 10000, 20, 20), fanout(1, 500, 20, 3), False),
    "hype": ("1 room x 5000 viewers, 100 msg/s (500,000 deliveries/s offered), 10 s",
             fanout(1, 5000, 100, 10), fanout(1, 200, 50, 3), False),
    "idle19000": ("19000 idle connections over 100 rooms, held 10 s (2 wsload processes)",
                  idle(19000, 10, 2), idle(500, 2, 2), False),
    "redis2000": ("2 roomcast nodes + redis-server (all on CPU 1), 1 room x 2000 viewers split "
                  "round-robin over both nodes, 20 msg/s, 20 s",
                  fanout(1, 2000, 20, 20), fanout(1, 200, 20, 3), True),
}

procs = []  # every process this script started and has not stopped yet


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- preparation --------------------------------------------------------------------------

def writable(path):
    """Writable for real: permission bits say so (root ignores them) and not a read-only mount."""
    try:
        st, vfs = os.stat(path), os.statvfs(path)
    except OSError:
        return False
    return bool(st.st_mode & 0o222) and os.access(path, os.W_OK) and not vfs.f_flag & os.ST_RDONLY


def bench_dir(wanted):
    """The bench folder to use: --bench/$BENCH (copied from ../shared/bench if missing),
    ../shared/bench itself if it is writable, else a copy in /tmp/roomcast-bench."""
    if wanted is None:
        if writable(SHARED_BENCH):
            return SHARED_BENCH
        wanted = os.path.join(tempfile.gettempdir(), "roomcast-bench")
    if not os.path.isdir(wanted):
        if not os.path.isdir(SHARED_BENCH):
            raise SystemExit(f"no bench folder: neither {wanted} nor {SHARED_BENCH} exists")
        log(f"copying {SHARED_BENCH} -> {wanted} (../shared is read-only)")
        shutil.copytree(SHARED_BENCH, wanted, symlinks=True)
        for dirpath, dirnames, filenames in os.walk(wanted):  # the copy keeps r-x modes
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                if not os.path.islink(p):
                    os.chmod(p, os.stat(p).st_mode | 0o200)
        os.chmod(wanted, os.stat(wanted).st_mode | 0o200)
    return wanted


def ensure_built(bench, servers):
    wsload = os.path.join(bench, "wsload", "target", "release", "wsload")
    if not os.access(wsload, os.X_OK):
        log("building wsload (cargo build --release, a few minutes)")
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(bench, "wsload", "target"))
        subprocess.run(["nice", "-n", "19", "cargo", "build", "--release", "-q"],
                       cwd=os.path.join(bench, "wsload"), env=env, check=True, timeout=1800)
    for server, peer in (("bun", "peer-bun"), ("socketio", "peer-socketio")):
        d = os.path.join(bench, peer)
        if server in servers and not os.path.isdir(os.path.join(d, "node_modules")):
            log(f"npm ci in {d}")
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d, check=True, timeout=600,
                           stdout=subprocess.DEVNULL)
    return wsload


# ---- the machine --------------------------------------------------------------------------

def cpu_busy():
    """(busy, total) jiffies of all CPUs so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal
    return busy, busy + v[3] + v[4]  # + idle iowait


def wait_quiet(limit, threshold=0.10):
    """Wait (at most `limit` s) until, over one second, the machine's CPUs are busy less than
    `threshold` of the time. Nothing of ours runs meanwhile, so all of it is other processes'.
    Returns (seconds waited, busy fraction of the last second)."""
    t0 = time.time()
    while True:
        a = cpu_busy()
        time.sleep(1)
        b = cpu_busy()
        frac = (b[0] - a[0]) / max(1, b[1] - a[1])
        waited = time.time() - t0
        if frac < threshold or waited >= limit:
            if frac >= threshold:
                log(f"WARNING: machine still {frac:.0%} busy after {waited:.0f} s; running anyway "
                    "(see foreign_cpu_s)")
            return round(waited, 1), round(frac, 3)


def pid_cpu_s(pid):
    """CPU seconds (utime + stime) of a live process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def ours_cpu_s(pids):
    """CPU seconds of the servers, of this script and of its waited-for children (wsload)."""
    t = os.times()
    return sum(pid_cpu_s(p) for p in pids) + t.user + t.system + t.children_user + t.children_system


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, proc, limit=60):
    deadline = time.time() + limit
    while time.time() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return True
        except Exception:
            time.sleep(0.1)
    return False


def wait_redis(port, proc, limit=10):
    deadline = time.time() + limit
    while time.time() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.1)
    return False


def spawn(cmd, cwd, env, logf):
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=logf, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop_all():
    """Stop every process we started, by its PID: SIGTERM, then SIGKILL after 10 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    procs.clear()


# ---- servers ------------------------------------------------------------------------------

def start_server(server, bench, roomcast_bin, secret, work, logf, node="bench", redis=None):
    """Start one server pinned to CPU 1; returns (Popen, port, wsload protocol)."""
    port = free_port()
    pin = ["taskset", "-c", SERVER_CPU]
    if server == "roomcast":
        env = dict(os.environ, ROOMCAST__SERVER__HOST="127.0.0.1", ROOMCAST__SERVER__PORT=str(port),
                   ROOMCAST__SERVER__WORKERS="1", ROOMCAST__NODE__ID=node,
                   ROOMCAST__DATABASE__URL=f"sqlite://{work}/{node}.db?mode=rwc",
                   ROOMCAST__AUTH__JWT_SECRET=secret, RUST_LOG="warn",
                   # Every load connection comes from 127.0.0.1: contract §6's
                   # per-address caps (429 past 50 connects) are raised for it.
                   ROOMCAST__LIMITS__CONNECTIONS_PER_IP="100000",
                   ROOMCAST__LIMITS__CONNECTS_PER_IP_PER_S="100000",
                   ROOMCAST__LIMITS__CONNECTS_PER_IP_BURST="100000")
        if redis:
            env["ROOMCAST__REDIS__URL"] = redis
        cmd, cwd, health, proto = pin + [roomcast_bin], work, "/readyz", "roomcast"
    elif server == "bun":
        env = dict(os.environ, PORT=str(port), JWT_SECRET=secret)
        cmd, cwd, health, proto = pin + ["./run.sh"], os.path.join(bench, "peer-bun"), "/healthz", "roomcast"
    elif server == "socketio":
        env = dict(os.environ, PORT=str(port), NODE_ENV="production")
        cmd, cwd, health, proto = (pin + ["node", "server.js"], os.path.join(bench, "peer-socketio"),
                                   "/healthz", "socketio")
    else:
        raise SystemExit(f"unknown server {server!r} (known: {', '.join(SERVERS)})")
    p = spawn(cmd, cwd, env, logf)
    if not wait_http(f"http://127.0.0.1:{port}{health}", p):
        raise RuntimeError(f"{server} did not become ready on :{port}")
    return p, port, proto


def run_case(case, server, a, bench, wsload, out, logdir):
    """One fresh server (or cluster), one wsload run; returns wsload's JSON, annotated."""
    what, full, quick, cluster = SCENARIOS[case]
    waited, busy = wait_quiet(a.quiet_wait)
    secret = secrets.token_hex(16)
    work = tempfile.mkdtemp(prefix="roomcast-side-", dir=logdir)
    logf = open(os.path.join(logdir, f"{case}-{server}.log"), "w")
    aux = []
    try:
        if cluster:
            rport = free_port()
            redis = spawn(["taskset", "-c", SERVER_CPU, "redis-server", "--port", str(rport), "--bind",
                           "127.0.0.1", "--save", "", "--appendonly", "no"], work, os.environ, logf)
            if not wait_redis(rport, redis):
                raise RuntimeError(f"redis-server did not start on :{rport}")
            nodes = [start_server(server, bench, a.roomcast_bin, secret, work, logf, f"n{i}",
                                  f"redis://127.0.0.1:{rport}") for i in (1, 2)]
            aux = ["--aux-pid", str(redis.pid)]
        else:
            nodes = [start_server(server, bench, a.roomcast_bin, secret, work, logf)]
        time.sleep(1)
        proto = nodes[0][2]
        result = os.path.join(work, "result.json")
        max_runtime = 60 if a.quick else 240
        cmd = (["taskset", "-c", CLIENT_CPU, wsload, "--proto", proto,
                "--urls", ",".join(f"ws://127.0.0.1:{port}" for _, port, _ in nodes),
                "--server-pid", ",".join(str(p.pid) for p, _, _ in nodes), *aux,
                "--jwt-secret", secret, "--json-out", result, "--max-runtime", str(max_runtime),
                "--label", f"{server}-{case}"] + (quick if a.quick else full))
        log(f"{case} / {server}: {' '.join(cmd[3:])}")
        # Foreign CPU over the whole wsload run, for when wsload does not report its own
        # (idle with --procs): all CPU time on the machine minus ours.
        pids = [p.pid for p in procs]
        busy0, ours0 = cpu_busy()[0], ours_cpu_s(pids)
        try:
            subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, timeout=max_runtime + 30)
        except subprocess.TimeoutExpired:
            log(f"{case} / {server}: wsload did not finish within {max_runtime + 30} s")
        foreign_run = (cpu_busy()[0] - busy0) / os.sysconf("SC_CLK_TCK") - (ours_cpu_s(pids) - ours0)
        try:
            with open(result) as f:
                r = json.loads(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            return {"error": f"no wsload result (see {logf.name})"}
    except RuntimeError as e:
        return {"error": str(e)}
    finally:
        stop_all()
        logf.close()
        shutil.rmtree(work, ignore_errors=True)
    r.update(server=server, case=case, case_what=what, quick=a.quick, quiet_wait_s=waited,
             machine_busy_before=busy, foreign_cpu_s_run=round(max(0.0, foreign_run), 2))
    if cluster:
        r["generator_note"] = "wsload --urls node1,node2: connections round-robin over both nodes"
    with open(out, "a") as f:
        f.write(json.dumps(r) + "\n")
    return r


# ---- the table ----------------------------------------------------------------------------

HEADER = ("| scenario | server | delivered % | p50 ms | p99 ms | deliveries / server CPU-s | server CPU s "
          "| foreign CPU s | client saturated | KiB / conn | notes |")


def num(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def row(case, server, r):
    cells = [case, server]
    if "error" in r:
        return "| " + " | ".join(cells + ["-"] * 8 + [r["error"]]) + " |"
    if r.get("scenario") == "idle":
        cpu = sum(r.get(k) or 0 for k in ("server_cpu_connect_s", "server_cpu_hold_s"))
        notes = f"{r.get('connected')}/{r.get('conns')} connected, {r.get('disconnects', 0)} dropped"
        foreign = r.get("foreign_cpu_s")
        if foreign is None:  # wsload idle --procs does not measure it: ours, over the whole run
            foreign, notes = r.get("foreign_cpu_s_run"), notes + "; foreign CPU over the whole run"
        cells += ["-", "-", "-", "-", num(cpu, 2), num(foreign, 2), "-",
                  num(r.get("server_kib_per_conn")), notes]
    else:
        lat, cpu = r.get("lat_ms") or {}, r.get("server_cpu_s")
        notes = [f"{r.get('received')}/{r.get('expected')} delivered"]
        if r.get("aux_cpu_s") is not None:
            notes.append(f"redis CPU {r['aux_cpu_s']:.2f} s")
        if r.get("conn_errors"):
            notes.append(f"{r['conn_errors']} connection errors")
        cells += [num(100 * (r.get("delivery_ratio") or 0), 2), num(lat.get("p50")), num(lat.get("p99")),
                  num(r["received"] / cpu if cpu else None, 0), num(cpu, 2),
                  num(r.get("foreign_cpu_s"), 2), str(r.get("client_saturated")).lower(), "-",
                  ", ".join(notes)]
    return "| " + " | ".join(cells) + " |"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="scenarios:\n" + "\n".join(f"  {k:11} {v[0]}" for k, v in SCENARIOS.items()))
    ap.add_argument("--servers", default=",".join(SERVERS), help="comma-separated, from: " + ",".join(SERVERS))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated (see below)")
    ap.add_argument("--quick", action="store_true",
                    help="small and short (seconds, a few hundred connections): checks the script, not the servers")
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="max seconds to wait for an idle machine before each run (default 120, 0 with --quick)")
    ap.add_argument("--bench", default=os.environ.get("BENCH"),
                    help="bench folder to use (default: ../shared/bench if writable, else a copy in /tmp/roomcast-bench)")
    ap.add_argument("--roomcast-bin", default=os.environ.get("ROOMCAST_BIN", os.path.join(ROOT, "target/release/roomcast")))
    ap.add_argument("--out", help="JSON lines file (default: loadtest/results/side-<date>.jsonl)")
    a = ap.parse_args()
    if a.quiet_wait is None:
        a.quiet_wait = 0 if a.quick else 120
    servers, cases = a.servers.split(","), a.scenarios.split(",")
    for s in servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s!r}")
    for c in cases:
        if c not in SCENARIOS:
            ap.error(f"unknown scenario {c!r}")
    if "roomcast" in servers and not os.access(a.roomcast_bin, os.X_OK):
        ap.error(f"{a.roomcast_bin} is not an executable: cargo build --release -p roomcast (or set ROOMCAST_BIN)")
    if "redis2000" in cases and "roomcast" in servers and not shutil.which("redis-server"):
        ap.error("redis2000 needs redis-server on PATH (apt-get install redis-server)")
    a.roomcast_bin = os.path.abspath(a.roomcast_bin)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = a.out or os.path.join(LOADTEST, "results", f"side-{'quick-' if a.quick else ''}{stamp}.jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    # Servers and wsload inherit this: one process may hold as many sockets as the box allows.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    bench = bench_dir(a.bench)
    wsload = ensure_built(bench, servers)
    logdir = tempfile.mkdtemp(prefix=f"roomcast-side-{stamp}-")
    log(f"bench {bench}; roomcast {a.roomcast_bin}; logs {logdir}; results {out}")
    rows = []
    for case in cases:
        for server in servers:
            if SCENARIOS[case][3] and server != "roomcast":
                continue  # the peers have no cluster mode speaking this protocol
            r = run_case(case, server, a, bench, wsload, out, logdir)
            rows.append(row(case, server, r))
            log(rows[-1])
    print(f"\n{'Quick smoke run, numbers meaningless. ' if a.quick else ''}"
          f"{time.strftime('%Y-%m-%d')}, servers on CPU {SERVER_CPU}, wsload on CPU {CLIENT_CPU}, raw: {out}\n")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    print("\n".join(rows))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        stop_all()
