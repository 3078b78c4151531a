"""An SMTP server for the notification tests (aiosmtpd, Debian's python3-aiosmtpd).

    smtp_receiver.py PORT FOLDER [--delay-first SECONDS] [--tls CERT KEY] [--auth USER:PASSWORD]
                                 [--reject CODE]

PORT 0 takes a free port (--fd N listens on an inherited socket the test bound: a port
reserved before the server starts); the port listened on is printed as "listening on 127.0.0.1:PORT" (the
socket is bound before that line, so a test that reads it never races another test for the port).
Every delivery is written to FOLDER/deliveries/<n>.eml. FOLDER/mailbox/ keeps one file per
Message-ID, as a mail store that deduplicates does: a resend with the same Message-ID is a
second delivery but not a second mail. --delay-first holds the reply to the first message's
DATA for SECONDS after storing it (FOLDER/window-open appears then): the sender's crash window
between "the receiver has it" and "the sender knows it". --tls requires STARTTLS before MAIL;
--auth requires AUTH PLAIN/LOGIN with those credentials (over TLS); --reject answers every DATA
with CODE (e.g. 550) after storing nothing.
"""
import argparse
import asyncio
import email
import os
import signal
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_whole(path, data):
    """Writes a file under a temporary name and renames it into place: a test that lists the folder
    never reads a mail half written (it once read an empty delivery)."""
    partial = path + ".partial"
    with open(partial, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


class Handler:
    def __init__(self, folder, delay_first, reject):
        self.folder = folder
        self.delay_first = delay_first
        self.reject = reject
        self.count = 0
        os.makedirs(os.path.join(folder, "deliveries"), exist_ok=True)
        os.makedirs(os.path.join(folder, "mailbox"), exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        if self.reject:
            return f"{self.reject} rejected by the test server"
        self.count += 1
        raw = envelope.original_content or envelope.content
        write_whole(os.path.join(self.folder, "deliveries", f"{self.count}.eml"), raw)
        message_id = email.message_from_bytes(raw).get("Message-ID", f"none-{self.count}")
        name = "".join(c if c.isalnum() or c in "-._@" else "_" for c in message_id)
        path = os.path.join(self.folder, "mailbox", name + ".eml")
        if not os.path.exists(path):
            write_whole(path, raw)
        if self.count == 1 and self.delay_first > 0:
            open(os.path.join(self.folder, "window-open"), "w").close()
            await asyncio.sleep(self.delay_first)
        return "250 OK"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("folder")
    parser.add_argument("--delay-first", type=float, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth")
    parser.add_argument("--reject")
    parser.add_argument("--fd", type=int, help="listen on this inherited, bound socket instead of PORT")
    arguments = parser.parse_args()
    options = {}
    if arguments.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*arguments.tls)
        options.update(tls_context=context, require_starttls=True)
    if arguments.auth:
        user, password = arguments.auth.split(":", 1)

        def authenticate(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
            return AuthResult(success=ok, handled=False)

        # PLAIN only: after a refused AUTH PLAIN libcurl would go on to try LOGIN, whose challenge
        # aiosmtpd answers in a way libcurl waits on until its timeout.
        options.update(
            authenticator=authenticate, auth_required=True, auth_require_tls=bool(arguments.tls),
            auth_exclude_mechanism=["LOGIN"])
    handler = Handler(arguments.folder, arguments.delay_first, arguments.reject)
    if arguments.fd is not None:
        listener = socket.socket(fileno=arguments.fd)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", arguments.port))
    listener.listen(64)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, hostname="127.0.0.1", **options), sock=listener))
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.run_forever()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
