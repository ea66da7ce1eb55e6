#!/usr/bin/env python3
"""fuzz/seeds.py - writes the seed corpora in fuzz/corpus/NAME/ (committed).

Each seed is small and stands for one thing a peer or a file can do: a good
frame, two frames back to back, a length cut in the middle, a negative or
huge length, text where a length should be, a header that is not what it
should be. Run it again after changing it: `python3 fuzz/seeds.py`
(`python3 fuzz/seeds.py DIR` writes them under DIR instead).
Everything is written here from the formats' specs (the stage READMEs and
capture/capture.h).
"""
import hashlib
import json
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'fuzz', 'corpus')


def write(name, seeds):
    folder = os.path.join(CORPUS, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for seed_name, data in seeds.items():
        with open(os.path.join(folder, seed_name), 'wb') as out:
            out.write(data)


def le32(n):
    return struct.pack('<i', n)


def seq(n):
    return b''.join(b'%d\n' % i for i in range(1, n + 1))


# ---- stage 3: 4-byte signed little-endian length, then the reply --------
def stage3():
    return {
        'hello': le32(5) + b'hello',
        'empty-reply': le32(0),
        'two-replies': le32(3) + b'abc' + le32(3) + b'def',
        'seq-2000': le32(8893) + seq(2000),
        'length-cut-at-2': le32(5)[:2],
        'length-cut-at-3': le32(5)[:3],
        'body-cut': le32(100) + b'only ten b',
        'nothing': b'',
        'negative': le32(-1) + b'abc',
        'int-min': le32(-2**31),
        'int-max': le32(2**31 - 1) + b'abc',
        'max-len-plus-1': le32(2**28 + 1) + b'x',
        'max-len': le32(2**28) + b'x',
        'http-reply': b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi',
        'get-request': b'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
        'nul-body': le32(4) + b'\0\0\0\0',
        'not-utf8-body': le32(4) + b'\xff\xfe\xc3\x28',
        'escape-codes': le32(7) + b'\x1b[2Jhi\n',
    }


# ---- stage 4: header length, JSON header, body --------------------------
def header(fields, raw=None):
    text = raw if raw is not None else json.dumps(fields, separators=(',', ':')).encode()
    return le32(len(text)) + text


def reply4(body, stdout_size=None, md5=None, **extra):
    fields = {'file_name': 'a.txt', 'total_size': len(body),
              'md5': md5 if md5 is not None else hashlib.md5(body).hexdigest(),
              'stdout_size': len(body) if stdout_size is None else stdout_size,
              'exit_code': 0}
    fields.update(extra)
    return header(fields) + body


def stage4():
    hello = b'hello'
    good = reply4(hello)
    nested = b'[' * 2000 + b']' * 2000
    return {
        'hello': good,
        'two-replies': good + reply4(b'second\n'),
        'stderr-part': reply4(b'out\nerr\n', stdout_size=4),
        'empty-body': reply4(b''),
        'seq-2000': reply4(seq(2000)),
        'document-md5-placeholder': reply4(hello, md5='md5'),
        'document-header': header(None, b'{"file_name": "a.txt", "md5": "md5", "total_size": 5}') + hello,
        'md5-wrong': reply4(hello, md5='0' * 32),
        'md5-upper': reply4(hello, md5=hashlib.md5(hello).hexdigest().upper()),
        'md5-upper-wrong': reply4(hello, md5='ABCDEF' + '0' * 26),
        'stdout-size-too-big': reply4(hello, stdout_size=99),
        'stdout-size-negative': reply4(hello, stdout_size=-1),
        'total-size-missing': header({'md5': 'md5'}) + hello,
        'total-size-string': header({'total_size': '5'}) + hello,
        'total-size-negative': header({'total_size': -5}) + hello,
        'total-size-fraction': header({'total_size': 2.5}) + hello,
        'total-size-1e308': header(None, b'{"total_size":1e308}') + hello,
        'total-size-2e63': header(None, b'{"total_size":9223372036854775808}') + hello,
        'total-size-lies-short': header({'total_size': 50}) + hello,
        'total-size-lies-long': header({'total_size': 2}) + hello,
        'header-len-0': le32(0) + hello,
        'header-len-negative': le32(-7) + hello,
        'header-len-int-max': le32(2**31 - 1) + b'{}',
        'header-len-ascii': b'GET / HTTP/1.1\r\n\r\n',
        'header-len-cut': le32(20)[:3],
        'header-cut': header({'total_size': 5})[:10],
        'body-cut': reply4(b'0123456789')[:-4],
        'header-invalid-json': header(None, b'{"total_size": 5,,}') + hello,
        'header-array': header(None, b'[5]') + hello,
        'header-number': header(None, b'42') + hello,
        'header-string': header(None, b'"total_size"') + hello,
        'header-trailing-garbage': header(None, b'{"total_size":5}xyz') + hello,
        'header-trailing-space': header(None, b'{"total_size":5} \n') + hello,
        'header-two-objects': header(None, b'{"total_size":5}{"total_size":6}') + hello,
        'header-duplicate-key': header(None, b'{"total_size":5,"total_size":6}') + hello,
        'header-nested': header(None, b'{"a":' + nested + b',"total_size":5}') + hello,
        'header-nul': header(None, b'{"total_size":5,"file_name":"a\0b"}') + hello,
        'header-not-utf8': header(None, b'{"total_size":5,"file_name":"\xff\xfe"}') + hello,
        'header-control-char': header(None, b'{"total_size":5,"file_name":"a\x01\x1b[2J"}') + hello,
        'header-escapes': header(None, b'{"total_size":5,"file_name":"\\u0000\\ud800"}') + hello,
        'nothing': b'',
    }


# ---- common/frame.c: stage 4 (LE length, total_size) and stage 5 (BE, size)
def frame(fields, body=b'', stage=4, raw=None):
    text = raw if raw is not None else json.dumps(fields, separators=(',', ':')).encode()
    length = struct.pack('<i' if stage == 4 else '>I', len(text))
    return length + text + body


def frame_seeds():
    # First byte: bit 0 the format (0 stage 4, 1 stage 5), bits 1-7 the cuts.
    seeds = {}
    for stage, opt, size in ((4, b'\x00', 'total_size'), (5, b'\x01', 'size')):
        hello = frame({size: 5, 'op': 'exec'}, b'hello', stage)
        seeds['stage%d-hello' % stage] = opt + hello
        seeds['stage%d-two-frames' % stage] = opt + hello + frame({size: 3}, b'abc', stage)
        seeds['stage%d-empty-body' % stage] = opt + frame({size: 0}, b'', stage) + hello
        seeds['stage%d-cut-mid-length' % stage] = opt + hello[:2]
        seeds['stage%d-cut-mid-header' % stage] = opt + hello[:10]
        seeds['stage%d-cut-mid-body' % stage] = opt + hello[:-2]
        seeds['stage%d-length-0' % stage] = opt + bytes(4)
        seeds['stage%d-length-huge' % stage] = opt + b'\x7f\xff\xff\xff{}'
        seeds['stage%d-length-ascii' % stage] = opt + b'GET / HTTP/1.1\r\n\r\n'
        seeds['stage%d-size-missing' % stage] = opt + frame({'op': 'get'}, b'', stage)
        seeds['stage%d-size-negative' % stage] = opt + frame({size: -1}, b'', stage)
        seeds['stage%d-size-2e53' % stage] = opt + frame(None, b'', stage,
                                                         b'{"%s":9007199254740993}' % size.encode())
        seeds['stage%d-size-1e308' % stage] = opt + frame(None, b'', stage,
                                                          b'{"%s":1e308}' % size.encode())
        seeds['stage%d-duplicate-key' % stage] = opt + frame(None, b'x', stage,
                                                             b'{"%s":1,"%s":2}' % (size.encode(), size.encode()))
        seeds['stage%d-not-object' % stage] = opt + frame(None, b'', stage, b'[1]')
        seeds['stage%d-trailing' % stage] = opt + frame(None, b'', stage, b'{"%s":0} x' % size.encode())
        seeds['stage%d-control-char' % stage] = opt + frame(None, b'', stage,
                                                            b'{"%s":0,"n":"\x01"}' % size.encode())
        seeds['stage%d-not-utf8' % stage] = opt + frame(None, b'', stage,
                                                        b'{"%s":0,"n":"\xed\xa0\x80"}' % size.encode())
        seeds['stage%d-nested' % stage] = opt + frame(None, b'', stage,
                                                      b'{"a":' + b'[' * 3000 + b']' * 3000 + b',"%s":0}' % size.encode())
        seeds['stage%d-escapes' % stage] = opt + frame(None, b'', stage,
                                                       b'{"%s":0,"n":"\\u0000\\ud83d\\ude00"}' % size.encode())
        seeds['stage%d-other-cuts' % stage] = bytes([opt[0] | 0x1e]) + hello + hello
    return seeds


# ---- captures: 88-byte event headers (capture/capture.h), then data -------
MAGIC = 0x3256424e      # "NBV2"
MAGIC_V1 = 0x3156424e   # "NBV1": the first format, an 80-byte header without wire_len
CONNECT, ACCEPT, SEND, RECV, CLOSE = 1, 2, 3, 4, 5
CALL_SEND, CALL_RECV, CALL_RECVFROM, CALL_CONNECT, CALL_ACCEPT, CALL_CLOSE = 1, 6, 7, 11, 12, 14


def addr(port, family=2):
    ip = bytes([127, 0, 0, 1]) + bytes(12) if family == 2 else bytes(15) + b'\1'
    return struct.pack('<HH16s', family, port, ip)


def event(kind, call, role, result, pid, local, peer, data=b'', data_len=None, magic=MAGIC,
          time_ns=1, socktype=1, err=0, wire_len=None):
    head = struct.pack('<IBBBBQqIiiI', magic, kind, call, socktype, role, time_ns, result, pid,
                       3, err, len(data) if data_len is None else data_len) + local + peer
    if magic != MAGIC_V1:
        head += struct.pack('<q', result if wire_len is None else wire_len)
    return head + data


class Session:
    """Both ends of one connection, tapped."""

    def __init__(self, client_port=40000, server_port=8083, family=2):
        self.cl, self.sv = addr(client_port, family), addr(server_port, family)
        self.events = []
        self.t = 1

    def add(self, kind, call, role, result, data=b'', **kw):
        client = role == 1
        self.t += 1000
        self.events.append(event(kind, call, role, result, 1 if client else 2,
                                 self.cl if client else self.sv,
                                 self.sv if client else self.cl, data, time_ns=self.t, **kw))

    def open(self, client_prog=b'stage3_struct_len/client', server_prog=b'stage3_struct_len/server'):
        self.add(CONNECT, CALL_CONNECT, 1, 0, client_prog)
        self.add(ACCEPT, CALL_ACCEPT, 2, 4, server_prog)

    def request(self, text):
        self.add(SEND, CALL_SEND, 1, len(text), text)
        self.add(RECV, CALL_RECV, 2, len(text), text)

    def reply(self, sends, recvs):
        for piece in sends:
            self.add(SEND, CALL_SEND, 2, len(piece), piece)
        for piece in recvs:
            self.add(RECV, CALL_RECV, 1, len(piece), piece)

    def close(self):
        self.add(RECV, CALL_RECV, 2, 0)
        self.add(CLOSE, CALL_CLOSE, 1, 0)
        self.add(CLOSE, CALL_CLOSE, 2, 0)

    def bytes(self):
        return b''.join(self.events)


def stage1_garble():
    s = Session(server_port=8080)
    s.open(b'stage1_naive/client', b'stage1_naive/server')
    s.request(b'seq 1 300')
    body = seq(300)
    s.reply([body], [body[:1024]])
    s.request(b'echo hi')
    s.reply([b'hi\n'], [body[1024:]])
    s.close()
    return s.bytes()


def stage3_len():
    s = Session()
    s.open()
    s.request(b'echo hello')
    s.reply([le32(6), b'hello\n'], [le32(6)[:1], le32(6)[1:], b'hel', b'lo\n'])
    s.request(b'true')
    s.reply([le32(0)], [le32(0)])
    s.close()
    return s.bytes()


def stage4_json():
    s = Session(server_port=8085)
    s.open(b'stage4_json_header/client', b'stage4_json_header/server')
    s.request(b'echo hi')
    r = reply4(b'hi\n')
    s.reply([r[:4], r[4:-3], r[-3:]], [r[:2], r[2:30], r[30:]])
    s.close()
    return s.bytes()


def uncaptured_lengths():
    """Sends whose bytes were not copied (data_len 0): lengths unknown."""
    s = Session()
    s.open()
    s.request(b'seq 1 100000')
    s.add(SEND, CALL_SEND, 2, 4)
    s.add(SEND, CALL_SEND, 2, 588895)
    s.add(RECV, CALL_RECV, 1, 65536)
    s.add(RECV, CALL_RECV, 1, 65536, b'x' * 16)
    s.close()
    return s.bytes()


def huge_claims():
    """A json header claiming a 16 MiB body, and calls claiming INT64_MAX."""
    s = Session(server_port=8085)
    s.open(b'stage4_json_header/client', b'stage4_json_header/server')
    s.request(b'x')
    s.reply([header(None, b'{"total_size":16777216,"stdout_size":1e308,"exit_code":9223372036854775808}')], [])
    s.add(SEND, CALL_SEND, 2, 2**63 - 1, b'a')
    s.add(SEND, CALL_SEND, 2, 2**63 - 1, b'b')
    s.add(RECV, CALL_RECV, 1, 2**63 - 1, b'a')
    s.close()
    return s.bytes()


def ipv6_and_udp():
    s = Session(family=10)
    s.open()
    s.add(SEND, CALL_SEND, 1, 5, b'hello', socktype=2)
    s.add(RECV, CALL_RECV, 2, 10, b'hello', socktype=2)
    s.add(SEND, CALL_SEND, 1, -1, err=32)
    return s.bytes()


def udp_cut():
    """A 2000-byte datagram into a 5-byte buffer, and a TCP recv(MSG_TRUNC)."""
    s = Session()
    s.add(RECV, CALL_RECVFROM, 2, 5, b'hello', socktype=2, wire_len=2000)
    s.add(RECV, CALL_RECVFROM, 2, 5, b'hello', socktype=2, wire_len=-1)
    s.add(RECV, CALL_RECV, 1, 0, wire_len=7)
    return s.bytes()


def first_format():
    """NBV1 events (80-byte headers), alone and mixed with NBV2 ones."""
    s = Session()
    s.open()
    s.add(SEND, CALL_SEND, 1, 5, b'hello', magic=MAGIC_V1)
    s.add(RECV, CALL_RECV, 2, 5, b'hello', magic=MAGIC_V1)
    s.add(SEND, CALL_SEND, 2, 3, b'hi\n')
    s.add(RECV, CALL_RECV, 1, 3, b'hi\n', magic=MAGIC_V1)
    return s.bytes()


def frame5(fields, body=b''):
    return frame(dict(fields, size=len(body)), body, stage=5)


def stage5_ft():
    """Stage 5: frames both ways. An exec whose request is cut in pieces and
    read as header length, header, body; a reply of several frames (output,
    output, exit); a get with a file body; then a request with a header
    length past 65536 and a reply whose size is not an integer."""
    s = Session(server_port=8086)
    s.open(b'stage5_file_transfer/client', b'stage5_file_transfer/server --root r')
    req = frame5({'op': 'exec'}, b'echo hi')
    s.add(SEND, CALL_SEND, 1, 3, req[:3])
    s.add(SEND, CALL_SEND, 1, len(req) - 3, req[3:])
    for a, b in ((0, 4), (4, len(req) - 7), (len(req) - 7, len(req))):
        s.add(RECV, CALL_RECV, 2, b - a, req[a:b])
    out = frame5({'op': 'output', 'stream': 'stdout'}, b'hi\n')
    err = frame5({'op': 'output', 'stream': 'stderr'}, b'\x1b[31m\n')
    done = frame5({'op': 'exit', 'exit_code': 0, 'signal': None, 'timed_out': False,
                   'sha256': '98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4'})
    s.reply([out, err, done], [out + err[:5], err[5:] + done])
    get = frame5({'op': 'get', 'name': 'a\x1b]0;x\x07.txt'})
    s.request(get)
    body = seq(200)
    s.reply([frame5({'op': 'file', 'name': 'a.txt', 'file_size': len(body), 'offset': 0}, body),
             frame5({'op': 'end', 'sha256': 'ab' * 32})], [])
    s.request(b'\x00\x01\x00\x01{"op":"list","size":0}')
    s.reply([frame(None, b'', 5, b'{"op":"list","size":1e308}')], [])
    s.close()
    return s.bytes()


def captures():
    return {
        'stage5-ft': stage5_ft(),
        'stage1-garble': stage1_garble(),
        'stage3-len': stage3_len(),
        'stage4-json': stage4_json(),
        'uncaptured-lengths': uncaptured_lengths(),
        'huge-claims': huge_claims(),
        'ipv6-udp-error': ipv6_and_udp(),
        'udp-cut': udp_cut(),
        'first-format': first_format(),
    }


def capture_seeds():
    caps = captures()
    one = caps['stage3-len']
    seeds = dict(caps)
    seeds['nothing'] = b''
    seeds['torn-event'] = one[:-7]
    seeds['torn-header'] = one[:88 + 40]
    seeds['torn-v1-header'] = caps['first-format'][-83:-10]
    second = 88 + len(b'stage3_struct_len/client')
    seeds['bad-magic'] = one[:second] + b'NOPE' + one[second + 4:]
    seeds['data-len-too-big'] = event(SEND, CALL_SEND, 1, 5, 1, addr(1), addr(2), b'hello',
                                      data_len=65537)
    seeds['data-len-max'] = event(SEND, CALL_SEND, 1, 65536, 1, addr(1), addr(2), b'x' * 65536)
    seeds['text-file'] = b'this is not a capture\n' * 5
    return seeds


def decode_seeds():
    # First byte: bits 0-1 framing (guess raw len json), bit 2 verbose, bit 3 ft,
    # bits 4-7 window (0 default, N: 128 << N bytes).
    seeds = {}
    for name, cap in captures().items():
        seeds[name] = b'\x00' + cap
    seeds['stage3-len-forced-json'] = b'\x03' + captures()['stage3-len']
    seeds['stage4-json-forced-len-verbose'] = b'\x06' + captures()['stage4-json']
    seeds['stage4-json-forced-ft'] = b'\x08' + captures()['stage4-json']
    seeds['stage5-ft-forced-verbose'] = b'\x0c' + captures()['stage5-ft']
    seeds['stage5-ft-window-256'] = b'\x18' + captures()['stage5-ft']
    seeds['stage1-garble-window-256'] = b'\x11' + captures()['stage1-garble']
    seeds['stage3-len-window-256'] = b'\x12' + captures()['stage3-len']
    seeds['nothing'] = b'\x00'
    return seeds


# ---- stage 5: big-endian header length, JSON header with op and size ----
def f5(fields, body=b'', raw=None):
    """One stage 5 frame; "size" is the body's length unless FIELDS says."""
    if raw is None:
        fields = dict(fields)
        fields.setdefault('size', len(body))
        raw = json.dumps(fields, separators=(',', ':')).encode()
    return struct.pack('>I', len(raw)) + raw + body


def sha(data):
    return hashlib.sha256(data).hexdigest()


def put5(name, data, **extra):
    fields = {'op': 'put', 'name': name, 'file_size': len(data)}
    fields.update(extra)
    return f5(fields) + f5({'op': 'data'}, data) + f5({'op': 'end', 'sha256': sha(data)})


def server5_requests():
    """Request streams: what a client (or anyone) sends a stage 5 server."""
    get = f5({'op': 'get', 'name': 'a.txt'})
    listing = f5({'op': 'list'})
    return {
        'get': get,
        'get-sub': f5({'op': 'get', 'name': 'sub/b.txt'}),
        'get-inside-link': f5({'op': 'get', 'name': 'sub/up'}),
        'get-resume': f5({'op': 'get', 'name': 'a.txt', 'offset': 3,
                          'prefix_sha256': sha(b'hel')}),
        'get-resume-changed': f5({'op': 'get', 'name': 'a.txt', 'offset': 3,
                                  'prefix_sha256': sha(b'xyz')}),
        'get-missing': f5({'op': 'get', 'name': 'nope'}),
        'get-dir': f5({'op': 'get', 'name': 'sub'}),
        'get-dotdot': f5({'op': 'get', 'name': '../outside/secret'}),
        'get-absolute': f5({'op': 'get', 'name': '/etc/passwd'}),
        'get-through-link-out': f5({'op': 'get', 'name': 'out/secret'}),
        'get-nul-name': f5(None, raw=b'{"op":"get","name":"a\\u0000b","size":0}'),
        'get-control-name': f5({'op': 'get', 'name': 'a\x1b[2Jb'}),
        'get-not-utf8-name': f5(None, raw=b'{"op":"get","name":"a\xff","size":0}'),
        'get-empty-name': f5({'op': 'get', 'name': ''}),
        'stat': f5({'op': 'stat', 'name': 'a.txt'}),
        'list': listing,
        'list-dir': f5({'op': 'list', 'name': 'sub'}) + listing,
        'list-dir-dotdot': f5({'op': 'list', 'name': '..'}) + listing,
        'list-dir-file': f5({'op': 'list', 'name': 'a.txt'}) + listing,
        'list-dir-missing': f5({'op': 'list', 'name': 'nodir/deeper'}) + listing,
        'put': put5('new.txt', b'new bytes\n') + get + f5({'op': 'get', 'name': 'new.txt'}),
        'put-empty': put5('empty', b''),
        'put-sub': put5('sub/c.txt', b'c'),
        'put-overwrite': put5('a.txt', b'over', overwrite=True),
        'put-exists': put5('a.txt', b'over'),
        'put-dotdot': put5('../outside/evil', b'evil') + listing,
        'put-through-link-out': put5('out/evil', b'evil') + listing,
        'put-bad-digest': f5({'op': 'put', 'name': 'x', 'file_size': 2}) +
                          f5({'op': 'data'}, b'xy') + f5({'op': 'end', 'sha256': '0' * 64}) +
                          listing,
        'put-data-wrong-size': f5({'op': 'put', 'name': 'x', 'file_size': 5}) +
                               f5({'op': 'data'}, b'xy'),
        'put-no-data': f5({'op': 'put', 'name': 'x', 'file_size': 2}) + listing,
        'put-too-large': f5({'op': 'put', 'name': 'x', 'file_size': 1 << 40}),
        'put-cut-in-data': f5({'op': 'put', 'name': 'x', 'file_size': 8}) +
                           f5({'op': 'data'}, b'12345678')[:-3],
        'put-bad-frame-in-upload': f5({'op': 'put', 'name': 'x', 'file_size': 2}) +
                                   struct.pack('>I', 4) + b'{{{{',
        'exec': f5({'op': 'exec'}, b'echo hi') + get,
        'exec-empty': f5({'op': 'exec'}) + get,
        'unknown-op': f5({'op': 'getattr'}) + get,
        'unknown-field': f5({'op': 'get', 'name': 'a.txt', 'mode': 'x'}) + get,
        'no-op': f5({}) + get,
        'op-not-string': f5({'op': 5}) + get,
        'list-with-body': f5({'op': 'list'}, b'abc') + get,
        'data-outside-put': f5({'op': 'data'}, b'abc') + get,
        'offset-negative': f5({'op': 'get', 'name': 'a.txt', 'offset': -1}) + get,
        'offset-past-end': f5({'op': 'get', 'name': 'a.txt', 'offset': 99,
                               'prefix_sha256': sha(b'')}) + get,
        'two-at-once': get + listing + f5({'op': 'stat', 'name': 'nope'}),
        'body-then-header': f5({'op': 'unknown'}, b'\x00\x00\x00\x05{"op"') + get,
        'length-cut': get[:2],
        'header-cut': get[:10],
        'length-0': bytes(4) + get,
        'length-huge': b'\x7f\xff\xff\xff{}',
        'length-negative': b'\xff\xff\xff\xff{}',
        'size-negative': f5({'op': 'exec', 'size': -1}),
        'size-huge': f5({'op': 'exec', 'size': 2 ** 53 - 1}) + b'x',
        'size-fraction': f5(None, raw=b'{"op":"list","size":0.5}'),
        'invalid-json': f5(None, raw=b'{"op":"list",}'),
        'nested-json': f5(None, raw=b'{"op":"list","size":0,"x":' + b'[' * 2000 + b']' * 2000 + b'}'),
        'duplicate-key': f5(None, raw=b'{"op":"list","op":"get","size":0}'),
        'http-request': b'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
        'nothing': b'',
    }


def server5_seeds():
    # First byte: bit 0 the server (0 stage 5's server.c, 1 stage 6's
    # ftconn), bit 1 the fallback for names (no openat2).
    seeds = {}
    for name, stream in server5_requests().items():
        seeds['stage5-' + name] = b'\x00' + stream
        seeds['ftconn-' + name] = b'\x01' + stream
    for name in ('get-inside-link', 'get-through-link-out', 'put-through-link-out', 'put-sub'):
        seeds['stage5-fallback-' + name] = b'\x02' + server5_requests()[name]
        seeds['ftconn-fallback-' + name] = b'\x03' + server5_requests()[name]
    return seeds


def client5_seeds():
    # First byte: what the client asked (0 exec, 1 get, 2 get to stdout,
    # 3 ls, 4 stat, 5 put, 6 get --resume 3 bytes in).
    hello = b'hello\n'
    out = f5({'op': 'output', 'stream': 'stdout'}, b'hi\n')
    err = f5({'op': 'output', 'stream': 'stderr'}, b'oops\n')

    def exit5(parts, code=0, **extra):
        fields = {'op': 'exit', 'exit_code': code, 'signal': 0, 'timed_out': False,
                  'truncated': False,
                  'stdout_size': sum(len(b) for s, b in parts if s == 1),
                  'stderr_size': sum(len(b) for s, b in parts if s == 2),
                  'sha256': sha(b''.join(b for s, b in parts))}
        fields.update(extra)
        return f5(fields)

    def file5(data, offset=0, name='a.txt', whole=None):
        whole = whole if whole is not None else data
        return (f5({'op': 'file', 'name': name, 'file_size': len(whole), 'offset': offset}, data) +
                f5({'op': 'end', 'sha256': sha(whole)}))

    def error5(code, message):
        return f5({'op': 'error', 'code': code, 'message': message})

    good_exit = exit5([(1, b'hi\n'), (2, b'oops\n')])
    nothing_kept = f5({'op': 'stat', 'name': 'a.txt', 'exists': False, 'partial_size': 0})
    seeds = {
        'exec': b'\x00' + out + err + good_exit,
        'exec-no-output': b'\x00' + exit5([]),
        'exec-failed': b'\x00' + out + exit5([(1, b'hi\n')], code=3),
        'exec-null-exit': b'\x00' + exit5([], code=None, signal=9),
        'exec-wrong-digest': b'\x00' + out + exit5([(1, b'hi\n')], sha256='0' * 64),
        'exec-wrong-size': b'\x00' + out + exit5([(1, b'hi\n')], stdout_size=4),
        'exec-cut-in-output': b'\x00' + out[:-1],
        'exec-no-exit': b'\x00' + out,
        'exec-error': b'\x00' + error5('too_large', 'no'),
        'exec-file-in-output': b'\x00' + out + file5(hello),
        'exec-stream-bad': b'\x00' + f5({'op': 'output', 'stream': 'stdin'}, b'x'),
        'exec-escape-codes': b'\x00' + f5({'op': 'output', 'stream': 'stdout'}, b'\x1b[2J') +
                             exit5([(1, b'\x1b[2J')]),
        'get': b'\x01' + file5(hello),
        'get-empty': b'\x01' + file5(b''),
        'get-wrong-digest': b'\x01' + f5({'op': 'file', 'name': 'a.txt', 'file_size': 6,
                                          'offset': 0}, hello) + f5({'op': 'end', 'sha256': sha(b'x')}),
        'get-cut-in-body': b'\x01' + file5(hello)[:20],
        'get-other-name': b'\x01' + file5(hello, name='b.txt'),
        'get-dotdot-name': b'\x01' + file5(hello, name='../a.txt'),
        'get-size-mismatch': b'\x01' + f5({'op': 'file', 'name': 'a.txt', 'file_size': 9,
                                           'offset': 0}, hello) + f5({'op': 'end', 'sha256': sha(hello)}),
        'get-error': b'\x01' + error5('not_found', 'no such file: "a.txt"'),
        'get-error-escapes': b'\x01' + error5('not_found', 'a\x1b[2Jb'),
        'get-error-with-body': b'\x01' + f5({'op': 'error', 'code': 'io', 'message': 'x'}, b'abc'),
        'get-no-end': b'\x01' + f5({'op': 'file', 'name': 'a.txt', 'file_size': 6, 'offset': 0},
                                   hello),
        'get-two-ends': b'\x01' + file5(hello) + f5({'op': 'end', 'sha256': sha(hello)}),
        'get-huge-length': b'\x01' + b'\x7f\xff\xff\xff',
        'get-nested': b'\x01' + f5(None, raw=b'{"op":"file","x":' + b'[' * 3000 + b']' * 3000 + b'}'),
        'get-stdout': b'\x02' + file5(hello),
        'get-stdout-wrong-digest': b'\x02' + f5({'op': 'file', 'name': 'a.txt', 'file_size': 6,
                                                 'offset': 0}, hello) + f5({'op': 'end', 'sha256': sha(b'')}),
        'ls': b'\x03' + f5({'op': 'list', 'count': 2, 'skipped': 0, 'truncated': False},
                           b'[{"name":"a.txt","size":6},{"name":"b\\u001b","size":1}]'),
        'ls-not-array': b'\x03' + f5({'op': 'list', 'count': 0, 'skipped': 0, 'truncated': False},
                                     b'{"a":1}'),
        'ls-bad-entry': b'\x03' + f5({'op': 'list', 'count': 1, 'skipped': 0, 'truncated': False},
                                     b'[{"name":1}]'),
        'ls-skipped': b'\x03' + f5({'op': 'list', 'count': 0, 'skipped': 2, 'truncated': True},
                                   b'[]'),
        'stat': b'\x04' + f5({'op': 'stat', 'name': 'a.txt', 'exists': True, 'file_size': 6,
                              'partial_size': 0}),
        'stat-missing': b'\x04' + f5({'op': 'stat', 'name': 'a.txt', 'exists': False,
                                      'partial_size': 3}),
        'stat-bad': b'\x04' + f5({'op': 'stat', 'name': 'a.txt', 'exists': 'yes'}),
        # a put asks stat first: an interrupted upload is not thrown away unasked
        'put': b'\x05' + nothing_kept + f5({'op': 'ready', 'offset': 0}) +
               f5({'op': 'done', 'name': 'a.txt', 'file_size': 6, 'sha256': sha(hello)}),
        'put-exists': b'\x05' + nothing_kept + error5('exists', 'a.txt exists'),
        'put-ready-offset': b'\x05' + nothing_kept + f5({'op': 'ready', 'offset': 3}),
        'put-done-wrong': b'\x05' + nothing_kept + f5({'op': 'ready', 'offset': 0}) +
                          f5({'op': 'done', 'name': 'a.txt', 'file_size': 6, 'sha256': sha(b'')}),
        'put-closed-after-ready': b'\x05' + nothing_kept + f5({'op': 'ready', 'offset': 0}),
        'put-partial-kept': b'\x05' + f5({'op': 'stat', 'name': 'a.txt', 'exists': False,
                                          'partial_size': 3}),
        'put-stat-error': b'\x05' + error5('bad_name', 'no'),
        'resume': b'\x06' + file5(b'lo\n', offset=3, whole=hello),
        'resume-from-0': b'\x06' + file5(hello),
        'resume-changed': b'\x06' + error5('changed', 'the part differs'),
        'nothing': b'\x00',
        'http-reply': b'\x01HTTP/1.1 200 OK\r\n\r\n',
    }
    return seeds


def main():
    write('stage3_client', stage3())
    write('stage4_client', stage4())
    write('frame', frame_seeds())
    write('capture', capture_seeds())
    write('decode', decode_seeds())
    write('stage5_server', server5_seeds())
    write('stage5_client', client5_seeds())
    return 0


if __name__ == '__main__':
    sys.exit(main())
