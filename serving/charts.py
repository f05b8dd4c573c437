"""Charts as inline SVG strings, drawn on the server: pages need no network and no JavaScript library.
Every chart has a <title> and <desc> for screen readers, and the numbers are also printed in the page."""

from html import escape
from typing import Any

FIT = 'style="max-width:100%;height:auto"'  # drawn size on wide screens, shrinks on narrow ones
RED, AMBER, GREEN, GREY = "#b3261e", "#8a5a00", "#1e6b34", "#5f6368"  # AA contrast on white


def components(parts: dict[str, float], width: int = 560) -> str:
    """Diverging horizontal bars: health points each feature family adds (right, green) or takes (left, red)."""
    items = sorted(parts.items(), key=lambda kv: kv[1])
    top = max((abs(v) for _, v in items), default=1.0) or 1.0
    row, label, mid = 26, 130, 130 + (width - 130) // 2
    half = (width - 130) // 2 - 50
    out = [f'<svg role="img" viewBox="0 0 {width} {row * len(items) + 10}" width="{width}" {FIT} '
           f'aria-labelledby="ct cd"><title id="ct">Health components by family</title>'
           f'<desc id="cd">Bars to the left pull the health score down; bars to the right hold it up.</desc>',
           f'<line x1="{mid}" y1="0" x2="{mid}" y2="{row * len(items)}" stroke="{GREY}"/>']  # fmt: skip
    for i, (name, v) in enumerate(items):
        y = i * row + 4
        w = abs(v) / top * half
        x = mid - w if v < 0 else mid
        colour = RED if v < 0 else GREEN
        out.append(f'<text x="{label - 8}" y="{y + 14}" text-anchor="end" font-size="13">{escape(name)}</text>')
        out.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="18" fill="{colour}"/>')
        tx, anchor = (x - 4, "end") if v < 0 else (x + w + 4, "start")
        out.append(f'<text x="{tx:.1f}" y="{y + 14}" text-anchor="{anchor}" font-size="12">{v:+.1f}</text>')
    return "".join(out) + "</svg>"


def trend(points: list[dict[str, object]], red: float, yellow: float, width: int = 560, height: int = 160) -> str:
    """Health over past snapshots, with the tier bands behind it."""
    if not points:
        return "<p>No history yet.</p>"
    values = [float(p["health"]) for p in points]  # type: ignore[arg-type]
    lo = min(0.0, *values)
    pad, n = 30, len(values)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / max(n - 1, 1))
        return x, height - pad - (height - 2 * pad) * (v - lo) / (100 - lo)

    def band(a: float, b: float, colour: str) -> str:
        (_, y1), (_, y2) = xy(0, b), xy(0, a)
        size = f'width="{width - 2 * pad}" height="{y2 - y1:.1f}"'
        return f'<rect x="{pad}" y="{y1:.1f}" {size} fill="{colour}" opacity="0.12"/>'

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
    out = [f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" {FIT} aria-labelledby="tt td">'
           f'<title id="tt">Health trend</title><desc id="td">Health score at each of the last {n} snapshots, '
           f'from {values[0]:.0f} to {values[-1]:.0f}.</desc>',
           band(lo, red, RED), band(red, yellow, AMBER), band(yellow, 100, GREEN),
           f'<polyline points="{line}" fill="none" stroke="#1a1a1a" stroke-width="2"/>']  # fmt: skip
    for i, (p, v) in enumerate(zip(points, values, strict=True)):
        x, y = xy(i, v)
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#1a1a1a"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" font-size="11">'
                   f'{escape(str(p["as_of"])[:7])}</text>')  # fmt: skip
    return "".join(out) + "</svg>"


def calibration(points: list[tuple[float, float]], size: int = 300) -> str:
    """Observed rate against predicted probability (equal-count bins), with the diagonal."""
    if not points:
        return "<p>No calibration data.</p>"
    top = max(max(p, o) for p, o in points) * 1.05 or 1.0
    pad = 36

    def xy(p: float, o: float) -> tuple[float, float]:
        return pad + (size - 2 * pad) * p / top, size - pad - (size - 2 * pad) * o / top

    (x0, y0), (x1, y1) = xy(0, 0), xy(top, top)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{RED}"/>' for x, y in (xy(p, o) for p, o in points))
    return (f'<svg role="img" viewBox="0 0 {size} {size}" width="{size}" aria-labelledby="kt kd">'
            f'<title id="kt">Calibration</title><desc id="kd">Observed churn rate against predicted probability in '
            f'{len(points)} equal-count bins; on the diagonal means well calibrated.</desc>'
            f'<line x1="{x0}" y1="{y0}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{GREY}" stroke-dasharray="4"/>{dots}'
            f'<text x="{size / 2}" y="{size - 6}" text-anchor="middle" font-size="12">predicted</text>'
            f'<text x="12" y="{size / 2}" font-size="12" transform="rotate(-90 12 {size / 2})" '
            f'text-anchor="middle">observed</text></svg>')  # fmt: skip


