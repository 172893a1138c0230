"""Fixed-count load through the admin guard, for guard-instructions.sh.

guard_load.py MODE N C GUARD_PORT RESP_PORT           N SEND_MESSAGE_V2 requests (MODE: json or
                                                      binary header) over C connections, closed loop
guard_load.py MODE 0 1 GUARD_PORT RESP_PORT responder  the upstream: answers every request at once

The JSON header is what a Java client writes (fastjson's layout, so the guard's canonical
encoding of it is byte for byte the same); the binary one has the same fields.
"""
import socket, struct, sys, threading, json
mode, N, C, gport, rport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
EXT = [("a","bench-producer"),("b","TBW102"),("c","TBW102"),("d","4"),("e","0"),("f","0"),("g","1700000000000"),("h","0"),("i","KEYS\u0001k\u0002WAIT\u0001true\u0002"),("j","0"),("k","false"),("m","false")]
BODY = b"x" * 256
def frame(opaque):
    if mode == "json":
        ext = ",".join(json.dumps(k) + ":" + json.dumps(v) for k, v in EXT)
        h = ('{"code":310,"extFields":{' + ext + '},"flag":0,"language":"JAVA","opaque":%d,"serializeTypeCurrentRPC":"JSON","version":395}' % opaque).encode()
        return struct.pack(">II", 4 + len(h) + len(BODY), len(h)) + h + BODY
    area = b"".join(struct.pack(">H", len(k)) + k.encode() + struct.pack(">I", len(v.encode())) + v.encode() for k, v in EXT)
    h = struct.pack(">hBhiii", 310, 0, 395, opaque, 0, 0) + struct.pack(">I", len(area)) + area
    return struct.pack(">II", 4 + len(h) + len(BODY), (1 << 24) | len(h)) + h + BODY
def read_frame(s, buf):
    while True:
        if len(buf) >= 4:
            total = struct.unpack(">I", buf[:4])[0]
            if len(buf) >= 4 + total:
                f = bytes(buf[:4 + total]); del buf[:4 + total]; return f
        d = s.recv(65536)
        if not d: raise SystemExit("closed")
        buf.extend(d)
def responder():
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("127.0.0.1", rport)); l.listen(64)
    while True:
        c, _ = l.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
def serve(c):
    buf = bytearray()
    try:
        while True:
            f = read_frame(c, buf)
            hl = struct.unpack(">I", f[4:8])[0] & 0xFFFFFF
            h = f[8:8 + hl]
            if f[4] == 0:
                opaque = json.loads(h)["opaque"]
            else:
                opaque = struct.unpack(">i", h[5:9])[0]
            r = ('{"code":0,"flag":1,"language":"JAVA","opaque":%d,"serializeTypeCurrentRPC":"JSON","version":395}' % opaque).encode()
            c.sendall(struct.pack(">II", 4 + len(r), len(r)) + r)
    except SystemExit:
        pass
if sys.argv[1:2] and len(sys.argv) > 6 and sys.argv[6] == "responder":
    responder()
def client(n):
    s = socket.create_connection(("127.0.0.1", gport)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    for i in range(n):
        s.sendall(frame(i + 1)); read_frame(s, buf)
    s.close()
ts = [threading.Thread(target=client, args=(N // C,)) for _ in range(C)]
[t.start() for t in ts]; [t.join() for t in ts]
print("done", N)
