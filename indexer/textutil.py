"""Word stems shared by the indexer and the query side, so both agree on what a word is."""

from __future__ import annotations

import re
from functools import lru_cache

from nltk.stem.snowball import SnowballStemmer

WORD = re.compile(r"[A-Za-z0-9]+")
_stemmer = SnowballStemmer("english")  # the same algorithm as tantivy's en_stem

# Words that Snowball does not join to the word a question uses, each line "base form forms...".
# Past forms of irregular verbs: reviews tell what happened in the past tense ("the nurse
# found", "no agency took the lead") while users ask "what did the nurse find". Forms that are
# as often other words in these reports are left out (born, bore, bit, lay, lain, wound, ground,
# bound, rose), and so are be/do/have, which are stopwords.
_IRREGULAR_FORMS = """
arise arose arisen | awake awoke awoken | become became | begin began begun | bend bent |
bite bitten | blow blew blown | break broke broken | bring brought | build built | buy bought |
catch caught | choose chose chosen | come came | deal dealt | draw drew drawn | drink drank drunk |
drive drove driven | eat ate eaten | fall fell fallen | feed fed | feel felt | fight fought |
find found | flee fled | fly flew flown | forbid forbade forbidden | forget forgot forgotten |
forgive forgave forgiven | freeze froze frozen | get got gotten | give gave given | go went gone |
grow grew grown | hang hung | hear heard | hide hid hidden | hold held | keep kept | know knew known |
lead led | leave left | lend lent | lose lost | make made | mean meant | meet met | mislead misled |
misunderstand misunderstood | overcome overcame | oversee oversaw overseen | overtake overtook overtaken |
pay paid | ride rode ridden | ring rang rung | run ran | say said | see saw seen | seek sought |
sell sold | send sent | shake shook shaken | shine shone | shoot shot | show shown | sing sang sung |
sink sank sunk | sit sat | sleep slept | speak spoke spoken | spend spent | stand stood | steal stole stolen |
stick stuck | sting stung | strike struck stricken | swear swore sworn | swim swam swum | take took taken |
teach taught | tear tore torn | tell told | think thought | throw threw thrown | undergo underwent undergone |
understand understood | undertake undertook undertaken | wake woke woken | wear wore worn | weep wept |
win won | withdraw withdrew withdrawn | withhold withheld | write wrote written
"""
# Nouns of the domain's common verbs and adjectives whose stems differ ("referral" gives
# "referr", "referred" gives "refer"; "pregnancy" and "pregnant"; "death" and "died").
_DERIVED_FORMS = """
refer referral referrals | pregnant pregnancy pregnancies | injure injury injuries | fail failure failures |
die death deaths dead | decide decision decisions | disclose disclosure disclosures | admit admission admissions |
intervene intervention interventions | conclude conclusion conclusions | publish publication |
explain explanation explanations | describe description descriptions | provide provision provisions |
respond response responses | apply application applications | identify identification | close closure |
deny denial | absent absence absences | violent violence | safe safety | anxious anxiety |
hospital hospitalised hospitalized
"""
BASE_FORMS: dict[str, str] = {
    form: forms.split()[0]
    for forms in (_IRREGULAR_FORMS + "|" + _DERIVED_FORMS).split("|")
    for form in forms.split()[1:]
}


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball English stem of a word, lower-cased."""
    return _stemmer.stem(word.lower())


@lru_cache(maxsize=200_000)
def word_stems(word: str) -> tuple[str, ...]:
    """A word's stem, and its base form's stem when BASE_FORMS has one ("found": "found", "find")."""
    base = BASE_FORMS.get(word.lower())
    return (stem(word), stem(base)) if base else (stem(word),)


def sentence_stems(text: str, spans: list[tuple[int, int]], offset: int = 0) -> str:
    """The distinct stems of each sentence, one line per sentence, for fast matching later;
    a word in BASE_FORMS adds its base form's stem too ("took" gives "took" and "take")."""
    return "\n".join(
        " ".join(sorted({s for w in WORD.findall(text[a - offset : b - offset]) for s in word_stems(w)})) for a, b in spans
    )