def performance(estimated: list[dict[str, Any]], realised: list[dict[str, Any]], width: int = 640,
                height: int = 220) -> str:  # fmt: skip
    """ROC AUC per scoring date: estimated (hollow, with its 90% interval) and realised once labels matured (filled,
    with its 95% interval), and the model's figure at training as a dashed line."""
    dates = sorted({str(p["as_of"]) for p in estimated} | {str(p["as_of"]) for p in realised})
    if not dates:
        return "<p>No performance measured yet.</p>"
    trained = [float(p["training_value"]) for p in realised if p.get("training_value") is not None]
    values = [float(p[k]) for p in estimated for k in ("low", "high")] + [
        float(p[k]) for p in realised for k in ("low", "high") if p.get(k) is not None] + trained  # fmt: skip
    lo, hi = min(values) - 0.01, max(values) + 0.01
    pad, n = 40, len(dates)

    def xy(as_of: str, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (dates.index(as_of) / max(n - 1, 1))
        return x, height - pad - (height - 2 * pad) * (v - lo) / (hi - lo)

    out = [f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" {FIT} aria-labelledby="pt pd">'
           f'<title id="pt">ROC AUC over scoring dates</title><desc id="pd">Estimated (hollow) and realised (filled) '
           f'ROC AUC at {n} dates, with their intervals; dashed: the figure at training.</desc>']  # fmt: skip
    if trained:
        _, y = xy(dates[0], trained[-1])
        out.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{width - pad}" y2="{y:.1f}" stroke="{GREY}" '
                   'stroke-dasharray="5 4"/>')  # fmt: skip
    for points, key, fill, shift in ((estimated, "estimate", "#fff", -4), (realised, "value", "#1a1a1a", 4)):
        for p in points:
            if p.get(key) is None or p.get("low") is None:
                continue
            x, y = xy(str(p["as_of"]), float(p[key]))
            (_, y1), (_, y2) = xy(str(p["as_of"]), float(p["high"])), xy(str(p["as_of"]), float(p["low"]))
            out.append(
                f'<line x1="{x + shift:.1f}" y1="{y1:.1f}" x2="{x + shift:.1f}" y2="{y2:.1f}" stroke="#1a1a1a"/>'
            )
            out.append(f'<circle cx="{x + shift:.1f}" cy="{y:.1f}" r="4" fill="{fill}" stroke="#1a1a1a"/>')
    for d in dates:
        x, _ = xy(d, lo)
        out.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" font-size="11">{escape(d[:7])}</text>')
    for v in (lo + 0.01, hi - 0.01):
        _, y = xy(dates[0], v)
        out.append(f'<text x="{pad - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{v:.2f}</text>')
    return "".join(out) + "</svg>"


def retention(figures: list[dict[str, Any]], measure: str, width: int = 560) -> str:
    """One row per group ("all", then the segments) of the forecast ``measure`` (grr or nrr): the 95% interval as a
    thin line, the 80% interval as a thick one, the point forecast as a dot, on a shared axis in percent."""
    rows = [f for f in figures if f["measure"] == measure]
    if not rows:
        return "<p>No forecast figures.</p>"
    lo = min(float(f["lo95"]) for f in rows)
    hi = max(float(f["hi95"]) for f in rows)
    lo, hi = lo - (hi - lo) * 0.05 - 1e-3, hi + (hi - lo) * 0.05 + 1e-3
    left, pad, step = 120, 20, 28
    height = pad * 2 + step * len(rows)

    def x(v: float) -> float:
        return left + (width - left - pad) * (v - lo) / (hi - lo)

    name = measure.upper()
    out = [f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" {FIT} aria-labelledby="{measure}t '
           f'{measure}d"><title id="{measure}t">{name} forecast by group</title><desc id="{measure}d">Point '
           f'forecast of {name} per group with its 80% (thick) and 95% (thin) intervals.</desc>']  # fmt: skip
    for i, f in enumerate(rows):
        y = pad + step * i + step / 2
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">{escape(str(f["group"]))}'
                   "</text>")  # fmt: skip
        out.append(f'<line x1="{x(float(f["lo95"])):.1f}" y1="{y:.1f}" x2="{x(float(f["hi95"])):.1f}" y2="{y:.1f}" '
                   'stroke="#1a1a1a"/>')  # fmt: skip
        out.append(f'<line x1="{x(float(f["lo80"])):.1f}" y1="{y:.1f}" x2="{x(float(f["hi80"])):.1f}" y2="{y:.1f}" '
                   'stroke="#1a1a1a" stroke-width="6"/>')  # fmt: skip
        out.append(f'<circle cx="{x(float(f["point"])):.1f}" cy="{y:.1f}" r="5" fill="#fff" stroke="#1a1a1a"/>')
    for v in (lo, (lo + hi) / 2, hi):
        out.append(f'<text x="{x(v):.1f}" y="{height - 4}" text-anchor="middle" font-size="11">{100 * v:.1f}%</text>')
    return "".join(out) + "</svg>"


VERDICT_COLOURS = {"helps": GREEN, "harms": RED, "unclear": GREY}


