"""Opens N concurrent TCP connections to an echo server; each sends its own
bytes and checks every byte that comes back. Exit status 0 only if all do."""
import asyncio
import hashlib
import sys

HOST, PORT, N, SIZE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


async def one(i):
    data = hashlib.shake_256(f"conn-{i}".encode()).digest(SIZE)
    reader, writer = await asyncio.open_connection(HOST, PORT)
    async def send():
        writer.write(data)
        await writer.drain()
        writer.write_eof()
    sender = asyncio.create_task(send())
    got = await reader.read(-1)
    await sender
    writer.close()
    return got == data


async def main():
    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(N))), timeout=120)
    ok = sum(results)
    print(f"{ok} of {N} connections echoed {SIZE} bytes intact")
    return ok == N


sys.exit(0 if asyncio.run(main()) else 1)
