"""What demo values look like: pools of English and Chinese names, places and things, and
per field type the function that invents a value from them.

Pools are built once and only sampled afterwards (picking a value is one random index),
which keeps millions of records feasible. Chinese names carry their pinyin so that email
addresses and web domains stay plain ASCII.
"""
from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from crmkit.engine.fieldtypes.builtin import NUMBER_DEFAULTS
from crmkit.metadata.model import FieldDef, ObjectDef


def _pairs(text: str) -> tuple[tuple[str, ...], ...]:
    """'English|中文; English|中文' -> (("English", "中文"), ...): one entry per language."""
    return tuple(tuple(part.strip() for part in item.split("|")) for item in text.split(";") if item.strip())


# -- people ---------------------------------------------------------------------------------

EN_FIRST_NAMES_MALE = """James John Robert Michael William David Richard Joseph Thomas Charles Daniel Matthew
    Anthony Mark Steven Paul Andrew Joshua Kevin Brian George Edward Ryan Jacob Gary Nicholas Eric Jonathan
    Justin Samuel Benjamin Patrick Alexander Oliver Henry Lucas Ethan Noah Liam Adam""".split()
EN_FIRST_NAMES_FEMALE = """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa
    Betty Margaret Sandra Ashley Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca Laura
    Sharon Cynthia Kathleen Amy Angela Anna Emma Olivia Sophia Grace Chloe Hannah Rachel Julia""".split()
