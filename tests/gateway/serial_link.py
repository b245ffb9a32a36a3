"""A null-modem cable in software: two pseudo-terminals whose bytes are relayed both ways.

RTU devices and the gateway each open a real serial device path (pyserial on a pty, with
termios, as on /dev/ttyUSB0); a thread copies what one side writes to the other. No socat
needed, nothing to install.
"""

from __future__ import annotations

import os
import select
import threading
import tty


class SerialLink:
    """``device_port`` for the simulated devices, ``gateway_port`` for the gateway.

    ``absent_units``: requests to these unit ids never reach the devices, as if the unit
    were unplugged from the bus (a request is written in one piece, so it is read in one).
    """

    def __init__(self, absent_units: frozenset[int] = frozenset()) -> None:
        self.absent_units = absent_units
        self._a_master, a_slave = os.openpty()
        self._b_master, b_slave = os.openpty()
        for fd in (a_slave, b_slave):
            tty.setraw(fd)
        self.device_port = os.ttyname(a_slave)
        self.gateway_port = os.ttyname(b_slave)
        self._slaves = (a_slave, b_slave)  # kept open so the ptys survive reopening
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, name="serial-link", daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        peer = {self._a_master: self._b_master, self._b_master: self._a_master}
        while True:
            ready, _, _ = select.select([*peer, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the far side closed and reopens: nothing to relay
                    continue
                if fd == self._b_master and data and data[0] in self.absent_units:
                    continue
                os.write(peer[fd], data)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._a_master, self._b_master, *self._slaves, self._stop_r, self._stop_w):
            os.close(fd)
