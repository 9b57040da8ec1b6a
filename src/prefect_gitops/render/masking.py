"""Secret masking for plan documents: every renderer reads the masked dict, never the raw plan.

Three nets, applied in order:

1. By key: the value of a key that looks secret (`password`, `token`, `secret`, `key` as a word,
   `credentials`, `auth`, plus the user's `mask_keys`) is replaced by `MASK`, wherever the key
   sits (resource states, nested dicts, env maps, the paths of changed fields). A dict shaped
   `{"name": <secret-looking>, "value": ...}` (a Prefect variable, a Kubernetes env entry) has its
   `value` masked too.
2. By value: a string equal to a value masked in step 1 anywhere in the same plan is masked
   wherever else it appears, and cut out of longer strings (as a word if it is short).
3. Literal values the caller knows are secret (`mask_values`: the API key, the auth string) are
   cut out of every string of the document, and the password of an `api_url` is hidden.

A plan holding a secret also has its two fingerprints masked: they are plain SHA-256 hashes of
the states (a saved plan carries keyed ones instead, see plans/saved.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "(sensitive value)"

_SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "token", "secret", "key", "credential", "credentials"}
    | {"auth", "authorization", "apikey"}
)
# Run-together spellings (`apikey`, `dbpassword`, `clientsecret`): a word ending in one of these.
_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "secret",
    "token",
    "credentials",
    "credential",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
)
# Secret strings this long are cut out of longer text wherever they appear; shorter ones
# only where they stand as a word (so "abc" leaves "abcde" alone); tiny ones only where they
# are the whole value.
_MIN_SUBSTRING = 6
_MIN_WORD = 3

# Every key `_is_secret_word` accepts holds one of these (lowercased): a tree whose repr
# holds none of them has no secret key and no secret name/value pair, and is not walked.
_SECRET_NEEDLES = ("passw", "passphrase", "token", "secret", "key", "credential", "auth")
# A user's exact key found verbatim in a repr: printable ASCII, no quote or backslash.
_VERBATIM = re.compile(r"[ !#-\[\]-~]*")

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PATH_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def key_words(key: str) -> list[str]:
    """`apiKey`, `API_KEY`, `api-key` -> ["api", "key"]."""
    return [w.lower() for w in _WORD.findall(key)]


def _is_secret_word(word: str) -> bool:
    singular = word[:-1] if word.endswith("s") and len(word) > 3 else word
    if word in _SECRET_WORDS or singular in _SECRET_WORDS:
        return True
    return any(word.endswith(s) or singular.endswith(s) for s in _SECRET_SUFFIXES)


class Masker:
    """Decides which keys are secret and masks values; collects what it masked."""

    def __init__(self, mask_keys: Iterable[str] = (), mask_values: Iterable[str] = ()) -> None:
        self._user_keys = [key_words(k) for k in mask_keys if key_words(k)]
        self._user_exact = {k.lower() for k in mask_keys}
        self.literals = sorted({v for v in mask_values if v}, key=len, reverse=True)
        self.secrets: set[str] = set()
        self._verdicts: dict[str, bool] = {}  # keys repeat across resources: decide each once
        self._needles = _needles(mask_keys)

    def is_secret_key(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = self._decide(key)
        return verdict

    def _decide(self, key: str) -> bool:
        if key.lower() in self._user_exact:
            return True
        words = key_words(key)
        if any(_is_secret_word(w) for w in words):
            return True
        return any(_contains_run(words, user) for user in self._user_keys)

    def _is_secret_pair(self, node: dict[str, Any]) -> bool:
        name = node.get("name")
        return "value" in node and isinstance(name, str) and self.is_secret_key(name)

    # -- step 1: by key -------------------------------------------------------------------

    def mask_tree(self, value: Any) -> Any:
        """`value` with secret-keyed values replaced by MASK: a copy, or `value` itself when
        its text cannot hold a secret key (the common, large case: a plan of 10,000
        deployments is mostly such trees; nothing mutates a plan document)."""
        if isinstance(value, (dict, list)) and not self.may_hold_secret(value):
            return value
        return self._mask(value)

    def may_hold_secret(self, value: Any) -> bool:
        """False only when no key or `name` in `value` can be secret: none of the words a
        secret key is made of occurs in its text (one C-speed repr, no walk; repr escapes
        no letter)."""
        if self._needles is None:
            return True
        text = repr(value).lower()
        return any(needle in text for needle in self._needles)

    def _mask(self, value: Any) -> Any:
        if isinstance(value, dict):
            pair = self._is_secret_pair(value)
            out: dict[Any, Any] = {}
            for k, v in value.items():
                if self.is_secret_key(k) or (pair and k == "value"):
                    self.collect(v)
                    out[k] = MASK
                else:
                    out[k] = self._mask(v)
            return out
        if isinstance(value, list):
            return [self._mask(v) for v in value]
        return value

    def collect(self, value: Any) -> None:
        """Remember the strings of a masked value: the value itself when it is a string, and
        inside a masked container only the strings that are themselves under secret keys, so
        that masking `credentials: {username: bob, ...}` does not mask every "bob" in the plan."""
        if isinstance(value, str):
            if value and value != MASK:
                self.secrets.add(value)
        elif isinstance(value, (dict, list)):
            self.mask_tree(value)

    def path_is_secret(self, path: str, states: Iterable[Any]) -> bool:
        """Whether the value at a changed field's path is secret: one of its keys looks secret,
        or it is the `value` of a secret-named name/value dict in one of the resource states."""
        segments = parse_path(path)
        if any(not is_selector and self.is_secret_key(seg) for seg, is_selector in segments):
            return True
        for state in states:
            node = state
            for seg, is_selector in segments:
                if isinstance(node, dict):
                    if seg == "value" and self._is_secret_pair(node):
                        return True
                    node = node.get(seg)
                elif isinstance(node, list):
                    node = _select(node, seg, is_selector)
                else:
                    break
        return False

    # -- steps 2 and 3: by value ----------------------------------------------------------

    def scrub(self, value: Any) -> Any:
        """A copy of `value` with known secret strings masked or cut out."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value

    def scrub_text(self, text: str) -> str:
        if text in self.secrets:
            return MASK
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret not in text:
                continue
            if len(secret) >= _MIN_SUBSTRING:
                text = text.replace(secret, MASK)
            elif len(secret) >= _MIN_WORD:
                text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", MASK, text)
        return self._cut_literals(text)

    def scrub_literals(self, value: Any) -> Any:
        """Cut the caller's literal secrets out of every string, addresses and names included."""
        if isinstance(value, str):
            return self._cut_literals(value)
        if isinstance(value, dict):
            return {
                self._cut_literals(k) if isinstance(k, str) else k: self.scrub_literals(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.scrub_literals(v) for v in value]
        return value

    def _cut_literals(self, text: str) -> str:
        for literal in self.literals:
            if literal in text:
                text = MASK if text == literal else text.replace(literal, MASK)
        return text


def _needles(mask_keys: Iterable[str]) -> tuple[str, ...] | None:
    """What `Masker.may_hold_secret` looks for: the secret words, and the user's keys and
    their words; None (always walk) when a user key may not show verbatim in a repr."""
    needles = list(_SECRET_NEEDLES)
    for key in mask_keys:
        if not _VERBATIM.fullmatch(key):
            return None
        needles.append(key.lower())
        needles.extend(key_words(key))
    return tuple(needles)


def _contains_run(words: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(words[i : i + n] == run for i in range(len(words) - n + 1))


def parse_path(path: str) -> list[tuple[str, bool]]:
    """`schedules[daily].schedule.cron` -> [("schedules", False), ("daily", True), ...]."""
    return [
        (key if key else sel, not key) for key, sel in _PATH_SEGMENT.findall(path) if key or sel
    ]


def _select(items: list[Any], selector: str, is_selector: bool) -> Any:
    if not is_selector:
        return None
    if selector.isdigit():
        index = int(selector)
        return items[index] if index < len(items) else None
    for item in items:
        if isinstance(item, dict) and selector in (item.get("slug"), item.get("name")):
            return item
    return None


def hide_url_password(url: str) -> str:
    """`https://user:pass@host/api` -> `https://user:(sensitive value)@host/api`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _mask_changes(masker: Masker, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Step 1 over every resource change; `masker.secrets` holds what it masked."""
    changes: list[dict[str, Any]] = []
    for rc in doc.get("resource_changes", ()):
        states = (rc.get("before"), rc.get("after"))
        masked = dict(rc)
        masked["after"] = masker.mask_tree(rc.get("after"))
        # A no-op's states are equal: the same keys and strings, so the same verdict.
        unmasked = masked["after"] is rc.get("after") and rc.get("before") == rc.get("after")
        masked["before"] = rc.get("before") if unmasked else masker.mask_tree(rc.get("before"))
        fields = []
        for fc in rc.get("changed_fields", ()):
            out = dict(fc)
            if masker.path_is_secret(str(fc.get("path", "")), states):
                for side in ("before", "after"):
                    masker.collect(fc.get(side))
                    out[side] = MASK if fc.get(side) is not None else None
            else:
                out["before"] = masker.mask_tree(fc.get("before"))
                out["after"] = masker.mask_tree(fc.get("after"))
            fields.append(out)
        masked["changed_fields"] = fields
        changes.append(masked)
    return changes


def mask_plan_dict(
    doc: dict[str, Any], *, mask_keys: Collection[str] = (), mask_values: Collection[str] = ()
) -> dict[str, Any]:
    """The plan's JSON dict with every secret masked (see the module docstring)."""
    masker = Masker(mask_keys, mask_values)
    changes = _mask_changes(masker, doc)
    result = dict(doc)
    if masker.secrets:
        changes = [
            {
                **rc,
                "before": masker.scrub(rc["before"]),
                "after": masker.scrub(rc["after"]),
                "changed_fields": masker.scrub(rc["changed_fields"]),
                "notes": masker.scrub(list(rc.get("notes", ()))),
            }
            for rc in changes
        ]
        # A plain hash of states holding a secret lets anyone test guesses of a short one.
        for field in ("desired_fingerprint", "live_fingerprint"):
            if field in result:
                result[field] = MASK
    # With no secret found there is nothing to scrub by value (the common, large case).
    result["resource_changes"] = changes
    if isinstance(result.get("api_url"), str):
        result["api_url"] = masker.scrub_text(hide_url_password(result["api_url"]))
    if masker.literals:
        result = masker.scrub_literals(result)
    return result


def plan_secrets(
    doc: dict[str, Any], *, mask_keys: Collection[str] = (), mask_values: Collection[str] = ()
) -> frozenset[str]:
    """Every string `mask_plan_dict` hides in the plan `doc`: values under secret-looking keys
    and the caller's literals. What `mask_message` hides in a server's answer about that plan."""
    masker = Masker(mask_keys, mask_values)
    _mask_changes(masker, doc)
    return frozenset(masker.secrets | set(masker.literals))


def mask_message(text: str, secrets: Collection[str]) -> str:
    """`text` (a server's error message, say) with every secret of `secrets` masked by the rules
    values follow, also in the forms a server echoes them in (escaped as JSON or as a Python
    repr, as request bodies and pydantic errors are) and the forms the API client leaves of
    them: runs of whitespace folded to one space, and a secret cut short where a long message
    was truncated with "…"."""
    masker = Masker()
    for secret in secrets:
        if secret and secret != MASK:
            masker.secrets.update(_echoed_forms(secret))
    masker.secrets.discard("")
    text = masker.scrub_text(text)
    if text.endswith("…"):
        text = _mask_cut_secret(text[:-1], masker.secrets) + "…"
    return text


def _echoed_forms(secret: str) -> set[str]:
    """`secret` as a server's message may quote it, each also with its whitespace folded."""
    escaped = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }
    return escaped | {" ".join(form.split()) for form in escaped}


def _mask_cut_secret(text: str, secrets: Iterable[str]) -> str:
    """Mask the start of a secret that `text` ends with (the rest was truncated away)."""
    longest = 0
    for secret in secrets:
        if len(secret) < _MIN_WORD:
            continue
        for size in range(min(len(secret) - 1, len(text)), longest, -1):
            if text.endswith(secret[:size]):
                longest = size
                break
    return text[: len(text) - longest] + MASK if longest else text
