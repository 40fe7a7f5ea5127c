"""What actually crosses a test host's link: TCP payload bytes per port, read off the wire.

`python link_capture.py IFACE OUT` runs inside a namespaced host (tests/netns_hosts.py) and records
every IPv4/TCP frame seen on IFACE with an AF_PACKET socket (root, no tcpdump needed), until
SIGTERM; then it writes `{port: payload bytes}` for both directions as JSON (latin-1 text) to OUT.
`payloads(OUT, port)` reads back what crossed the link to or from `port`. Used to show that the
bearer token never crosses the network in clear text when TLS is on, and that the same capture
does see a token sent in clear (Ray's own GCS traffic), so the check can fail.
"""
from __future__ import annotations

import json
import signal
import socket
import struct
import sys
from collections import defaultdict
from pathlib import Path

ETH_P_ALL = 0x0003


def _tcp_payload(frame: bytes) -> tuple[int, int, bytes] | None:
    """(source port, destination port, payload) of an Ethernet/IPv4/TCP frame, else None."""
    if len(frame) < 14 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if len(ip) < ihl + 20 or ip[9] != 6:  # protocol 6: TCP
        return None
    total = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:total]
    sport, dport = struct.unpack("!HH", tcp[:4])
    offset = (tcp[12] >> 4) * 4
    return sport, dport, tcp[offset:]


def capture(iface: str, out: Path) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    sock.settimeout(0.2)
    by_port: dict[int, bytearray] = defaultdict(bytearray)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("CAPTURING", flush=True)
    while not stop:
        try:
            frame = sock.recv(65536)
        except TimeoutError:
            continue
        parsed = _tcp_payload(frame)
        if parsed and parsed[2]:
            sport, dport, payload = parsed
            by_port[sport] += payload
            by_port[dport] += payload
    out.write_text(json.dumps({str(p): bytes(b).decode("latin-1") for p, b in by_port.items()}))


def payloads(path: Path, port: int) -> bytes:
    return json.loads(path.read_text()).get(str(port), "").encode("latin-1")


if __name__ == "__main__":
    capture(sys.argv[1], Path(sys.argv[2]))