def effects(rows: list[dict[str, Any]], names: list[str], target: str, width: int = 360) -> list[str]:
    """One small chart per play (``rows``: ``pipelines.effects.effect_row``'s, ``names`` as people read them), on an
    axis in points shared by all of them: the 95% interval as a thin line, the 90% interval as a thick one coloured by
    the verdict (green helps, red harms, grey no measurable effect), the estimate as a dot, 0 dashed, and the naive
    comparison as a grey tick."""
    if not rows:
        return []
    values = [100 * float(r[k]) for r in rows for k in ("lo95", "hi95", "naive")] + [0.0]
    lo, hi = min(values), max(values)
    lo, hi = lo - (hi - lo) * 0.05 - 0.1, hi + (hi - lo) * 0.05 + 0.1
    pad, height, y = 12, 46, 16

    def x(v: float) -> float:
        return pad + (width - 2 * pad) * (100 * v - lo) / (hi - lo)

    zero = x(0.0)
    labels = [(zero, "middle", "0")] + [
        (x(v / 100), anchor, f"{v:+.1f}") for v, anchor in ((lo, "start"), (hi, "end")) if abs(x(v / 100) - zero) > 30
    ]
    axis = "".join(f'<text x="{at:.1f}" y="{height - 4}" text-anchor="{anchor}" font-size="11">{text}</text>'
                   for at, anchor, text in labels)  # fmt: skip
    out = []
    for i, (r, name) in enumerate(zip(rows, names, strict=True)):
        colour = VERDICT_COLOURS.get(str(r["verdict"]), GREY)
        e, lo90, hi90, naive = (100 * float(r[k]) for k in ("effect", "lo90", "hi90", "naive"))
        tick = x(float(r["naive"]))
        out.append(
            f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" {FIT} aria-labelledby="e{i}t e{i}d">'
            f'<title id="e{i}t">Effect of {escape(name)} on {escape(target)}</title><desc id="e{i}d">{e:+.1f} points, '
            f"90% interval {lo90:+.1f} to {hi90:+.1f} (thick), 95% interval thin; grey tick: the naive comparison, "
            f"{naive:+.1f}.</desc>"
            f'<line x1="{zero:.1f}" y1="2" x2="{zero:.1f}" y2="{y * 2 - 2}" stroke="{GREY}" stroke-dasharray="3 3"/>'
            f'<line x1="{x(float(r["lo95"])):.1f}" y1="{y}" x2="{x(float(r["hi95"])):.1f}" y2="{y}" stroke="{colour}"/>'
            f'<line x1="{x(float(r["lo90"])):.1f}" y1="{y}" x2="{x(float(r["hi90"])):.1f}" y2="{y}" stroke="{colour}" '
            f'stroke-width="6"/><circle cx="{x(float(r["effect"])):.1f}" cy="{y}" r="5" fill="#fff" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{tick:.1f}" y1="{y - 9}" x2="{tick:.1f}" y2="{y + 9}" stroke="{GREY}" stroke-width="2"/>'
            + axis
            + "</svg>"
        )  # fmt: skip
    return out


def curve(points: list[tuple[int, float]], renewal_day: int | None = None, width: int = 560,
          height: int = 180) -> str:  # fmt: skip
    """The chance of churning within d days of as_of, d over the next year (a line through the scored horizons,
    from 0 at day 0), and the next renewal as a dashed vertical line when it falls within the year."""
    if not points:
        return '<p class="muted">No churn curve: the churn model was registered without a hazard model.</p>'
    pad, days = 40, 365
    top = max(0.1, min(1.0, max(p for _, p in points) * 1.15))

    def xy(d: float, p: float) -> tuple[float, float]:
        return pad + (width - 2 * pad) * d / days, height - pad - (height - 2 * pad) * p / top

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(d, p) for d, p in [(0, 0.0), *points]))
    last = points[-1]
    out = [f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" {FIT} aria-labelledby="kt kd">'
           f'<title id="kt">Chance of churn over the next year</title><desc id="kd">The chance of churning within '
           f'{last[0]} days is {last[1]:.0%}'
           + (f"; the next renewal is in {renewal_day} days" if renewal_day is not None else "") + ".</desc>",
           f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="{GREY}"/>',
           f'<polyline points="{line}" fill="none" stroke="{RED}" stroke-width="2"/>']  # fmt: skip
    if renewal_day is not None and 0 <= renewal_day <= days:
        x, _ = xy(renewal_day, 0.0)
        out.append(
            f'<line x1="{x:.1f}" y1="{pad / 2}" x2="{x:.1f}" y2="{height - pad}" stroke="{GREY}" '
            f'stroke-dasharray="5 4"/><text x="{x + 4:.1f}" y="{pad / 2 + 10}" font-size="11">renewal</text>'
        )
    for d, p in points:
        x, y = xy(d, p)
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{RED}"/>')
        out.append(f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle" font-size="11">{p:.0%}</text>')
        out.append(f'<text x="{x:.1f}" y="{height - pad + 16}" text-anchor="middle" font-size="11">{d} d</text>')
    return "".join(out) + "</svg>"
