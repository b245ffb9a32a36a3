"""Modbus links the gateway does not dial with a stock pymodbus client.

``dtu``: a 4G/GPRS DTU dials in to a listener, says who it is with its registration
packet, and is then polled over that socket with RTU framing (``DtuListener``,
``DtuClient``). A serial server (``modbus-rtu-tcp``) needs nothing here: it is pymodbus's
TCP client with the RTU framer (``hub.default_client``).
"""
