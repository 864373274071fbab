"""The officials' and auditors' pages' words, 简体中文 first (merged into ``MESSAGES``)."""

from __future__ import annotations

OFFICIALS_MESSAGES: dict[str, tuple[str, str]] = {
    "nav_rates": ("三率", "Three rates"),
    "rates_title": ("“三率”统计", "The three rates"),
    "rates_intro": ("业主委员会（物业管理委员会）组建率、物业服务覆盖率、党的组织覆盖率，"
                    "按区、街道、社区逐级查看；数据随账本实时更新。",
                    "Committee establishment, property-service coverage and party-organisation "
                    "coverage, by district, street and community; figures follow the ledger "
                    "live."),
    "rates_year": ("年度", "Year"),
    "rates_show": ("查看", "Show"),
    "rates_communities": ("社区（小区）数", "Communities"),
    "rates_target": ("{year} 年目标", "{year} target"),
    "rates_no_target": ("该年无目标", "no target that year"),
    "rates_met": ("达标", "met"),
    "rates_not_met": ("未达标", "below target"),
    "rates_breakdown": ("下级分布", "One level down"),
    "rates_place": ("地区", "Place"),
    "rates_lacking": ("拖后腿的社区及所缺事项", "Communities below target and what each lacks"),
    "rates_lacking_none": ("本范围内每个社区三项均已具备。",
                           "Every community here has all three."),
    "rates_lacks": ("缺少", "Lacks"),
    "rates_trend": ("逐年目标与当前比率", "Targets by year beside the current rate"),
    "rates_trend_note": ("视图保存的是当前状态：各年目标与现时比率对照。",
                         "The view keeps the present: each year's target beside today's rate."),
    "rates_chart_label": ("各下级地区三率柱状图", "Bar chart of the three rates one level down"),
    "rates_trend_label": ("逐年目标折线图", "Line chart of the targets by year"),
    "rates_updated": ("已更新（日志位置 {position}）", "Updated (log position {position})"),
    "rates_up": ("上一级", "Up"),
}

OFFICIALS_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "level": {
        "city": ("全市", "City"),
        "district": ("区", "District"),
        "street": ("街道", "Street"),
        "community": ("社区", "Community"),
    },
    "rate": {
        "committee": ("业委会（物管会）组建率", "Committee established"),
        "service": ("物业服务覆盖率", "Property service covered"),
        "party": ("党的组织覆盖率", "Party organisation covered"),
    },
    "lacks": {
        "committee": ("无业委会或物管会", "no owners' or management committee"),
        "service": ("无物业服务企业或业主自管", "no service enterprise or self-management"),
        "party": ("无党组织覆盖", "no party organisation"),
    },
}
