#!/usr/bin/env python3
"""Writes knowledge-base/pii.tsv: support-chat messages in English and Chinese with personal
data in varied forms, and as many hard negatives (order and tracking numbers, prices, dates,
versions, ISBNs, failed checksums), each labelled with the personal data it holds.

One line a message: `message<TAB>labels`, labels as `kind=value` joined by ` || ` (empty for
none). Kinds: email, phone, card, iban, cn_id, ssn, ip, secret, name, address. A fixed seed
makes the file reproducible: `python3 scripts/make-pii-set.py > knowledge-base/pii.tsv`.
The values are made up; card numbers, IBANs and ID numbers get valid checksums where the
label says they are personal data, and broken ones where a negative needs them.
"""
import random

R = random.Random(20261129)

FIRST = ["Anna", "James", "Maria", "Wei", "Olivia", "Lukas", "Sofia", "Omar", "Chloe", "Daniel", "Priya",
         "Mateo", "Emma", "Noah", "Hannah", "Yusuf", "Lea", "Ethan", "Mia", "Jonas"]
LAST = ["Lee", "Smith", "Garcia", "Zhang", "Brown", "Fischer", "Rossi", "Haddad", "Martin", "Kim", "Patel",
        "Lopez", "Schmidt", "Nguyen", "O'Brien", "Novak", "Dubois", "Wilson", "Costa", "Berg"]
CN_NAMES = ["王小明", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷", "孙浩", "徐丽"]
DOMAINS = ["example.com", "mail.example.org", "example.co.uk", "example.de", "qq.com", "163.com", "outlook.example.net"]
STREETS = ["Baker Street", "Main Street", "Oak Avenue", "Elm Road", "Park Lane", "Sunset Boulevard", "Maple Drive",
           "High Street", "Church Road", "Mill Lane"]
CITIES = ["London", "Springfield", "Dublin", "Boston", "Leeds", "Denver", "Austin", "Bristol"]
CN_ADDR = ["北京市朝阳区建国路", "上海市浦东新区世纪大道", "广州市天河区天河路", "深圳市南山区科技园路", "杭州市西湖区文三路",
           "成都市武侯区人民南路"]


def luhn_complete(prefix, length):
    digits = [int(d) for d in prefix]
    while len(digits) < length - 1:
        digits.append(R.randint(0, 9))
    for check in range(10):
        total = 0
        for i, d in enumerate(reversed(digits + [check])):
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        if total % 10 == 0:
            return "".join(map(str, digits + [check]))


def card(valid=True):
    kind = R.choice(["visa", "mc", "amex"])
    if kind == "amex":
        number = luhn_complete(R.choice(["34", "37"]), 15)
        groups = [number[:4], number[4:10], number[10:]]
    else:
        number = luhn_complete("4" if kind == "visa" else R.choice(["51", "52", "55"]), 16)
        groups = [number[i:i + 4] for i in range(0, 16, 4)]
    if not valid:
        last = (int(number[-1]) + R.randint(1, 9)) % 10
        number = number[:-1] + str(last)
        groups[-1] = groups[-1][:-1] + str(last)
    sep = R.choice(["", " ", " ", "-"])
    return sep.join(groups) if sep else number


def iban(valid=True):
    country, bban_len, letters = R.choice([("DE", 18, 0), ("GB", 18, 4), ("FR", 23, 0), ("NL", 14, 4), ("ES", 20, 0),
                                           ("IT", 23, 1), ("BE", 12, 0), ("CH", 17, 0)])
    bban = "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(letters))
    bban += "".join(str(R.randint(0, 9)) for _ in range(bban_len - letters))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + R.randint(1, 50)) % 97 + 2
    compact = f"{country}{check:02d}{bban}"
    if R.random() < 0.6:
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    return compact


def cn_id(valid=True):
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    region = R.choice(["110105", "310104", "440106", "510107", "330106", "320102"])
    birth = f"{R.randint(1950, 2005)}{R.randint(1, 12):02d}{R.randint(1, 28):02d}"
    body = region + birth + f"{R.randint(0, 999):03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    if not valid:
        check = R.choice([c for c in "0123456789X" if c != check])
    return body + check


def ssn():
    area = R.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{R.randint(1, 99):02d}-{R.randint(1, 9999):04d}"


def phone():
    form = R.randint(0, 9)
    d = lambda n: "".join(str(R.randint(0, 9)) for _ in range(n))
    if form == 0:
        return f"+1 ({R.randint(201, 989)}) {d(3)}-{d(4)}"
    if form == 1:
        return f"({R.randint(201, 989)}) {d(3)}-{d(4)}"
    if form == 2:
        return f"{R.randint(201, 989)}-{d(3)}-{d(4)}"
    if form == 3:
        return f"+44 20 {d(4)} {d(4)}"
    if form == 4:
        return f"07{d(3)} {d(6)}"
    if form == 5:
        return f"+49 30 {d(7)}"
    if form == 6:
        return f"1{R.choice('3456789')}{d(9)}"
    if form == 7:
        return f"1{R.choice('3456789')}{d(1)} {d(4)} {d(4)}"
    if form == 8:
        return f"+86 1{R.choice('3456789')}{d(9)}"
    return f"{R.randint(201, 989)}.{d(3)}.{d(4)}"


