#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Numbered lines through a serial tty, none lost, none doubled.

    acm_lines.py send TTY N [TAG]    writes "TAG 000001\\n" .. "TAG N\\n", one
                                     line every 5 ms
    acm_lines.py recv TTY N [TAG]    reads until line N of TAG came (180 s at
                                     most) and checks they came 1..N, each
                                     once, in order

TTY is put in raw mode without echo.  recv prints "acm_lines: N lines in
order" and exits 0, or a sentence naming the first line missing, doubled or
out of order and exits 1.
"""
import os
import sys
import termios
import time
import tty

LINE = "%s %06d\n"


def open_raw(path):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    # TCSANOW: the default TCSAFLUSH would drop the lines that the other
    # side's sender already put in this tty's input
    tty.setraw(fd, termios.TCSANOW)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def send(path, n, tag):
    fd = open_raw(path)
    for i in range(1, n + 1):
        data = (LINE % (tag, i)).encode()
        while data:
            data = data[os.write(fd, data):]
        time.sleep(0.005)	# pacing, so that the stream spans the cuts
    termios.tcdrain(fd)
    os.close(fd)


def recv(path, n, tag):
    fd = open_raw(path)
    os.set_blocking(fd, False)
    buf = b""
    want = 1
    end = time.monotonic() + 180
    while want <= n:
        if time.monotonic() > end:
            sys.exit(f"acm_lines: {path}: timed out at line {want} of {n}")
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            expect = (LINE % (tag, want)).rstrip("\n").encode()
            if line != expect:
                sys.exit(f"acm_lines: {path}: got {line!r}, want {expect!r} "
                         "(a line lost, doubled or out of order)")
            want += 1
    if buf:
        sys.exit(f"acm_lines: {path}: {buf!r} after line {n}")
    print(f"acm_lines: {n} lines in order on {path}")


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("send", "recv"):
        sys.exit(__doc__)
    tag = sys.argv[4] if len(sys.argv) > 4 else "line"
    (send if sys.argv[1] == "send" else recv)(sys.argv[2], int(sys.argv[3]), tag)


if __name__ == "__main__":
    main()
