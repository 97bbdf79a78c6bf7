"""SMART app: launch-to-rendered-page latency and page weight.

Starts (or reuses) the HAPI sandbox, loads one example patient under run-unique ids, starts the
stand-in EHR (tests/web/mock_ehr.mjs: oauth2-mock-server + a FHIR gateway to HAPI) and the app
under uvicorn, then times 20 EHR launches end to end over real HTTP: /launch → EHR authorize →
/callback (code exchange) → /patient (FHIR fetch, analysis, HTML). Prints min, median, p95 and max,
and the page weight (HTML + CSS). Targets: p95 < 1.5 s, page < 200 kB.

    .venv/bin/python benchmarks/web.py [--launches 20] [--example seed-001-rmo-hip-ankle-knee]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from web.harness import create_practitioner, free_port, load_examples, mock_ehr, run_prefix, serve_app

from bmefhir import sandbox
from bmefhir.web import WebSettings, create_app, get_settings


def one_launch(app_url: str, iss: str, patient: str) -> tuple[float, int]:
    with httpx.Client(base_url=app_url, timeout=30) as browser:
        start = time.perf_counter()
        launch = browser.get("/launch", params={"iss": iss, "launch": f"patient-{patient}"})
        authorize = httpx.get(launch.headers["location"], timeout=30)
        callback = httpx.URL(authorize.headers["location"])
        browser.get(callback.raw_path.decode())
        page = browser.get("/patient")
        elapsed = time.perf_counter() - start
        if page.status_code != 200:
            raise SystemExit(f"the page answered {page.status_code}")
        return elapsed, len(page.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=20)
    parser.add_argument("--example", default="seed-001-rmo-hip-ankle-knee")
    args = parser.parse_args()
    with sandbox.running() as hapi:
        prefix = run_prefix()
        patient = load_examples(hapi.base_url, prefix)[args.example]
        with mock_ehr(hapi.base_url) as ehr:
            ehr.reset(create_practitioner(hapi.base_url, prefix))
            port = free_port()
            settings = WebSettings(
                _env_file=None,
                allowed_issuers=[ehr.iss],  # type: ignore[call-arg]
                public_url=f"http://127.0.0.1:{port}",
                dev=True,
            )
            app = create_app(settings)
            app.dependency_overrides[get_settings] = lambda: settings
            with serve_app(app, port) as url:
                one_launch(url, ehr.iss, patient)  # warm-up: JIT in HAPI, template compilation
                times, sizes = zip(*(one_launch(url, ehr.iss, patient) for _ in range(args.launches)), strict=True)
                css = len(httpx.get(f"{url}/static/app.css").content)
    ordered = sorted(times)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
    weight = max(sizes) + css
    print(f"example                {args.example}")
    print(f"launches               {len(times)}")
    print(f"launch→page min        {ordered[0] * 1000:.0f} ms")
    print(f"launch→page median     {statistics.median(times) * 1000:.0f} ms")
    print(f"launch→page p95        {p95 * 1000:.0f} ms   (target < 1500 ms)")
    print(f"launch→page max        {ordered[-1] * 1000:.0f} ms")
    print(
        f"page weight            {weight / 1000:.1f} kB (HTML {max(sizes) / 1000:.1f} kB + CSS {css / 1000:.1f} kB;"
        " target < 200 kB)"
    )


if __name__ == "__main__":
    main()
