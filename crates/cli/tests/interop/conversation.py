"""The kernel's end of a conversation with sockstack: one TCP connection,
driven by commands on stdin, one answer line per command on stdout.

What each end sends is a known pattern (per direction, by stream offset),
so this end checks every byte it receives, wherever the reads cut it.

Commands (answers in brackets):
  listen PORT RCVBUF        bind 192.0.2.1:PORT and listen     [ok]
  accept                    take the connection (40 s at most) [ok | err NAME]
  connect IP PORT RCVBUF    connect                            [ok | err NAME]
  send N                    send up to N octets, waiting at most 50 ms
                            for room                            [sent K | err NAME]
  recv                      read what is there, waiting at most 50 ms
                            [recv K | eof | err NAME | corrupt OFFSET]
  shutdown                  shutdown(SHUT_WR)                   [ok | err NAME]
  drain                     read to the end (60 s at most)      [drained TOTAL | err NAME | corrupt OFFSET]
  close                     close                               [ok]
  abort                     close with SO_LINGER 0 (a RST)      [ok]
  await_reset               read (checking) until the connection is
                            CLOSED, as a RST leaves it, 10 s at most
                                                                [closed | corrupt OFFSET | err state S]
RCVBUF 0 keeps the kernel's default receive buffer.
"""
import errno
import select
import socket
import struct
import sys
import time

PERIOD = 256 * 257
TO_SOCKSTACK, TO_KERNEL = 0, 1
TCP_CLOSE = 7  # tcpi_state (include/net/tcp_states.h)


def cycle(direction):
    # The pattern the Rust side writes and checks too: byte at stream
    # offset i is (31 i + i div 257 + 101 direction) mod 256.
    return bytes((i * 31 + i // 257 + direction * 101) & 0xFF for i in range(PERIOD))


OUT = cycle(TO_SOCKSTACK) * 6
IN = cycle(TO_KERNEL) * 6
MAX_SEND = len(OUT) - PERIOD


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__


class Peer:
    def __init__(self):
        self.listener = None
        self.sock = None
        self.sent = 0
        self.received = 0

    def new_socket(self, rcvbuf):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        return s

    def take(self, data):
        """Checks received octets against the pattern; the offset of the
        first wrong one, or None."""
        at = self.received % PERIOD
        expected = IN[at:at + len(data)]
        if data != expected:
            wrong = next(i for i in range(len(data)) if data[i] != expected[i])
            return self.received + wrong
        self.received += len(data)
        return None

    def read_once(self, timeout):
        """One read: the answer for `recv`, and whether the stream ended."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return "recv 0", False
        except OSError as e:
            return f"err {name(e)}", True
        if not data:
            return "eof", True
        wrong = self.take(data)
        if wrong is not None:
            return f"corrupt {wrong}", True
        return f"recv {len(data)}", False

    def run(self, words):
        cmd = words[0]
        if cmd == "listen":
            self.listener = self.new_socket(int(words[2]))
            self.listener.bind(("192.0.2.1", int(words[1])))
            self.listener.listen(1)
            return "ok"
        if cmd == "accept":
            # The SYN-ACK is sent again at 1, 3, 7, 15 and 31 s while the
            # handshake's last ACK is being lost.
            self.listener.settimeout(40)
            try:
                self.sock, _ = self.listener.accept()
            except OSError as e:
                return f"err {name(e)}"
            self.listener.close()
            return "ok"
        if cmd == "connect":
            self.sock = self.new_socket(int(words[3]))
            self.sock.settimeout(10)
            try:
                self.sock.connect((words[1], int(words[2])))
            except OSError as e:
                return f"err {name(e)}"
            return "ok"
        if cmd == "send":
            n = min(int(words[1]), MAX_SEND)
            _, writable, _ = select.select([], [self.sock], [], 0.05)
            if not writable:
                return "sent 0"
            at = self.sent % PERIOD
            try:
                k = self.sock.send(OUT[at:at + n], socket.MSG_DONTWAIT)
            except BlockingIOError:
                k = 0
            except OSError as e:
                return f"err {name(e)}"
            self.sent += k
            return f"sent {k}"
        if cmd == "recv":
            return self.read_once(0.05)[0]
        if cmd == "shutdown":
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                return f"err {name(e)}"
            return "ok"
        if cmd == "drain":
            while True:
                answer, ended = self.read_once(60)
                if answer == "eof":
                    return f"drained {self.received}"
                if ended or answer == "recv 0":
                    return answer if ended else "err timeout"
        if cmd == "close":
            self.sock.close()
            return "ok"
        if cmd == "abort":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
            return "ok"
        if cmd == "await_reset":
            # A RST is the only way into CLOSED that skips TIME-WAIT,
            # LAST-ACK and CLOSE-WAIT here. Reads may not tell (after a FIN
            # they say end of stream), so the state decides.
            deadline = time.time() + 10
            state = None
            while time.time() < deadline:
                state = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
                if state == TCP_CLOSE:
                    return "closed"
                answer, ended = self.read_once(0.05)
                if answer.startswith("corrupt"):
                    return answer
                if ended:
                    time.sleep(0.01)
            return f"err state {state}"
        return f"err unknown command {cmd}"


def main():
    peer = Peer()
    for line in sys.stdin:
        words = line.split()
        if words:
            print(peer.run(words), flush=True)


main()
