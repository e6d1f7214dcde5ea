#!/usr/bin/env python3
"""A tiny OTLP/HTTP receiver for rtscope's integration tests.

It accepts ``POST /v1/metrics``, ``POST /v1/logs``, ``POST /v1/traces`` and
``POST /v1development/profiles``
(OTLP Profiles, the in-development signal) with a protobuf body
(``Content-Encoding: gzip`` is understood), decodes it with the published
``opentelemetry-proto`` package and appends one JSON line per request to the
output file::

    {"kind": "metrics", "request": <ExportMetricsServiceRequest as OTLP/JSON>}

OTLP/JSON here is ``google.protobuf.json_format.MessageToDict`` with
camelCase field names and integer enums, as the OTLP spec says; 64-bit
integers are strings.
Every request is answered with 200 and an empty response message.

It binds 127.0.0.1 on the given port (0 picks a free one) and, once it is
listening, writes the bound port to ``--port-file`` (atomically, by rename)
and prints ``LISTENING <port>`` on stdout.

With ``--grpc-port-file`` it also serves OTLP/gRPC profiles
(``opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export``,
which rotel does not carry) on a port of its own, written to that file, and
records them the same way.

Usage: receiver.py --out FILE [--port 0] [--port-file FILE] [--grpc-port-file FILE]
"""

import argparse
import gzip
import json
import os
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

ROUTES = {
    "/v1/metrics": (
        "metrics",
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "/v1/logs": (
        "logs",
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
    ),
    "/v1/traces": (
        "traces",
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
    "/v1development/profiles": (
        "profiles",
        profiles_service_pb2.ExportProfilesServiceRequest,
        profiles_service_pb2.ExportProfilesServiceResponse,
    ),
}


def record(kind, request):
    """Appends one JSON line for a decoded request."""
    line = json.dumps(
        {
            "kind": kind,
            "request": json_format.MessageToDict(
                request,
                preserving_proto_field_name=False,
                use_integers_for_enums=True,
            ),
        },
        separators=(",", ":"),
    )
    with Handler.out_lock:
        Handler.out.write(line + "\n")
        Handler.out.flush()


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def serve_grpc_profiles(port_file):
    """OTLP/gRPC ProfilesService/Export on 127.0.0.1, any port."""
    from concurrent import futures

    import grpc

    def export(request, _context):
        record("profiles", request)
        return profiles_service_pb2.ExportProfilesServiceResponse()

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.profiles.v1development.ProfilesService",
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=profiles_service_pb2.ExportProfilesServiceRequest.FromString,
                response_serializer=profiles_service_pb2.ExportProfilesServiceResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    write_port(port_file, port)
    return server


def decode_body(raw, encoding):
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    raise ValueError(f"unsupported Content-Encoding: {encoding}")


class Handler(BaseHTTPRequestHandler):
    # Set on the class by main().
    out = None
    out_lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        route = ROUTES.get(self.path.split("?", 1)[0])
        raw = self.read_body()
        if route is None:
            self.reply(404, b"unknown path\n", "text/plain")
            return
        kind, request_type, response_type = route
        try:
            body = decode_body(raw, self.headers.get("Content-Encoding"))
            request = request_type()
            request.ParseFromString(body)
        except Exception as err:  # noqa: BLE001 - any decode failure is a 400
            self.reply(400, f"cannot decode: {err}\n".encode(), "text/plain")
            return
        record(kind, request)
        self.reply(200, response_type().SerializeToString(), "application/x-protobuf")

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("receiver: " + (fmt % args) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON-lines output file")
    parser.add_argument("--port", type=int, default=0, help="port to bind, 0 = any")
    parser.add_argument("--port-file", help="write the bound port here")
    parser.add_argument("--grpc-port-file", help="also serve gRPC profiles; write its port here")
    args = parser.parse_args()

    Handler.out = open(args.out, "a", encoding="utf-8")
    grpc_server = serve_grpc_profiles(args.grpc_port_file) if args.grpc_port_file else None
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        write_port(args.port_file, port)
    print(f"LISTENING {port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    if grpc_server is not None:
        grpc_server.stop(0)


if __name__ == "__main__":
    main()