def email():
    first, last = R.choice(FIRST).lower(), R.choice(LAST).lower().replace("'", "")
    local = R.choice([f"{first}.{last}", f"{first}{R.randint(1, 99)}", f"{first[0]}{last}", f"{first}+shop",
                      f"{first}_{last}"])
    return f"{local}@{R.choice(DOMAINS)}"


def ip():
    if R.random() < 0.7:
        return ".".join(str(R.randint(1, 254)) for _ in range(4))
    return f"2001:db8:{R.randint(1, 0xffff):x}::{R.randint(1, 0xffff):x}"


def secret():
    return R.choice(["hunter2", "Summer2024!", "Tr0ub4dor&3", "qwerty123", "P@ssw0rd", "letmein99", "x7Kq9mZt",
                     "abc12345", "Blue-Horse-42"])


def api_key():
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "sk-" + "".join(R.choice(alphabet) for _ in range(R.randint(24, 40)))


def name():
    return f"{R.choice(FIRST)} {R.choice(LAST)}"


def address():
    if R.random() < 0.5:
        return f"{R.randint(1, 999)} {R.choice(STREETS)}, {R.choice(CITIES)}"
    return f"{R.randint(1, 999)} {R.choice(STREETS)}"


def cn_address():
    return f"{R.choice(CN_ADDR)}{R.randint(1, 300)}号"


# Messages with personal data: (template, [(kind, maker)]).
POSITIVE = [
    ("Hi, my order hasn't arrived. You can reach me at {0}.", [("email", email)]),
    ("please call me back on {0} about the refund", [("phone", phone)]),
    ("My email is {0} and my phone is {1}", [("email", email), ("phone", phone)]),
    ("I was charged twice on my card {0}, can you check?", [("card", card)]),
    ("card number {0} exp 09/27 cvv on the back", [("card", card)]),
    ("Please refund to my bank account, IBAN {0}", [("iban", iban)]),
    ("For the invoice: IBAN {0}, account holder {1}", [("iban", iban), ("name", name)]),
    ("Hello, my name is {0}, I bought the Python Basics course last week", [("name", name)]),
    ("my name is {0} and I live at {1}", [("name", name), ("address", address)]),
    ("Ship it to {0} please", [("address", address)]),
    ("I can't log in, my password is {0}", [("secret", secret)]),
    ("password: {0} (I know, I should change it)", [("secret", secret)]),
    ("the integration fails with key {0}", [("secret", api_key)]),
    ("My SSN is {0}, do you need it for the tax form?", [("ssn", ssn)]),
    ("The site blocks my IP {0} since yesterday", [("ip", ip)]),
    ("login attempts from {0} were not me", [("ip", ip)]),
    ("Contact: {0} / {1}", [("name", name), ("phone", phone)]),
    ("text me at {0} when the laptop ships to {1}", [("phone", phone), ("address", address)]),
    ("I paid with {0} but the course is still locked. My email: {1}", [("card", card), ("email", email)]),
    ("hey, it's urgent, call {0}!!", [("phone", phone)]),
    ("{0} is my work address, please send the receipt there", [("email", email)]),
    ("my wife's number is {0}, she will pick it up", [("phone", phone)]),
    ("Hi there! Name: {0}. Order arrived broken.", [("name", name)]),
    ("can you change the delivery address to {0}?", [("address", address)]),
    ("Please update my payment card to {0}, the old one expired", [("card", card)]),
    ("您好，我叫{0}，想退货", [("name", "cn_name")]),
    ("我的手机号是{0}，请尽快联系我", [("phone", "cn_mobile")]),
    ("邮箱：{0}，发票请发到这里", [("email", email)]),
    ("身份证号{0}，需要实名认证吗？", [("cn_id", cn_id)]),
    ("请寄到{0}，谢谢", [("address", "cn_address")]),
    ("我的银行卡号是{0}，退款到这张卡", [("card", card)]),
    ("姓名：{0}，电话：{1}", [("name", "cn_name"), ("phone", "cn_mobile")]),
    ("密码是{0}，登录不了", [("secret", secret)]),
    ("我叫{0}，身份证{1}，地址{2}", [("name", "cn_name"), ("cn_id", cn_id), ("address", "cn_address")]),
    ("我的邮箱是{0}，手机{1}", [("email", email), ("phone", "cn_mobile")]),
    ("IBAN: {0}，请退款", [("iban", iban)]),
    ("my ID card number is {0}", [("cn_id", cn_id)]),
]

