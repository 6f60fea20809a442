"""Checks deploy/compose.yaml and deploy/nginx/*.conf without a Docker engine.

The development machines and CI of this project have no Docker engine, so the
compose file is never started here. This script parses it and checks what
must hold for the cluster it describes to work (issue 14):

- two or more gateway nodes, each with its own NODE_ID and data volume, all
  on the same Redis, the same PostgreSQL database and the same media volume;
- Redis and PostgreSQL healthy before a gateway starts; a drain period;
- no secret written in the file: every secret is a required `${VAR:?…}`
  reference, and every variable it references is named in .env.example;
- only nginx (and Odoo's back office) publish ports; nginx mounts
  nginx/compose.conf, whose upstream is sticky and lists exactly the gateway
  services on the port they expose, and whose locations are those of
  nginx/seitech-chat.conf (the config scripts/test-nginx.sh runs for real);
- with nginx on the machine, `nginx -t` accepts compose.conf (service names
  mapped to loopback).

Prints PASS/FAIL lines and `N passed, M failed` last; exit status 1 on any
failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEYS = {
    "JWT_SECRET",
    "ODOO_API_KEY",
    "ODOO_PUSH_SECRET",
    "POSTGRES_PASSWORD",
    "PASSWORD",
    "VAPID_PRIVATE_KEY",
}
REQUIRED_REF = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*:\?[^}]*\}$")
ANY_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")

results: list[bool] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")


def host_of(url: str) -> str | None:
    """The host of a URL whose password may be a `${…}` reference."""
    return urlsplit(re.sub(r"\$\{[^}]*\}", "x", url)).hostname


def locations(conf: str) -> dict[str, list[str]]:
    """`location … { … }` blocks of an nginx config: their directives, with
    comments and spacing dropped (`allow` lines too: the monitoring network
    is the one thing meant to differ)."""
    blocks: dict[str, list[str]] = {}
    text = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    for m in re.finditer(r"location\s+([^{]+)\{([^}]*)\}", text):
        directives = [
            " ".join(d.split())
            for d in m.group(2).split(";")
            if d.strip() and not d.strip().startswith("allow ")
        ]
        blocks[" ".join(m.group(1).split())] = directives
    return blocks


def upstream(conf: str) -> tuple[list[str], list[str]]:
    """The upstream block's server addresses and other directives."""
    text = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    m = re.search(r"upstream\s+\w+\s*\{([^}]*)\}", text)
    if not m:
        return [], []
    servers, other = [], []
    for d in (" ".join(x.split()) for x in m.group(1).split(";")):
        if d.startswith("server "):
            servers.append(d.split()[1])
        elif d:
            other.append(d)
    return servers, other


