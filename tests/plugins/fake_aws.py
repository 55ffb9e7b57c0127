#!/usr/bin/env python3
"""Test doubles for the remote provider's credential tests, written apart
from the C++ under test (its own SigV4, its own reading of the IMDSv2
protocol), both on 127.0.0.1 only:

* a fake EC2 instance metadata service (IMDSv2): PUT /latest/api/token
  with X-aws-ec2-metadata-token-ttl-seconds gives a session token; the
  role listing and the role's credentials answer only a GET that carries
  a live token (401 otherwise, as IMDSv2 with tokens required does). The
  credentials it hands out expire after --lifetime seconds (rounded up to
  a whole second, as AWS writes them); a new key is issued once less than
  half of that is left.

* a validating S3 proxy in front of s3rver (--upstream PORT): every
  request must be signed (AWS Signature V4, header form) by a key the
  fake knows (issued by the fake IMDS, or given with --key), with that
  key's secret, carry that key's session token, and arrive before the
  key expires; else it is answered as S3 would (403/400) and not
  forwarded. Good requests go to s3rver, which knows one key only, under
  its key id (it checks no V4 signature).

Usage: fake_aws.py --upstream PORT [--lifetime S] [--delay-ms N]
                   [--key ID:SECRET[:TOKEN]]...
Prints {"imds_port": N, "s3_port": M} on one line once both listen. Then
reads commands on stdin, one a line, answering each with one line:
  log              -> JSON list of every request seen so far
  imds-fail N      -> credential GETs answer 503 after N more good ones
  imds-ok          -> credential GETs work again
  revoke-tokens    -> every IMDS session token issued so far is refused
Exits when stdin closes.
"""

import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse

ROLE = "backup-role"
S3RVER_KEY = "S3RVER"

lock = threading.Lock()
events = []  # every request, in arrival order
keys = {}  # access key id -> {"secret", "token", "expires" (epoch s or None)}
tokens = {}  # IMDS session token -> expiry (epoch s)
current_key = None  # the key the fake IMDS hands out now
imds_good_left = None  # None: no failure planned


def record(event):
    with lock:
        event["t"] = time.time()
        events.append(event)


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def issue_key(lifetime):
    """The key the IMDS hands out, a new one once half its life is gone."""
    global current_key
    now = time.time()
    with lock:
        if current_key is not None:
            k = keys[current_key]
            if now < k["issued"] + (k["expires"] - k["issued"]) / 2.0:
                return current_key
        # Whole seconds, as AWS writes Expiration: the key lives between
        # `lifetime` and `lifetime` + 1 s.
        expires = float(int(now) + 1 + lifetime)
        key_id = "ASIAFAKE%08d" % (len(keys) + 1)
        keys[key_id] = {
            "secret": secrets.token_urlsafe(30),
            "token": secrets.token_urlsafe(60),
            "expires": expires,
            "issued": now,
        }
        current_key = key_id
        return key_id


class Imds(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lifetime = 2.0

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        event = {"server": "imds", "method": "PUT", "path": self.path, "ttl": ttl}
        if self.path != "/latest/api/token":
            event["status"] = 404
        elif ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            event["status"] = 400
        else:
            token = secrets.token_urlsafe(40)
            with lock:
                tokens[token] = time.time() + int(ttl)
            event["status"] = 200
            record(event)
            return self.answer(200, token.encode())
        record(event)
        self.answer(event["status"])

    def do_GET(self):
        global imds_good_left
        token = self.headers.get("X-aws-ec2-metadata-token")
        with lock:
            live = token is not None and tokens.get(token, 0) > time.time()
        event = {"server": "imds", "method": "GET", "path": self.path,
                 "token_sent": token is not None, "token_ok": live}
        base = "/latest/meta-data/iam/security-credentials/"
        if not live:
            status, body = 401, b""
        elif self.path == base:
            status, body = 200, ROLE.encode()
        elif self.path == base + ROLE:
            with lock:
                failing = imds_good_left is not None and imds_good_left <= 0
                if imds_good_left is not None and imds_good_left > 0:
                    imds_good_left -= 1
            if failing:
                status, body = 503, b""
            else:
                key_id = issue_key(self.lifetime)
                with lock:
                    k = dict(keys[key_id])
                event["key"] = key_id
                status = 200
                body = json.dumps({
                    "Code": "Success",
                    "LastUpdated": iso(time.time()),
                    "Type": "AWS-HMAC",
                    "AccessKeyId": key_id,
                    "SecretAccessKey": k["secret"],
                    "Token": k["token"],
                    "Expiration": iso(k["expires"]),
                }).encode()
        else:
            status, body = 404, b""
        event["status"] = status
        record(event)
        self.answer(status, body)


# --- SigV4, header form, as S3 checks it -----------------------------------

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def uri_encode(text, keep_slash):
    safe = UNRESERVED + ("/" if keep_slash else "")
    return urllib.parse.quote(text, safe=safe)


def canonical_query(raw):
    if not raw:
        return ""
    pairs = []
    for item in raw.split("&"):
        name, _, value = item.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(name), False),
                      uri_encode(urllib.parse.unquote(value), False)))
    return "&".join("%s=%s" % p for p in sorted(pairs))