EN_LAST_NAMES = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Wilson Anderson
    Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King
    Wright Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans
    Edwards Collins Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly Howard
    Ward Cox Richardson Wood Watson Brooks Bennett Gray Hughes Price Sanders Foster Powell Fisher""".split()
#: (surname, pinyin) and (given name, pinyin)
ZH_SURNAMES = _pairs("""王|wang; 李|li; 张|zhang; 刘|liu; 陈|chen; 杨|yang; 黄|huang; 赵|zhao; 吴|wu; 周|zhou;
    徐|xu; 孙|sun; 马|ma; 朱|zhu; 胡|hu; 郭|guo; 何|he; 高|gao; 林|lin; 罗|luo; 郑|zheng; 梁|liang; 谢|xie;
    宋|song; 唐|tang; 许|xu; 韩|han; 冯|feng; 邓|deng; 曹|cao; 彭|peng; 曾|zeng; 肖|xiao; 田|tian; 董|dong;
    袁|yuan; 潘|pan; 蒋|jiang; 蔡|cai; 余|yu; 杜|du; 叶|ye; 程|cheng; 魏|wei; 苏|su; 吕|lv; 丁|ding; 沈|shen""")
ZH_GIVEN_MALE = _pairs("""伟|wei; 强|qiang; 磊|lei; 军|jun; 勇|yong; 杰|jie; 涛|tao; 斌|bin; 超|chao; 明|ming;
    建华|jianhua; 志强|zhiqiang; 俊杰|junjie; 浩然|haoran; 子轩|zixuan; 宇航|yuhang; 文博|wenbo; 国栋|guodong;
    晓东|xiaodong; 海峰|haifeng; 鹏|peng; 辉|hui; 建国|jianguo; 志明|zhiming; 天宇|tianyu; 嘉豪|jiahao""")
ZH_GIVEN_FEMALE = _pairs("""芳|fang; 娜|na; 敏|min; 静|jing; 丽|li; 艳|yan; 婷|ting; 雪|xue; 慧|hui; 秀英|xiuying;
    晓燕|xiaoyan; 丽华|lihua; 欣怡|xinyi; 梓涵|zihan; 雨萱|yuxuan; 思琪|siqi; 佳怡|jiayi; 美玲|meiling;
    春梅|chunmei; 玉兰|yulan; 倩|qian; 琳|lin; 晓丽|xiaoli; 梦瑶|mengyao; 诗涵|shihan; 佳琪|jiaqi""")

JOB_TITLES = _pairs("""Chief Executive Officer|首席执行官; Chief Technology Officer|首席技术官;
    Chief Financial Officer|财务总监; General Manager|总经理; VP of Sales|销售副总裁; Sales Manager|销售经理;
    Sales Representative|销售代表; Purchasing Manager|采购经理; Procurement Specialist|采购专员;
    IT Director|IT总监; IT Manager|信息化主管; Software Engineer|软件工程师; Marketing Manager|市场经理;
    Marketing Specialist|市场专员; Operations Director|运营总监; Project Manager|项目经理;
    Product Manager|产品经理; HR Manager|人力资源经理; Office Manager|行政主管; Customer Service Manager|客服经理""")
DEPARTMENTS = _pairs("""Sales|销售部; Marketing|市场部; Purchasing|采购部; Finance|财务部; IT|信息技术部;
    Operations|运营部; Human Resources|人力资源部; Research and Development|研发部; Customer Service|客户服务部;
    Management|总经办""")

# -- companies ------------------------------------------------------------------------------

EN_COMPANY_WORDS = """Acme Northwind Summit Pioneer Silverline Evergreen Redwood Atlas Horizon Bluewater
    Ironbridge Crescent Keystone Lighthouse Maple Meridian Oakridge Pinnacle Riverside Sterling Vertex
    Westfield Granite Harbor Falcon Cobalt Brightway Clearview Greenfield Highland""".split()
#: (sector word, the industry option it belongs to)
EN_SECTORS = _pairs("""Technologies|Technology; Software|Technology; Systems|Technology;
    Manufacturing|Manufacturing; Industries|Manufacturing; Financial|Finance; Capital|Finance; Health|Healthcare;
    Medical|Healthcare; Retail|Retail; Foods|Retail; Learning|Education; Energy|Energy; Telecom|Telecommunications;
    Properties|Real Estate; Logistics|Logistics; Media|Media; Consulting|Other""")
EN_COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd.", "Group", "Corp.", "Co.")
ZH_BRANDS = _pairs("""星辰|xingchen; 华信|huaxin; 远航|yuanhang; 博睿|borui; 天宇|tianyu; 中科|zhongke;
    云图|yuntu; 恒通|hengtong; 金桥|jinqiao; 新锐|xinrui; 瑞达|ruida; 鼎盛|dingsheng; 汇智|huizhi; 海纳|haina;
    东方|dongfang; 长城|changcheng; 凌云|lingyun; 德信|dexin; 锦程|jincheng; 启明|qiming; 万象|wanxiang;
    智联|zhilian; 宏达|hongda; 卓越|zhuoyue; 正泰|zhengtai; 百川|baichuan; 九州|jiuzhou; 华创|huachuang;
    数智|shuzhi; 安合|anhe""")
#: (sector, its short pinyin for web domains, the industry option it belongs to)
ZH_SECTORS = _pairs("""科技|tech|Technology; 信息技术|it|Technology; 软件|soft|Technology;
    智能制造|mfg|Manufacturing; 机械|jx|Manufacturing; 金融服务|fin|Finance; 医疗器械|med|Healthcare;
    生物医药|bio|Healthcare; 商贸|trade|Retail; 教育科技|edu|Education; 新能源|energy|Energy;
    通信|tel|Telecommunications; 置业|estate|Real Estate; 物流|logistics|Logistics; 文化传媒|media|Media;
    咨询|consult|Other""")
ZH_COMPANY_SUFFIXES = ("有限公司", "股份有限公司", "集团有限公司")

# -- places ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    state: str
    country: str
    postal_code: str
    #: Country and area code, such as "+86 10" or "+1 (212)".
    phone_prefix: str


def _cities(text: str) -> tuple[City, ...]:
    return tuple(City(*entry) for entry in _pairs(text))


EN_CITIES = _cities("""New York|NY|United States|10001|+1 (212); San Francisco|CA|United States|94105|+1 (415);
    Chicago|IL|United States|60601|+1 (312); Boston|MA|United States|02110|+1 (617);
    Austin|TX|United States|73301|+1 (512); Seattle|WA|United States|98101|+1 (206);
    London|England|United Kingdom|EC1A 1BB|+44 20; Manchester|England|United Kingdom|M1 1AE|+44 161;
    Toronto|ON|Canada|M5H 2N2|+1 (416); Sydney|NSW|Australia|2000|+61 2; Singapore|Singapore|Singapore|018989|+65;
    Dublin|Leinster|Ireland|D02 XY45|+353 1""")
ZH_CITIES = _cities("""北京|北京市|中国|100020|+86 10; 上海|上海市|中国|200120|+86 21; 深圳|广东省|中国|518057|+86 755;
    广州|广东省|中国|510623|+86 20; 杭州|浙江省|中国|310012|+86 571; 南京|江苏省|中国|210019|+86 25;
    苏州|江苏省|中国|215021|+86 512; 成都|四川省|中国|610041|+86 28; 武汉|湖北省|中国|430071|+86 27;
    西安|陕西省|中国|710065|+86 29; 天津|天津市|中国|300457|+86 22; 重庆|重庆市|中国|400010|+86 23""")
EN_STREETS = """Main Oak Maple Park Pine Cedar Elm Washington Lake Hill Market Church High King Queen River Bridge
    Station Mill Victoria""".split()
EN_STREET_KINDS = ("Street", "Avenue", "Road", "Boulevard", "Lane", "Drive")
ZH_DISTRICTS = ("朝阳区", "海淀区", "浦东新区", "南山区", "天河区", "西湖区", "高新区", "经济开发区", "工业园区", "滨江区")
ZH_ROADS = ("建国路", "中关村大街", "世纪大道", "科技园路", "天河路", "文三路", "创新大道", "人民路", "解放路", "长江路",
            "学院路", "金融街")

# -- things, in (English, Chinese) pairs -----------------------------------------------------

PRODUCTS = _pairs("""CloudCRM|云端CRM; DataVault Storage|数据保险库存储; SecureGate Firewall|安全网关防火墙;
    SmartERP|智慧ERP; Analytics Suite|数据分析套件; Edge Server|边缘服务器; IoT Sensor Kit|物联网传感器套件;
    Office Laptop|商务笔记本电脑; Call Center Platform|呼叫中心平台; Marketing Automation|营销自动化;
    HR Cloud|人力资源云; Backup Appliance|备份一体机; Video Conferencing System|视频会议系统;
    Implementation Service|实施服务; Onsite Training|现场培训; Premium Support|高级技术支持""")
EDITIONS = _pairs("Standard|标准版; Professional|专业版; Enterprise|企业版; Ultimate|旗舰版")
ACTIVITY_SUBJECTS = _pairs("""Follow-up call|电话回访; Product demo|产品演示; Send proposal|发送方案;
    Quarterly business review|季度业务回顾; Contract negotiation|合同谈判; On-site visit|上门拜访;
    Requirements workshop|需求调研; Send price list|发送报价; Introduce new release|介绍新版本;
    Confirm delivery date|确认交货日期; Renewal reminder|续约提醒; Thank-you email|感谢邮件;
    Technical Q&A|技术答疑; Kick-off meeting|项目启动会""")
CASE_SUBJECTS = _pairs("""Cannot log in|无法登录系统; Invoice amount is wrong|发票金额有误;
    Device does not power on|设备无法开机; Request for training|申请培训; Data export fails|数据导出失败;
    Slow response times|系统响应缓慢; Replacement part needed|需要更换配件; License key expired|许可证已过期;
    Question about the contract|合同条款咨询; Report shows wrong totals|报表合计不正确;
    Delivery is late|货物延迟送达; Feature request: mobile app|需求建议：移动端应用""")
CAMPAIGN_NAMES = _pairs("""Spring Product Launch|春季新品发布会; Customer Summit|客户峰会;
    Digital Transformation Webinar|数字化转型线上研讨会; Industry Expo|行业博览会; Year-End Promotion|年终促销;
    Partner Roadshow|合作伙伴巡展; Email Nurture Series|邮件培育计划; Social Media Campaign|社交媒体推广;
    Trade Show Booth|展会参展; Search Advertising|搜索引擎广告""")
NEXT_STEPS = _pairs("""Schedule a demo|安排产品演示; Send revised quote|发送修改后的报价; Meet the decision maker|拜访决策人;
    Prepare the contract|准备合同; Wait for budget approval|等待预算审批; Arrange a site visit|安排现场考察""")
SENTENCES = _pairs("""
    The customer is evaluating three vendors and expects a decision this quarter.|客户正在评估三家供应商，预计本季度内做出决定。;
    They asked for a discount on a multi-year agreement.|客户希望签订多年合同并获得折扣。;
    The IT team wants to see the integration with their ERP system.|IT 部门希望了解与现有 ERP 系统的集成方案。;
    Budget has been approved by the finance department.|财务部门已批准预算。;
    The main contact will be on leave next month.|主要联系人下个月休假。;
    Delivery must be completed before the end of the year.|必须在年底前完成交付。;
    They were happy with the pilot and want to roll it out to all branches.|试点效果良好，客户希望推广到所有分公司。;
    A competitor offered a lower price.|竞争对手报出了更低的价格。;
    Please call before visiting the office.|上门拜访前请先电话联系。;
    The issue was reproduced and a fix has been scheduled.|问题已复现，修复已排期。;
    Restarting the service solved the problem.|重启服务后问题已解决。;
    Sent the user guide and walked the customer through the settings.|已发送用户手册并指导客户完成设置。""")
WORDS = _pairs("""general|综合; annual|年度; regional|区域; priority|重点; standard|标准; special|专项;
    strategic|战略; pilot|试点; online|线上; key|核心""")
MEETING_ROOMS = _pairs("""Conference room A|A 会议室; Customer office|客户办公室; Online (video call)|线上视频会议;
    Headquarters, 3rd floor|总部三楼""")


# -- built pools ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    #: ASCII form for email addresses: "jane.smith" or "wei.wang".
    handle: str
    female: bool


@dataclass(frozen=True)
class Company:
    name: str
    short: str
    #: Web domain such as xingchen-tech.com.cn.
    domain: str
    industry: str
    #: The city a Chinese company name starts with (北京星辰科技有限公司), so its address matches.
    city: City | None = None


@dataclass(frozen=True)
class Pools:
    """Everything sampled per language: index 0 is English, 1 is Chinese."""

    people: tuple[tuple[Person, ...], tuple[Person, ...]]
    companies: tuple[tuple[Company, ...], tuple[Company, ...]]
    cities: tuple[tuple[City, ...], tuple[City, ...]]
    products: tuple[tuple[str, ...], tuple[str, ...]]


def _people() -> tuple[tuple[Person, ...], tuple[Person, ...]]:
    english = [Person(first, last, f"{first}.{last}".lower(), female)
               for female, firsts in ((False, EN_FIRST_NAMES_MALE), (True, EN_FIRST_NAMES_FEMALE))
               for first in firsts for last in EN_LAST_NAMES]
    chinese = [Person(given, surname, f"{given_pinyin}.{surname_pinyin}", female)
               for female, givens in ((False, ZH_GIVEN_MALE), (True, ZH_GIVEN_FEMALE))
               for given, given_pinyin in givens for surname, surname_pinyin in ZH_SURNAMES]
    return tuple(english), tuple(chinese)


def _companies() -> tuple[tuple[Company, ...], tuple[Company, ...]]:
    english = [Company(f"{word} {sector} {suffix}", f"{word} {sector}",
                       f"{word}{sector}".lower() + (".com", ".io", ".co", ".net")[number % 4], industry)
               for word in EN_COMPANY_WORDS for sector, industry in EN_SECTORS
               for number, suffix in enumerate(EN_COMPANY_SUFFIXES)]
    chinese = [Company(f"{city.name}{brand}{sector}{ZH_COMPANY_SUFFIXES[len(brand_pinyin + sector) % 3]}",
                       f"{brand}{sector}", f"{brand_pinyin}-{sector_pinyin}.com.cn", industry, city)
               for city in ZH_CITIES for brand, brand_pinyin in ZH_BRANDS
               for sector, sector_pinyin, industry in ZH_SECTORS]
    return tuple(english), tuple(chinese)


@lru_cache(maxsize=1)
def pools() -> Pools:
    """The value pools, built on first use (a few milliseconds) and shared afterwards."""
    products = (tuple(f"{name} {edition}" for name, _ in PRODUCTS for edition, _ in EDITIONS),
                tuple(f"{name}{edition}" for _, name in PRODUCTS for _, edition in EDITIONS))
    return Pools(people=_people(), companies=_companies(), cities=(EN_CITIES, ZH_CITIES), products=products)


# -- values for one field -------------------------------------------------------------------

DAY = timedelta(days=1)
CLOSED_WORDS = ("closed", "won", "lost", "complete", "done", "resolved", "cancel", "accepted", "rejected")
#: (earlier, later) words: a field named with the later word follows its sibling with the earlier one.
PAIRS = (("start", "end"), ("opened", "closed"), ("begin", "finish"), ("from", "to"), ("check_in", "check_out"))
PERSON_OBJECT_FIELDS = frozenset({"first_name", "last_name"})
COMPANY_OBJECTS = ("account", "company", "organization", "organisation", "customer", "vendor", "supplier",
                   "partner", "competitor")
#: (words in an object name, kind): the first match names the object's kind.
OBJECT_KINDS = (
    (("line", "item", "entry", "detail"), "line"), (("opportunit", "deal"), "deal"),
    (("quote", "order", "invoice", "contract", "proposal"), "quote"), (("campaign", "promotion"), "campaign"),
    (("case", "ticket", "issue", "incident", "complaint"), "case"), (COMPANY_OBJECTS, "company"),
    (("product", "sku", "article", "catalog"), "product"),
    (("activit", "task", "event", "call", "meeting", "visit", "interaction", "note"), "activity"),
)

Maker = Callable[["RowContext"], Any]


class RowContext:
    """What one demo record is about: a language, a person, a company and a city, chosen together."""

    __slots__ = ("rng", "zh", "person", "company", "city", "number", "values")

    def __init__(self, rng: random.Random, pools: Pools, number: int) -> None:
        self.rng = rng
        lang = 1 if rng.random() < 0.5 else 0
        self.zh = bool(lang)
        people, companies, cities = pools.people[lang], pools.companies[lang], pools.cities[lang]
        self.person = people[rng.randrange(len(people))]
        self.company = companies[rng.randrange(len(companies))]
        self.city = self.company.city or cities[rng.randrange(len(cities))]
        #: A number no other record of this object gets in this run (for unique values and codes).
        self.number = number
        self.values: dict[str, Any] = {}

    def belong_to(self, company: Company, zh: bool, pools: Pools) -> None:
        """Make the record about `company` (the account it is linked to): its name, domain and city, and
        its language, with a person of that language (a contact at 北京星辰科技 is 王伟, wei.wang@...)."""
        if zh != self.zh:
            people, cities = pools.people[zh], pools.cities[zh]
            self.person = people[self.rng.randrange(len(people))]
            self.city = cities[self.rng.randrange(len(cities))]
        self.zh, self.company = zh, company
        self.city = company.city or self.city

    def pick(self, pairs: Sequence[tuple[str, ...]]) -> str:
        """One (English, Chinese) pair, in this record's language."""
        return pairs[self.rng.randrange(len(pairs))][self.zh]

    def full_name(self) -> str:
        person = self.person
        return f"{person.last}{person.first}" if self.zh else f"{person.first} {person.last}"

    def is_closed(self, words: Sequence[str] = CLOSED_WORDS) -> bool:
        """Whether the record's stage or status says it is finished (its dates then lie in the past)."""
        for name in ("stage", "status"):
            value = self.values.get(name)
            if isinstance(value, str) and any(word in value.lower() for word in words):
                return True
        return False


