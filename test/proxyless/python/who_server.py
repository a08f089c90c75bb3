"""crossmesh's Python grpcio (C-core) proxyless server for the end-to-end suite: serves
`crossmesh.demo.Echo/Who` (JSON on the wire, no generated code) as an xDS server with xDS server
credentials, so the listener crossmesh sends (mTLS, RBAC) applies; bootstrap from GRPC_XDS_BOOTSTRAP.

    who_server.py <address> <port> <answer-json>

Prints {"started": true} once the port is bound (C-core serves only after its listener arrives;
grpcio has no serving-status callback to report that) and exits when stdin closes.
"""

import json
import sys
from concurrent import futures

import grpc


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: who_server.py <address> <port> <answer-json>")
    address, port, answer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    body = json.dumps(json.loads(answer)).encode()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), xds=True)
    # No deserializer/serializer: requests and answers are JSON bytes as they are.
    who = grpc.unary_unary_rpc_method_handler(lambda _request, _context: body)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("crossmesh.demo.Echo", {"Who": who}),))
    creds = grpc.xds_server_credentials(grpc.insecure_server_credentials())
    server.add_secure_port(f"{address}:{port}", creds)
    server.start()
    print(json.dumps({"started": True}), flush=True)
    # The parent owns this process: when it goes away (stdin closes), stop.
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
