#!/usr/bin/env python3
"""A real SMTP server for Gatehouse's tests (aiosmtpd; Debian: python3-aiosmtpd).

Listens on 127.0.0.1 on a free port and prints `PORT <n>` once it accepts connections. Every message is
stored as one file in the Maildir `--maildir` (tmp/ then renamed into new/), with `X-Sink-Mail-From`,
`X-Sink-Rcpt-To` and, after AUTH, `X-Sink-Auth-User` headers in front. Prints `STORED <file>` after each.

Switches the test flips while the sink runs (files in `--control`):
  hold    while it exists, MAIL FROM is not answered (prints `HELD` once per held transaction), so a
          client can be killed mid-send without anything being stored;
  refuse  while it exists, MAIL FROM is answered `451 4.3.0 try again later` (prints `REFUSED`).

With `--user/--password` AUTH (PLAIN, LOGIN) is required, also without TLS (loopback only).
Exits when its stdin closes (the test process ended) or after `--max-seconds`.
"""
import argparse
import asyncio
import itertools
import logging
import os
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# AUTH without TLS is deliberate here (loopback only): keep aiosmtpd's warnings about it out of test output.
warnings.simplefilter("ignore")
logging.getLogger("mail.log").setLevel(logging.ERROR)

ap = argparse.ArgumentParser()
ap.add_argument("--maildir", required=True)
ap.add_argument("--control", required=True)
ap.add_argument("--user")
ap.add_argument("--password")
ap.add_argument("--max-seconds", type=float, default=1800)
args = ap.parse_args()

for sub in ("tmp", "new", "cur"):
    os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
counter = itertools.count(1)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def switch(name):
    return os.path.exists(os.path.join(args.control, name))


class Sink:
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if switch("refuse"):
            say("REFUSED")
            return "451 4.3.0 try again later"
        if switch("hold"):
            say("HELD")
            while switch("hold"):
                await asyncio.sleep(0.02)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        extra = [
            f"X-Sink-Mail-From: {envelope.mail_from}",
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}",
        ]
        if session.auth_data is not None:
            login = session.auth_data.login
            extra.append(f"X-Sink-Auth-User: {login.decode() if isinstance(login, bytes) else login}")
        content = ("\r\n".join(extra) + "\r\n").encode() + envelope.original_content
        name = f"{next(counter):06d}.{os.getpid()}.sink"
        tmp = os.path.join(args.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(args.maildir, "new", name))
        say(f"STORED {name}")
        return "250 2.0.0 stored"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == args.user
        and auth_data.password.decode() == args.password
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


async def main():
    loop = asyncio.get_running_loop()
    kw = {"hostname": "sink.test"}
    if args.user:
        kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    handler = Sink()
    server = await loop.create_server(lambda: SMTP(handler, **kw), "127.0.0.1", 0)
    say(f"PORT {server.sockets[0].getsockname()[1]}")
    stdin_closed = loop.run_in_executor(None, sys.stdin.buffer.read)
    try:
        await asyncio.wait_for(stdin_closed, timeout=args.max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()
    os._exit(0)


asyncio.run(main())
