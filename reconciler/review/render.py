"""The review in a named format."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.review.build import Review
from reconciler.review.markdown import render_review_markdown
from reconciler.review.page import render_review_html
from reconciler.review.tabular import render_review_csv, render_review_json
from reconciler.review.text import render_review_text

RENDERERS: dict[str, Callable[[Review], str]] = {
    "text": render_review_text,
    "markdown": render_review_markdown,
    "csv": render_review_csv,
    "json": render_review_json,
    "html": render_review_html,
}
FORMATS: tuple[str, ...] = tuple(RENDERERS)


def render_review(review: Review, fmt: str) -> str:
    return RENDERERS[fmt](review)
