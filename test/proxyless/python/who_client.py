"""crossmesh's Python grpcio (C-core) proxyless client for the end-to-end suite and the
convergence benchmark: calls `crossmesh.demo.Echo/Who` (JSON on the wire, so no generated code)
over `xds:///<target>` with xDS channel credentials, reading its bootstrap from GRPC_XDS_BOOTSTRAP
as a deployed C-core workload would.

Commands on stdin, one per line, results as JSON lines on stdout (the same protocol as the grpc-go
program in ../go):
    call <n> <concurrency> <timeoutMs>   n RPCs, one line each, then {"done": n}
    loop <intervalMs> <timeoutMs>        sequential RPCs until a "stop" line, then {"done": count}
"""

import json
import queue
import sys
import threading
import time

import grpc
import grpc.experimental

WHO = "/crossmesh.demo.Echo/Who"
_out = threading.Lock()


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def call_once(who, timeout_s):
    start = int(time.time() * 1000)
    try:
        body = who(b"{}", timeout=timeout_s)
        return {"ok": True, "answer": json.loads(body), "start": start, "end": int(time.time() * 1000)}
    except grpc.RpcError as e:
        return {"ok": False, "code": e.code().value[0], "details": e.details() or "", "start": start, "end": int(time.time() * 1000)}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: who_client.py <target>")
    creds = grpc.xds_channel_credentials(fallback_credentials=grpc.experimental.insecure_channel_credentials())
    channel = grpc.secure_channel("xds:///" + sys.argv[1], creds)
    # No serializers: the request and the answer are JSON bytes as they are.
    who = channel.unary_unary(WHO)
    lines = queue.Queue()

    def read_stdin():
        for line in sys.stdin:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read_stdin, daemon=True).start()
    while True:
        line = lines.get()
        if line is None:
            break
        f = line.split()
        if not f:
            continue
        num = lambda i: int(f[i]) if i < len(f) else 0
        if f[0] == "call":
            n, conc, timeout_s = num(1), max(1, num(2)), num(3) / 1000
            issued = [0]
            lock = threading.Lock()

            def worker():
                while True:
                    with lock:
                        if issued[0] >= n:
                            return
                        issued[0] += 1
                    emit(call_once(who, timeout_s))

            workers = [threading.Thread(target=worker) for _ in range(min(conc, n))]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            emit({"done": n})
        elif f[0] == "loop":
            interval_s, timeout_s = num(1) / 1000, num(2) / 1000
            count = 0
            while True:
                emit(call_once(who, timeout_s))
                count += 1
                try:
                    nxt = lines.get(timeout=interval_s)
                except queue.Empty:
                    continue
                if nxt is None or nxt.strip() == "stop":
                    if nxt is None:
                        lines.put(None)
                    break
            emit({"done": count})
        else:
            emit({"error": "unknown command " + f[0]})
    channel.close()


if __name__ == "__main__":
    main()