def object_kind(obj: ObjectDef) -> str:
    if PERSON_OBJECT_FIELDS & set(obj.fields):
        return "person"
    for words, kind in OBJECT_KINDS:
        if any(word in obj.name for word in words):
            return kind
    return "other"


class ValueMakers:
    """Builds, once per field, the function that invents a realistic value for it."""

    def __init__(self, obj: ObjectDef, today: date, pools: Pools) -> None:
        self.obj = obj
        self.kind = object_kind(obj)
        self.today = today
        self.pools = pools
        self.labels = (obj.label.get("en"), obj.label.get("zh"))
        self.builders: dict[str, Callable[[FieldDef], Maker]] = {
            "text": self._text, "textarea": self._textarea, "email": self._email, "phone": self._phone,
            "url": self._url, "picklist": self._picklist, "multi_picklist": self._multi_picklist,
            "boolean": self._boolean, "integer": self._integer, "decimal": self._number, "currency": self._number,
            "percent": self._number, "date": self._moment, "datetime": self._moment,
        }

    def maker(self, fdef: FieldDef) -> Maker | None:
        """The value maker for a field, or None for types demo data leaves empty (plugin types)."""
        build = self.builders.get(fdef.type)
        if build is None:
            return None
        make = build(fdef)
        if any(word in fdef.name for word in ("loss", "lost")):
            make = _only_when_lost(make)
        if fdef.unique and not getattr(make, "unique", False):
            make = _unique(fdef, make)
        if fdef.max_length and fdef.type in ("text", "textarea"):
            limit = fdef.max_length
            return lambda row: _cut(make(row), limit)
        return make

    # -- text --------------------------------------------------------------------------------

    def _text(self, fdef: FieldDef) -> Maker:
        name = fdef.name
        named = _by_name(name, self.kind)
        if named is not None:
            return named
        if name == "name" or name.endswith("_name") or name in ("subject", "title", "headline"):
            return self._record_name
        if any(word in name for word in ("phone", "mobile", "fax")):
            return self._phone(fdef)
        if any(word in name for word in ("code", "sku", "number", "reference", "serial")):
            prefix = "".join(part[0] for part in self.obj.name.split("_")).upper()

            def code(row: RowContext) -> str:
                return f"{prefix}-{row.number:06d}"

            code.unique = True  # type: ignore[attr-defined]
            return code
        return lambda row: f"{row.pick(WORDS)}{'' if row.zh else ' '}{row.pick(WORDS)}"

    def _record_name(self, row: RowContext) -> str:
        kind, zh = self.kind, row.zh
        if kind == "person":
            return row.full_name()
        if kind == "company":
            return row.company.name
        if kind in ("product", "line"):
            products = self.pools.products[zh]
            return products[row.rng.randrange(len(products))]
        if kind in ("deal", "quote"):
            products = self.pools.products[zh]
            product = products[row.rng.randrange(len(products))]
            if kind == "deal":
                return f"{row.company.short}{product}项目" if zh else f"{row.company.short} - {product}"
            return f"{row.company.short}{product}报价" if zh else f"{row.company.short} - {product} quote"
        if kind == "campaign":
            year = self.today.year + row.rng.randint(-1, 1)
            return f"{year}{row.pick(CAMPAIGN_NAMES)}" if zh else f"{year} {row.pick(CAMPAIGN_NAMES)}"
        if kind == "case":
            return row.pick(CASE_SUBJECTS)
        if kind == "activity":
            subject = row.pick(ACTIVITY_SUBJECTS)
            return f"{row.company.short}{subject}" if zh else f"{subject} - {row.company.short}"
        return f"{self.labels[zh]}{'' if zh else ' '}{row.number}"

    def _textarea(self, fdef: FieldDef) -> Maker:
        def paragraph(row: RowContext) -> str:
            count = row.rng.randint(1, 3)
            return ("" if row.zh else " ").join(row.pick(SENTENCES) for _ in range(count))

        return paragraph

    def _email(self, fdef: FieldDef) -> Maker:
        return lambda row: f"{row.person.handle}@{row.company.domain}"

    def _phone(self, fdef: FieldDef) -> Maker:
        mobile = any(word in fdef.name for word in ("mobile", "cell"))

        def phone(row: RowContext) -> str:
            rng = row.rng
            if row.zh and mobile:
                return f"+86 1{rng.choice('3578')}{rng.randrange(10)} {rng.randrange(10000):04d} " \
                       f"{rng.randrange(10000):04d}"
            if row.zh:
                return f"{row.city.phone_prefix} {rng.randrange(2000, 9000):04d} {rng.randrange(10000):04d}"
            return f"{row.city.phone_prefix} {rng.randrange(200, 999)}-{rng.randrange(10000):04d}"

        return phone

    def _url(self, fdef: FieldDef) -> Maker:
        return lambda row: f"https://www.{row.company.domain}"

    # -- choices -----------------------------------------------------------------------------

    def _picklist(self, fdef: FieldDef) -> Maker:
        values = tuple(option.value for option in fdef.options if not option.inactive) or fdef.option_values
        name = fdef.name
        if fdef.controlling_field:
            return self._dependent_choice(fdef, values)
        if "industry" in name:
            return lambda row: row.company.industry if row.company.industry in values else row.rng.choice(values)
        if name == "salutation":
            male = tuple(v for v in values if v.lower().startswith("mr."))
            female = tuple(v for v in values if v.lower().startswith(("ms", "mrs")))
            if male and female:
                return lambda row: row.rng.choice(female if row.person.female else male)
        if "country" in name:
            return lambda row: row.city.country if row.city.country in values else row.rng.choice(values)
        if name in ("stage", "status"):
            mixed = _outcome_mix(values)
            if mixed is not None:
                return mixed
        return lambda row: values[row.rng.randrange(len(values))]

    def _multi_picklist(self, fdef: FieldDef) -> Maker:
        values = tuple(option.value for option in fdef.options if not option.inactive) or fdef.option_values
        if fdef.controlling_field:
            one = self._dependent_choice(fdef, values)
            return lambda row: None if (value := one(row)) is None else [value]
        return lambda row: row.rng.sample(values, row.rng.randint(1, min(3, len(values))))

    @staticmethod
    def _dependent_choice(fdef: FieldDef, values: tuple[str, ...]) -> Maker:
        """A value the record's controlling field allows (it is filled first), or none when it allows none."""
        def choose(row: RowContext) -> str | None:
            allowed = [value for value in fdef.allowed_values(row.values.get(fdef.controlling_field)) if value in values]
            return row.rng.choice(allowed) if allowed else None

        return choose

    def _boolean(self, fdef: FieldDef) -> Maker:
        name = fdef.name
        if any(word in name for word in ("do_not", "opt_out", "converted", "deleted", "archived", "blocked")):
            chance = 0.1
        elif any(word in name for word in ("active", "enabled", "visible", "subscribed")):
            chance = 0.9
        else:
            chance = 0.5
        return lambda row: row.rng.random() < chance

    # -- numbers -----------------------------------------------------------------------------

    def _integer(self, fdef: FieldDef) -> Maker:
        low, high, spread = _number_range(fdef.name, "integer")
        low, high = _clamp_range(fdef, low, high)
        choices = _NUMBER_CHOICES.get(_number_key(fdef.name))
        if choices:
            allowed = tuple(c for c in choices if low <= c <= high) or (low,)
            return lambda row: allowed[row.rng.randrange(len(allowed))]
        if spread == "log" and low >= 1:
            return lambda row: min(high, max(low, round(math.exp(row.rng.uniform(math.log(low), math.log(high))))))
        return lambda row: row.rng.randint(low, high)

    def _number(self, fdef: FieldDef) -> Maker:
        """decimal, currency and percent: within min, max and the digits the column holds."""
        precision, scale = NUMBER_DEFAULTS.get(fdef.type, (18, 4))
        precision, scale = fdef.precision or precision, fdef.scale if fdef.scale is not None else scale
        low, high, spread = _number_range(fdef.name, fdef.type)
        low, high = _clamp_range(fdef, low, high, Decimal(10) ** (precision - scale) - 1)
        step = Decimal(1).scaleb(-min(2, scale))  # two decimals at most: amounts as people write them
        price = next((name for name in ("list_price", "unit_price", "price") if name in self.obj.fields), None)
        if "cost" in fdef.name and price:
            floor = Decimal(fdef.min) if fdef.min is not None else Decimal(0)

            def cost(row: RowContext) -> Decimal | None:
                value = row.values.get(price)
                if value is None:
                    return None
                return max(floor, (value * Decimal(row.rng.randint(30, 70)) / 100).quantize(step))

            return cost
        choices = _NUMBER_CHOICES.get(_number_key(fdef.name))
        if choices:
            allowed = tuple(c for c in choices if low <= c <= high) or (low,)
            return lambda row: Decimal(allowed[row.rng.randrange(len(allowed))]).quantize(step)
        if spread == "log" and low > 0:
            log_low, log_high = math.log(low), math.log(high)
            # Round big amounts to a few significant digits, as people quote them.
            return lambda row: _round_amount(math.exp(row.rng.uniform(log_low, log_high)), step, low, high)
        flat_low, flat_high = float(low), float(high)
        return lambda row: min(high, max(low, Decimal(str(row.rng.uniform(flat_low, flat_high))).quantize(step)))

    # -- dates -------------------------------------------------------------------------------

    def _moment(self, fdef: FieldDef) -> Maker:
        """Dates and datetimes: two years around today; in the past when closed; after their start."""
        name, today, fields = fdef.name, self.today, self.obj.fields
        as_datetime = fdef.type == "datetime"
        earlier = sibling_before(name, fields)
        gate = _gating_boolean(name, fields)
        closing = name.startswith(("closed", "completed", "resolved", "finished")) and any(
            f in fields for f in ("status", "stage"))
        if any(word in name for word in ("birth", "dob")):
            low, high = -70 * 365, -20 * 365
        elif any(word in name for word in ("launch", "hire", "since", "opened", "founded", "joined")):
            low, high = -730, 0
        else:
            low, high = -365, 365

        def moment(row: RowContext) -> Any:
            rng = row.rng
            if gate is not None and row.values.get(gate) is not True:
                return None
            if closing and not row.is_closed():
                return None
            start = row.values.get(earlier) if earlier else None
            if start is not None:
                delta = timedelta(minutes=rng.choice((15, 30, 45, 60, 90, 120))) if as_datetime and not closing \
                    else timedelta(days=rng.randint(0, 30), hours=rng.randint(1, 23) if as_datetime else 0)
                return start + delta
            days_high = 0 if (gate or row.is_closed()) and high > 0 else high
            day = today + DAY * rng.randint(low, days_high)
            if not as_datetime:
                return day
            return datetime(day.year, day.month, day.day, rng.randint(1, 10), rng.choice((0, 15, 30, 45)),
                            tzinfo=timezone.utc)

        return moment


