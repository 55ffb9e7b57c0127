"""notify_listener.py SOCKET OUT TIMEOUT_S: stands in for systemd's side of
sd_notify. Binds a unix datagram socket at SOCKET (what NOTIFY_SOCKET names),
writes each message it receives to OUT as one line (the message's newlines
become spaces), and exits after a message with STOPPING=1, or writes
TIMEOUT and exits 1 when TIMEOUT_S pass without a message."""
import socket
import sys


def main():
    path, out, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(timeout)
    with open(out, "a", buffering=1, encoding="utf-8") as lines:
        while True:
            try:
                message = sock.recv(65536).decode("utf-8", "replace")
            except socket.timeout:
                lines.write("TIMEOUT\n")
                return 1
            lines.write(message.replace("\n", " ") + "\n")
            if "STOPPING=1" in message.split("\n"):
                return 0


if __name__ == "__main__":
    sys.exit(main())
