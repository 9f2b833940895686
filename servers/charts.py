"""Small server-side SVG line charts for the admin (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def svg_line_chart(
    points: Sequence[tuple[datetime, float | None]],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
    width: int = 640,
    height: int = 150,
) -> SafeString:
    """A line chart of (time, value) points; gaps (None) break the line. Only numbers and escaped text."""
    pad_left, pad_right, pad_top, pad_bottom = 44, 8, 20, 22
    inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    values = [v for _, v in points if v is not None]
    top = max_value if max_value is not None else (max(values) if values else 1.0)
    top = top or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'style="background:#fff;border:1px solid #ddd;margin:4px 0">',
        f'<text x="{pad_left}" y="14" font-size="12" font-family="sans-serif">{escape(title)}</text>',
        f'<text x="4" y="{pad_top + 10}" font-size="10" font-family="sans-serif">'
        f"{top:.4g}{escape(unit)}</text>",
        f'<text x="4" y="{pad_top + inner_h}" font-size="10" font-family="sans-serif">0{escape(unit)}</text>',
        f'<rect x="{pad_left}" y="{pad_top}" width="{inner_w}" height="{inner_h}" '
        'fill="none" stroke="#eee"/>',
    ]
    if len(points) >= 2 and values:
        start, end = points[0][0].timestamp(), points[-1][0].timestamp()
        span = (end - start) or 1.0
        segments: list[list[str]] = [[]]
        for at, value in points:
            if value is None:
                segments.append([])
                continue
            x = pad_left + inner_w * (at.timestamp() - start) / span
            y = pad_top + inner_h * (1 - min(value, top) / top)
            segments[-1].append(f"{x:.1f},{y:.1f}")
        for segment in segments:
            if segment:
                joined = " ".join(segment)
                parts.append(f'<polyline fill="none" stroke="#417690" stroke-width="1.5" points="{joined}"/>')
        parts.append(
            f'<text x="{pad_left}" y="{height - 6}" font-size="10" font-family="sans-serif">'
            f"{points[0][0]:%Y-%m-%d %H:%M}</text>"
        )
        parts.append(
            f'<text x="{width - pad_right}" y="{height - 6}" font-size="10" text-anchor="end" '
            f'font-family="sans-serif">{points[-1][0]:%Y-%m-%d %H:%M} UTC</text>'
        )
    else:
        parts.append(
            f'<text x="{pad_left + 8}" y="{pad_top + inner_h / 2}" font-size="12" fill="#888" '
            'font-family="sans-serif">Not enough data yet.</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only
