"""Leak alarms: a pure core (h11-style) that turns samples and commands into alarm events.

No I/O and no clock here: the gateway feeds ``engine.AlarmEngine.handle`` and ships what it
returns. See docs/alarms.md for states, transitions and defaults.

Import from the module that defines a name; this file imports nothing, so reading the
alarm rules (``resolve``, run by ``occmon config check``) does not load the engine:

- ``events``: what the engine is fed (``Sample``, ``Tick``, ``Acknowledge``, ``Shelve``, ...)
- ``actions``: what it emits (``Raised``, ``Cleared``, ``FaultRaised``, ... ``AlarmEvent``)
- ``engine``: ``AlarmEngine``; ``snapshot``: read-only views of it
- ``states``: the ISA-18.2 life cycle table; ``condition``: deadband, delays, faults
- ``config``, ``levels``, ``spec``, ``resolve``: the alarm rules of a site, resolved once
- ``errors``: the typed refusals of illegal commands
"""
