#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in k8s/ (no cluster needed).
#
#   bash .ci/validate-k8s.sh
#
# 1. k8s/base/production.toml must be identical to config/production.toml
#    (kustomize cannot read files outside k8s/base, so it keeps a copy).
# 2. Renders k8s/base, k8s/overlays/dev and k8s/overlays/production with the
#    real kustomize: a `kustomize` binary if there is one, else the kustomize
#    built into kubectl (`kubectl kustomize`; every machine image here has
#    kubectl). Set KUSTOMIZE=/path/to/kustomize to choose one.
# 3. Runs `kubernetes-validate --strict` on every rendered document against the
#    Kubernetes versions in K8S_VERSIONS (unknown fields are errors; a kind with
#    no schema is an error too, except the CRDs below). ServiceMonitor
#    (monitoring.coreos.com/v1) has no standard schema: it gets a structural
#    check here instead, which says so.
# 4. Cross-checks what schemas cannot: selectors match pod labels, named ports
#    exist, referenced ConfigMaps/Secrets/keys exist (or are the documented
#    external ones), the HPA/PDB/Ingress/ServiceMonitor targets exist, and the
#    roomcast shutdown budget fits terminationGracePeriodSeconds.
# Also validates k8s/base/secret.example.yaml (a template outside the build).
#
# kubernetes-validate is installed once from PyPI into a venv under
# ${XDG_CACHE_HOME:-~/.cache}/roomcast/ (override: K8S_VALIDATE_VENV); later
# runs are offline and take a few seconds. Exit status: 0 all valid, 1 any
# invalid manifest, 2 a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

KV_VERSION=1.37.0                 # kubernetes-validate on PyPI
K8S_VERSIONS="1.30.0 1.37.0"      # oldest cluster we support, newest the package knows
TARGETS="k8s/base k8s/overlays/dev k8s/overlays/production"
VENV=${K8S_VALIDATE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/roomcast/k8s-validate-venv}

die() { echo "validate-k8s: $*" >&2; exit 2; }

# --- tools -------------------------------------------------------------------
if ! "$VENV/bin/python" - "$KV_VERSION" 2>/dev/null <<'PY'
import sys, kubernetes_validate.version as v
sys.exit(0 if v.__version__ == sys.argv[1] else 1)
PY
then
    echo "== installing kubernetes-validate==$KV_VERSION into $VENV (from PyPI, once)"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION" \
        || die "pip install kubernetes-validate==$KV_VERSION failed"
fi

# No cluster is ever contacted; keep kubectl away from any kubeconfig.
export KUBECONFIG=/dev/null
if [[ -n "${KUSTOMIZE:-}" ]]; then
    RENDER=("$KUSTOMIZE" build)
elif command -v kustomize >/dev/null 2>&1; then
    RENDER=(kustomize build)
elif command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    RENDER=(kubectl kustomize)
else
    die "no kustomize renderer: install kubectl (it embeds kustomize) or a kustomize binary, or set KUSTOMIZE"
fi
case "${RENDER[0]}" in
    kubectl) RENDERER="kubectl kustomize ($(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p' | head -n1))" ;;
    *) RENDERER="${RENDER[*]} ($("${RENDER[0]}" version 2>/dev/null | head -n1))" ;;
esac

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- 1. production.toml copy -------------------------------------------------
echo "== config/production.toml vs k8s/base/production.toml"
PRE_FAIL=0
if cmp -s config/production.toml k8s/base/production.toml; then
    echo "   identical"
else
    echo "   ERROR k8s/base/production.toml differs from config/production.toml:"
    diff -u config/production.toml k8s/base/production.toml | sed 's/^/   /' || true
    echo "   fix: cp config/production.toml k8s/base/production.toml"
    PRE_FAIL=$((PRE_FAIL + 1))
fi

