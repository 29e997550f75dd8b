"""What verifying the access log found, and the state of a walk along the chain.

Both walks (the readable reference in ``verify_reference`` and the tuned PostgreSQL one in
``verify_postgresql``) check the same things in the same order and hand every finding to ``Walk``, so
the plain-English reports come from one place and the two walks cannot word a finding differently.

Why the walks check structure as well as hashes
-----------------------------------------------
The bytes hashed are the canonical payload (``portal.access_log.format``) only if the stored columns
split those bytes where the format does. Values that hold a separator (only tampering can put one
there) could move bytes between columns and still hash alike: a subject's person id moved out of
``records`` into ``detail`` would hide the entry from a search by that person, a digit of the subject
count moved into ``records`` would misstate it. The hash fixes the bytes to the ones append wrote,
E + R: E the entry's fields (no RS in them, and ending with the subject count's digits) and R the
records (empty, or starting with RS). So verification also checks that the stored fields hold no RS and
that the stored records are empty or start with RS: stored fields longer than E would take in R's first
RS, shorter ones would leave a byte of E, not an RS, at the start of the stored records. So the stored
fields are E, the records R; E holds exactly the 16 US that join its 17 values (a NULL is written as "",
never skipped), so no value holds one, and every column holds what append wrote, the subject count
included: R then holds subject_count RS and 4 x subject_count US. NULL and "" encode alike in the
entry's id columns, so ids stored as "" are found by an indexed query instead (inside ``records`` an
absent id is "").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from portal.access_log import signing
from portal.access_log.format import GENESIS

GENESIS_BYTES = GENESIS.encode()


@dataclass(frozen=True)
class VerifyReport:
    """What verification found. ``first_bad_seq`` is None when the log is intact."""

    intact_up_to: int  #: the last entry checked and found good (0 when none)
    first_bad_seq: int | None
    problem: str | None  #: plain English, e.g. "entry 42 was changed"
    entries: int  #: entries read and recomputed
    subjects: int  #: subjects recorded in those entries (their subject records)
    checkpoints: int  #: checkpoints whose signature and hash were checked
    head_seq: int | None  #: the chain head's sequence number, if the row exists

    @property
    def intact(self) -> bool:
        return self.first_bad_seq is None

    def summary(self) -> str:
        if self.intact:
            return (
                f"Access log intact up to entry {self.intact_up_to} "
                f"({self.entries} entries, {self.checkpoints} checkpoints)"
            )
        return (
            f"Access log NOT intact: first bad entry {self.first_bad_seq}: {self.problem}. "
            f"Intact up to entry {self.intact_up_to}."
        )


class Walk:
    """Where a verification walk has got to, and the plain-English report of what it found.

    The per-entry loops keep their counters in local variables for speed and hand them back here
    before calling anything else.
    """

    def __init__(
        self,
        checkpoints: Mapping[int, tuple[str, str, str]],
        head: tuple[Any, ...] | None,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        blank_seq: int | None,
        pool: Executor | None = None,
    ) -> None:
        self.checkpoints = checkpoints
        self.sealed = {seq: signed[0].encode() for seq, signed in checkpoints.items()}
        self.head = head
        self.head_seq = int(head[0]) if head is not None else None
        self.trusted_keys = trusted_keys
        #: an entry whose id column holds "" (found by an indexed query): treated as changed
        self.blank_seq = blank_seq if blank_seq is not None else -1
        self.expected = 1  #: the next sequence number due
        self.prev = GENESIS_BYTES  #: the hash the next entry must chain from
        self.subjects = 0  #: subject records in the entries checked
        self.checked_checkpoints = 0
        self.last_good_checkpoint = 0
        # The signatures do not depend on the walk: given a pool, they are checked on its thread, in
        # order, while the walk streams (the Ed25519 check releases the GIL), and read when reached.
        self._signatures = {seq: pool.submit(self._check_signature, seq) for seq in sorted(checkpoints)} if pool else {}

    def report(
        self, first_bad: int | None = None, problem: str | None = None, intact_up_to: int | None = None
    ) -> VerifyReport:
        if first_bad is not None and intact_up_to is None:
            intact_up_to = first_bad - 1
        return VerifyReport(
            intact_up_to=self.expected - 1 if intact_up_to is None else intact_up_to,
            first_bad_seq=first_bad,
            problem=problem,
            entries=self.expected - 1,
            subjects=self.subjects,
            checkpoints=self.checked_checkpoints,
            head_seq=self.head_seq,
        )

    def bad_entry(self, seq: int, linked_to: bytes) -> VerifyReport:
        """Explain why entry ``seq`` (whose stored prev_hash is ``linked_to``) failed the checks."""
        expected = self.expected
        if seq != expected:
            if seq == expected + 1:
                return self.report(expected, f"entry {expected} is missing")
            return self.report(expected, f"entries {expected} to {seq - 1} are missing")
        if linked_to != self.prev:
            before = f"entry {seq - 1}" if seq > 1 else "the start of the log"
            return self.report(
                seq, f"entry {seq} is out of place: it does not follow {before} (inserted, removed or reordered)"
            )
        return self.report(seq, f"entry {seq} was changed")

    def _signature_problem(self, seq: int) -> str | None:
        pending = self._signatures.get(seq)
        return self._check_signature(seq) if pending is None else pending.result()

    def _check_signature(self, seq: int) -> str | None:
        signed_hash, signer, signature = self.checkpoints[seq]
        key = self.trusted_keys.get(signer)
        if key is None:
            return f"checkpoint at {seq} is signed with key {signer}, which is not a trusted key"
        if not signing.checkpoint_signature_valid(key, seq, signed_hash, signature):
            return f"checkpoint at {seq} has a bad signature"
        return None

    def checkpoint(self, seq: int, entry_hash: bytes) -> VerifyReport | None:
        """Check the checkpoint at ``seq`` (whose entry has just verified); a report if it fails."""
        problem = self._signature_problem(seq)
        if problem is not None:
            return self.report(seq, problem)
        if self.sealed[seq] != entry_hash:
            start = self.last_good_checkpoint + 1
            return self.report(
                start,
                f"entries {start} to {seq} were rewritten: entry {seq} does not match the signed checkpoint at {seq}",
                self.last_good_checkpoint,
            )
        self.last_good_checkpoint = seq
        self.checked_checkpoints += 1
        return None

    def end(self) -> VerifyReport:
        """After the last entry: checkpoints beyond it, and the chain head."""
        tail = self.expected - 1
        later = sorted(seq for seq in self.checkpoints if seq > tail)
        for seq in later:
            problem = self._signature_problem(seq)
            if problem is not None:
                return self.report(tail + 1, problem, tail)
        if later:
            return self.report(tail + 1, f"entries after {tail} were removed (signed checkpoint at {later[-1]})")
        if self.head is None:
            return self.report(tail + 1, "the chain head row is missing, so nothing can be appended")
        head_seq = self.head_seq
        if head_seq is not None and head_seq > tail:
            return self.report(tail + 1, f"entries after {tail} were removed (the chain head records {head_seq})")
        if head_seq is not None and head_seq < tail:
            return self.report(
                head_seq + 1, f"entry {head_seq + 1} was added outside the chain (the chain head records {head_seq})"
            )
        if str(self.head[1]).encode() != self.prev:
            return self.report(tail, f"entry {tail} was changed (it does not match the chain head)")
        return self.report()


#: a walk along the entries: (DBAPI connection, the bound on seq or None, the walk's state) -> report
Walker = Callable[[Any, int | None, Walk], VerifyReport]
