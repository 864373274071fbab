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
    "rates_lacking_unlisted": ("以上为所缺事项最多的 {shown} 个社区；另有 {count} 个社区未列出，"
                               "请按区、街道逐级查看。",
                               "Above, the {shown} communities lacking most; {count} more are "
                               "not listed: open a district or street to see them."),
    "rates_lacking_none": ("本范围内每个社区三项均已具备。",
                           "Every community here has all three."),
    "rates_lacks": ("缺少", "Lacks"),
    "rates_trend": ("逐年比率与目标", "The rates year by year against the targets"),
    "rates_trend_note": ("每年年末的比率（按各事项的生效日期计），与当年目标对照；"
                         "虚线为目标。",
                         "Each rate at the end of each year (by the business date of each "
                         "fact) against that year's target; targets are dashed."),
    "rates_trend_year": ("年份", "Year"),
    "rates_trend_target": ("目标", "target"),
    "rates_chart_label": ("各下级地区三率柱状图", "Bar chart of the three rates one level down"),
    "rates_trend_label": ("逐年三率与目标折线图",
                          "Line chart of the three rates and their targets by year"),
    "rates_updated": ("已更新（日志位置 {position}）", "Updated (log position {position})"),
    "rates_updated_across_shards": ("已更新（各区日志位置：{position}）",
                                    "Updated (each district's log position: {position})"),
    "rates_up": ("上一级", "Up"),
    # proofs
    "nav_proofs": ("核验", "Verify"),
    "proofs_title": ("核验账本证明", "Check a ledger proof"),
    "proofs_intro": ("在您自己的浏览器中核验一份事件证明或导出的社区账本包（SHA-256 与 Ed25519，"
                     "由浏览器的 Web Crypto 计算）。服务器不参与核验："
                     "您信任的是数学，而不是本网站。",
                     "Check an event proof or an exported community bundle in your own browser "
                     "(SHA-256 and Ed25519, computed by the browser's Web Crypto). The server "
                     "takes no part: you trust the math, not this site."),
    "proofs_key_title": ("账本公钥", "The ledger's public key"),
    "proofs_checkpoint": ("最新检查点", "Latest checkpoint"),
    "proofs_checkpoint_at": ("日志位置 {position}（{events} 个事件）",
                             "log position {position} ({events} events)"),
    "proofs_signed": ("签署时间", "Signed"),
    "proofs_server_fingerprint": ("本站所示公钥指纹", "Fingerprint of the key this site shows"),
    "proofs_no_checkpoint": ("尚未签署检查点。", "No checkpoint has been signed yet."),
    "proofs_key_hint": ("请与您从别处（公示纸本、维修资金管理部门）得到的指纹核对；"
                        "如不一致，请在下方填入您持有的公钥。",
                        "Compare it with the fingerprint you hold from elsewhere (a printed "
                        "disclosure, the fund office); if they differ, enter the key you hold "
                        "below."),
    "proofs_key": ("用于核验的公钥（十六进制）", "Public key to check against (hex)"),
    "proofs_key_fingerprint": ("该公钥指纹：", "Its fingerprint: "),
    "proofs_file": ("选择证明或账本包文件", "Choose a proof or bundle file"),
    "proofs_input": ("或粘贴证明（JSON）或账本包（JSON Lines）",
                     "Or paste a proof (JSON) or a bundle (JSON lines)"),
    "proofs_verify": ("核验", "Verify"),
    "proofs_noscript": ("核验在浏览器中进行，需要启用脚本。",
                        "Checking runs in the browser and needs scripts enabled."),
    "proofs_good": ("✓ 核验通过", "✓ Verified"),
    "proofs_failed": ("✗ 核验未通过", "✗ Does not verify"),
    "proofs_ok_checkpoint": ("检查点：日志位置 {position}，签署于 {created}，"
                             "公钥指纹 {fingerprint}",
                             "Checkpoint: log position {position}, signed {created}, key "
                             "fingerprint {fingerprint}"),
    "proofs_ok_event": ("事件：日志位置 {position}，{topic}，版本 {version}（流 {stream}）",
                        "Event: log position {position}, {topic}, version {version} "
                        "(stream {stream})"),
    "proofs_ok_bundle": ("账本包：社区 {community}，{streams} 条流，{events} 个事件",
                         "Bundle: community {community}, {streams} streams, {events} events"),
    "proofs_unpinned": ("未填写公钥：只核验了检查点由其自带的公钥签署。",
                        "No key given: the checkpoint was checked against its own key only."),
    "proofs_at_checkpoint": ("出错的是检查点（日志位置 {position}）",
                             "What fails: the checkpoint (log position {position})"),
    "proofs_at_event": ("出错的是事件：日志位置 {position}，{topic}，版本 {version}（流 {stream}）",
                        "What fails: the event at log position {position}, {topic}, version "
                        "{version} (stream {stream})"),
    "proofs_at_stream": ("出错的是流 {stream} 的链头", "What fails: the head of stream {stream}"),
    # the audit trail and replays
    "nav_audit": ("审计", "Audit"),
    "nav_replay": ("回溯", "Replay"),
    "audit_title": ("审计轨迹", "Audit trail"),
    "audit_intro": ("资金变动和表决结果，按日志顺序；可按社区、类别、日期和操作人筛选。",
                    "Money movements and vote results in log order, filtered by community, "
                    "kind, dates and actor."),
    "audit_community": ("社区", "Community"),
    "audit_all": ("全部", "All"),
    "audit_kind": ("类别", "Kind"),
    "audit_from": ("业务日期自", "Business date from"),
    "audit_to": ("业务日期至", "Business date to"),
    "audit_actor": ("操作人（包含）", "Actor (contains)"),
    "audit_filter": ("筛选", "Filter"),
    "audit_pick_community": ("请选择一个社区。", "Choose a community."),
    "audit_pick_community_sharded": (
        "各区日志分库存放：请选择一个社区，查看其所在区的日志（全市检索请用接口 GET /v1/audit）。",
        "Each district keeps its own log: choose a community to read its district's trail "
        "(GET /v1/audit searches the whole city)."),
    "audit_none": ("没有符合条件的记录。", "No entries match."),
    "audit_position": ("日志位置", "Log position"),
    "audit_unit": ("房屋", "Unit"),
    "audit_amount": ("金额", "Amount"),
    "audit_business_date": ("业务日期", "Business date"),
    "audit_recorded": ("记录时间（北京）", "Recorded (Beijing)"),
    "audit_cites": ("依据", "Basis"),
    "audit_open": ("回溯", "Replay"),
    "audit_open_at": ("按当时查看", "Open as it was"),
    "audit_first_page": ("第一页", "First page"),
    "audit_next_page": ("下一页", "Next page"),
    "replay_title": ("按时点回溯", "Open as it was"),
    "replay_intro": ("任一分户、表决、委员会、合同、企业或整个资金，"
                     "按业务日期和记录时间两条时间轴回溯，"
                     "并列出其所依据的事件。",
                     "Any sub-account, vote, committee, contract, enterprise or fund, at a "
                     "business date and a recorded time, with the events behind it."),
    "replay_kind": ("对象", "What"),
    "replay_key": ("编号", "Key"),
    "replay_key_hint": ("如 CY-0003/1-101（分户）、CY-0003/FUND-2026-PUMPS-B2（表决）、"
                         "CY-0003（资金）。",
                        "E.g. CY-0003/1-101 (unit), CY-0003/FUND-2026-PUMPS-B2 (vote), CY-0003 "
                        "(fund)."),
    "replay_as_of": ("业务日期", "Business date"),
    "replay_known_at": ("记录时间", "Recorded time"),
    "replay_known_at_hint": ("ISO 8601，如 2026-03-01T12:00:00+08:00；"
                             "只写日期表示当天结束（UTC）。",
                             "ISO 8601, e.g. 2026-03-01T12:00:00+08:00; a date alone means "
                             "the end of that day (UTC)."),
    "replay_open": ("查看", "Open"),
    "replay_any": ("不限", "any"),
    "replay_now": ("现在", "now"),
    "replay_last_event": ("所含最后一个事件", "Last event included"),
    "replay_included": ("所含事件数", "Events included"),
    "replay_dated_later": ("已记录但业务日期在后", "Recorded, dated later"),
    "replay_state": ("当时的状态", "The state at the cut"),
    "replay_events": ("所依据的事件", "The events behind it"),
    "replay_events_last": ("显示最后 {shown} 个，共 {total} 个。", "The last {shown} of {total}."),
    "replay_event": ("事件", "Event"),
    "replay_version": ("版本", "Version"),
    # enterprise credit
    "nav_credit": ("企业信用", "Credit"),
    "credit_title": ("物业服务企业信用", "Enterprise credit"),
    "credit_intro": ("半年度排名与评分（{scheme}）；每一分都列出所依据的事件。",
                     "The half-year ranking and scores ({scheme}); every point with the event "
                     "behind it."),
    "credit_period": ("半年度", "Half-year"),
    "credit_none": ("该半年度没有在服务的企业。", "No enterprise served in that half-year."),
    "credit_rank": ("名次", "Rank"),
    "credit_enterprise": ("企业", "Enterprise"),
    "credit_code": ("统一社会信用代码", "Credit code"),
    "credit_score": ("得分", "Score"),
    "credit_grade": ("等级", "Grade"),
    "credit_area": ("服务面积", "Area served"),
    "credit_lines": ("得分明细", "Every line of the score"),
    "credit_lines_note": ("各行相加即为得分。", "The lines add up to the score."),
    "credit_points": ("分值", "Points"),
    "credit_why": ("原因", "Why"),
    "credit_event": ("所依据的记录", "The record behind it"),
    "credit_contracts": ("进驻、退出与交接", "Entries, exits and handovers"),
    "credit_contract": ("合同", "Contract"),
    "credit_entered": ("进驻", "Entered"),
    "credit_exited": ("退出", "Exited"),
    "credit_handover": ("交接", "Handover"),
    "credit_overdue": ("{count} 份合同逾期未完成交接。",
                       "{count} contracts are overdue for handover."),
    "credit_handover_overdue": ("逾期（期限 {deadline}），未交：{items}",
                                "Overdue (due {deadline}); outstanding: {items}"),
    "credit_handover_due": ("交接期限 {deadline}", "Due {deadline}"),
    "credit_handed_over": ("已交接", "Handed over"),
    # a score's lines, each from its event (api/web/credit_lines.py)
    "credit_why_base": ("基础分 {points} 分", "base points: {points}"),
    "credit_base_record": ("评分方案（每家企业相同）",
                           "the scheme (the same for every enterprise)"),
    "credit_why_commendation": ("{on} 获{authority}表彰（{kind}）{where}：加 {points} 分",
                                "commendation ({kind}) by {authority} on {on}{where}: "
                                "+{points}"),
    "credit_why_commendation_unknown": (
        "{on} 获表彰（{kind}）{where}：评分方案未列此类表彰，计 0 分",
        "commendation ({kind}) on {on}{where}: not a kind the scheme scores, 0"),
    "credit_why_violation": ("{on} 经{authority}查实违规（{kind}）{where}，依据 {source}："
                             "扣 {points} 分{default}",
                             "violation ({kind}) found by {authority} on {on}{where}, "
                             "source {source}: -{points}{default}"),
    "credit_default_deduction": ("（评分方案未列此类违规，按默认扣分）",
                                 " (default deduction)"),
    "credit_why_fine": ("{on} 被{authority}罚款 {amount}{where}，适用 {band}起一档："
                        "扣 {points} 分",
                        "fine of {amount} by {authority} on {on}{where}, band from {band}: "
                        "-{points}"),
    "credit_why_ticket": ("{on} 接诉即办工单 {ticket}{where}：{failed}；"
                          "按本期 {tickets} 张工单分摊，扣 {points} 分",
                          "complaint ticket {ticket}{where} on {on}: {failed}, shared over "
                          "{tickets} ticket(s): -{points}"),
    "credit_why_ticket_ok": ("接诉即办工单 {ticket}{where}：已响应、已解决、群众满意，0 分",
                             "complaint ticket {ticket}{where}: responded, resolved, "
                             "satisfied: 0"),
    "credit_not_responded": ("未响应（权重 {weight}）", "not responded ({weight})"),
    "credit_not_resolved": ("未解决（权重 {weight}）", "not resolved ({weight})"),
    "credit_not_satisfied": ("不满意（权重 {weight}）", "not satisfied ({weight})"),
    "credit_yes": ("是", "yes"),
    "credit_no": ("否", "no"),
    "credit_where_community": ("（小区 {community}）", " in {community}"),
    "credit_where_enterprise": ("（全企业）", " (enterprise-wide)"),
    "credit_in_full": ("；在全部 {count} 个服务项目中相同，全额计入",
                       " (in full: the same in all {count} projects)"),
    "credit_project_share": ("〔小区 {community}：面积 {area} / {total} m²〕",
                             " [{community}: {area} of {total} m²]"),
    "credit_weighted": ("，按服务面积加权合计 {points} 分", " => area-weighted {points}"),
    # the disclosure fit to publish
    "publish_label": ("可发布版本：", "For publication:"),
    "publish_year": ("{year} 年度", "year {year}"),
    "publish_quarter": ("第 {quarter} 季度", "Q{quarter}"),
    "publish_pdf": ("下载 PDF（年度）", "Download the PDF (year)"),
    "proofs_no_crypto": ("此浏览器不提供 Web Crypto（需要 https 或本机地址）。",
                         "This browser offers no Web Crypto (it needs https or localhost)."),
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
    "credit_commendation": {
        "city": ("市级", "city"),
        "district": ("区级", "district"),
        "street": ("街道级", "street"),
    },
    "credit_violation": {
        "overdue_handover": ("退出后逾期未完成交接", "handover overdue after exit"),
        "safety": ("安全隐患", "safety"),
    },
    "credit_field": {
        "kind": ("类别", "kind"),
        "authority": ("机关", "authority"),
        "note": ("说明", "note"),
        "source_ref": ("依据", "source"),
        "community_code": ("小区", "community"),
        "amount_fen": ("金额", "amount"),
        "ticket_id": ("工单号", "ticket"),
        "responded": ("已响应", "responded"),
        "resolved": ("已解决", "resolved"),
        "satisfied": ("群众满意", "satisfied"),
    },
    "credit_handover_item": {
        "common_parts": ("共用部位", "common parts"),
        "records": ("档案资料", "records"),
        "prepaid_fees": ("预收费用", "prepaid fees"),
    },
    "credit_authority": {
        "fundledger E2 handover deadline check": ("本系统交接期限核查（E2）",
                                                  "fundledger E2 handover deadline check"),
    },
    "lacks": {
        "committee": ("无业委会或物管会", "no owners' or management committee"),
        "service": ("无物业服务企业或业主自管", "no service enterprise or self-management"),
        "party": ("无党组织覆盖", "no party organisation"),
    },    "audit_kind": {
        "FirstDepositPaid": ("首次交存", "First deposit"),
        "ToppedUp": ("续交", "Top-up"),
        "IncomeCredited": ("增值收益分摊", "Income share"),
        "WorksShareCharged": ("维修费用分摊", "Works share"),
        "RefundedOnDestruction": ("房屋灭失返还", "Refund on destruction"),
        "Sold": ("房屋转让", "Sale"),
        "WorksWithdrawalPaid": ("维修资金支取", "Works withdrawal paid"),
        "FundIncomeAllocated": ("增值收益分配", "Income allocated"),
        "Tallied": ("表决计票", "Vote tallied"),
    },
    "replay_kind": {
        "fund": ("维修资金（社区）", "Fund (community)"),
        "unit": ("分户", "Sub-account"),
        "vote": ("表决", "Vote"),
        "committee": ("委员会", "Committee"),
        "enterprise": ("物业服务企业", "Enterprise"),
        "contract": ("物业服务合同", "Service contract"),
    },
}