def _by_name(name: str, kind: str) -> Maker | None:
    """Text fields whose name says what they hold."""
    if name in ("first_name", "given_name", "firstname"):
        return lambda row: row.person.first
    if name in ("last_name", "surname", "family_name", "lastname"):
        return lambda row: row.person.last
    if name in ("full_name", "contact_name", "person_name") or (name == "name" and kind == "person"):
        return lambda row: row.full_name()
    if any(word in name for word in ("company", "organization", "organisation", "employer", "account_name")):
        return lambda row: row.company.name
    if kind == "person" and name in ("title", "job_title", "position", "role"):
        return lambda row: row.pick(JOB_TITLES)
    for words, make in _TEXT_BY_WORD:
        if any(word in name for word in words):
            return make
    return None


def _street(row: RowContext) -> str:
    rng = row.rng
    if row.zh:
        return f"{rng.choice(ZH_DISTRICTS)}{rng.choice(ZH_ROADS)}{rng.randint(1, 999)}号"
    return f"{rng.randint(1, 9999)} {rng.choice(EN_STREETS)} {rng.choice(EN_STREET_KINDS)}"


_TEXT_BY_WORD: tuple[tuple[tuple[str, ...], Maker], ...] = (
    (("email",), lambda row: f"{row.person.handle}@{row.company.domain}"),
    (("department",), lambda row: row.pick(DEPARTMENTS)),
    (("street", "address"), _street),
    (("city", "town"), lambda row: row.city.name),
    (("state", "province", "region"), lambda row: row.city.state),
    (("country",), lambda row: row.city.country),
    (("postal", "zip", "postcode"), lambda row: row.city.postal_code),
    (("website", "domain", "url"), lambda row: f"https://www.{row.company.domain}"),
    (("industry",), lambda row: row.company.industry),
    (("location", "venue", "room"), lambda row: row.pick(MEETING_ROOMS)),
    (("next_step", "action"), lambda row: row.pick(NEXT_STEPS)),
    (("description", "note", "comment", "summary", "resolution", "remark"), lambda row: row.pick(SENTENCES)),
)