# --- 2. render -----------------------------------------------------------------
echo "== rendering with $RENDERER"
RENDERED=()
for t in $TARGETS; do
    out="$WORK/$(echo "$t" | tr '/' '_').yaml"
    if "${RENDER[@]}" "$t" >"$out" 2>"$out.err"; then
        echo "   $t: $(grep -c '^kind:' "$out") objects"
        RENDERED+=("$t=$out")
    else
        echo "   ERROR $t does not render:"
        sed 's/^/   /' "$out.err"
        PRE_FAIL=$((PRE_FAIL + 1))
    fi
done

# --- 3 + 4. schemas and cross-checks -------------------------------------------
"$VENV/bin/python" - "$WORK" "$VENV/bin/kubernetes-validate" "$K8S_VERSIONS" "$PRE_FAIL" \
    k8s/base/secret.example.yaml config/production.toml "${RENDERED[@]}" <<'PY'
import os
import re
import subprocess
import sys

import yaml

work, kv_cli, versions, pre_fail, secret_example, prod_toml = sys.argv[1:7]
versions = versions.split()
targets = [a.split("=", 1) for a in sys.argv[7:]]

# Secrets that an overlay expects to exist in the cluster instead of creating
# them. roomcast-secrets must have the keys of its template, secret.example.yaml.
with open(secret_example) as f:
    EXAMPLE = [d for d in yaml.safe_load_all(f) if d]
EXAMPLE_KEYS = set(EXAMPLE[0].get("stringData") or {}) if EXAMPLE else set()
EXTERNAL_SECRETS = {
    "k8s/base": {"roomcast-secrets": EXAMPLE_KEYS},
    "k8s/overlays/production": {"roomcast-secrets": EXAMPLE_KEYS, "roomcast-tls": None},
    "k8s/overlays/dev": {},
}
# After SIGTERM the server drains for server.drain_s, then every later step
# (cutting what is left, Redis presence, the final flush, webhooks) is bounded
# so that it exits within server.drain_s + 5 s whatever its clients do
# (contract §6; src/startup.rs `budget`, checked by its unit test). The grace
# period must cover the preStop sleep, the drain and those 5 s.
DRAIN_SLACK_S = 0
FINAL_FLUSH_S = 5

passed = 0
failed = 0
errors = []


def ok(msg):
    global passed
    passed += 1
    print(f"   ok    {msg}")


def bad(msg):
    global failed
    failed += 1
    errors.append(msg)
    print(f"   ERROR {msg}")


def kn(d):
    return f"{d.get('kind', '?')}/{(d.get('metadata') or {}).get('name', '?')}"


# ---------------------------------------------------------------- CRD checks
DURATION = re.compile(r"^(\d+(ms|s|m|h))+$")
SM_SPEC_KEYS = {
    "jobLabel", "targetLabels", "podTargetLabels", "endpoints", "selector",
    "selectorMechanism", "namespaceSelector", "sampleLimit", "scrapeProtocols",
    "fallbackScrapeProtocol", "targetLimit", "labelLimit", "labelNameLengthLimit",
    "labelValueLengthLimit", "nativeHistogramBucketLimit",
    "nativeHistogramMinBucketFactor", "scrapeClassicHistograms",
    "convertClassicHistogramsToNHCB", "keepDroppedTargets", "attachMetadata",
    "scrapeClass", "bodySizeLimit",
}
SM_ENDPOINT_KEYS = {
    "port", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout",
    "tlsConfig", "bearerTokenFile", "bearerTokenSecret", "authorization",
    "honorLabels", "honorTimestamps", "trackTimestampsStaleness", "basicAuth",
    "oauth2", "metricRelabelings", "relabelings", "proxyUrl", "noProxy",
    "proxyFromEnvironment", "proxyConnectHeader", "followRedirects",
    "enableHttp2", "filterRunning",
}


