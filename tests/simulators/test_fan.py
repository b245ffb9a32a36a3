from __future__ import annotations

import pytest

from simulators.fan import TRANSITIONS, Fan, FanProtocolError, Input, Phase

# (phase, input, next phase, running, fault) — the starter's whole table, row by row.
ROWS = [
    (Phase.STOPPED, Input.RUN, Phase.STARTING, False, False),
    (Phase.STOPPED, Input.STOP, Phase.STOPPED, False, False),
    (Phase.STOPPED, Input.TRIP, Phase.TRIPPED, False, True),
    (Phase.STOPPED, Input.RESET, Phase.STOPPED, False, False),
    (Phase.STARTING, Input.RUN, Phase.STARTING, False, False),
    (Phase.STARTING, Input.STOP, Phase.STOPPED, False, False),
    (Phase.STARTING, Input.SPUN_UP, Phase.RUNNING, True, False),
    (Phase.STARTING, Input.TRIP, Phase.TRIPPED, False, True),
    (Phase.RUNNING, Input.RUN, Phase.RUNNING, True, False),
    (Phase.RUNNING, Input.STOP, Phase.STOPPED, False, False),
    (Phase.RUNNING, Input.TRIP, Phase.TRIPPED, False, True),
    (Phase.TRIPPED, Input.RUN, Phase.TRIPPED, False, True),
    (Phase.TRIPPED, Input.STOP, Phase.TRIPPED, False, True),
    (Phase.TRIPPED, Input.RESET, Phase.STOPPED, False, False),
]


@pytest.mark.parametrize(("phase", "event", "nxt", "running", "fault"), ROWS)
def test_transition_table(
    phase: Phase, event: Input, nxt: Phase, running: bool, fault: bool
) -> None:
    after = Fan(phase=phase, since=1.0).handle(event, at=5.0)
    assert (after.phase, after.running, after.fault) == (nxt, running, fault)
    assert after.since == (1.0 if nxt is phase else 5.0)


@pytest.mark.parametrize("phase", [Phase.STOPPED, Phase.RUNNING, Phase.TRIPPED])
def test_spun_up_only_while_starting(phase: Phase) -> None:
    fan = Fan(phase=phase, since=1.0)
    with pytest.raises(FanProtocolError, match="not accepted"):
        fan.handle(Input.SPUN_UP, at=9.0)
    assert fan.phase is phase  # unchanged


def test_table_covers_every_pair_but_spun_up_outside_starting() -> None:
    missing = {(p, i) for p in Phase for i in Input} - set(TRANSITIONS)
    assert missing == {(p, Input.SPUN_UP) for p in Phase if p is not Phase.STARTING}


def test_runs_after_the_spin_up_delay_in_real_seconds() -> None:
    fan = Fan(spin_up=2.0).command(True, at=10.0)
    assert fan.phase is Phase.STARTING and fan.commanded
    assert fan.motor_current > 12.5  # inrush
    assert not fan.tick(11.9).running
    running = fan.tick(12.0)
    assert running.running and running.motor_current == pytest.approx(12.5)
    stopped = running.command(False, at=20.0)
    assert not stopped.running and not stopped.commanded and stopped.motor_current == 0.0


def test_failed_fan_never_runs_and_needs_a_new_command_after_reset() -> None:
    fan = Fan(spin_up=1.0).set_failed(True, at=0.0).command(True, at=1.0)
    assert fan.fault and not fan.tick(100.0).running
    repaired = fan.set_failed(False, at=101.0)
    assert repaired.phase is Phase.STOPPED and not repaired.fault
    assert not repaired.tick(200.0).running
    assert repaired.command(True, at=201.0).tick(202.0).running