#: name word -> (low, high, "log" or "flat") for invented numbers.
_NUMBER_RANGES = (
    (("employee", "staff", "headcount"), (5, 50_000, "log")),
    (("revenue", "turnover"), (100_000, 500_000_000, "log")),
    (("budget", "cost"), (1_000, 200_000, "log")),
    (("price", "fee", "rate_card"), (50, 50_000, "log")),
    (("amount", "total", "value", "salary"), (1_000, 2_000_000, "log")),
    (("quantity", "qty", "units", "seats"), (1, 50, "flat")),
    (("duration", "minutes"), (15, 120, "flat")),
    (("age",), (20, 65, "flat")),
    (("year",), (2015, 2030, "flat")),
    (("probability", "response", "rate", "percent", "score"), (5, 95, "flat")),
)
_NUMBER_CHOICES = {
    "discount": (0, 0, 0, 0, 5, 10, 15, 20),
    "tax": (0, 6, 9, 13),
    "duration": (15, 30, 30, 45, 60, 60, 90, 120),
    "quantity": (1, 1, 1, 2, 2, 3, 4, 5, 10, 12, 20, 25, 50, 100),
}


def _number_key(name: str) -> str | None:
    return next((key for key in _NUMBER_CHOICES if key in name), None)


def _number_range(name: str, type_name: str) -> tuple[float, float, str]:
    for words, found in _NUMBER_RANGES:
        if any(word in name for word in words):
            return found
    if type_name == "percent":
        return 0, 100, "flat"
    return (100, 100_000, "log") if type_name == "currency" else (1, 1_000, "flat")


