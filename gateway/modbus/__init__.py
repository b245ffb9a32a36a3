"""The Modbus driver: device profiles, decoding, hubs and polled devices.

Import from the module that defines a name; this file imports nothing, so checking a
site's register maps (``validate``, run by ``occmon config check``) does not load
pymodbus, asyncio and the hubs.

Entry points (see README.md in this folder):

- ``validate.check(config, config_file)`` -> ConfigProblems (run by ``occmon config check``)
- ``drivers.build_drivers(config, bindings, config_file, client_factory=None)`` ->
  ``device.ModbusDevice``s, each a ``gateway.driver.PolledDriver`` for
  ``gateway.polling.run_polled``
- ``profile.load_profile`` and ``codec.encode``/``decode`` (also used by ``simulators/``)
"""
