"""Who wore what, when: the workers, the instruments they wear and the assignments between
them, so a personal reading belongs to a person and not only to a point.

The law's unit of protection is the worker (GBZ 128 personal dose, GBZ 2.2 LEX,8h); a
dosimeter is a thing passed from hand to hand. The registries here are append-only tables
attested in the ledger (``schema``, ``registry``); readings are never rewritten: the wearer
is computed at read time from the assignments (``attribution``).
"""
