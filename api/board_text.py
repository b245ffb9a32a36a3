"""The notice board's words, Chinese and English: labels, levels, and what to do per alarm.

Kept apart from the rendering so a safety officer can review every sentence the floor reads
in one place. What-to-do lines follow the usual site emergency plan for toxic-gas alarms
(GBZ/T 223-2009: pre-alarm warns, alarm evacuates and starts ventilation, high alarm starts
the emergency plan); a site with a different plan edits them here.
"""

from __future__ import annotations

from typing import Final

TEXT: Final[dict[str, dict[str, str]]] = {
    "zh": {"title": "职业卫生公告栏", "updated": "更新于", "switch": "English",
           "alarms": "当前报警", "no_alarms": "当前无报警", "points": "各监测点实时结果",
           "ventilation": "事故通风", "verdicts": "今日结论", "open": "未闭环超标事件",
           "none": "无", "limit": "限值", "setpoints": "报警设定", "unacked": "未确认",
           "ends_itself": "原因排除后自动恢复",
           "latched": "已恢复, 待确认", "since": "开始", "cleared": "恢复于",
           "reached": "达到", "setpoint": "设定值", "live": "实时", "offline": "离线",
           "no_data": "无数据", "ago": "前", "times": "倍", "provisional": "临时",
           "coverage": "覆盖率", "max": "最大值", "peak": "峰值", "status": "整改状态",
           "vent_running": "运行中 (风机反馈确认)", "vent_failed": "通风故障: 风机未运行",
           "vent_starting": "启动中, 等待风机反馈", "vent_idle": "待机",
           "vent_unknown": "无状态数据", "primary": "主风机", "standby": "备用风机",
           "vent_uncommanded": "待机, 风机在运行 (非联锁启动)",
           "vent_found_running": "待机, 风机在运行 (网关启动后首次读取时已在运行)",
           "fan_silent": "设备无应答, 实际状态未知", "system_alarm": "监测系统报警",
           "mode_hold": "各点已低于复位值, 保持通风至 {until}",
           "mode_await_reset": "等待人工复位, 复位后停止",
           "mode_manual_on": "手动强制开启 ({by})",
           "mode_manual_off": "手动强制关闭 ({by}), 联锁不启动风机",
           "shelved_by": "由 {by} 搁置至 {until}", "oos_by": "由 {by} 停用",
           "suppressed_since": "自",
           "curve": "今日曲线 (每10分钟最大值), 红虚线为限值", "unconfigured": "(未在配置中)"},
    "en": {"title": "Occupational health notice board", "updated": "updated", "switch": "中文",
           "alarms": "Current alarms", "no_alarms": "No active alarms",
           "points": "Live values per point", "ventilation": "Accident ventilation",
           "verdicts": "Today's verdicts", "open": "Open exceedances", "none": "none",
           "limit": "limit", "setpoints": "alarm set-points", "unacked": "unacknowledged",
           "ends_itself": "ends by itself once its cause is fixed",
           "latched": "cleared, to acknowledge", "since": "since", "cleared": "cleared",
           "reached": "reached", "setpoint": "set-point", "live": "live",
           "offline": "offline", "no_data": "no data", "ago": "ago", "times": "x",
           "provisional": "provisional", "coverage": "coverage", "max": "max",
           "peak": "peak", "status": "status",
           "vent_running": "running (fan feedback confirmed)",
           "vent_failed": "VENTILATION FAILED: no fan running",
           "vent_starting": "starting, awaiting fan feedback", "vent_idle": "standby",
           "vent_unknown": "no state reported", "primary": "primary fan",
           "vent_uncommanded": "standby, a fan runs (not started by the interlock)",
           "vent_found_running": "standby, a fan runs (already running at its first poll "
                                 "since the gateway started)",
           "fan_silent": "device not answering, actual state unknown",
           "system_alarm": "monitoring system alarm",
           "standby": "standby fan",
           "mode_hold": "every point under the reset level, ventilating until {until}",
           "mode_await_reset": "awaiting an operator reset, stops after it",
           "mode_manual_on": "forced on by hand ({by})",
           "mode_manual_off": "forced off by hand ({by}): the interlock will not start it",
           "shelved_by": "shelved by {by} until {until}",
           "oos_by": "taken out of service by {by}", "suppressed_since": "since",
           "curve": "today (10-minute maxima), red dashed line: limit",
           "unconfigured": "(not in the configuration)"},
}

LEVEL: Final[dict[str, dict[str, str]]] = {
    "zh": {"normal": "正常", "pre-alarm": "预报", "alarm": "警报", "high": "高报",
           "fault": "故障", "offline": "离线", "system": "系统", "shelved": "已搁置",
           "out-of-service": "已停用"},
    "en": {"normal": "normal", "pre-alarm": "pre-alarm", "alarm": "alarm",
           "high": "high alarm", "fault": "fault", "offline": "offline", "system": "system",
           "shelved": "shelved", "out-of-service": "out of service"},
}

