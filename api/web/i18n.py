"""The owners' pages in 简体中文 first, English on request: every word the pages show.

A page asks ``t(key)`` for a sentence and ``label(kind, code)`` for a code's name (a cost
kind, a matter, an event), so no code such as ``roof_waterproofing`` reaches an owner.
A missing key fails a test (``tests/unit/test_web_i18n.py``), not an owner's page.
"""

from __future__ import annotations

from collections.abc import Callable

from api.web.i18n_officials import OFFICIALS_LABELS, OFFICIALS_MESSAGES

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("北京业主 · 维修资金与表决", "Beijing Owners · fund and votes"),
    "skip": ("跳到正文", "Skip to content"),
    "nav": ("主菜单", "Main menu"),
    "nav_units": ("我的房屋", "My units"),
    "nav_votes": ("表决", "Votes"),
    "nav_disclosure": ("年度公示", "Disclosure"),
    "nav_notices": ("通知", "Notices"),
    "switch_language": ("English", "中文"),
    "switch_language_label": ("Switch to English", "切换到中文"),
    "sign_out": ("退出", "Sign out"),
    "signed_in_as": ("已登录：", "Signed in as "),
    # sign-in
    "signin_title": ("登录", "Sign in"),
    "signin_intro": ("请输入物业或街道办寄给您的一次性登录码（信件或短信）。无需密码。",
                     "Enter the one-time sign-in code the fund office sent you by letter or "
                     "SMS. No password is needed."),
    "signin_code": ("登录码", "Sign-in code"),
    "signin_code_hint": ("12 位字母和数字，例如 ABCD-EFGH-JKMN；大小写和横线均可。",
                         "12 letters and digits, e.g. ABCD-EFGH-JKMN; case and dashes "
                         "do not matter."),
    "signin_submit": ("登录", "Sign in"),
    "signin_refused": ("该登录码无效：可能输错、已使用或已过期。请向发码单位申请新码。",
                       "This code does not sign you in: it may be mistyped, used or expired. "
                       "Ask the office that sent it for a new one."),
    "signin_rate_limited": ("尝试次数过多，请 15 分钟后再试。",
                            "Too many attempts: try again in 15 minutes."),
    "staff_title": ("工作人员登录", "Staff sign-in"),
    "staff_intro": ("维修资金管理人员、街道办和审计人员可用 API 令牌换取一次会话。",
                    "Custodians, officials and auditors may exchange their API token once "
                    "for a session."),
    "staff_token": ("API 令牌", "API token"),
    "staff_submit": ("用令牌登录", "Sign in with the token"),
    "signed_out": ("您已退出。", "You are signed out."),
    "csrf_refused": ("表单已过期或来源不明，未作任何更改。请返回并重试。",
                     "This form is stale or did not come from this site; nothing was "
                     "changed. Go back and try again."),
    "not_found": ("没有找到该页面或您无权查看。", "Not found, or not yours to see."),
    "error_title": ("出错了", "Something is wrong"),
    "back_home": ("返回首页", "Back to the start"),
    # units
    "units_title": ("我的房屋", "My units"),
    "units_none": ("登记簿中没有您名下的房屋。", "The register lists no unit of yours."),
    "unit": ("房屋", "Unit"),
    "building_unit": ("{building} 号楼 {unit}", "Building {building}, unit {unit}"),
    "area": ("建筑面积", "Floor area"),
    "balance": ("分户账余额", "Sub-account balance"),
    "balance_as_of": ("截至 {date} 的余额", "Balance as of {date}"),
    "balance_now": ("当前余额", "Balance now"),
    "as_of": ("查询日期", "As of"),
    "as_of_hint": ("按业务日期：显示该日（含）之前的全部记账。",
                   "By business date: every posting dated on or before it."),
    "show": ("查询", "Show"),
    "movements": ("资金明细", "Movements"),
    "movements_none": ("该日期之前没有资金变动。", "No movement on or before this date."),
    "date": ("日期", "Date"),
    "kind": ("类型", "Kind"),
    "reference": ("凭证号", "Reference"),
    "amount": ("金额", "Amount"),
    "balance_after": ("余额", "Balance"),
    "not_yet": ("该房屋在此日期尚未登记。", "The unit was not registered yet on this date."),
    "owners": ("产权人编号", "Owner ids"),
    "details": ("查看明细", "Details"),
    # votes
    "votes_title": ("业主大会表决", "Owners' votes"),
    "votes_open": ("正在表决", "Open for your ballot"),
    "votes_open_none": ("目前没有需要您表决的事项。", "No open vote in which you vote."),
    "votes_closed": ("已结束的表决", "Closed votes"),
    "votes_closed_none": ("没有已结束的表决。", "No closed vote."),
    "votes_in_scope": ("辖区内的表决", "Votes in your scope"),
    "matter": ("表决事项", "Matter"),
    "status": ("状态", "Status"),
    "approved_amount": ("申请使用金额", "Amount asked for"),
    "charging_range": ("分摊范围", "Charging range"),
    "range_units": ("{count} 户：{buildings}", "{count} units: {buildings}"),
    "range_building": ("{building} 号楼", "building {building}"),
    "whole_community": ("全体业主", "the whole community"),
    "published_on": ("公告日期", "Published"),
    "opened_on": ("开始表决", "Opened"),
    "closed_on": ("结束日期", "Closed"),
    "not_closed": ("尚未结束", "not yet"),
    "your_weight": ("您的表决权", "Your weight"),
    "weight": ("{heads} 人（户）数，专有面积 {area} 平方米",
               "{heads} head, exclusive area {area} m²"),
    "cast_title": ("投票", "Your ballot"),
    "cast_choice": ("您的意见", "Your choice"),
    "cast_final": ("投票一经提交即为最终结果，不能更改或撤回（V5）。",
                   "A ballot is final once cast: it cannot be changed or withdrawn (V5)."),
    "cast_confirm": ("我已知晓投票提交后不能更改", "I understand my ballot cannot be changed"),
    "cast_submit": ("提交投票", "Cast my ballot"),
    "cast_done": ("您的投票已记录，不能更改。", "Your ballot is recorded; it cannot be changed."),
    "candidates": ("候选人（同意时最多选 {seats} 名）",
                   "Candidates (agreeing, choose at most {seats})"),
    "your_ballot": ("您的投票", "Your ballot"),
    "not_voted": ("您没有投票。", "You did not vote."),
    "receipt": ("投票回执", "Receipt"),
    "receipt_keep": ("请保存此回执，可随时核对您的投票是否按原样记录和计入。",
                     "Keep this receipt: it checks later that your ballot is recorded as "
                     "cast and counted."),
    "receipt_check": ("核对回执", "Check a receipt"),
    "receipt_check_submit": ("核对", "Check"),
    "receipt_ok": ("回执有效：记录的投票为“{choice}”。",
                   "The receipt matches: the recorded ballot is “{choice}”."),
    "receipt_counted": ("该投票已计入结果。", "It is counted in the recorded tally."),
    "receipt_not_counted": ("表决结束后将计入结果。", "It will be counted when the vote closes."),
    "receipt_bad": ("没有与此回执相符的投票记录。", "No recorded ballot has this receipt."),
    "tally": ("表决结果", "Tally"),
    "tally_electorate": ("应参与表决", "Electorate"),
    "tally_participating": ("参与表决", "Took part"),
    "tally_agreeing": ("同意", "Agreed"),
    "tally_heads": ("人数", "Heads"),
    "tally_area": ("面积（平方米）", "Area (m²)"),
    "tally_quorum": ("参与门槛：面积和人数均达 {n}/{d} 以上", "Quorum: at least {n}/{d} of area "
                     "and heads"),
    "tally_majority_inclusive": ("通过门槛：同意的面积和人数均达参与的 {n}/{d} 以上",
                                 "To pass: at least {n}/{d} of participating area and heads "
                                 "agree"),
    "tally_majority": ("通过门槛：同意的面积和人数均超过参与的 {n}/{d}",
                       "To pass: more than {n}/{d} of participating area and heads agree"),
    "tally_met": ("达到", "met"),
    "tally_not_met": ("未达到", "not met"),
    "passed": ("通过", "Passed"),
    "failed": ("未通过", "Not passed"),
    "elected": ("当选", "Elected"),
    "open_vote": ("查看并投票", "View and vote"),
    "view_vote": ("查看", "View"),
    # disclosure
    "disclosure_title": ("{year} 年度维修资金公示", "Maintenance fund disclosure {year}"),
    "year": ("年度", "Year"),
    "community": ("小区", "Community"),
    "download_csv": ("下载表格（CSV）", "Download (CSV)"),
    "totals": ("资金总览", "Totals"),
    "opening_balance": ("年初余额", "Opening balance"),
    "deposits": ("交存", "Deposits"),
    "income": ("增值收益", "Value-added income"),
    "use": ("使用（维修分摊）", "Use (works charged)"),
    "refunds": ("返还", "Refunds"),
    "closing_balance": ("年末余额", "Closing balance"),
    "bank_balance": ("银行余额（各笔银行发生额合计）", "Bank balance (sum of the bank legs)"),
    "conserved": ("各分户账之和等于银行余额（F11）。",
                  "The sub-accounts sum to the bank balance (F11)."),
    "not_conserved": ("各分户账之和不等于银行余额（F11）！",
                      "The sub-accounts do NOT sum to the bank balance (F11)!"),
    "projects": ("维修项目", "Projects charged"),
    "projects_none": ("本年度没有使用维修资金的项目。", "No works were charged this year."),
    "project": ("项目", "Project"),
    "cost_kind": ("费用类别", "Cost kind"),
    "paid_on": ("支付日期", "Paid on"),
    "basis": ("依据", "Authority"),
    "invoice": ("发票金额", "Invoice"),
    "split_units": ("按面积分摊至 {count} 户", "split by area over {count} units"),
    "income_title": ("增值收益分配", "Income allocated"),
    "source": ("来源", "Source"),
    "your_units_year": ("您的房屋本年度明细", "Your units this year"),
    "all_units_csv": ("全部分户账见下载表格。", "Every sub-account is in the download."),
    "basis_resolution": ("业主大会决议 {id}", "owners' resolution {id}"),
    "basis_emergency": ("紧急维修 {id}（{category}）", "emergency {id} ({category})"),
    "choose_community": ("请选择小区", "Choose a community"),
    # notices
    "notices_title": ("通知公告", "Notices"),
    "notices_none": ("暂无通知。", "No notices yet."),
    "notices_refresh": ("每分钟自动更新。", "Updated every minute."),
    "notice_published": ("表决公告：{title}（{matter}），{opens} 起可投票",
                         "Vote published: {title} ({matter}); ballots from {opens}"),
    "notice_opened": ("开始表决：{title}", "Vote opened: {title}"),
    "notice_result": ("表决结果：{title} —— {outcome}", "Result: {title} — {outcome}"),
    "notice_withdrawal": ("维修资金使用：{project}（{cost_kind}），{amount}",
                          "Fund used: {project} ({cost_kind}), {amount}"),
    "staff_home": ("工作人员页面", "Staff pages"),
    "staff_note": ("您以 {role}（{scope}）身份登录。业主页面仅对业主开放。",
                   "You are signed in as {role} ({scope}). The unit pages are for owners."),
}
MESSAGES.update(OFFICIALS_MESSAGES)

LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "cost_kind": {
        "lift": ("电梯", "Lift"),
        "roof_waterproofing": ("屋面防水", "Roof waterproofing"),
        "water_supply_drainage": ("给排水设施", "Water supply and drainage"),
        "facade": ("外墙", "Facade"),
        "fire_system": ("消防设施", "Fire system"),
        "water_pump": ("二次供水水泵", "Water pumps"),
        "structure": ("房屋主体结构", "Structure"),
        "security_system": ("安防系统", "Security system"),
        "other_common_parts": ("其他共用部位", "Other common parts"),
    },
    "emergency": {
        "roof_leak": ("屋面漏水", "roof leak"),
        "lift_danger": ("电梯故障危及安全", "lift danger"),
        "high_rise_water_pump_failure": ("高层供水水泵故障", "high-rise water pump failure"),
        "facade_falling_risk": ("外墙脱落危险", "facade falling risk"),
        "drain_collapse_or_burst": ("排水管道堵塞或爆裂", "drain collapse or burst"),
        "fire_system_failure_ordered": ("消防设施故障（责令维修）",
                                        "fire system failure (ordered)"),
    },
    "matter": {
        "fund_use": ("使用维修资金", "Use of the maintenance fund"),
        "committee_election": ("选举业主委员会", "Owners' committee election"),
        "hire_enterprise": ("选聘物业服务企业", "Hiring a property service enterprise"),
        "dismiss_enterprise": ("解聘物业服务企业", "Dismissing a property service enterprise"),
        "other_ordinary": ("其他一般事项", "Other ordinary matter"),
        "raise_fund": ("筹集维修资金", "Raising the fund"),
        "reraise_fund": ("续筹维修资金", "Re-raising the fund"),
        "rebuild": ("改建、重建建筑物", "Rebuilding"),
        "change_common_use": ("改变共有部分用途", "Changing the use of common parts"),
        "common_business": ("利用共有部分从事经营活动", "Business on common parts"),
    },
    "movement": {
        "FirstDepositPaid": ("首次交存", "First deposit"),
        "ToppedUp": ("续交", "Top-up"),
        "IncomeCredited": ("增值收益分摊", "Income share"),
        "WorksShareCharged": ("维修费用分摊", "Works share"),
        "RefundedOnDestruction": ("房屋灭失返还", "Refund on destruction"),
        "Sold": ("房屋转让（余额随房转移）", "Sale (the balance stays with the unit)"),
    },
    "income_source": {
        "interest": ("利息", "Interest"),
        "bond_income": ("国债收益", "Government bond income"),
        "common_area_income": ("共用部位经营收益", "Common-area income"),
    },
    "status": {
        "proposed": ("已提出", "Proposed"),
        "published": ("已公告", "Published"),
        "open": ("表决中", "Open"),
        "closed": ("已结束", "Closed"),
    },
    "choice": {
        "agree": ("同意", "Agree"),
        "disagree": ("反对", "Disagree"),
        "abstain": ("弃权", "Abstain"),
    },
    "role": {
        "custodian": ("维修资金管理人员", "custodian"),
        "official": ("街道办/住建部门工作人员", "official"),
        "auditor": ("审计人员", "auditor"),
        "owner": ("业主", "owner"),
    },
}
LABELS.update(OFFICIALS_LABELS)


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def translator(lang: str) -> Callable[..., str]:
    index = LANGUAGES.index(language(lang))

    def t(key: str, **values: object) -> str:
        text = MESSAGES[key][index]
        return text.format(**values) if values else text

    return t


def labeller(lang: str) -> Callable[[str, str], str]:
    """A code's name in the language; an unknown code (a new kind) shows as itself."""
    index = LANGUAGES.index(language(lang))

    def label(kind: str, code: str) -> str:
        names = LABELS[kind].get(code)
        return names[index] if names else code

    return label
