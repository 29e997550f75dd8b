"""How alike two given or family names are: common forms of the same given name (Bill and William),
and the Jaro-Winkler similarity of two spellings (Thomson and Thompson).

Pure: plain strings in, a verdict out, on names already normalised (``portal.families.matching_keys``).
Apart from ``referrals.matching``, which scores candidates, because it is a table and an algorithm that
change for their own reasons (a council adds the name forms its families use; the comparison's points
stay as they are), and both are tested on their own (``tests/unit/test_matching*``).
"""

from __future__ import annotations

# ------------------------------------------------------------------------------ given-name forms

#: common English short forms and spellings of given names; a name's group is every form it is in
_NAME_FORMS = (
    ("william", "bill", "billy", "will", "willy", "liam"),
    ("robert", "bob", "bobby", "rob", "robbie", "bert"),
    ("richard", "rick", "ricky", "dick", "richie"),
    ("james", "jim", "jimmy", "jamie"),
    ("john", "jack", "johnny", "jon"),
    ("jonathan", "jon", "jonny"),
    ("michael", "mike", "mick", "mickey", "micky"),
    ("thomas", "tom", "tommy"),
    ("anthony", "tony", "antony"),
    ("alexander", "alex", "alec", "sandy", "xander"),
    ("alexandra", "alex", "alexa", "sandra", "lexi"),
    ("christopher", "chris", "kit"),
    ("christine", "chris", "chrissie", "christina"),
    ("daniel", "dan", "danny"),
    ("david", "dave", "davey", "dai"),
    ("edward", "ed", "eddie", "ted", "teddy", "ned"),
    ("joseph", "joe", "joey"),
    ("samuel", "sam", "sammy"),
    ("samantha", "sam", "sammie"),
    ("benjamin", "ben", "benny"),
    ("matthew", "matt", "mat"),
    ("nicholas", "nick", "nicky", "nico"),
    ("patrick", "pat", "paddy"),
    ("patricia", "pat", "patsy", "trish", "tricia"),
    ("stephen", "steven", "steve", "stevie"),
    ("andrew", "andy", "drew"),
    ("peter", "pete"),
    ("charles", "charlie", "chas", "chuck"),
    ("charlotte", "charlie", "lottie"),
    ("henry", "harry", "hal"),
    ("frederick", "fred", "freddie"),
    ("elizabeth", "liz", "lizzie", "beth", "betty", "eliza", "libby", "elisabeth"),
    ("margaret", "maggie", "meg", "peggy", "megan"),
    ("catherine", "katherine", "kathryn", "kate", "katie", "kathy", "cathy", "kat", "kitty"),
    ("jennifer", "jen", "jenny", "jenna"),
    ("rebecca", "becky", "becca"),
    ("susan", "sue", "susie", "suzanne"),
    ("deborah", "debbie", "debra", "deb"),
    ("victoria", "vicky", "vicki", "tori"),
    ("jessica", "jess", "jessie"),
    ("abigail", "abbie", "abby", "gail"),
    ("isabella", "isabel", "izzy", "bella", "isobel"),
    ("olivia", "liv", "livvy"),
    ("amelia", "millie", "amy"),
    ("emily", "emmy", "em"),
    ("emma", "em"),
    ("eleanor", "ellie", "nell", "elle"),
    ("mohammed", "muhammad", "mohammad", "mohamed", "muhammed", "mohamad"),
    ("ahmed", "ahmad"),
    ("yusuf", "yousef", "youssef", "joseph"),
    ("zachary", "zach", "zack"),
    ("joshua", "josh"),
    ("nathan", "nate", "nathaniel"),
    ("oliver", "ollie"),
    ("theodore", "theo", "ted"),
    ("kieran", "ciaran"),
    ("sean", "shaun", "shawn"),
)
_FORMS: dict[str, frozenset[str]] = {}
for _group in _NAME_FORMS:
    for _name in _group:
        _FORMS[_name] = _FORMS.get(_name, frozenset()) | frozenset(_group)


def same_given_name_forms(a: str, b: str) -> bool:
    """Whether two normalised given names are forms of the same name (Bill and William); symmetric."""
    return a != b and (b in _FORMS.get(a, ()) or a in _FORMS.get(b, ()))


# ------------------------------------------------------------------------------------ similarity


def jaro_winkler(a: str, b: str) -> float:
    """The Jaro-Winkler similarity of two strings (1.0 identical, 0.0 nothing in common); symmetric."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    if (len(a), a) > (len(b), b):
        a, b = b, a  # the greedy matching depends on which string leads: fixing the order makes it symmetric
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    taken = [False] * len(b)
    matched_a: list[str] = []
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not taken[j] and b[j] == ch:
                taken[j] = True
                matched_a.append(ch)
                break
    if not matched_a:
        return 0.0
    matched_b = [b[j] for j in range(len(b)) if taken[j]]
    transpositions = sum(x != y for x, y in zip(matched_a, matched_b, strict=True)) / 2
    m = len(matched_a)
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


#: at or above this, two names count as "similar" (Thomson/Thompson 0.97, Smith/Smyth 0.89)
SIMILAR_FAMILY_NAME = 0.88
SIMILAR_GIVEN_NAME = 0.88
