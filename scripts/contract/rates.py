"""Per-operation share of positive cases answered 2xx, from the reports of
scripts/contract-check's Schemathesis runs (REPORTS/*.json) and the
answers its hooks counted (REPORTS/*.stats.json).

For the examples, coverage and fuzzing phases the share is counted as
Schemathesis counts it: positive cases (generated to match the document)
answered 2xx, against those refused with a 4xx other than 401, 403 and 429
(which say who asked or how often, not what was sent). The stateful column
is every positive step's answer: steps that follow a link and steps that
start a scenario with generated data (a sign-in with unknown credentials:
401). `401/403` counts positive cases answered so outside the stateful
phase.

Fails when an operation's share over the first three phases is under
MIN_RATE, when a report names a warning, or when the target of a link in
the document (REPORTS_DIR/openapi.json), in any of its mounts, never
answered 2xx in the stateful phase: that flow was not walked.

    python3 rates.py REPORTS_DIR
"""

import glob
import json
import os
import sys

MIN_RATE = 0.5
PHASES = ("examples", "coverage", "fuzzing")

# Operations that cannot reach a 2xx in the contract check without a
# sign-in provider (contract §16). scripts/contract-check runs the test
# provider when Node.js is there (and sets CONTRACT_SOCIAL_PROVIDER);
# without it every provider name is unknown (404) and a one-time code
# comes only from a provider's callback (400): these are then listed with
# their rate but left out of MIN_RATE (tests/api/social/ covers them
# against a real provider).
EXPECTED_4XX = {
    "social_exchange": "a one-time code comes from a provider's callback",
    "social_start": "no provider is configured (404)",
    "social_callback": "no provider is configured (404)",
    "social_sign_in": "no provider is configured (404)",
    "social_link": "no provider is configured (404)",
    "social_unlink": "no provider is configured (404)",
}


def load(directory):
    rates, warnings, stats = {}, {}, {}
    for path in glob.glob(os.path.join(directory, "*.json")):
        if path.endswith("openapi.json"):
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if path.endswith(".stats.json"):
            for label, phases in data.items():
                for phase, counts in phases.items():
                    mine = stats.setdefault(label, {}).setdefault(phase, {})
                    for status, n in counts.items():
                        mine[status] = mine.get(status, 0) + n
            continue
        for label, phases in data.get("valid_rates", {}).items():
            rates.setdefault(label, {}).update(phases)
        for kind, labels in (data.get("warnings") or {}).items():
            if labels:
                warnings.setdefault(kind, []).extend(labels)
    return rates, warnings, stats


def link_targets(directory):
    """Each operation a link leads to, without its mount (`login`), with
    the labels of its mounts."""
    with open(os.path.join(directory, "openapi.json"), encoding="utf-8") as f:
        doc = json.load(f)
    labels, targets = {}, set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            base = op["operationId"].split("_", 1)[-1]
            labels.setdefault(base, []).append(f"{method.upper()} {path}")
            for response in op.get("responses", {}).values():
                for link in response.get("links", {}).values():
                    targets.add(link["operationId"].split("_", 1)[-1])
    return {t: labels[t] for t in targets}


def operation_ids(directory):
    """`METHOD path` -> operation id without its mount (`social_start`)."""
    with open(os.path.join(directory, "openapi.json"), encoding="utf-8") as f:
        doc = json.load(f)
    return {
        f"{method.upper()} {path}": op["operationId"].split("_", 1)[-1]
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


def main(directory):
    rates, warnings, stats = load(directory)
    ids = operation_ids(directory)
    bad = []
    header = f"{'operation':<44}" + "".join(f"{p:>11}" for p in PHASES) + f"{'stateful':>11}{'401/403':>9}{'2xx share':>11}"
    print(header)
    for label in sorted(set(rates) | set(stats), key=lambda l: (l.split(" ", 1)[-1], l)):
        row, accepted, total = [], 0, 0
        for phase in PHASES:
            c = rates.get(label, {}).get(phase)
            if c is None:
                row.append(f"{'-':>11}")
                continue
            n = c["accepted"] + c["unreachable"] + c["conflicts"] + c["rejected"]
            row.append(f"{c['accepted']:>5}/{n:<5}")
            accepted, total = accepted + c["accepted"], total + n
        steps = stats.get(label, {}).get("stateful", {})
        ok = sum(n for s, n in steps.items() if s.startswith("2"))
        all_steps = sum(steps.values())
        row.append(f"{ok:>5}/{all_steps:<5}" if all_steps else f"{'-':>11}")
        auth = sum(n for p, c in stats.get(label, {}).items() if p != "stateful" for s, n in c.items() if s in ("401", "403"))
        row.append(f"{auth:>9}")
        share = accepted / total if total else None
        row.append(f"{share:>11.0%}" if share is not None else f"{'-':>11}")
        print(f"{label:<44}" + "".join(row))
        expected = None if os.environ.get("CONTRACT_SOCIAL_PROVIDER") else EXPECTED_4XX.get(ids.get(label, ""))
        if expected:
            print(f"{'':<44}  (no 2xx expected: {expected})")
        elif share is not None and share < MIN_RATE:
            bad.append(f"{label}: {share:.0%} of positive cases reached a 2xx (at least {MIN_RATE:.0%} required)")
    for target, labels in sorted(link_targets(directory).items()):
        walked = sum(n for l in labels for s, n in stats.get(l, {}).get("stateful", {}).items() if s.startswith("2"))
        if not walked:
            bad.append(f"no link to {target} ({', '.join(labels)}) led to a 2xx in the stateful phase")
    # Without a provider, the warnings that say the same as EXPECTED_4XX
    # (no test data reaches a 2xx, the server refuses what it generates)
    # are expected for those operations too.
    no_provider = not os.environ.get("CONTRACT_SOCIAL_PROVIDER")
    for kind, labels in sorted(warnings.items()):
        kept = sorted({l for l in labels if not (no_provider and ids.get(l, "") in EXPECTED_4XX)})
        if kept:
            bad.append(f"warning {kind}: {kept}")
    for line in bad:
        print(f"FAIL {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
