"""The simulated drives' state machines (pure): the documented words and their answers."""

from __future__ import annotations

from simulators.drive import (
    ABB_CONTROL,
    ABB_STATUS,
    MD_COMMAND,
    MD_FAULT,
    MD_STATE,
    AbbDrive,
    Md500Drive,
)

# ABB Drives status words, bits summed by hand: REMOTE 9 (0x200), OFF_2_STA 4 and OFF_3_STA 5
# (0x30) inactive; + SWC_ON_INHIB 6 (0x40) / RDY_ON 0 / RDY_RUN 1 / RDY_REF 2 + AT_SETPOINT 8
INHIBITED, READY_ON, READY_RUN = 0x200 + 0x30 + 0x40, 0x200 + 0x30 + 0x1, 0x200 + 0x30 + 0x3
RUNNING = 0x200 + 0x30 + 0x1 + 0x2 + 0x4 + 0x100
TRIPPED = 0x200 + 0x8  # TRIPPED 3; OFF2/OFF3 status bits cleared


def test_acs580_runs_through_0476_047f_after_the_start_delay() -> None:
    drive = AbbDrive(start_delay=2.0)
    assert drive.words(0.0)[ABB_STATUS] == INHIBITED
    drive.write(ABB_CONTROL, 0x047F, 0.0)  # not from switch-on inhibited
    assert drive.words(0.0)[ABB_STATUS] == INHIBITED
    drive.write(ABB_CONTROL, 0x0476, 1.0)
    assert drive.words(1.0)[ABB_STATUS] == READY_ON
    drive.write(ABB_CONTROL, 0x047F, 2.0)
    assert drive.words(3.9)[ABB_STATUS] == READY_RUN  # still starting
    assert drive.words(4.0)[ABB_STATUS] == RUNNING
    drive.write(ABB_CONTROL, 0x047E, 5.0)  # OFF1
    assert drive.words(5.0)[ABB_STATUS] == READY_ON and not drive.running


def test_acs580_without_remote_cmd_ignores_the_start() -> None:
    drive = AbbDrive(start_delay=0.0)
    drive.write(ABB_CONTROL, 0x0476, 0.0)
    drive.write(ABB_CONTROL, 0x007F, 0.0)  # bit 10 REMOTE_CMD clear
    assert not drive.running and drive.words(1.0)[ABB_STATUS] == READY_ON


def test_acs580_trip_needs_the_cause_gone_and_a_reset_edge() -> None:
    drive = AbbDrive(start_delay=0.0)
    drive.write(ABB_CONTROL, 0x0476, 0.0)
    drive.write(ABB_CONTROL, 0x047F, 0.0)
    assert drive.words(0.0)[ABB_STATUS] == RUNNING
    drive.trip(1.0)
    assert drive.words(1.0)[ABB_STATUS] == TRIPPED
    drive.write(ABB_CONTROL, 0x04F6, 2.0)  # reset while the cause persists: no effect
    assert drive.words(2.0)[ABB_STATUS] == TRIPPED
    drive.clear()
    drive.write(ABB_CONTROL, 0x04F6, 3.0)  # bit 7 already 1: no rising edge
    assert drive.words(3.0)[ABB_STATUS] == TRIPPED
    drive.write(ABB_CONTROL, 0x0476, 4.0)
    drive.write(ABB_CONTROL, 0x04F6, 4.0)  # the edge
    assert drive.words(4.0)[ABB_STATUS] == INHIBITED


def test_md500_runs_on_1_stops_on_6_and_reports_its_fault_code() -> None:
    drive = Md500Drive(start_delay=1.0)
    assert drive.words(0.0)[MD_STATE] == 3  # stop
    assert not drive.readable(MD_COMMAND)  # 2000H is write-only
    drive.write(MD_COMMAND, 1, 0.0)
    assert drive.words(0.5)[MD_STATE] == 3 and drive.words(1.0)[MD_STATE] == 1
    drive.write(MD_COMMAND, 6, 2.0)
    assert drive.words(2.0)[MD_STATE] == 3
    drive.trip(3.0)
    assert drive.words(3.0)[MD_FAULT] != 0
    drive.write(MD_COMMAND, 1, 3.0)  # a tripped drive does not run
    assert drive.words(5.0)[MD_STATE] == 3
    drive.clear()
    drive.write(MD_COMMAND, 7, 6.0)
    assert drive.words(6.0)[MD_FAULT] == 0