def _clamp_range(fdef: FieldDef, low: Any, high: Any, limit: Any = 2**53) -> tuple[Any, Any]:
    """The invented range narrowed to the field's min and max; the field's own range if they do not meet."""
    kind = int if fdef.type == "integer" else Decimal
    floor = -kind(limit) if fdef.min is None else (math.ceil(fdef.min) if kind is int else kind(fdef.min))
    ceiling = kind(limit) if fdef.max is None else (math.floor(fdef.max) if kind is int else kind(fdef.max))
    low, high = max(kind(low), floor), min(kind(high), ceiling)
    if low > high:
        low, high = floor, max(floor, min(ceiling, floor + kind(1000)))
    return low, high


def _round_amount(value: float, step: Decimal, low: Decimal, high: Decimal) -> Decimal:
    magnitude = 10 ** max(0, int(math.log10(value)) - 2) if value >= 1 else 1
    rounded = Decimal(round(value / magnitude) * magnitude).quantize(step)
    return min(high, max(low, rounded))


def sibling_before(name: str, fields: Mapping[str, FieldDef]) -> str | None:
    """The field that must come first for `name` (end_time -> start_time), if the object has it."""
    for earlier, later in PAIRS:
        if later in name.split("_"):
            candidate = name.replace(later, earlier, 1)
            if candidate in fields and fields[candidate].type == fields[name].type:
                return candidate
    return None


