"""Sends four datagrams' worth to a UDP echo server in one send with
UDP_SEGMENT (the kernel builds one packed run for the device) and checks
that the four come back, each whole and in order. Prints what it got."""
import socket
import sys

SOL_UDP, UDP_SEGMENT = 17, 103  # linux/udp.h
HOST, PORT = sys.argv[1], int(sys.argv[2])
SIZE, COUNT = 1000, 4

data = bytes((i * 7 + 3) % 251 for i in range(SIZE * COUNT))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(SOL_UDP, UDP_SEGMENT, SIZE)
s.settimeout(3)
s.sendto(data, (HOST, PORT))
got = []
try:
    while len(got) < COUNT:
        got.append(s.recv(65535))
except socket.timeout:
    pass
pieces = [data[i * SIZE:(i + 1) * SIZE] for i in range(COUNT)]
if got == pieces:
    print(f"{COUNT} datagrams of {SIZE}, in order")
else:
    print(f"got {len(got)} datagrams of sizes {[len(g) for g in got]}")
