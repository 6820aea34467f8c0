#!/usr/bin/env python3
"""Writes fuzz seeds drawn from the conformance cases (issue 7).

Reads spec-tests/cases/*.toml and spec-tests/profiles/*.yaml (Python's own tomllib, no other
dependency) and writes, under fuzz/seeds/<target>/, files named `conformance-*`:

- layer_headers: one seed per case, in that target's input format (profile byte, flags byte,
  method line, header lines); see fuzz/fuzz_targets/layer_headers.rs;
- origin_header: every distinct `Origin` value the cases send;
- origin_config: the same values and every origin the profiles configure;
- acrh: every distinct `Access-Control-Request-Headers` value (one line per seed, as the
  existing hand-written seeds);
- policy_load: every profile file.

engine_decide takes a structured `arbitrary` input whose byte layout follows the derive; its
seeds stay the hand-written ones.

Run from anywhere: `python3 fuzz/seeds/from-conformance.py`. The output is deterministic, so
running it again changes nothing unless the cases changed. Seeds of cases that disappeared are
removed (only files named `conformance-*` are touched).
"""

import hashlib
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = ROOT / "spec-tests" / "cases"
PROFILES = ROOT / "spec-tests" / "profiles"
SEEDS = ROOT / "fuzz" / "seeds"

# The conformance runner sends requests without a Host line to its target's own authority.
DEFAULT_HOST = "127.0.0.1:8080"


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def header_values(case: dict, name: str) -> list[str]:
    values = []
    for line in case["request"].get("headers", []):
        field, _, value = line.partition(":")
        if field.strip().lower() == name:
            values.append(value.strip(" \t"))
    return values


def main() -> None:
    profiles = sorted(p.stem for p in PROFILES.glob("*.yaml"))
    out: dict[str, dict[str, bytes]] = {
        t: {} for t in ["layer_headers", "origin_header", "origin_config", "acrh", "policy_load"]
    }

    for path in sorted(CASES.glob("*.toml")):
        for case in tomllib.loads(path.read_text(encoding="utf-8")).get("case", []):
            request = case["request"]
            headers = list(request.get("headers", []))
            if not any(h.partition(":")[0].strip().lower() == "host" for h in headers):
                headers.append(f"Host: {DEFAULT_HOST}")
            lines = [request.get("method", "GET")] + headers
            seed = bytes([profiles.index(case["profile"]), 0]) + "\n".join(lines).encode()
            out["layer_headers"][f"conformance-{case['id']}"] = seed
            for value in header_values(case, "origin"):
                data = value.encode()
                out["origin_header"][f"conformance-{digest(data)}"] = data
                out["origin_config"][f"conformance-{digest(data)}"] = data
            for value in header_values(case, "access-control-request-headers"):
                data = value.encode()
                out["acrh"][f"conformance-{digest(data)}"] = data

    for name in profiles:
        text = (PROFILES / f"{name}.yaml").read_bytes()
        out["policy_load"][f"conformance-{name}.yaml"] = text
        for match in re.finditer(rb"^\s*-\s+(\S*://\S+|null|\*|\"\*\")\s*$", text, re.M):
            data = match.group(1).strip(b'"')
            out["origin_config"][f"conformance-{digest(data)}"] = data

    for target, seeds in out.items():
        directory = SEEDS / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("conformance-*"):
            if old.name not in seeds:
                old.unlink()
        for name, data in sorted(seeds.items()):
            (directory / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
