"""A config's YAML, read with limits (PyYAML's safe loader, checked as the document is composed,
before any Python object is built):

- nesting at most MAX_DEPTH levels deep, aliases counted as the nodes they stand for;
- aliases (`*name`) that stand for at most MAX_ALIAS_NODES nodes in all, so a small file cannot
  expand into a huge one ("billion laughs"); an alias inside the node it names is refused;
- scalars (keys and values) of at most MAX_CHARS characters in all, aliases counted as the text
  they stand for, so a small file cannot become a config (and a run folder's config.json,
  config.yaml and model cards) of hundreds of megabytes through a long string aliased often;
- a key given twice in one mapping is refused with its line (YAML itself leaves it undefined;
  PyYAML keeps the last). Keys merged in with `<<` may be overridden, as YAML intends.
"""

from __future__ import annotations

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from experiments.config.messages import cut

MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000  # a list of 1,000 values written twice (yaml.safe_dump anchors it) is 1,001
MAX_CHARS = 4_000_000  # characters of every scalar, aliases expanded: a config of about 4 MB at most
MERGE_TAG = "tag:yaml.org,2002:merge"


class YAMLLimit(yaml.YAMLError):
    """A document refused by one of the limits; the message starts with its line."""


class LimitedLoader(yaml.SafeLoader):
    """yaml.SafeLoader with the limits of this module."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0  # mappings and sequences open around the node being composed
        self._aliased = 0  # nodes that aliases stood for so far
        self._chars = 0  # characters of the scalars composed so far, aliases expanded
        self._measured: dict[int, tuple[int, int, int]] = {}  # id(node) -> (nodes, depth, chars), aliases expanded

    def compose_node(self, parent: Node | None, index) -> Node:
        line = self.peek_event().start_mark.line + 1
        if self.check_event(AliasEvent):
            return self._compose_alias(parent, index, line)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YAMLLimit(f"line {line}: nested deeper than {MAX_DEPTH} levels")
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._measure(node)
        if isinstance(node, ScalarNode):
            self._count_chars(len(node.value), line)
        return node

    def _compose_alias(self, parent: Node | None, index, line: int) -> Node:
        anchor = self.peek_event().anchor
        target = self.anchors.get(anchor)
        if target is not None and id(target) not in self._measured:
            raise YAMLLimit(f"line {line}: *{cut(anchor)} is inside the node it names (a recursive alias)")
        node = super().compose_node(parent, index)  # an undefined alias: PyYAML's own error
        nodes, depth, chars = self._measured[id(node)]
        self._count_chars(chars, line)
        self._aliased += nodes
        if self._aliased > MAX_ALIAS_NODES:
            raise YAMLLimit(f"line {line}: aliases expand to more than {MAX_ALIAS_NODES:,} nodes; write them out")
        if self._depth + depth > MAX_DEPTH:
            raise YAMLLimit(f"line {line}: nested deeper than {MAX_DEPTH} levels (*{cut(anchor)} expanded)")
        return node

    def _count_chars(self, chars: int, line: int) -> None:
        self._chars += chars
        if self._chars > MAX_CHARS:
            raise YAMLLimit(
                f"line {line}: the config's values come to more than {MAX_CHARS:,} characters (aliases expanded)"
            )

    def _measure(self, node: Node) -> None:
        """Record a composed node's size, depth and characters with its aliases expanded (its
        children, aliased ones included, were measured before it)."""
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        sizes = [self._measured[id(child)] for child in children]
        own = len(node.value) if isinstance(node, ScalarNode) else 0
        self._measured[id(node)] = (
            1 + sum(s[0] for s in sizes),
            1 + max((s[1] for s in sizes), default=0),
            own + sum(s[2] for s in sizes),
        )

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        first_line: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                if key in first_line:
                    first = first_line[key]
                    raise YAMLLimit(f"line {line}: the key {cut(repr(key))} is given twice (first on line {first})")
                first_line[key] = line
            except TypeError:  # an unhashable key: PyYAML's own error
                continue
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> object:
    """The one document in `text`, read by LimitedLoader."""
    loader = LimitedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