def _gating_boolean(name: str, fields: Mapping[str, FieldDef]) -> str | None:
    """converted_date is only filled when the boolean `converted` is true."""
    for suffix in ("_date", "_at", "_on", "_time"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if base in fields and fields[base].type == "boolean":
                return base
    return None


def _unique(fdef: FieldDef, make: Maker) -> Maker:
    """Adds the record's run-wide number to a value so no two records share it."""
    kind = fdef.type
    if kind == "email":
        return lambda row: make(row).replace("@", f".{row.number}@", 1)
    if kind == "phone":
        return lambda row: f"+1 555 {row.number:09d}"
    if kind == "url":
        return lambda row: f"{make(row)}/{row.number}"
    if kind == "integer":
        start = int(fdef.min) if fdef.min is not None else 1
        return lambda row: start + row.number
    if kind in ("decimal", "currency", "percent"):
        start = Decimal(fdef.min) if fdef.min is not None else Decimal(1)
        return lambda row: start + row.number
    if kind == "date":
        return lambda row: date(2000, 1, 1) + DAY * row.number
    if kind == "datetime":
        return lambda row: datetime(2000, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=row.number)
    if kind == "picklist":
        values = fdef.option_values
        return lambda row: values[row.number] if row.number < len(values) else None
    if kind in ("text", "textarea"):
        limit = fdef.max_length or 255

        def text(row: RowContext) -> str:
            suffix = f" {row.number}"
            return f"{_cut(make(row), limit - len(suffix))}{suffix}"

        return text
    return lambda row: None


#: Shares of a pipeline's records that end won and lost; the rest are open, more in the early stages.
WON_SHARE, LOST_SHARE = 0.22, 0.18


def _outcome_mix(values: Sequence[str]) -> Maker | None:
    """A stage or status with won and lost values (a sales pipeline): a realistic mix, not a uniform pick.

    About 22% won and 18% lost (each spread over its values), the rest open over the other
    values in their order, earlier stages holding more (weights n, n-1, ..., 1), as pipelines
    narrow. None when the values have no won or no lost value (not a pipeline)."""
    won = [value for value in values if "won" in value.lower() or "win" in value.lower().split()]
    lost = [value for value in values if "lost" in value.lower() or "loss" in value.lower()]
    open_ = [value for value in values if value not in won and value not in lost]
    if not won or not lost or not open_:
        return None
    weights = [WON_SHARE / len(won)] * len(won) + [LOST_SHARE / len(lost)] * len(lost)
    rank_total = len(open_) * (len(open_) + 1) / 2
    weights += [(1 - WON_SHARE - LOST_SHARE) * (len(open_) - index) / rank_total for index in range(len(open_))]
    choices = won + lost + open_
    cumulative = list(itertools.accumulate(weights))

    def pick(row: RowContext) -> str:
        return choices[min(len(choices) - 1, bisect.bisect_right(cumulative, row.rng.random() * cumulative[-1]))]

    return pick


def _only_when_lost(make: Maker) -> Maker:
    """A loss reason belongs only to lost deals."""
    return lambda row: make(row) if row.is_closed(("lost",)) else None


def _cut(value: Any, limit: int) -> Any:
    return value[:limit] if isinstance(value, str) and len(value) > limit else value
