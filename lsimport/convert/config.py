"""The labeling config that fits a converter's output: one object, one control per kind."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from lsimport.convert.core import KINDS, OBJECT_TAGS, Plan, Targets


def generate_config(plan: Plan, targets: Targets) -> str:
    """`<View>` with the object tag and a control per region kind, listing every label."""
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in plan.object_attrs.items())
    lines = [
        "<View>",
        f"  <{OBJECT_TAGS[plan.data_key]} name={quoteattr(targets.to_name)} "
        f"value={quoteattr('$' + plan.data_key)}{attrs}/>",
    ]
    to = quoteattr(targets.to_name)
    for kind in plan.kinds:
        name = quoteattr(targets.from_names[kind])
        tag = KINDS[kind].tag
        if kind == "videorectangle":
            # Video boxes take their labels from a <Labels> beside them (Label Studio's
            # video object tracking template).
            lines.append(f"  <{tag} name={name} toName={to}/>")
            lines.append(f'  <Labels name="videoLabels" toName={to} allowEmpty="true">')
        else:
            lines.append(f"  <{tag} name={name} toName={to}>")
        child = "Choice" if kind == "choices" else "Label"
        lines.extend(f"    <{child} value={quoteattr(label)}/>" for label in plan.labels)
        lines.append("  </Labels>" if kind == "videorectangle" else f"  </{tag}>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"
