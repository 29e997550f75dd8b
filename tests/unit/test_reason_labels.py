"""Every reason code the policy can give has words for the data protection officer's log pages.

The DPO reads reasons as sentences (``sharing_protocols.policy.REASON_LABELS``); a code added to the policy
without a label would show as its underscored code. The codes are read from the policy's source: every
``Reason`` it builds names its code as a string literal first.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

from sharing_protocols import policy
from sharing_protocols.policy import REASON_LABELS


def test_every_reason_code_in_the_policy_has_a_label():
    source = "".join(
        inspect.getsource(importlib.import_module(f"sharing_protocols.policy.{m.name}"))
        for m in pkgutil.iter_modules(policy.__path__)
    )
    codes = set(re.findall(r'Reason\(\s*"([a-z_]+)"', source))
    assert len(codes) > 25, "the pattern no longer finds the policy's reasons"
    assert sorted(codes - set(REASON_LABELS)) == []
