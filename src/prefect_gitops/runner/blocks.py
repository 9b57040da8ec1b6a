"""Block references in a job configuration, resolved at run time as Prefect's workers do.

``apply`` keeps ``{{ prefect.blocks.<type>.<name>[.<path>] }}`` and ``{"$ref":
{"block_document_id": ...}}`` in job variables so that no secret is stored in them; a worker
replaces them with the block document's data just before the run starts
(``resolve_block_document_references`` in ``prefect/utilities/templating``, 3.9.1). Every
value read from a block is treated as a secret: it reaches the child's configuration and is
redacted from anything we print.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from ..errors import ReconcilerError
from ..prefect.api import ApiClient
from ..prefect.templating import (
    NotSet,
    Placeholder,
    PlaceholderKind,
    block_reference,
    find_placeholders,
    lookup,
)

REDACTED = "***"
# Shorter values (true, 1, ...) would redact ordinary words from messages and hide nothing;
# a Secret block's value is redacted whatever its length.
MIN_REDACTED_CHARS = 4
SECRET_TYPE_SLUG = "secret"


class BlockError(ReconcilerError):
    """A block reference cannot be resolved (the run is marked CRASHED with this message)."""


class BlockSource(Protocol):
    """Block documents' ``data`` (secrets included); None when the document does not exist."""

    def by_name(self, type_slug: str, name: str) -> Mapping[str, Any] | None: ...

    def by_id(self, document_id: str) -> Mapping[str, Any] | None: ...


class ServerBlocks:
    """Block documents read from the Prefect API, each at most once (one per flow run)."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client
        self._cache: dict[str, Mapping[str, Any] | None] = {}

    def by_name(self, type_slug: str, name: str) -> Mapping[str, Any] | None:
        path = (
            f"/block_types/slug/{quote(type_slug, safe='')}"
            f"/block_documents/name/{quote(name, safe='')}"
        )
        return self._read(path)

    def by_id(self, document_id: str) -> Mapping[str, Any] | None:
        return self._read(f"/block_documents/{quote(document_id, safe='')}")

    def _read(self, path: str) -> Mapping[str, Any] | None:
        if path not in self._cache:
            found = self._client.get(path, params={"include_secrets": "true"}, allow=(404, 422))
            data = found.get("data") if isinstance(found, dict) else None
            self._cache[path] = data if isinstance(data, dict) else None
        return self._cache[path]


class _Resolver:
    def __init__(self, source: BlockSource) -> None:
        self.source = source
        self.secrets: set[str] = set()

    def walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, dict) and ref.get("block_document_id"):
                return self._remember(copy.deepcopy(dict(self._by_id(ref["block_document_id"]))))
            return {key: self.walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.walk(item) for item in node]
        if isinstance(node, str):
            return self._string(node)
        return node

    def _string(self, text: str) -> Any:
        placeholders = find_placeholders(text)
        blocks = [p for p in placeholders if p.kind is PlaceholderKind.BLOCK]
        if not blocks:
            return text
        if len(placeholders) == 1 and blocks[0].full_match == text:
            return self._value(blocks[0])
        result = text
        for placeholder in blocks:
            value = self._value(placeholder)
            if isinstance(value, (dict, list)):
                raise BlockError(
                    f"block placeholder {placeholder.full_match} resolves to a "
                    f"{type(value).__name__}, which cannot be used inside a longer string",
                    hint="refer to one scalar field of the block (e.g. '.value' or '.url')",
                )
            result = result.replace(placeholder.full_match, str(value))
        return result

    def _value(self, placeholder: Placeholder) -> Any:
        reference = block_reference(placeholder.name)
        if reference is None:
            raise BlockError(
                f"invalid block placeholder {placeholder.full_match}: expected "
                "prefect.blocks.<block-type-slug>.<block-document-name>"
            )
        type_slug, name, keypath = reference
        found = self.source.by_name(type_slug, name)
        if found is None:
            raise BlockError(
                f"block '{name}' of type '{type_slug}' (referenced as {placeholder.full_match} "
                "in the deployment or work pool configuration) does not exist",
                hint="it may have been deleted; create it again or change the reference",
            )
        data: Any = dict(found)
        # System blocks (Secret, String, ...) have one field, `value`, used by default.
        points_into_value = keypath is not None and (
            keypath == "value" or keypath.startswith(("value.", "value["))
        )
        if len(data) == 1 and "value" in data and not points_into_value:
            data = data["value"]
        if keypath is not None:
            data = lookup(data, keypath)
            if data is NotSet:
                raise BlockError(
                    f"block placeholder {placeholder.full_match}: the block '{name}' of type "
                    f"'{type_slug}' has no field '{keypath}'"
                )
        return self._remember(copy.deepcopy(data), always=type_slug == SECRET_TYPE_SLUG)

    def _by_id(self, document_id: Any) -> Mapping[str, Any]:
        found = self.source.by_id(str(document_id))
        if found is None:
            raise BlockError(
                f"block document {document_id} (a $ref in the deployment or work pool "
                "configuration) does not exist",
                hint="it may have been deleted; create it again or change the reference",
            )
        return found

    def _remember(self, value: Any, *, always: bool = False) -> Any:
        if isinstance(value, dict):
            for item in value.values():
                self._remember(item, always=always)
        elif isinstance(value, list):
            for item in value:
                self._remember(item, always=always)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if len(text) >= MIN_REDACTED_CHARS or (always and text):
                self.secrets.add(text)
        return value


def resolve_blocks(template: Any, source: BlockSource) -> tuple[Any, frozenset[str]]:
    """The template with every block reference replaced, and the values read from blocks."""
    resolver = _Resolver(source)
    resolved = resolver.walk(template)
    return resolved, frozenset(resolver.secrets)


def has_block_references(template: Any) -> bool:
    if isinstance(template, dict):
        ref = template.get("$ref")
        if isinstance(ref, dict) and ref.get("block_document_id"):
            return True
        return any(has_block_references(value) for value in template.values())
    if isinstance(template, list):
        return any(has_block_references(item) for item in template)
    return any(p.kind is PlaceholderKind.BLOCK for p in find_placeholders(template))


def redact(text: str, secrets: frozenset[str] | set[str]) -> str:
    """``text`` with every value read from a block replaced by ``***`` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
