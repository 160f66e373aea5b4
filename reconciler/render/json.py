"""The machine rendering: the plan's own data (``schemas/plan.schema.json``)."""

from __future__ import annotations

from reconciler.plan import Plan


def render_json(plan: Plan) -> str:
    return plan.to_json()
