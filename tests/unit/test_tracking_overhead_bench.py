"""The tracking bench's arithmetic and template: a wrong sum or ratio, or a template whose links
are not what the figure claims, would misstate the issue's target."""

from __future__ import annotations

from typing import Any

from bench.tracking_overhead import HTML, PARTS, Options, compare, parse, per_delivery_ms

from herald.kit.ids import uuid7
from herald.tracking.links import Links
from herald.tracking.tokens import TokenCodec


def run(mode: str, **ms: float) -> dict[str, Any]:
    return {"mode": mode, "cpu_ms_per_delivery": {**dict.fromkeys((*PARTS, "total"), 0.0), **ms}}


def test_per_delivery_sums_the_deployments_parts_only() -> None:
    cpu = {"worker": 1.0, "api": 0.5, "relay": 0.1, "scheduler": 0.1, "postgres": 0.3, "sandbox": 9.0, "driver": 9.0}
    out = per_delivery_ms(cpu, 1000)
    assert out["worker"] == 1.0 and out["postgres"] == 0.3
    assert abs((out["total"] or 0) - 2.0) < 1e-9  # sandbox and driver are not the deployment's
    assert per_delivery_ms(cpu, 0)["total"] is None


def test_compare_averages_each_mode_and_divides_by_off() -> None:
    runs = [run("off", total=2.0), run("on", total=2.3), run("off", total=2.2), run("on", total=2.5)]
    total = compare(runs)["total"]
    assert total["off"] == 2.1 and total["on"] == 2.4
    assert abs(total["ratio"] - 2.4 / 2.1) < 1e-9
    assert "base_ratio" not in total
    with_base = compare([*runs, run("base", total=3.15)])["total"]
    assert abs(with_base["base_ratio"] - 1.5) < 1e-9


def test_the_template_tracks_about_ten_links() -> None:
    links = Links(TokenCodec("k"), "https://h.example")
    html = HTML.replace("{{ order_id }}", "7").replace("{{ user.name }}", "Ada")
    out = links.rewrite(html, uuid7(), opens=True, clicks=True)
    assert out.count('href="https://h.example/t/c/') == 9  # the mailto and the opted-out link stay
    assert 'href="mailto:help@shop.example"' in out and 'href="https://shop.example/account/privacy"' in out
    assert out.count("/t/o/") == 1


def test_options() -> None:
    o = parse(["--providers", "sendgrid", "--pairs", "3"])
    assert o.providers == ["sendgrid"] and o.pairs == 3 and o.modes() == ["off", "on"]
    assert Options(baseline_src=parse(["--baseline-src", "/tmp"]).baseline_src).modes() == ["off", "on", "base"]