# Hard negatives: numbers and words that look like personal data and are not.
NEGATIVE = [
    lambda: f"Where is my order {R.randint(10**9, 10**10 - 1)}? It's been a week.",
    lambda: f"order #{R.randint(100000, 999999)} arrived damaged",
    lambda: f"The laptop costs ${R.randint(4, 2) if False else R.randint(400, 2999)}.99, is there a discount?",
    lambda: f"I paid {R.randint(1, 9)},{R.randint(100, 999)}.00 EUR for the bundle",
    lambda: f"it was delivered on 2024-{R.randint(1, 12):02d}-{R.randint(1, 28):02d} but the box was empty",
    lambda: f"my subscription renews {R.randint(1, 28):02d}/{R.randint(1, 12):02d}/2025, can I cancel before?",
    lambda: f"the app says version {R.randint(1, 12)}.{R.randint(0, 9)}.{R.randint(0, 20)}, is that the latest?",
    lambda: f"Windows build 10.0.{R.randint(10000, 22999)} crashes when I open the course",
    lambda: f"Is ISBN 978-{R.randint(0, 9)}-{R.randint(10, 99)}-{R.randint(100000, 999999)}-{R.randint(0, 9)} the right edition?",
    lambda: f"tracking number 1Z{R.randint(100, 999)}AA{R.randint(10**9, 10**10 - 1)} shows no movement",
    lambda: f"tracking 9400 {R.randint(1000, 9999)} {R.randint(1000, 9999)} {R.randint(1000, 9999)} {R.randint(1000, 9999)} {R.randint(10, 99)}",
    lambda: f"my card {card(valid=False)} was declined, is it blocked?",
    lambda: f"I have {R.randint(2, 5)} laptops and {R.randint(2, 9)} monitors to return",
    lambda: "my password is not working after the reset",
    lambda: "I forgot my password, how do I reset it?",
    lambda: "the password is wrong every time I type it",
    lambda: f"The meeting is at {R.randint(8, 17)}:{R.choice(['00', '15', '30', '45'])}, right?",
    lambda: f"model XPS 13 {R.randint(9300, 9399)} or the {R.randint(14, 16)} inch one?",
    lambda: f"course code PY{R.randint(100, 399)} starts on Monday",
    lambda: "This is Python Basics, the beginner course?",
    lambda: "my name is on the order but the invoice is wrong",
    lambda: f"ticket {R.randint(10**7, 10**8 - 1)} is still open",
    lambda: f"reference {R.randint(10**11, 10**12 - 1)} from the bank transfer",
    lambda: f"I bought {R.randint(2, 9)} Blue Shirts and one hat",
    lambda: f"it weighs {R.randint(1, 3)}.{R.randint(1, 9)} kg and measures {R.randint(20, 40)}x{R.randint(20, 40)} cm",
    lambda: f"we need {R.randint(10, 50)} licences for {R.randint(2, 12)} months",
    lambda: f"the serial number is SN{R.randint(10**8, 10**9 - 1)}",
    lambda: f"IBAN {iban(valid=False)} was rejected, what is wrong?",
    lambda: f"订单号{R.randint(10**11, 10**12 - 1)}还没发货",
    lambda: f"这个课程多少钱？是{R.randint(199, 3999)}元吗",
    lambda: f"快递单号{R.randint(10**11, 10**12 - 1)}查不到",
    lambda: f"{R.randint(2023, 2025)}年{R.randint(1, 12)}月{R.randint(1, 28)}日买的，可以退吗",
    lambda: "我叫了快递但是没人来",
    lambda: f"版本{R.randint(1, 5)}.{R.randint(0, 9)}.{R.randint(0, 9)}有问题",
    lambda: f"身份证号{cn_id(valid=False)}验证失败",
    lambda: f"第{R.randint(1, 99)}号课程什么时候开始？",
    lambda: f"ratio {R.randint(1, 4)}:{R.randint(1, 4)}:{R.randint(1, 4)} for the mix",
    lambda: "email me the receipt please",
    lambda: "what's your phone number?",
    lambda: f"I tried {R.randint(3, 9)} times and still get error 0x{R.randint(0x1000, 0xffff):x}",
]


def fill(maker):
    if maker == "cn_name":
        return R.choice(CN_NAMES)
    if maker == "cn_mobile":
        d = "".join(str(R.randint(0, 9)) for _ in range(9))
        return f"1{R.choice('3456789')}{d}"
    if maker == "cn_address":
        return cn_address()
    return maker()


def main():
    lines = []
    for _ in range(300):
        template, slots = R.choice(POSITIVE)
        values = [(kind, fill(maker)) for kind, maker in slots]
        message = template.format(*(v for _, v in values))
        labels = " || ".join(f"{k}={v}" for k, v in values)
        lines.append(f"{message}\t{labels}")
    for _ in range(300):
        lines.append(f"{R.choice(NEGATIVE)()}\t")
    R.shuffle(lines)
    print("# message<TAB>labels (kind=value joined by ' || '); made by scripts/make-pii-set.py")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
