"""Every reason code the policy can give has words for the data protection officer's log pages.

The DPO reads reasons as sentences (``portal.audit.forms.REASON_LABELS``); a code added to the policy
without a label would show as its underscored code. The codes are read from the policy's source: every
``Reason`` it builds names its code as a string literal first.
"""

from __future__ import annotations

import inspect
import re

from portal.audit.forms import REASON_LABELS
from sharing_protocols import policy


def test_every_reason_code_in_the_policy_has_a_label():
    source = inspect.getsource(policy)
    codes = set(re.findall(r'Reason\(\s*"([a-z_]+)"', source))
    assert len(codes) > 25, "the pattern no longer finds the policy's reasons"
    assert sorted(codes - set(REASON_LABELS)) == []
