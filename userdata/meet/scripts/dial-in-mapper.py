#!/usr/bin/python3
"""WeeBeeTalk's dial-in conference mapper, on the meet host (contract: config/dial-in.ts).

Jitsi Meet's invite dialog asks it for a meeting's PIN (dialInConfCodeUrl) and the numbers to call
(dialInNumbersUrl), through the web container's nginx; the pbx host's dialplan asks it which running meeting a
PIN names (/room, answered only to the pbx host's address). A PIN is a keyed hash of the room's address, so
nothing is stored: a PIN is resolved by hashing the rooms Prosody has open now (jitsi-meet's mod_muc_census).

Usage: dial-in-mapper.py --config FILE [--key-file FILE]               serve
       dial-in-mapper.py --config FILE [--key-file FILE] --pin-of ROOM  print ROOM's PIN
Python 3 standard library only: Debian 12's python3, which the AMI has for cloud-init.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import re
import socketserver
import sys
import urllib.parse
import urllib.request

PIN_DIGITS = 9
# Rooms with a PIN: what Prosody keeps (lowercase) and what a SIP header can carry as it is.
ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
CENSUS_TIMEOUT_S = 3
FOUND, INVALID, NOT_RUNNING, UNAVAILABLE = "found", "invalid", "not-running", "unavailable"
# Prosody is on loopback: never through a proxy an environment variable names.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def luhn_digit(body):
    """The Luhn check digit of a string of digits: catches every single mistyped digit and most swaps."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def well_formed(pin):
    return len(pin) == PIN_DIGITS and pin.isdigit() and pin.isascii() and luhn_digit(pin[:-1]) == pin[-1]


def pin_of(key, conference):
    """PIN of a room address (room@muc): HMAC-SHA256, PIN_DIGITS - 1 digits with a first digit 1-9, then Luhn."""
    digest = hmac.new(key, conference.lower().encode("utf-8"), hashlib.sha256).digest()
    low = 10 ** (PIN_DIGITS - 2)
    body = str(low + int.from_bytes(digest[:8], "big") % (9 * low))
    return body + luhn_digit(body)


class Mapper:
    def __init__(self, config, key):
        self.muc = config["mucDomain"].lower()
        self.census_url = config["censusUrl"]
        self.pbx = frozenset(config["pbxAddresses"])
        self.numbers = list(config["numbers"])
        self.key = key

    def conference(self, value):
        """room@muc (or a bare room) as Prosody names it, or None when it is not a room with a PIN."""
        room, at, domain = value.strip().lower().rpartition("@")
        if not at:
            room, domain = domain, self.muc
        if domain != self.muc or not ROOM_RE.match(room):
            return None
        return f"{room}@{self.muc}"

    def running(self):
        """Addresses of the rooms with someone in them; raises OSError or ValueError when Prosody does not answer."""
        with DIRECT.open(self.census_url, timeout=CENSUS_TIMEOUT_S) as response:
            census = json.load(response)
        rooms = set()
        for entry in census["room_census"]:
            conference = self.conference(str(entry.get("room_name", "")))
            participants = entry.get("participants")
            if conference and isinstance(participants, int) and participants >= 1:
                rooms.add(conference)
        return rooms

    def room_by_pin(self, pin):
        if not well_formed(pin):
            return INVALID, None
        try:
            matches = [c for c in self.running() if hmac.compare_digest(pin_of(self.key, c), pin)]
        except (OSError, ValueError, KeyError, TypeError) as e:
            log(f"census unavailable: {type(e).__name__}")
            return UNAVAILABLE, None
        if len(matches) > 1:
            # Two running rooms with one PIN (about 1 in 90 million a pair): never guess which.
            log("two running rooms share a PIN: refusing it")
            return UNAVAILABLE, None
        return (FOUND, matches[0]) if matches else (NOT_RUNNING, None)

    def room_by_name(self, name):
        conference = self.conference(name)
        if conference is None or "@" in name:
            return INVALID, None
        try:
            running = self.running()
        except (OSError, ValueError, KeyError, TypeError) as e:
            log(f"census unavailable: {type(e).__name__}")
            return UNAVAILABLE, None
        return (FOUND, conference) if conference in running else (NOT_RUNNING, None)


