"""A synthetic provider: N comuni x M hosts on disk and months of comply history in SQLite.

Used by the console's tests and `bench/console`. Hosts point at 127.0.0.1 port 9 (closed):
a run started against them reaches nothing outside the machine. The history is written with
the real schema (the store creates it), rows inserted in one transaction per table.
"""

from __future__ import annotations

import ipaddress
import json
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from provisioner.adapters.history import History
from provisioner.config import StateLayout

PROVINCES = ("VE", "PD", "VI", "TV", "VR", "RO", "BL")
ROLES = ("baseline", "vpn_client", "meeting_client", "remote_desktop_client")


@dataclass(frozen=True)
class Tree:
    """What was generated: comuni slugs and each comune's hosts."""

    comuni: tuple[str, ...]
    hosts: dict[str, tuple[str, ...]]

    def endpoint(self, comune: str, n: int = 3) -> str:
        """An endpoint (laptop) of a comune."""
        return f"{comune}-laptop-{n:02d}"


def inventory(root: Path, comuni: int, hosts: int = 20) -> Tree:
    """Write ``comuni`` valid comune inventories of ``hosts`` hosts each under ``root``."""
    plan = ipaddress.IPv4Network("10.64.0.0/10")
    pools = plan.subnets(new_prefix=24)
    made: dict[str, tuple[str, ...]] = {}
    for i in range(comuni):
        slug = f"comune-{i:03d}"
        pool = next(pools)
        directory = root / slug
        (directory / "group_vars" / "all").mkdir(parents=True)
        closed = {"ansible_host": "127.0.0.1", "ansible_port": 9}
        endpoints = {f"{slug}-laptop-{n:02d}": closed for n in range(hosts - 4)}
        groups = {
            "vpn_gateways": {"hosts": {f"{slug}-gw": closed}},
            "rd_gateways": {"hosts": {f"{slug}-rdgw": closed}},
            "office_desktops": {"hosts": {f"{slug}-pc-{n}": closed for n in range(2)}},
            "endpoints": {"hosts": endpoints},
        }
        doc = {"all": {"children": groups}}
        (directory / "hosts.yml").write_text(json.dumps(doc, indent=1), encoding="utf-8")
        settings = {
            "comune_name": f"Comune {i}",
            "comune_slug": slug,
            "comune_istat_code": f"{900000 + i:06d}",
            "comune_province": PROVINCES[i % len(PROVINCES)],
            "comune_vpn_pool": str(pool),
            "comune_vpn_listen_port": 51820,
            "comune_vpn_public_endpoint": "127.0.0.1:51820",
            "comune_vpn_terminator": f"{slug}-gw",
            "comune_office_networks": [f"192.168.{i % 250}.0/24"],
            "comune_meeting_url": "https://meet.example.invalid",
            "comune_vpn_allowed_services": [
                {"name": "intranet", "address": f"192.168.{i % 250}.30", "port": 80, "proto": "tcp"}
            ],
            "comune_vpn_readiness_service": "intranet",
        }
        lines = [f"{k}: {json.dumps(v)}" for k, v in settings.items()]
        (directory / "group_vars/all/comune.yml").write_text("\n".join(lines) + "\n", "utf-8")
        (directory / "host_vars").mkdir()
        for n, name in enumerate(endpoints):
            (directory / "host_vars" / f"{name}.yml").write_text(
                f"vpn_client_address: {pool.network_address + 2 + n}\n", encoding="utf-8"
            )
        made[slug] = tuple(sorted({h for g in groups.values() for h in g["hosts"]}))
    return Tree(tuple(made), made)


def history(state_dir: Path, tree: Tree, *, days: int = 30, seed: int = 23) -> int:
    """Nightly comply runs of every comune for ``days`` days, with drift, failures and offline
    hosts here and there; returns the number of runs."""
    rng = random.Random(seed)
    layout = StateLayout(state_dir)
    History(layout).seen("comune-000", {})  # creates the database with the real schema
    now = time.time()
    runs, hosts_rows, drift_rows, offline_rows, seen_rows = [], [], [], [], []
    for i, comune in enumerate(tree.comuni):
        names = tree.hosts[comune]
        for day in range(days):
            started = now - (days - day) * 86400 + i
            run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + f"-{i:04x}"
            drifted = rng.sample(names, rng.choice((0, 0, 0, 1, 2)))
            failed = rng.sample(names, 1) if rng.random() < 0.05 else []
            offline = rng.sample(names, rng.choice((0, 0, 1)))
            runs.append(
                {
                    "id": run_id,
                    "use_case": "comply",
                    "comune": comune,
                    "host_limit": None,
                    "check_mode": 1,
                    "tags": "",
                    "started": started,
                    "finished": started + 180,
                    "status": "failed" if failed else "successful",
                    "rc": 2 if failed else 0,
                    "run_dir": str(layout.run_dir(comune, run_id)),
                    "error": "",
                }
            )
            for host in names:
                if host in offline:
                    offline_rows.append((run_id, host, started - 3600))
                    continue
                bad = int(host in failed)
                changed = sum(1 for d in drifted if d == host)
                state = "failed" if bad else ("changed" if changed else "ok")
                hosts_rows.append((run_id, host, state, 40, changed, bad, 0, 5, 0, 0))
            for seq, host in enumerate(drifted):
                role = rng.choice(ROLES)
                drift_rows.append(
                    (
                        run_id,
                        seq,
                        comune,
                        host,
                        role,
                        f"Configure {role}",
                        "copy",
                        "--- before\n+++ after\n-# edited by hand\n",
                        "",
                        0,
                    )
                )
        seen_rows += [(comune, h, now - rng.randint(0, 86400)) for h in names if "laptop" in h]
    with sqlite3.connect(layout.history_db) as conn:
        columns = list(runs[0])
        conn.executemany(
            f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [tuple(r[c] for c in columns) for r in runs],
        )
        conn.executemany(
            "INSERT INTO host_results (run_id, host, state, ok, changed, failed, unreachable,"
            " skipped, rescued, ignored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            hosts_rows,
        )
        conn.executemany(
            "INSERT INTO drift_items (run_id, seq, comune, host, role, task, action, diff,"
            " message, redacted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            drift_rows,
        )
        conn.executemany(
            "INSERT INTO run_offline (run_id, host, last_seen) VALUES (?, ?, ?)", offline_rows
        )
        conn.executemany(
            "INSERT OR REPLACE INTO last_seen (comune, host, seen) VALUES (?, ?, ?)", seen_rows
        )
    return len(runs)