def main(root: Path = ROOT) -> int:
    """Checks the deploy/ directory and .env.example under `root`."""
    results.clear()
    deploy = root / "deploy"
    compose_path = deploy / "compose.yaml"
    try:
        compose = yaml.safe_load(compose_path.read_text())
    except (OSError, yaml.YAMLError) as e:
        check("deploy/compose.yaml parses", False, str(e))
        return finish()
    check("deploy/compose.yaml parses", isinstance(compose, dict))
    services: dict = compose.get("services", {})
    volumes_declared = set((compose.get("volumes") or {}).keys())
    gateways = {n: s for n, s in services.items() if (s.get("build") or {}).get("dockerfile") == "deploy/Dockerfile"}
    check("two or more gateway nodes built from deploy/Dockerfile", len(gateways) >= 2, ", ".join(sorted(gateways)))

    envs = {n: s.get("environment") or {} for n, s in gateways.items()}
    node_ids = [e.get("NODE_ID") for e in envs.values()]
    check("each node has its own NODE_ID", all(node_ids) and len(set(node_ids)) == len(node_ids), str(node_ids))

    redis_hosts = {host_of(str(e.get("REDIS_URL", ""))) for e in envs.values()}
    redis_ok = len(redis_hosts) == 1 and next(iter(redis_hosts)) in services
    if redis_ok:
        redis = services[next(iter(redis_hosts))]
        redis_ok = str(redis.get("image", "")).startswith("redis:7")
    check("every node on the same Redis 7 service", redis_ok, str(redis_hosts))

    db_urls = {str(e.get("DATABASE_URL", "")) for e in envs.values()}
    db_host = host_of(next(iter(db_urls))) if len(db_urls) == 1 else None
    pg = services.get(db_host or "", {})
    check(
        "every node on the same PostgreSQL database service",
        len(db_urls) == 1 and str(pg.get("image", "")).startswith("postgres:"),
        str(db_urls),
    )

    def mounts(service: dict) -> dict[str, str]:
        out = {}
        for v in service.get("volumes") or []:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out[parts[1]] = parts[0]
        return out

    media_dirs = {e.get("MEDIA_DIR") for e in envs.values()}
    media_sources = {mounts(gateways[n]).get(str(envs[n].get("MEDIA_DIR"))) for n in gateways}
    check(
        "every node mounts the same media volume at MEDIA_DIR",
        len(media_dirs) == 1 and None not in media_dirs and len(media_sources) == 1 and None not in media_sources,
        f"MEDIA_DIR {media_dirs}, volumes {media_sources}",
    )
    data_sources = [mounts(gateways[n]).get("/data") for n in gateways]
    check(
        "each node has its own data volume",
        all(data_sources) and len(set(data_sources)) == len(data_sources),
        str(data_sources),
    )
    named = {
        src
        for s in services.values()
        for src in mounts(s).values()
        if not src.startswith((".", "/"))
    }
    check("every named volume is declared", named <= volumes_declared, str(sorted(named - volumes_declared)))

    deps_ok = all(
        (s.get("depends_on") or {}).get(dep, {}).get("condition") == "service_healthy"
        for s in gateways.values()
        for dep in (next(iter(redis_hosts)), db_host)
        if dep
    )
    health_ok = all("healthcheck" in services.get(d or "", {}) for d in (next(iter(redis_hosts)), db_host))
    check("nodes wait for healthy Redis and PostgreSQL", deps_ok and health_ok)
    check(
        "nodes get time to drain on SIGTERM (stop_grace_period)",
        all(s.get("stop_grace_period") for s in gateways.values()),
    )

    odoo_hosts = {host_of(str(e.get("ODOO_URL", ""))) for e in envs.values()}
    odoo = services.get(next(iter(odoo_hosts)) or "", {}) if len(odoo_hosts) == 1 else {}
    check(
        "Odoo 17 with the seitech_chat addon mounted",
        str(odoo.get("image", "")).startswith("odoo:17")
        and any(str(v).startswith("../odoo_addon:") for v in odoo.get("volumes") or []),
        str(odoo_hosts),
    )

    # Secrets: references only, each named in .env.example.
    leaks, refs = [], set()
    for name, s in services.items():
        env = s.get("environment") or {}
        for key, value in env.items():
            value = str(value)
            refs.update(ANY_REF.findall(value))
            if key in SECRET_KEYS and not REQUIRED_REF.match(value):
                leaks.append(f"{name}.{key}")
            if key == "DATABASE_URL":
                password = urlsplit(re.sub(r"\$\{[^}]*\}", "REF", value)).password
                if password not in (None, "REF"):
                    leaks.append(f"{name}.DATABASE_URL")
    check("no secret written in compose.yaml (required ${VAR:?} references)", not leaks, ", ".join(leaks))
    example = (root / ".env.example").read_text()
    unnamed = sorted(r for r in refs if not re.search(rf"^#?\s*{r}=", example, re.M))
    check("every variable compose.yaml references is in .env.example", not unnamed, ", ".join(unnamed))

    published = sorted(n for n, s in services.items() if s.get("ports"))
    nginx_services = [n for n, s in services.items() if str(s.get("image", "")).startswith("nginx")]
    check(
        "only nginx and Odoo publish ports; the gateways only expose theirs",
        set(published) <= set(nginx_services) | set(odoo_hosts) and all(not s.get("ports") for s in gateways.values()),
        str(published),
    )

    conf_path = None
    if len(nginx_services) == 1:
        for v in services[nginx_services[0]].get("volumes") or []:
            src, _, rest = str(v).partition(":")
            if rest.startswith("/etc/nginx/"):
                conf_path = (deploy / src).resolve()
    check("nginx mounts its config from deploy/nginx", conf_path is not None and conf_path.exists(), str(conf_path))
    if not conf_path or not conf_path.exists():
        return finish()
    compose_conf = conf_path.read_text()
    site_conf = (deploy / "nginx" / "seitech-chat.conf").read_text()
    servers, other = upstream(compose_conf)
    exposed = {n: [str(p) for p in s.get("expose") or []] for n, s in gateways.items()}
    expected = sorted(f"{n}:{exposed[n][0]}" for n in gateways if exposed[n])
    check("compose.conf's upstream lists exactly the gateway nodes", sorted(servers) == expected, f"{servers} vs {expected}")
    sticky = [d for d in other if d.startswith(("hash ", "ip_hash"))]
    check("compose.conf's upstream is sticky (Engine.IO polling)", bool(sticky), str(sticky))
    site_servers, site_other = upstream(site_conf)
    check(
        "seitech-chat.conf balances several nodes with the same stickiness",
        len(site_servers) >= 2 and [d for d in site_other if d.startswith(("hash ", "ip_hash"))] == sticky,
        f"{site_servers} {site_other}",
    )
    check(
        "compose.conf's locations are seitech-chat.conf's",
        locations(compose_conf) == locations(site_conf) and len(locations(site_conf)) >= 4,
        str(sorted(set(locations(compose_conf)) ^ set(locations(site_conf)))),
    )
    dockerfile = (deploy / "Dockerfile").read_text()
    ports = re.findall(r"^EXPOSE\s+(\d+)", dockerfile, re.M)
    check("the Dockerfile exposes the port the nodes expose", all(exposed[n] == ports for n in gateways), str(ports))

    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx:
        with tempfile.TemporaryDirectory() as tmp:
            local = re.sub(r"server (\w+):(\d+)", r"server 127.0.0.1:\2", compose_conf)
            # `nginx -t` binds nothing, but the port must be a real one.
            local = local.replace("listen 80;", "listen 127.0.0.1:18080;")
            (Path(tmp) / "site.conf").write_text(local)
            (Path(tmp) / "nginx.conf").write_text(
                f"pid {tmp}/nginx.pid; error_log {tmp}/error.log; events {{}}\n"
                f"http {{ access_log off; client_body_temp_path {tmp}/cb; proxy_temp_path {tmp}/p;"
                f" fastcgi_temp_path {tmp}/f; uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s;"
                f" include {tmp}/site.conf; }}\n"
            )
            r = subprocess.run(
                [nginx, "-t", "-c", f"{tmp}/nginx.conf", "-p", tmp], capture_output=True, text=True, check=False
            )
            check("nginx -t accepts compose.conf", r.returncode == 0, r.stderr.strip().splitlines()[-1] if r.stderr else "")
    return finish()


def finish() -> int:
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
