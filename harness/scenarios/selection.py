"""`harness run -k EXPR`: pytest's keyword expressions, over a scenario's path.

The grammar is pytest's (`-k "memory and not slow"`): `or`, `and`, `not`, parentheses, and words; a word
matches when it is a case-insensitive substring of the scenario's path relative to the project (so a word
selects by file name or by folder, as pytest selects by test and module name). Written here because
pytest's own parser is private API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import UserError

Matcher = Callable[[str], bool]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")
_KEYWORDS = {"and", "or", "not"}
MAX_NESTING = 100  # `not` and parentheses, nested: the parser and the matcher it builds recurse that deep


@dataclass
class _Parser:
    expression: str
    tokens: list[tuple[int, str]]
    position: int = 0
    depth: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.position][1]
        self.position += 1
        return token

    def error(self, expected: str) -> UserError:
        column = self.tokens[self.position][0] + 1 if self.position < len(self.tokens) else len(self.expression) + 1
        found = f"'{self.peek()}'" if self.peek() is not None else "the end"
        return UserError(f"-k {self.expression!r}: at column {column}: expected {expected}, found {found}")

    def any_of(self) -> Matcher:
        terms = [self.all_of()]
        while self.peek() == "or":
            self.take()
            terms.append(self.all_of())
        return terms[0] if len(terms) == 1 else lambda name: any(term(name) for term in terms)

    def all_of(self) -> Matcher:
        terms = [self.negation()]
        while self.peek() == "and":
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else lambda name: all(term(name) for term in terms)

    def negation(self) -> Matcher:
        token = self.peek()
        if token in ("not", "("):
            if self.depth == MAX_NESTING:
                raise self.error(f"at most {MAX_NESTING} nested 'not' and '('")
            self.depth += 1
            try:
                return self._nested(token)
            finally:
                self.depth -= 1
        if token is None or token in _KEYWORDS or token == ")":
            raise self.error("a word, 'not' or '('")
        word = self.take().lower()
        return lambda name: word in name.lower()

    def _nested(self, token: str) -> Matcher:
        self.take()
        if token == "not":
            negated = self.negation()
            return lambda name: not negated(name)
        inner = self.any_of()
        if self.peek() != ")":
            raise self.error("')'")
        self.take()
        return inner


def keyword_matcher(expression: str) -> Matcher:
    """A predicate over scenario paths, or a UserError naming the column where the expression breaks."""
    tokens: list[tuple[int, str]] = []
    for match in _TOKEN.finditer(expression):
        token = next(group for group in match.groups() if group is not None)
        tokens.append((match.start(match.lastindex or 0), token))
    if not tokens:
        return lambda name: True
    parser = _Parser(expression, tokens)
    matcher = parser.any_of()
    if parser.peek() is not None:
        raise parser.error("'and', 'or' or the end")
    return matcher
