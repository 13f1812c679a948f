"""The API helper ExaBGP runs: relays its stdin/stdout to the speaker's Unix socket.

ExaBGP talks to API processes it starts itself over their stdin/stdout; the speaker is
ExaBGP's parent, not its child, so this relay joins the two. Standard library only, run with
`python -I`. It exits when either side closes, and ExaBGP (exabgp.api.terminate=true) then
exits too: a speaker that dies never leaves ExaBGP announcing its routes.
"""

import os
import socket
import sys
import threading


def _to_speaker(connection: socket.socket) -> None:
    while data := os.read(0, 65536):
        connection.sendall(data)
    os._exit(0)


def main() -> None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(sys.argv[1])
    threading.Thread(target=_to_speaker, args=(connection,), daemon=True).start()
    while data := connection.recv(65536):
        view = memoryview(data)
        while view:
            view = view[os.write(1, view) :]
    os._exit(0)


if __name__ == "__main__":
    main()