def hmac256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def check_request(method, target, headers, body):
    """(access key id, None) if the request is good, else
    (key id or None, (status, code, why))."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None, (403, "AccessDenied", "not signed with AWS4-HMAC-SHA256")
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    try:
        key_id, date, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        return None, (400, "AuthorizationHeaderMalformed", "malformed Authorization")
    with lock:
        key = keys.get(key_id)
    if key is None:
        return key_id, (403, "InvalidAccessKeyId", "unknown key " + key_id)
    if key["expires"] is not None and time.time() >= key["expires"]:
        return key_id, (400, "ExpiredToken", "key %s expired at %s" % (key_id, iso(key["expires"])))
    if key["token"] and headers.get("x-amz-security-token") != key["token"]:
        return key_id, (403, "InvalidToken", "missing or wrong x-amz-security-token")
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date) or term != "aws4_request" or service != "s3":
        return key_id, (403, "SignatureDoesNotMatch", "bad credential scope or x-amz-date")
    if "host" not in signed or "x-amz-date" not in signed:
        return key_id, (403, "AccessDenied", "host and x-amz-date must be signed")
    payload = headers.get("x-amz-content-sha256", "")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return key_id, (400, "XAmzContentSHA256Mismatch", "payload hash does not match the body")
    lines = []
    for name in signed:
        if name not in headers:
            # S3 refuses a signature over a header the request lacks (the
            # mistake libcurl before 8.3 made with Expect, issue 16).
            return key_id, (403, "SignatureDoesNotMatch", "signed header %s not sent" % name)
        lines.append(name + ":" + " ".join(headers[name].split()))
    path, _, query = target.partition("?")
    canonical = "\n".join([
        method,
        uri_encode(urllib.parse.unquote(path), True),
        canonical_query(query),
        "\n".join(lines) + "\n",
        ";".join(signed),
        payload,
    ])
    scope = "/".join([date, region, service, term])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = hmac256(("AWS4" + key["secret"]).encode(), date)
    for part in (region, service, term):
        k = hmac256(k, part)
    if not hmac.compare_digest(hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(),
                               signature):
        return key_id, (403, "SignatureDoesNotMatch", "signature does not match")
    return key_id, None


class S3Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = 0
    delay = 0.0

    def log_message(self, *args):
        pass

    def relay(self):
        received = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        key_id, fault = check_request(self.command, self.path, headers, body)
        event = {"server": "s3", "method": self.command, "path": self.path, "key": key_id,
                 "received": received}
        with lock:
            k = keys.get(key_id)
            event["expires"] = k["expires"] if k else None
        if fault is not None:
            status, code, why = fault
            event.update(status=status, ok=False, why=why)
            record(event)
            doc = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                   "<Message>%s</Message></Error>" % (code, why)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(doc)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(doc)
            return
        if self.delay:
            time.sleep(self.delay)
        forward = {name: value for name, value in self.headers.items()
                   if name.lower() not in ("connection", "expect", "x-amz-security-token")}
        forward["Authorization"] = self.headers["Authorization"].replace(
            "Credential=" + key_id + "/", "Credential=" + S3RVER_KEY + "/")
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=60)
        try:
            conn.request(self.command, self.path, body=body if length else None, headers=forward)
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        event.update(status=answer.status, ok=True)
        record(event)
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length",
                                    "date", "server"):
                self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", answer.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    global imds_good_left
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--lifetime", type=float, default=2.0)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--key", action="append", default=[])
    args = parser.parse_args()
    for spec in args.key:
        key_id, secret, *token = spec.split(":", 2)
        keys[key_id] = {"secret": secret, "token": token[0] if token else "", "expires": None}
    Imds.lifetime = args.lifetime
    S3Proxy.upstream = args.upstream
    S3Proxy.delay = args.delay_ms / 1000.0
    ports = {"imds_port": serve(Imds), "s3_port": serve(S3Proxy)}
    print(json.dumps(ports), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command:
            continue
        with lock:
            if command[0] == "log":
                reply = json.dumps(events)
            elif command[0] == "imds-fail":
                imds_good_left = int(command[1])
                reply = "ok"
            elif command[0] == "imds-ok":
                imds_good_left = None
                reply = "ok"
            elif command[0] == "revoke-tokens":
                tokens.clear()
                reply = "ok"
            else:
                reply = "unknown command"
        print(reply, flush=True)


if __name__ == "__main__":
    main()