# the part of occmon a system alarm comes from (alarm id system:{component}:{code})
COMPONENT: Final[dict[str, dict[str, str]]] = {
    "zh": {"gateway": "采集网关", "ingest": "数据入库", "api": "数据服务"},
    "en": {"gateway": "gateway", "ingest": "ingest (storage)", "api": "API"},
}

SETPOINT: Final[dict[str, dict[str, str]]] = {
    "zh": {"pre_alarm": "预报", "alarm": "警报", "high_alarm": "高报", "low_alarm": "低报"},
    "en": {"pre_alarm": "pre", "alarm": "alarm", "high_alarm": "high", "low_alarm": "low"},
}

# what the people at the point do now, by the alarm's display level or kind
TODO: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "high": "立即撤离该区域并通知周边人员; 启动应急预案; 未佩戴正压式空气呼吸器不得进入",
        "alarm": "撤离该区域至上风向; 确认事故通风已运行; 通知安全员和控制室",
        "pre-alarm": "注意: 浓度超过预报值; 查找泄漏源, 做好撤离准备, 通知控制室",
        "fault": "检测器故障: 该点当前无有效监测; 进入须携带便携式检测仪, 通知仪表维修",
        "ventilation": "事故通风故障: 撤离该区域; 就地手动启动风机或打开门窗, 通知控制室",
        "other": "查看报警原因, 通知控制室",
        "system": "监测系统自身故障, 不是现场气体报警: 通知控制室和系统维护人员; "
                  "修复前以就地仪表和便携式检测仪为准",
        "cleared": "已恢复: 确认现场安全并查明原因后, 在系统中确认该报警",
        "shelved": "该报警已被人为搁置, 期间不报警、不推送, 到期自动恢复; "
                   "以该点实时数值和就地仪表为准",
        "out-of-service": "该报警已停用 (维修或标定), 期间该点无自动报警; "
                          "进入须携带便携式检测仪",
    },
    "en": {
        "high": "Evacuate the area now and warn others; start the emergency plan; "
                "enter only with breathing apparatus",
        "alarm": "Leave the area upwind; check the accident ventilation runs; "
                 "call the safety officer and the control room",
        "pre-alarm": "Caution: above the pre-alarm level; look for the leak, be ready "
                     "to leave, tell the control room",
        "fault": "Detector fault: no valid monitoring here; carry a portable detector, "
                 "call instrument maintenance",
        "ventilation": "Ventilation failed: leave the area; start the fan by hand or open "
                       "doors, tell the control room",
        "other": "Check the cause, tell the control room",
        "system": "A fault of the monitoring system itself, not a gas alarm here: tell the "
                  "control room and system maintenance; until it is fixed, rely on local "
                  "instruments and portable detectors",
        "cleared": "Cleared: make sure the area is safe and find the cause, then "
                   "acknowledge the alarm",
        "shelved": "This alarm was shelved by hand: it neither sounds nor pushes until the "
                   "shelve ends by itself; go by the point's live value and local "
                   "instruments",
        "out-of-service": "This alarm is out of service (repair or calibration): no "
                          "automatic alarm here meanwhile; carry a portable detector",
    },
}

DRIVE: Final[dict[str, dict[str, str]]] = {
    "zh": {"running": "运行", "starting": "启动中", "stopped": "停止", "failed": "故障",
           "uncommanded": "运行 (非联锁启动)",
           "found_running": "运行 (网关启动后首次读取时已在运行)"},
    "en": {"running": "running", "starting": "starting", "stopped": "stopped",
           "failed": "FAILED", "uncommanded": "running (not started by the interlock)",
           "found_running": "running (already running at its first poll since the gateway "
                            "started)"},
}

# exceedance types (ingest/daily/analyze.py) as the limit they broke
EXCEEDANCE: Final[dict[str, dict[str, str]]] = {
    "zh": {"mac": "超MAC", "stel": "超PC-STEL", "twa": "超PC-TWA", "peak": "峰接触超限 (peak)",
           "noise": "噪声超限"},
    "en": {"mac": "over MAC", "stel": "over PC-STEL", "twa": "over PC-TWA",
           "peak": "peak excursion", "noise": "noise over LEX,8h"},
}

VERDICT_EN: Final[dict[str, str]] = {"合格": "pass", "超标": "fail", "数据不足": "insufficient"}


def age_text(age_s: float | None, lang: str) -> str:
    """'12 分钟前' / '12 min ago': how old the last value is, in the unit a reader expects."""
    t = TEXT[lang]
    if age_s is None:
        return t["no_data"]
    age = max(age_s, 0.0)
    for size, zh, en in ((86400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min")):
        if age >= size:
            n = int(age // size)
            return f"{n} {zh}{t['ago']}" if lang == "zh" else f"{n} {en} {t['ago']}"
    return f"{int(age)} 秒{t['ago']}" if lang == "zh" else f"{int(age)} s {t['ago']}"