def seconds(d):
    mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(int(n) * mult[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", d))


def check_servicemonitor(d):
    """Structural check only: the CRD's schema is not in kubernetes-validate."""
    p = []
    extra = set(d) - {"apiVersion", "kind", "metadata", "spec"}
    if extra:
        p.append(f"unknown top-level fields {sorted(extra)}")
    if not isinstance((d.get("metadata") or {}).get("name"), str):
        p.append("metadata.name missing")
    spec = d.get("spec")
    if not isinstance(spec, dict):
        return p + ["spec missing"]
    extra = set(spec) - SM_SPEC_KEYS
    if extra:
        p.append(f"unknown spec fields {sorted(extra)}")
    ml = (spec.get("selector") or {}).get("matchLabels")
    if not (isinstance(ml, dict) and ml and all(isinstance(v, str) for v in ml.values())):
        p.append("spec.selector.matchLabels must be a non-empty map of strings")
    eps = spec.get("endpoints")
    if not (isinstance(eps, list) and eps):
        return p + ["spec.endpoints must be a non-empty list"]
    for i, ep in enumerate(eps):
        if not isinstance(ep, dict):
            p.append(f"endpoints[{i}] is not a map")
            continue
        extra = set(ep) - SM_ENDPOINT_KEYS
        if extra:
            p.append(f"endpoints[{i}]: unknown fields {sorted(extra)}")
        if not isinstance(ep.get("port"), str) and "targetPort" not in ep:
            p.append(f"endpoints[{i}]: needs port (a Service port name) or targetPort")
        if "path" in ep and not str(ep["path"]).startswith("/"):
            p.append(f"endpoints[{i}].path must start with /")
        for k in ("interval", "scrapeTimeout"):
            if k in ep and not (isinstance(ep[k], str) and DURATION.match(ep[k])):
                p.append(f"endpoints[{i}].{k} {ep[k]!r} is not a duration like 15s")
        if all(isinstance(ep.get(k), str) and DURATION.match(ep[k]) for k in ("interval", "scrapeTimeout")):
            if seconds(ep["scrapeTimeout"]) > seconds(ep["interval"]):
                p.append(f"endpoints[{i}]: scrapeTimeout longer than interval")
    return p


CRD_CHECKS = {("monitoring.coreos.com/v1", "ServiceMonitor"): check_servicemonitor}


# ------------------------------------------------------ kubernetes-validate
def schema_validate(label, docs):
    """Run the kubernetes-validate CLI (--strict) on docs, once per version."""
    path = os.path.join(work, re.sub(r"\W", "_", label) + ".std.yaml")
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    results = {}  # kind/name -> list of (version, status, message)
    for v in versions:
        proc = subprocess.run([kv_cli, "--strict", "-k", v, path],
                              capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        seen = 0
        for line in out.splitlines():
            m = re.match(r"^INFO \S+ passed for resource (\S+) against version (\S+)", line)
            if m:
                results.setdefault(m.group(1), []).append((m.group(2), "ok", ""))
                seen += 1
                continue
            m = re.match(r"^ERROR \S+ did not validate for resource (\S+) against version (\S+): (.*)", line)
            if m:
                results.setdefault(m.group(1), []).append((m.group(2), "error", m.group(3)))
                seen += 1
                continue
            if line.strip():
                # WARN (no schema: unknown kind or apiVersion), FATAL, tracebacks.
                results.setdefault(f"({label})", []).append((v, "error", line.strip()))
        if proc.returncode != 0 and seen == 0:
            results.setdefault(f"({label})", []).append((v, "error", f"kubernetes-validate exited {proc.returncode}"))
    for res, rs in results.items():
        errs = [f"k8s {v}: {msg}" for v, st, msg in rs if st != "ok"]
        if errs:
            for e in errs:
                bad(f"{label}: {res}: {e}")
        else:
            ok(f"{res}: strict schema, k8s {', '.join(v for v, _, _ in rs)}")
    return results


# ------------------------------------------------------------ cross checks
def pod_spec(d):
    if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def pod_labels(d):
    return (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def matches(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


def cross_check(label, docs):
    p = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    workloads = [d for d in docs if pod_spec(d) is not None]
    cms = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})
    external = EXTERNAL_SECRETS.get(label, {})

    def secret_ref(where, name, key=None, optional=False):
        if name in secrets:
            s = secrets[name]
            keys = set(s.get("data") or {}) | set(s.get("stringData") or {})
            if key is not None and key not in keys and not optional:
                p.append(f"{where}: Secret {name} has no key {key}")
        elif name in external:
            if key is not None and external[name] is not None and key not in external[name]:
                p.append(f"{where}: external Secret {name} has no key {key} in its template {secret_example}")
        elif not optional:
            p.append(f"{where}: Secret {name} is neither in the build nor a documented external Secret")

    def cm_ref(where, name, key=None, optional=False):
        if name not in cms:
            if not optional:
                p.append(f"{where}: ConfigMap {name} not in the build")
        elif key is not None and key not in (cms[name].get("data") or {}) and not optional:
            p.append(f"{where}: ConfigMap {name} has no key {key}")

    for w in workloads:
        where = kn(w)
        spec = pod_spec(w)
        sel = ((w.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not matches(sel, pod_labels(w)):
            p.append(f"{where}: selector {sel} does not match the pod template labels")
        if w["kind"] == "StatefulSet":
            svc = w["spec"].get("serviceName")
            if svc and svc not in by_kind.get("Service", {}):
                p.append(f"{where}: serviceName {svc} is not a Service in the build")
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        for v in vols.values():
            if "configMap" in v:
                cm_ref(f"{where} volume {v['name']}", v["configMap"]["name"], optional=v["configMap"].get("optional", False))
            if "secret" in v:
                secret_ref(f"{where} volume {v['name']}", v["secret"]["secretName"], optional=v["secret"].get("optional", False))
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            cw = f"{where} container {c['name']}"
            port_names = {pt.get("name") for pt in c.get("ports") or []}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                pr = c.get(probe) or {}
                for kind in ("httpGet", "tcpSocket"):
                    port = (pr.get(kind) or {}).get("port")
                    if isinstance(port, str) and port not in port_names:
                        p.append(f"{cw} {probe}: no container port named {port}")
            for ef in c.get("envFrom") or []:
                if "configMapRef" in ef:
                    cm_ref(cw, ef["configMapRef"]["name"], optional=ef["configMapRef"].get("optional", False))
                if "secretRef" in ef:
                    secret_ref(cw, ef["secretRef"]["name"], optional=ef["secretRef"].get("optional", False))
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    secret_ref(f"{cw} env {e['name']}", r["name"], r["key"], r.get("optional", False))
                if "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    cm_ref(f"{cw} env {e['name']}", r["name"], r["key"], r.get("optional", False))
            for m in c.get("volumeMounts") or []:
                v = vols.get(m["name"])
                if v is None:
                    p.append(f"{cw}: volumeMount {m['name']} has no volume")
                elif m.get("subPath") and "configMap" in v and v["configMap"]["name"] in cms:
                    cm_ref(f"{cw} mount {m['mountPath']}", v["configMap"]["name"], m["subPath"])

    def pods_for(sel):
        return [w for w in workloads if matches(sel, pod_labels(w))]

    for s in by_kind.get("Service", {}).values():
        sel = s["spec"].get("selector") or {}
        targets_ = pods_for(sel)
        if not targets_:
            p.append(f"{kn(s)}: selector {sel} matches no workload")
        for pt in s["spec"].get("ports") or []:
            tp = pt.get("targetPort")
            if isinstance(tp, str):
                for w in targets_:
                    names = {x.get("name") for c in pod_spec(w).get("containers") or [] for x in c.get("ports") or []}
                    if tp not in names:
                        p.append(f"{kn(s)} port {pt.get('name')}: {kn(w)} has no container port named {tp}")

    def svc_port(where, svc_name, port):
        svc = by_kind.get("Service", {}).get(svc_name)
        if svc is None:
            p.append(f"{where}: Service {svc_name} not in the build")
            return
        ports = svc["spec"].get("ports") or []
        if "name" in port and port["name"] not in {x.get("name") for x in ports}:
            p.append(f"{where}: Service {svc_name} has no port named {port['name']}")
        if "number" in port and port["number"] not in {x.get("port") for x in ports}:
            p.append(f"{where}: Service {svc_name} has no port {port['number']}")

    for ing in by_kind.get("Ingress", {}).values():
        for r in ing["spec"].get("rules") or []:
            for path in (r.get("http") or {}).get("paths") or []:
                b = path["backend"].get("service")
                if b:
                    svc_port(f"{kn(ing)} {r.get('host')}{path.get('path')}", b["name"], b.get("port") or {})
        for t in ing["spec"].get("tls") or []:
            if t.get("secretName"):
                secret_ref(f"{kn(ing)} tls", t["secretName"])

    for h in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = h["spec"]["scaleTargetRef"]
        tgt = by_kind.get(ref["kind"], {}).get(ref["name"])
        if tgt is None:
            p.append(f"{kn(h)}: scaleTargetRef {ref['kind']}/{ref['name']} not in the build")
        else:
            mn, mx = h["spec"].get("minReplicas", 1), h["spec"]["maxReplicas"]
            if mn > mx:
                p.append(f"{kn(h)}: minReplicas {mn} > maxReplicas {mx}")
            rep = (tgt.get("spec") or {}).get("replicas")
            # `kubectl apply` re-applies a manifest's replica count over the
            # HPA's choice (see k8s/README.md): at most the HPA's minimum.
            if rep is not None and rep != mn:
                p.append(f"{kn(h)}: {kn(tgt)} sets replicas {rep} != minReplicas {mn} (drop spec.replicas when an HPA owns the count)")

    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        sel = (pdb["spec"].get("selector") or {}).get("matchLabels") or {}
        if not pods_for(sel):
            p.append(f"{kn(pdb)}: selector {sel} matches no workload")

    for sm in by_kind.get("ServiceMonitor", {}).values():
        sel = (sm["spec"].get("selector") or {}).get("matchLabels") or {}
        svcs = [s for s in by_kind.get("Service", {}).values()
                if matches(sel, s["metadata"].get("labels") or {})]
        if not svcs:
            p.append(f"{kn(sm)}: selector {sel} matches no Service's labels")
        for ep in sm["spec"].get("endpoints") or []:
            for s in svcs:
                if "port" in ep and ep["port"] not in {x.get("name") for x in s["spec"].get("ports") or []}:
                    p.append(f"{kn(sm)}: {kn(s)} has no port named {ep['port']}")

    # roomcast itself.
    dep = by_kind.get("Deployment", {}).get("roomcast")
    if dep is None:
        p.append("Deployment/roomcast missing")
    else:
        spec = pod_spec(dep)
        c = next((c for c in spec.get("containers") or [] if c["name"] == "roomcast"), None)
        if c is None:
            p.append("Deployment/roomcast has no container named roomcast")
        else:
            env = {}
            for ef in c.get("envFrom") or []:
                if "configMapRef" in ef and ef["configMapRef"]["name"] in cms:
                    env.update(cms[ef["configMapRef"]["name"]].get("data") or {})
            # Plain values as strings, valueFrom entries as their dicts.
            env.update({e["name"]: e["value"] if "value" in e else e for e in c.get("env") or []})
            if env.get("ROOMCAST_ENV") != "production":
                p.append("roomcast: ROOMCAST_ENV is not production")
            node = ((env.get("ROOMCAST__NODE__ID") or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") \
                if isinstance(env.get("ROOMCAST__NODE__ID"), dict) else None
            if node != "metadata.name":
                p.append("roomcast: ROOMCAST__NODE__ID must come from metadata.name")
            for var in ("ROOMCAST__AUTH__JWT_SECRET", "ROOMCAST__API__KEY",
                        "ROOMCAST__DATABASE__URL", "ROOMCAST__REDIS__URL"):
                if not (isinstance(env.get(var), dict) and "secretKeyRef" in (env[var].get("valueFrom") or {})):
                    p.append(f"roomcast: {var} must come from a Secret (secretKeyRef)")
            if {"name": "http", "containerPort": 8080} != {k: v for k, v in
                    next((x for x in c.get("ports") or [] if x.get("name") == "http"), {}).items()
                    if k in ("name", "containerPort")}:
                p.append("roomcast: container port http must be 8080")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                if got != path:
                    p.append(f"roomcast: {probe} path is {got}, want {path}")
            # The mounted production.toml is the repository's.
            mount = next((m for m in c.get("volumeMounts") or []
                          if m["mountPath"] == "/app/config/production.toml"), None)
            vols = {v["name"]: v for v in spec.get("volumes") or []}
            if mount is None:
                p.append("roomcast: nothing mounted at /app/config/production.toml")
            else:
                cm = cms.get(((vols.get(mount["name"]) or {}).get("configMap") or {}).get("name"), {})
                data = (cm.get("data") or {}).get(mount.get("subPath"))
                if data != open(prod_toml).read():
                    p.append("roomcast: the mounted production.toml is not config/production.toml")
            # Shutdown budget: preStop sleep, then the drain, then the final flush.
            cmd = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
            if len(cmd) != 2 or cmd[0] != "sleep" or not str(cmd[1]).isdigit():
                p.append(f"roomcast: preStop must be exec [sleep, N], got {cmd}")
            else:
                drain = env.get("ROOMCAST__SERVER__DRAIN_S", "5")
                drain = int(drain) if isinstance(drain, str) and drain.isdigit() else 5
                need = int(cmd[1]) + drain + DRAIN_SLACK_S + FINAL_FLUSH_S
                grace = spec.get("terminationGracePeriodSeconds", 30)
                if grace < need:
                    p.append(f"roomcast: terminationGracePeriodSeconds {grace} < preStop {cmd[1]} + drain {drain}"
                             f" + {DRAIN_SLACK_S} + final flush {FINAL_FLUSH_S} = {need}")
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False:
                p.append("roomcast: container must have readOnlyRootFilesystem and no privilege escalation")
            if not (spec.get("securityContext") or {}).get("runAsNonRoot") and not sc.get("runAsNonRoot"):
                p.append("roomcast: runAsNonRoot missing")
    return p


# ----------------------------------------------------------------------- run
for label, path in targets:
    print(f"== {label}")
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    std, crd = [], []
    for d in docs:
        (crd if (d.get("apiVersion"), d.get("kind")) in CRD_CHECKS else std).append(d)
    schema_validate(label, std)
    for d in crd:
        probs = CRD_CHECKS[(d["apiVersion"], d["kind"])](d)
        for pr in probs:
            bad(f"{label}: {kn(d)}: {pr}")
        if not probs:
            ok(f"{kn(d)}: CRD {d['apiVersion']} not in the standard schemas; structural check only")
    probs = cross_check(label, docs)
    for pr in probs:
        bad(f"{label}: cross-check: {pr}")
    if not probs:
        ok(f"cross-references of {len(docs)} objects")

print(f"== {secret_example} (template, not in any kustomization)")
ex = EXAMPLE
schema_validate(secret_example, ex)
want = {"jwt-secret", "api-key", "database-url", "redis-url"}
have = set((ex[0].get("stringData") or {}) if ex else {})
if ex and ex[0].get("kind") == "Secret" and ex[0]["metadata"]["name"] == "roomcast-secrets" and want <= have:
    ok(f"Secret/roomcast-secrets template has keys {', '.join(sorted(want))}")
else:
    bad(f"{secret_example}: must be Secret roomcast-secrets with keys {sorted(want)}")

if int(pre_fail):
    failed += int(pre_fail)
    errors.append("production.toml copy or rendering: see the top of the output")
print()
print(f"validate-k8s: {passed} passed, {failed} failed")
for e in errors:
    print(f"   - {e}")
sys.exit(1 if failed else 0)
PY
