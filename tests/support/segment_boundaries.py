"""The encoding and segment boundaries Twilio's counting turns on, as (body, encoding,
segments, characters): GSM-7 160/161 and 153 per part, each extension character (two
septets), UCS-2 70/71 and 67 per part, emoji (surrogate pairs), mixed scripts, 1600."""

EXTENSION = ["€", "[", "]", "{", "}", "~", "^", "\\", "|"]
EMOJI = "\U0001F600"

BOUNDARIES = [
    ("a" * 160, "GSM-7", 1, 160),
    ("a" * 161, "GSM-7", 2, 161),
    ("a" * 306, "GSM-7", 2, 306),
    ("a" * 307, "GSM-7", 3, 307),
    *[("x" * 158 + ch, "GSM-7", 1, 159) for ch in EXTENSION],   # 160 septets
    *[("x" * 159 + ch, "GSM-7", 2, 160) for ch in EXTENSION],   # 161 septets
    ("€" * 80, "GSM-7", 1, 80),                                   # 160 septets of escapes
    ("€" * 80 + "a", "GSM-7", 2, 81),
    ("ж" * 70, "UCS-2", 1, 70),
    ("ж" * 71, "UCS-2", 2, 71),
    ("ж" * 134, "UCS-2", 2, 134),
    ("ж" * 135, "UCS-2", 3, 135),
    (EMOJI * 35, "UCS-2", 1, 35),                                # 70 UTF-16 units
    (EMOJI * 36, "UCS-2", 2, 36),
    ("a" * 69 + EMOJI, "UCS-2", 2, 70),                          # 71 units
    ("ж" * 66 + EMOJI + "ж" * 66, "UCS-2", 3, 133),              # the pair is not split
    ("Hello Привет 你好 مرحبا", "UCS-2", 1, 21),
    ("Prix: 5€ [promo] {code} ~ ^ \\ |", "GSM-7", 1, 31),
    ("a" * 159 + "ç", "UCS-2", 3, 160),                          # one non-GSM char: all UCS-2
    ("a" * 1600, "GSM-7", 11, 1600),
    ("ж" * 1600, "UCS-2", 24, 1600),
]