def log(message):
    print(message, file=sys.stderr, flush=True)


def handler_for(mapper):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "weebeetalk-dial-in"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        # A client that sends nothing is dropped (no thread held open).
        timeout = 5
        # Headers and body in one segment (no Nagle wait on a second write).
        wbufsize = 65536
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            pass  # One line per answer below, without the query (it holds PINs).

        def answer(self, status, body, content_type, kind):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)
            log(f"{self.command} {urllib.parse.urlsplit(self.path).path} {status} {kind}")

        def json(self, status, value, kind):
            self.answer(status, json.dumps(value), "application/json", kind)

        def text(self, status, line, kind):
            self.answer(status, line + "\n", "text/plain; charset=utf-8", kind)

        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True)

            def one(name):
                values = query.get(name, [])
                return values[0] if len(values) == 1 else None

            if url.path == "/conference-code":
                conference = self.mapper_conference(one("conference"))
                if conference is None:
                    return self.json(400, {"message": f"conference must be a room of {mapper.muc} named with letters, digits, '.', '_' and '-'"}, "refused")
                return self.json(200, {"message": "Successfully retrieved conference mapping", "id": int(pin_of(mapper.key, conference)), "conference": conference}, "code")
            if url.path == "/dial-in-numbers":
                return self.json(200, mapper.numbers, "numbers")
            if url.path == "/room":
                if self.client_address[0] not in mapper.pbx:
                    return self.text(403, "forbidden", "forbidden")
                pin, name = one("pin"), one("name")
                if (pin is None) == (name is None):
                    return self.text(400, INVALID, "no pin or name")
                kind, conference = mapper.room_by_pin(pin) if pin is not None else mapper.room_by_name(name)
                return self.text(200, f"{FOUND}:{conference}" if kind == FOUND else kind, kind)
            return self.json(404, {"message": "not found"}, "unknown path")

        def mapper_conference(self, value):
            return None if value is None else mapper.conference(value)

        def refuse_method(self):
            self.send_response(405)
            self.send_header("Allow", "GET")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = refuse_method  # noqa: N815

    return Handler


class Server(http.server.ThreadingHTTPServer):
    # The default 5 drops a burst of connections.
    request_queue_size = 64

    def server_bind(self):
        # HTTPServer's own looks the address up in DNS (getfqdn): a slow resolver would delay the start.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def read_key(config, path=None):
    path = path or config.get("keyFile") or os.path.join(os.environ.get("CREDENTIALS_DIRECTORY", ""), "pin-key")
    try:
        with open(path, "rb") as f:
            key = f.read().strip()
    except OSError as e:
        sys.exit(f"dial-in-mapper: cannot read the PIN key {path}: {e.strerror}")
    if len(key) < 16:
        sys.exit(f"dial-in-mapper: the PIN key in {path} has {len(key)} bytes: at least 16 are needed")
    return key


def main():
    parser = argparse.ArgumentParser(description="WeeBeeTalk dial-in conference mapper")
    parser.add_argument("--config", required=True, help="the mapper's JSON configuration")
    parser.add_argument("--key-file", metavar="FILE", help="the PIN key (default: keyFile of the configuration, else the systemd credential pin-key)")
    parser.add_argument("--pin-of", metavar="ROOM", help="print ROOM's PIN and exit")
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    mapper = Mapper(config, read_key(config, args.key_file))
    if args.pin_of is not None:
        conference = mapper.conference(args.pin_of)
        if conference is None:
            sys.exit(f"dial-in-mapper: {args.pin_of!r} is not a room with a PIN (letters, digits, '.', '_', '-')")
        print(pin_of(mapper.key, conference))
        return
    server = Server((config["listen"], int(config["port"])), handler_for(mapper))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    log(f"dial-in mapper on {host}:{port} for {mapper.muc}; /room only from {', '.join(sorted(mapper.pbx))}")
    server.serve_forever()


if __name__ == "__main__":
    main()
