"""Reading the SVG charts the pages and chart builders write: parsed with ElementTree."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def chart(html: str, name: str) -> ET.Element:
    """The <svg> inside the page's figure with data-chart=name, parsed."""
    match = re.search(rf'data-chart="{re.escape(name)}">\s*(<svg.*?</svg>)', html, re.S)
    assert match, f"no chart {name!r} on the page"
    return parse(match.group(1))


def find_group(root: ET.Element, gid: str) -> ET.Element | None:
    return root.find(f".//{SVG}g[@id='{gid}']")


def group(root: ET.Element, gid: str) -> ET.Element:
    found = find_group(root, gid)
    assert found is not None, f"no group {gid!r}"
    return found


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]
